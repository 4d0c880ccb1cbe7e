//! Messages of a case and who reads which: `everyone`, `coordinators`, `vendors` or `finder`.

use super::access::Principal;
use super::model::*;
use super::service::*;
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult};
use crate::http::pagination::PageParams;
use crate::schema::{cvd_cases, cvd_messages, cvd_vendors};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cvd_messages)]
struct MessageRow {
    id: String,
    #[allow(dead_code)]
    case_id: String,
    author_kind: String,
    author_id: Option<String>,
    author_name: String,
    visibility: String,
    body: String,
    created_at: NaiveDateTime,
}

fn may_read(acting: &Acting, m: &MessageRow) -> bool {
    let own = match acting {
        Acting::Coordinator(_) => return true,
        Acting::Finder { .. } => m.author_kind == "finder",
        Acting::Vendor { vendor_id, .. } => {
            m.author_kind == "vendor" && m.author_id.as_deref() == Some(vendor_id.as_str())
        }
    };
    let meant = matches!(
        (acting, Visibility::parse(&m.visibility)),
        (_, Visibility::Everyone)
            | (Acting::Finder { .. }, Visibility::Finder)
            | (Acting::Vendor { .. }, Visibility::Vendors)
    );
    own || meant
}

/// `identity`: whether the reader sees who the finder is (see `service::sees_finder`).
fn message_api(acting: &Acting, identity: bool, m: MessageRow) -> Message {
    let kind = match m.author_kind.as_str() {
        "finder" => Viewer::Finder,
        "vendor" => Viewer::Vendor,
        _ => Viewer::Coordinator,
    };
    let own = match acting {
        // A co-coordinator the finder did not agree to share its identity with reads its
        // messages unsigned.
        Acting::Coordinator(_) => kind != Viewer::Finder || identity,
        Acting::Finder { .. } => kind == Viewer::Finder,
        Acting::Vendor { vendor_id, .. } => {
            kind == Viewer::Vendor && m.author_id.as_deref() == Some(vendor_id.as_str())
        }
    };
    // Coordinators speak with their organisation's name; a finder or vendor is named only to
    // the coordinators and to itself.
    let name = (own || kind == Viewer::Coordinator).then_some(m.author_name);
    Message {
        id: m.id,
        author: Author { kind, name },
        visibility: Visibility::parse(&m.visibility),
        body: m.body,
        created_at: utc(m.created_at),
    }
}

/// The messages the principal may read, oldest first.
pub fn messages(
    conn: &mut DbConn,
    principal: &Principal,
    id: &str,
    page: &PageParams,
) -> AppResult<Vec<Message>> {
    let (row, acting) = acting(conn, principal, id)?;
    let identity = match &acting {
        Acting::Coordinator(c) => sees_finder(c, &row),
        _ => false,
    };
    let mut q = cvd_messages::table
        .filter(cvd_messages::case_id.eq(id))
        .select(MessageRow::as_select())
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(cvd_messages::id.gt(after.clone()));
    }
    // Visibility is decided in SQL so that pages are full.
    q = match &acting {
        Acting::Coordinator(_) => q,
        Acting::Finder { .. } => q.filter(
            cvd_messages::visibility
                .eq_any(["everyone", "finder"])
                .or(cvd_messages::author_kind.eq("finder")),
        ),
        Acting::Vendor { vendor_id, .. } => q.filter(
            cvd_messages::visibility
                .eq_any(["everyone", "vendors"])
                .or(cvd_messages::author_kind
                    .eq("vendor")
                    .and(cvd_messages::author_id.eq(vendor_id.clone()))),
        ),
    };
    let rows: Vec<MessageRow> = q
        .order(cvd_messages::id.asc())
        .limit(page.limit + 1)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|m| may_read(&acting, m))
        .map(|m| message_api(&acting, identity, m))
        .collect())
}

