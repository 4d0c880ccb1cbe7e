//! Leaving the register, or its scope: an entity's own request and its authority's decision.

use super::*;

/// A change that took an entity off the register: the entity, and the `client_id`s of its
/// API clients revoked in the same transaction (for the auth cache, after commit).
#[derive(Debug)]
pub struct Outcome {
    pub entity: Entity,
    pub revoked_clients: Vec<String>,
}

impl Outcome {
    fn kept(entity: Entity) -> Self {
        Self {
            entity,
            revoked_clients: vec![],
        }
    }
}

/// Takes an entity off the register. The national CSIRT and the supervisory authority that
/// covers the entity do so at once; the entity itself only asks, and stays registered (and
/// visible, with its obligations) until one of them confirms.
pub fn deregister(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    if_match: Option<&str>,
    reason: &str,
) -> AppResult<Outcome> {
    crate::entities::repo::lock_row(conn, id)?;
    let dir = load_directory(conn)?;
    let current = load_visible(conn, caller, id, &dir)?;
    match caller.role {
        Role::NationalCsirt | Role::SupervisoryAuthority => {}
        Role::Entity if caller.org == id => {}
        _ => {
            return Err(AppError::ForbiddenAction(
                "an entity is deregistered by the national CSIRT or its supervisory authority, \
                 or asks for it itself"
                    .into(),
            ))
        }
    }
    still_registered(&current, if_match)?;
    let before = current.clone().into_api(&dir)?;
    let by = format!("{}/{}", caller.org, caller.sub);
    let input = before.input.clone();
    if caller.role == Role::Entity {
        if before.deregistration_request.is_some() {
            return Err(pending_conflict());
        }
        let request = DeregistrationRequest {
            reason: reason.to_string(),
            requested_by: by.clone(),
            requested_at: db::now().and_utc(),
            update: None,
        };
        let entity = save(
            conn,
            caller,
            current,
            Change {
                input,
                status: EntityStatus::DeregistrationPending,
                request: Some(&request),
                change: &format!("deregistration_requested: {reason}"),
                flags: &[ChangeFlag::SelfService],
            },
            &dir,
        )?;
        emit(
            conn,
            "entity.deregistration_requested",
            &entity,
            overseers(&entity),
            serde_json::json!({"request": request}),
        )?;
        audit::record(
            conn,
            caller,
            "entity.deregistration_request",
            "entity",
            &entity.id,
        )?;
        return Ok(Outcome::kept(entity));
    }
    let entity = save(
        conn,
        caller,
        current,
        Change {
            input,
            status: EntityStatus::Deregistered,
            request: None,
            change: &format!("deregistered: {reason}"),
            flags: &[],
        },
        &dir,
    )?;
    let revoked_clients = crate::auth::clients::revoke_all_of(conn, caller, &entity.id)?;
    emit(
        conn,
        "entity.deregistered",
        &entity,
        overseers(&entity),
        serde_json::json!({
            "deregistered_by": by,
            "reason": reason,
            "request": before.deregistration_request,
        }),
    )?;
    audit::record(conn, caller, "entity.deregister", "entity", &entity.id)?;
    Ok(Outcome {
        entity,
        revoked_clients,
    })
}

