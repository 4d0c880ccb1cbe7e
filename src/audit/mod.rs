//! The append-only, hash-chained audit log.
//!
//! Each row's hash covers its own fields and the previous row's hash, so altering or removing
//! any row breaks every link after it, and `verify` names the first broken one. Appends are
//! serialised (SQLite's write lock; an advisory transaction lock on PostgreSQL) so the chain
//! never forks, and they happen in the transaction of the write they record.

pub mod routes;

use crate::db::{self, DbConn};
use crate::error::AppResult;
use crate::schema::audit_log;
use diesel::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, ToSchema)]
#[diesel(table_name = audit_log)]
pub struct AuditRecord {
    #[schema(example = 42)]
    pub seq: i64,
    pub id: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(serialize_with = "crate::db::serialize_utc")]
    pub at: chrono::NaiveDateTime,
    pub actor_org: String,
    pub actor_sub: String,
    pub actor_role: String,
    pub client_id: Option<String>,
    #[schema(example = "entity.update")]
    pub action: String,
    #[schema(example = "entity")]
    pub resource_type: String,
    pub resource_id: String,
    pub request_id: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRecord {
    pub(crate) fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.prev_hash.as_str(),
            &self.seq.to_string(),
            &self.id,
            &self
                .at
                .and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            &self.actor_org,
            &self.actor_sub,
            &self.actor_role,
            self.client_id.as_deref().unwrap_or(""),
            &self.action,
            &self.resource_type,
            &self.resource_id,
            &self.request_id,
        ] {
            h.update(part.as_bytes());
            h.update([0x1f]);
        }
        hex::encode(h.finalize())
    }
}

/// Who a record is about when there is no authenticated caller (a refused authentication)
/// or when the actor is an API client exchanging its secret for a token.
#[derive(Debug, Clone)]
pub struct Actor<'a> {
    pub org: &'a str,
    pub sub: &'a str,
    pub role: &'a str,
    pub client_id: Option<&'a str>,
    pub request_id: &'a str,
}

/// Appends one record; call inside the write transaction of the change it records. The
/// actor is usually the request's `auth::Caller` (which converts into an [`Actor`]).
pub fn record<'a>(
    conn: &mut DbConn,
    actor: impl Into<Actor<'a>>,
    action: &str,
    resource_type: &str,
    resource_id: &str,
) -> AppResult<()> {
    record_as(conn, &actor.into(), action, resource_type, resource_id)
}

/// Like [`record`], for an actor that is not an authenticated caller.
pub fn record_as(
    conn: &mut DbConn,
    actor: &Actor<'_>,
    action: &str,
    resource_type: &str,
    resource_id: &str,
) -> AppResult<()> {
    db::lock_writes(conn)?;
    append(conn, actor, action, resource_type, resource_id)
}

/// Like [`record`], for a transaction that writes nothing but this record (the record of a
/// read): it takes the audit chain's lock alone (`db::lock_audit_alone`), so on a day of many
/// reports it waits for the report holding the write lock, not for every report queued.
pub fn record_alone<'a>(
    conn: &mut DbConn,
    actor: impl Into<Actor<'a>>,
    action: &str,
    resource_type: &str,
    resource_id: &str,
) -> AppResult<()> {
    db::lock_audit_alone(conn)?;
    append(conn, &actor.into(), action, resource_type, resource_id)
}

/// Appends a record to the chain; the caller holds the audit chain's lock.
fn append(
    conn: &mut DbConn,
    actor: &Actor<'_>,
    action: &str,
    resource_type: &str,
    resource_id: &str,
) -> AppResult<()> {
    let last: Option<(i64, String)> = audit_log::table
        .select((audit_log::seq, audit_log::hash))
        .order(audit_log::seq.desc())
        .first(conn)
        .optional()?;
    let (prev_seq, prev_hash) = last.unwrap_or((0, GENESIS.to_string()));
    let mut row = AuditRecord {
        seq: prev_seq + 1,
        id: db::new_id(),
        at: db::now(),
        actor_org: actor.org.to_string(),
        actor_sub: actor.sub.to_string(),
        actor_role: actor.role.to_string(),
        client_id: actor.client_id.map(str::to_string),
        action: action.to_string(),
        resource_type: resource_type.to_string(),
        resource_id: resource_id.to_string(),
        request_id: actor.request_id.to_string(),
        prev_hash,
        hash: String::new(),
    };
    row.hash = row.compute_hash();
    diesel::insert_into(audit_log::table)
        .values(&row)
        .execute(conn)?;
    Ok(())
}

/// The result of walking the chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verification {
    /// True when every row links to the one before and its hash matches its content.
    pub valid: bool,
    /// Rows checked.
    pub checked: i64,
    /// The first row that fails, if any.
    pub first_broken: Option<BrokenLink>,
    /// Hash of the last row: publish it elsewhere to anchor the chain.
    pub head_hash: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BrokenLink {
    pub seq: i64,
    pub id: String,
    #[schema(example = "the row's content does not match its hash")]
    pub reason: String,
}

/// Recomputes the whole chain in batches.
pub fn verify(conn: &mut DbConn) -> AppResult<Verification> {
    let mut prev_hash = GENESIS.to_string();
    let mut expected_seq = 1;
    let mut checked = 0;
    loop {
        let rows: Vec<AuditRecord> = audit_log::table
            .filter(audit_log::seq.ge(expected_seq))
            .order(audit_log::seq.asc())
            .limit(1000)
            .select(AuditRecord::as_select())
            .load(conn)?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let reason = if row.seq != expected_seq {
                Some(format!(
                    "rows {expected_seq} to {} are missing",
                    row.seq - 1
                ))
            } else if row.prev_hash != prev_hash {
                Some("the row does not link to the hash of the row before it".to_string())
            } else if row.compute_hash() != row.hash {
                Some("the row's content does not match its hash".to_string())
            } else {
                None
            };
            if let Some(reason) = reason {
                return Ok(Verification {
                    valid: false,
                    checked,
                    first_broken: Some(BrokenLink {
                        seq: row.seq,
                        id: row.id,
                        reason,
                    }),
                    head_hash: None,
                });
            }
            checked += 1;
            expected_seq = row.seq + 1;
            prev_hash = row.hash;
        }
    }
    Ok(Verification {
        valid: true,
        checked,
        first_broken: None,
        head_hash: (checked > 0).then_some(prev_hash),
    })
}