/// Posts a message. A coordinator's message the finder can read acknowledges the report.
pub fn post_message(
    conn: &mut DbConn,
    principal: &Principal,
    id: &str,
    input: MessageInput,
) -> AppResult<Message> {
    lock(conn)?;
    let (row, acting) = acting(conn, principal, id)?;
    if !matches!(acting, Acting::Coordinator(_)) {
        within_caps(conn, id, input.body.len())?;
    }
    let allowed = match &acting {
        Acting::Coordinator(_) => true,
        Acting::Finder { .. } => input.visibility != Visibility::Vendors,
        Acting::Vendor { .. } => input.visibility != Visibility::Finder,
    };
    if !allowed {
        return Err(AppError::invalid(
            "/visibility",
            "a finder writes to `coordinators`, `finder` or `everyone`; a vendor to `coordinators`, `vendors` or `everyone`",
        ));
    }
    let now = db::now();
    let (kind, author_id, author_name) = match &acting {
        Acting::Coordinator(c) => (
            "coordinator",
            Some(c.org.clone()),
            org_ref(conn, &c.org)
                .map(|o| o.name)
                .unwrap_or_else(|_| "Coordinator".into()),
        ),
        Acting::Finder { caller, .. } => {
            let finder: Option<Finder> = row
                .finder
                .as_deref()
                .map(serde_json::from_str)
                .transpose()?;
            (
                "finder",
                caller.as_ref().map(|c| c.org.clone()),
                finder
                    .and_then(|f| f.name)
                    .unwrap_or_else(|| "Finder".into()),
            )
        }
        Acting::Vendor { vendor_id, .. } => {
            let name: String = cvd_vendors::table
                .find(vendor_id)
                .select(cvd_vendors::name)
                .first(conn)?;
            ("vendor", Some(vendor_id.clone()), name)
        }
    };
    let message_id = db::new_id();
    diesel::insert_into(cvd_messages::table)
        .values((
            cvd_messages::id.eq(&message_id),
            cvd_messages::case_id.eq(id),
            cvd_messages::author_kind.eq(kind),
            cvd_messages::author_id.eq(&author_id),
            cvd_messages::author_name.eq(&author_name),
            cvd_messages::visibility.eq(input.visibility.as_str()),
            cvd_messages::body.eq(&input.body),
            cvd_messages::created_at.eq(now),
        ))
        .execute(conn)?;
    if let Acting::Vendor { vendor_id, .. } = &acting {
        diesel::update(
            cvd_vendors::table.filter(
                cvd_vendors::id
                    .eq(vendor_id)
                    .and(cvd_vendors::responded_at.is_null()),
            ),
        )
        .set(cvd_vendors::responded_at.eq(Some(now)))
        .execute(conn)?;
    }
    let mut changes = vec!["messages".to_string()];
    let finder_reads = matches!(input.visibility, Visibility::Everyone | Visibility::Finder);
    if matches!(acting, Acting::Coordinator(_)) && finder_reads && row.acknowledged_at.is_none() {
        diesel::update(cvd_cases::table.find(id))
            .set(cvd_cases::acknowledged_at.eq(Some(now)))
            .execute(conn)?;
        changes.push("acknowledged_at".into());
    }
    let identity = match &acting {
        Acting::Coordinator(c) => sees_finder(c, &row),
        _ => false,
    };
    let row = bump_from(conn, id, row.version, now)?;
    emit_update(conn, &row, &changes, Audience::Visibility(input.visibility))?;
    acting.audit(conn, "cvd.message.post", "cvd_message", &message_id)?;
    let stored: MessageRow = cvd_messages::table
        .find(&message_id)
        .select(MessageRow::as_select())
        .first(conn)?;
    Ok(message_api(&acting, identity, stored))
}

/// The most messages a case's finder and vendors may post to it together. Coordinators are
/// not counted: a cap must never silence the CSIRT on its own case.
pub const MAX_PARTICIPANT_MESSAGES: i64 = 500;
/// The most bytes of message text a case's finder and vendors may post to it together
/// (2 MiB: a hundred long messages of 20 000 characters).
pub const MAX_PARTICIPANT_BYTES: i64 = 2 * 1024 * 1024;

/// 409 when one more message of `bytes` from a finder or vendor would pass the case's caps.
/// Runs under the write lock, so two posts cannot both take the last place.
fn within_caps(conn: &mut DbConn, id: &str, bytes: usize) -> AppResult<()> {
    #[derive(QueryableByName)]
    struct Totals {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        bytes: i64,
    }
    // Bytes, not characters: what the database stores.
    let (size, param) = match conn {
        DbConn::Pg(_) => ("octet_length(body)", "$1"),
        DbConn::Sqlite(_) => ("length(CAST(body AS BLOB))", "?"),
    };
    let totals: Totals = diesel::sql_query(format!(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM({size}), 0) AS BIGINT) AS bytes \
         FROM cvd_messages WHERE case_id = {param} AND author_kind <> 'coordinator'"
    ))
    .bind::<diesel::sql_types::Text, _>(id)
    .get_result(conn)?;
    if totals.n >= MAX_PARTICIPANT_MESSAGES {
        return Err(AppError::Conflict(
            "case_message_limit",
            format!(
                "the case holds the most messages its finder and vendors may post ({MAX_PARTICIPANT_MESSAGES}); write to the coordinators by other means"
            ),
        ));
    }
    let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
    if totals.bytes.saturating_add(bytes) > MAX_PARTICIPANT_BYTES {
        return Err(AppError::Conflict(
            "case_size_limit",
            format!(
                "the messages of the case's finder and vendors may hold at most {MAX_PARTICIPANT_BYTES} bytes; {} are used and this message has {bytes}",
                totals.bytes
            ),
        ));
    }
    Ok(())
}

/// A coordinators-only message recording a change to the case (who, what, from → to, why),
/// written by the service in the name of the coordinator that made it.
pub(super) fn record_coordinators_note(
    conn: &mut DbConn,
    id: &str,
    org: &str,
    author: &str,
    body: &str,
    now: NaiveDateTime,
) -> AppResult<()> {
    diesel::insert_into(cvd_messages::table)
        .values((
            cvd_messages::id.eq(db::new_id()),
            cvd_messages::case_id.eq(id),
            cvd_messages::author_kind.eq("coordinator"),
            cvd_messages::author_id.eq(Some(org)),
            cvd_messages::author_name.eq(author),
            cvd_messages::visibility.eq(Visibility::Coordinators.as_str()),
            cvd_messages::body.eq(body),
            cvd_messages::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
