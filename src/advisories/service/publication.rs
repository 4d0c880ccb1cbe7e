//! Publication and withdrawal: who may read, the readers kept, the revisions and the events.

use super::*;

/// How an organisation came to be in the audience, which decides what TLP lets it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    Issuer,
    /// A named entity of a targeted advisory.
    Named,
    /// A listed sector's entity, or an organisation overseeing the audience.
    Audience,
    /// Added by `match`, or overseeing an entity added by it.
    Matched,
}

/// Everyone the advisory is for, with how each came in.
pub(super) fn resolve(
    conn: &mut DbConn,
    issuer: &Caller,
    input: &AdvisoryInput,
    dir: &[DirectoryOrg],
) -> AppResult<Vec<(String, Via)>> {
    let mut out: Vec<(String, Via)> = vec![(issuer.org.clone(), Via::Issuer)];
    let national = coverage::national_csirt(dir).map(|o| o.id.clone());
    let csirt_of = |sector: &str| -> Option<String> {
        coverage::assign(dir, sector, Function::Csirt)
            .0
            .map(|o| o.id.clone())
            .or_else(|| national.clone())
    };
    match input.audience {
        Audience::National => {
            out.extend(dir.iter().map(|o| (o.id.clone(), Via::Audience)));
            out.extend(
                repo::all_registered(conn)?
                    .into_iter()
                    .map(|e| (e, Via::Audience)),
            );
        }
        Audience::Sectoral => {
            let leaf: Vec<&'static str> = input.sectors.iter().flat_map(|s| leaves(s)).collect();
            for s in &leaf {
                for f in [Function::Csirt, Function::Authority] {
                    if let Some(o) = coverage::assign(dir, s, f).0 {
                        out.push((o.id.clone(), Via::Audience));
                    }
                }
            }
            out.extend(
                repo::registered_in_sectors(conn, &leaf)?
                    .into_iter()
                    .map(|(e, _)| (e, Via::Audience)),
            );
        }
        Audience::Targeted => {
            for (e, sector) in repo::registered_sectors(conn, &input.entity_ids)? {
                if let Some(c) = csirt_of(&sector) {
                    out.push((c, Via::Audience));
                }
                out.push((e, Via::Named));
            }
        }
    }
    if let Some(n) = &national {
        out.push((n.clone(), Via::Audience));
    }
    if !input.r#match.is_empty() {
        let nets: Vec<ipnet::IpNet> = input
            .r#match
            .ip_ranges
            .iter()
            .filter_map(|r| r.trim().parse().ok())
            .collect();
        let found = repo::overlapping(conn, &nets, &input.r#match.domains)?;
        // A sectoral CSIRT reaches only the entities it sees.
        let covered =
            (issuer.role == Role::SectoralCsirt).then(|| coverage::sectors_of(dir, &issuer.org));
        for (e, sector) in repo::registered_sectors(conn, &found)? {
            if covered
                .as_ref()
                .is_some_and(|c| !c.contains(&sector.as_str()))
            {
                continue;
            }
            if let Some(c) = csirt_of(&sector) {
                out.push((c, Via::Matched));
            }
            out.push((e, Via::Matched));
        }
    }
    Ok(out)
}