/// The supervisory authority covering the entity, or the national CSIRT, decides an entity's
/// own deregistration request: `confirm` takes it off the register (revoking its API clients
/// in the same transaction), otherwise it stays. A request held from the entity's own update
/// that would take it out of scope is decided the same way: `confirm` applies that update to
/// the registration as it is now (the entity stays in the register, out of scope), otherwise
/// the update is dropped.
pub fn decide_deregistration(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    if_match: Option<&str>,
    confirm: bool,
    comment: &str,
) -> AppResult<Outcome> {
    crate::entities::repo::lock_row(conn, id)?;
    let dir = load_directory(conn)?;
    let current = load_visible(conn, caller, id, &dir)?;
    match caller.role {
        Role::NationalCsirt | Role::SupervisoryAuthority => {}
        Role::Entity => {
            return Err(AppError::ForbiddenAction(
                "an entity cannot decide its own deregistration request".into(),
            ))
        }
        Role::SectoralCsirt => {
            return Err(AppError::ForbiddenAction(
                "deregistration requests are decided by the supervisory authority or the \
                 national CSIRT"
                    .into(),
            ))
        }
    }
    still_registered(&current, if_match)?;
    let before = current.clone().into_api(&dir)?;
    let Some(request) = before.deregistration_request.clone() else {
        return Err(AppError::Conflict(
            "deregistration_not_pending",
            "the entity has not asked to be deregistered".into(),
        ));
    };
    if let Some(patch) = &request.update {
        return decide_scope_exit(
            conn, caller, current, before, &request, patch, confirm, comment, &dir,
        )
        .map(Outcome::kept);
    }
    let (status, change, event, action) = if confirm {
        (
            EntityStatus::Deregistered,
            format!("deregistration_confirmed: {comment}"),
            "entity.deregistered",
            "entity.deregistration_confirm",
        )
    } else {
        (
            EntityStatus::Registered,
            format!("deregistration_rejected: {comment}"),
            "entity.deregistration_rejected",
            "entity.deregistration_reject",
        )
    };
    let entity = save(
        conn,
        caller,
        current,
        Change {
            input: before.input.clone(),
            status,
            request: None,
            change: &change,
            flags: &[],
        },
        &dir,
    )?;
    let revoked_clients = if confirm {
        crate::auth::clients::revoke_all_of(conn, caller, &entity.id)?
    } else {
        vec![]
    };
    emit(
        conn,
        event,
        &entity,
        overseers(&entity),
        serde_json::json!({
            "decided_by": format!("{}/{}", caller.org, caller.sub),
            "comment": comment,
            "request": request,
        }),
    )?;
    audit::record(conn, caller, action, "entity", &entity.id)?;
    Ok(Outcome {
        entity,
        revoked_clients,
    })
}

/// Confirms (applies) or rejects (drops) an entity's own update held because it would take
/// the entity out of scope.
#[allow(clippy::too_many_arguments)]
fn decide_scope_exit(
    conn: &mut DbConn,
    caller: &Caller,
    current: EntityRow,
    before: Entity,
    request: &DeregistrationRequest,
    patch: &serde_json::Value,
    confirm: bool,
    comment: &str,
    dir: &[DirectoryOrg],
) -> AppResult<Entity> {
    let decided_by = format!("{}/{}", caller.org, caller.sub);
    if !confirm {
        let entity = save(
            conn,
            caller,
            current,
            Change {
                input: before.input.clone(),
                status: EntityStatus::Registered,
                request: None,
                change: &format!("scope_exit_rejected: {comment}"),
                flags: &[],
            },
            dir,
        )?;
        emit(
            conn,
            "entity.deregistration_rejected",
            &entity,
            overseers(&entity),
            serde_json::json!({"decided_by": decided_by, "comment": comment, "request": request}),
        )?;
        audit::record(
            conn,
            caller,
            "entity.scope_exit_reject",
            "entity",
            &entity.id,
        )?;
        return Ok(entity);
    }
    // Applied to the registration as it is now: the national CSIRT may have changed it since.
    let mut doc = serde_json::to_value(&before.input)?;
    json::merge_patch_as::<EntityInput>(&mut doc, patch)?;
    let mut input = EntityInput::from_json(&serde_json::to_vec(&doc)?)?;
    // The entity's patch could not touch its designations when it was held; they are as the
    // member state's organisations have set them since, whatever the patch says of them.
    input.critical_entity = before.input.critical_entity;
    input.member_state_identification = before.input.member_state_identification;
    let after = derive(&input, dir);
    let preview = Entity {
        category: after.category,
        sectoral_csirt: after.sectoral_csirt,
        supervisory_authority: after.supervisory_authority,
        input: input.clone(),
        ..before.clone()
    };
    // The content is the entity's own change, whoever confirms it.
    let mut flags = change_flags(caller, &before, &preview);
    flags.push(ChangeFlag::SelfService);
    flags.sort();
    flags.dedup();
    let entity = save(
        conn,
        caller,
        current,
        Change {
            input,
            status: EntityStatus::Registered,
            request: None,
            change: &format!("scope_exit_confirmed: {comment}"),
            flags: &flags,
        },
        dir,
    )?;
    let mut to = overseers(&before);
    to.extend(overseers(&entity));
    emit(
        conn,
        "entity.updated",
        &entity,
        to,
        serde_json::json!({
            "changed_by": request.requested_by,
            "decided_by": decided_by,
            "comment": comment,
            "flags": flags,
            "before": oversight_view(&before),
            "after": oversight_view(&entity),
        }),
    )?;
    audit::record(
        conn,
        caller,
        "entity.scope_exit_confirm",
        "entity",
        &entity.id,
    )?;
    Ok(entity)
}