/// Who may read under the TLP (for the restricted labels), and who gets the events.
pub(super) fn readers_and_recipients(
    tlp: Tlp,
    audience: Audience,
    members: &[(String, Via)],
) -> (Vec<String>, Vec<String>) {
    let pick = |keep: &dyn Fn(Via) -> bool| -> Vec<String> {
        let mut v: Vec<String> = members
            .iter()
            .filter(|(_, via)| keep(*via))
            .map(|(o, _)| o.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    // An organisation named in two ways keeps the widest: a matched entity that is also in a
    // listed sector is in the audience proper.
    let in_audience = |org: &str| {
        members
            .iter()
            .any(|(o, via)| o == org && *via != Via::Matched)
    };
    let all = pick(&|_| true);
    let (readers, to) = match tlp {
        Tlp::Clear | Tlp::Green => (vec![], all),
        Tlp::Amber => (all.clone(), all),
        Tlp::AmberStrict => {
            let strict: Vec<String> = all.into_iter().filter(|o| in_audience(o)).collect();
            (strict.clone(), strict)
        }
        Tlp::Red => {
            let red = pick(&|via| matches!(via, Via::Issuer | Via::Named));
            (red.clone(), red)
        }
    };
    // A national audience is everyone: no list of readers is kept for it.
    if audience == Audience::National && tlp != Tlp::Red {
        (vec![], to)
    } else {
        (readers, to)
    }
}

/// The organisations of `orgs` that may read the advisory `a` by the rule of [`may_read`]
/// (with the readers stored at its last publication): an event about an advisory carries its
/// reference, title and CVE ids, so it goes only to those who could `GET` it. A withdrawal
/// resolves the audience again and would otherwise reach an entity registered since the last
/// revision — one that never was a reader of it.
pub(super) fn readers_among(
    conn: &mut DbConn,
    a: &Advisory,
    orgs: Vec<String>,
) -> AppResult<Vec<String>> {
    let tlp = a.input.tlp;
    if !tlp.restricted() || (a.input.audience == Audience::National && tlp != Tlp::Red) {
        return Ok(orgs);
    }
    let readers: Vec<String> = advisory_readers::table
        .filter(advisory_readers::advisory_id.eq(&a.id))
        .select(advisory_readers::org_id)
        .load(conn)?;
    Ok(orgs
        .into_iter()
        .filter(|o| *o == a.issuer.id || readers.contains(o))
        .collect())
}

/// Emits an advisory event to those of `recipients` who may read the advisory. Nobody else
/// gets a content-less form of it: an advisory's event is its content, and even its existence
/// is what TLP keeps from those outside the audience. The national CSIRT is no exception
/// ([`outbox::ADDRESSED_ONLY`]): it reads a sectoral CSIRT's TLP:RED advisory only when it
/// issued it.
pub(super) fn emit(
    conn: &mut DbConn,
    event_type: &str,
    a: &Advisory,
    recipients: Vec<String>,
) -> AppResult<()> {
    let recipients = readers_among(conn, a, recipients)?;
    outbox::emit(
        conn,
        NewEvent {
            event_type,
            subject_type: "advisory",
            subject_id: &a.id,
            significant: false,
            data: serde_json::json!({
                "advisory_id": a.id,
                "reference": a.reference,
                "title": a.input.title,
                "status": a.status,
                "revision": a.revision,
                "tlp": a.input.tlp,
                "severity": a.input.severity,
                "cves": a.input.cves,
                "issuer": a.issuer,
            }),
            recipients,
        },
    )?;
    Ok(())
}

pub(super) fn set_readers(conn: &mut DbConn, id: &str, readers: &[String]) -> AppResult<()> {
    diesel::delete(advisory_readers::table.filter(advisory_readers::advisory_id.eq(id)))
        .execute(conn)?;
    for org in readers {
        diesel::insert_into(advisory_readers::table)
            .values((
                advisory_readers::advisory_id.eq(id),
                advisory_readers::org_id.eq(org),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub(super) fn add_revision(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    number: i64,
    date: chrono::NaiveDateTime,
    summary: &str,
    snapshot: &str,
) -> AppResult<()> {
    diesel::insert_into(advisory_revisions::table)
        .values((
            advisory_revisions::advisory_id.eq(id),
            advisory_revisions::number.eq(number),
            advisory_revisions::date.eq(date),
            advisory_revisions::summary.eq(summary),
            advisory_revisions::published_by.eq(format!("{}/{}", caller.org, caller.sub)),
            advisory_revisions::snapshot.eq(snapshot),
        ))
        .execute(conn)?;
    Ok(())
}

/// Publishes the working copy as the next numbered revision: the first publication
/// (`advisory.published`), or a revision of a published advisory with a summary of what
/// changed (`advisory.updated`), to the audience the TLP allows.
pub fn publish(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    if_match: Option<&str>,
    summary: Option<String>,
) -> AppResult<Advisory> {
    let current = load_own(conn, caller, id, if_match)?;
    let first = match current.status.as_str() {
        "withdrawn" => return Err(withdrawn()),
        "published" if !current.pending_changes => {
            return Err(AppError::Conflict(
                "already_published",
                format!(
                    "revision {} is published and nothing has changed since; change the \
                     advisory first",
                    current.revision
                ),
            ))
        }
        "published" => false,
        _ => true,
    };
    let summary = match (summary, first) {
        (Some(s), _) => s,
        (None, true) => "Initial release".to_string(),
        (None, false) => {
            return Err(AppError::invalid(
                "/summary",
                "say what this revision changes",
            ))
        }
    };
    let input: AdvisoryInput = serde_json::from_str(&current.body)?;
    let mut missing = vec![];
    if input.affected_products.is_empty() {
        missing.push(FieldError::new(
            "/affected_products",
            "a published advisory names at least one affected product (its CSAF product tree)",
        ));
    }
    if input.references.is_empty() {
        missing.push(FieldError::new(
            "/references",
            "a published advisory links at least one external source",
        ));
    }
    if !missing.is_empty() {
        return Err(AppError::Validation(missing));
    }
    let dir = load_directory(conn)?;
    check_issuer(conn, caller, &input, &dir)?;
    let members = resolve(conn, caller, &input, &dir)?;
    let (readers, recipients) = readers_and_recipients(input.tlp, input.audience, &members);
    let now = db::now();
    let number = current.revision + 1;
    let row = Row {
        status: "published".into(),
        tlp: input.tlp.as_str().into(),
        audience: input.audience.as_str().into(),
        severity: input.severity.as_str().into(),
        published_body: Some(current.body.clone()),
        pending_changes: false,
        revision: number,
        version: current.version + 1,
        updated_at: now,
        published_at: current.published_at.or(Some(now)),
        published_version: Some(current.version + 1),
        published_updated_at: Some(now),
        ..current.clone()
    };
    // The conditional update before anything else is written (see `update`).
    save(conn, &current, &row)?;
    set_readers(conn, id, &readers)?;
    index(conn, id, &input)?;
    add_revision(conn, caller, id, number, now, &summary, &current.body)?;
    let advisory = get(conn, Some(caller), id)?;
    let event = if first {
        "advisory.published"
    } else {
        "advisory.updated"
    };
    emit(conn, event, &advisory, recipients)?;
    audit::record(conn, caller, "advisory.publish", "advisory", id)?;
    Ok(advisory)
}

/// Withdraws a published advisory. The record and every revision stay readable to those who
/// could read it; the withdrawal is the last revision.
pub fn withdraw(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    if_match: Option<&str>,
    reason: &str,
) -> AppResult<Advisory> {
    let current = load_own(conn, caller, id, if_match)?;
    match current.status.as_str() {
        "withdrawn" => return Err(withdrawn()),
        "draft" => {
            return Err(AppError::Conflict(
                "not_published",
                "a draft has nothing to withdraw; it was never published".into(),
            ))
        }
        _ => {}
    }
    let published = current.published_body.clone().unwrap_or_default();
    let input: AdvisoryInput = serde_json::from_str(&published)?;
    let dir = load_directory(conn)?;
    let members = resolve(conn, caller, &input, &dir)?;
    let (_, recipients) = readers_and_recipients(input.tlp, input.audience, &members);
    let now = db::now();
    let number = current.revision + 1;
    let row = Row {
        status: "withdrawn".into(),
        revision: number,
        version: current.version + 1,
        updated_at: now,
        withdrawn_at: Some(now),
        withdrawn_reason: Some(reason.to_string()),
        body: published.clone(),
        pending_changes: false,
        published_version: Some(current.version + 1),
        published_updated_at: Some(now),
        ..current.clone()
    };
    save(conn, &current, &row)?;
    add_revision(
        conn,
        caller,
        id,
        number,
        now,
        &format!("Withdrawn: {reason}"),
        &published,
    )?;
    let advisory = get(conn, Some(caller), id)?;
    emit(conn, "advisory.withdrawn", &advisory, recipients)?;
    audit::record(conn, caller, "advisory.withdraw", "advisory", id)?;
    Ok(advisory)
}
