//! Events: every change someone else must learn of, addressed to the organisations that may see
//! it, written in the transaction of the change.
//!
//! Sequence numbers are handed out under the write lock ([`db::lock_writes`]), so they grow in
//! commit order: a reader that pages with `after=<last seq>` never skips an event committed
//! later with a smaller number, which plain database sequences cannot promise on PostgreSQL.
//! A transaction reads the last number once; its further events count on from it
//! ([`db::TxMarks`]).

pub mod routes;

use crate::db::{self, DbConn};
use crate::error::AppResult;
use crate::schema::{event_recipients, events};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an event is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Subject {
    #[serde(rename = "type")]
    #[schema(example = "incident")]
    pub subject_type: String,
    pub id: String,
}

/// The envelope of every event, in the feed and in webhooks alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Position in the event log; page with `after=<seq>`.
    #[schema(example = 1042)]
    pub seq: i64,
    /// Unique id: the idempotency key for consumers.
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "incident.reported")]
    pub event_type: String,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub subject: Subject,
    pub data: serde_json::Value,
}

/// An event to write.
pub struct NewEvent<'a> {
    pub event_type: &'a str,
    pub subject_type: &'a str,
    pub subject_id: &'a str,
    /// Whether it concerns a significant incident (authorities can filter on it).
    pub significant: bool,
    pub data: serde_json::Value,
    /// Organisations (or entities) that receive it.
    pub recipients: Vec<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = events)]
struct EventRow {
    seq: i64,
    id: String,
    event_type: String,
    occurred_at: chrono::NaiveDateTime,
    subject_type: String,
    subject_id: String,
    data: String,
}

impl EventRow {
    fn into_api(self) -> AppResult<Event> {
        Ok(Event {
            seq: self.seq,
            id: self.id,
            event_type: self.event_type,
            occurred_at: self.occurred_at.and_utc(),
            subject: Subject {
                subject_type: self.subject_type,
                id: self.subject_id,
            },
            data: serde_json::from_str(&self.data)?,
        })
    }
}

/// One event by its sequence number.
pub fn by_seq(conn: &mut DbConn, seq: i64) -> AppResult<Event> {
    events::table
        .find(seq)
        .select(EventRow::as_select())
        .first(conn)?
        .into_api()
}

/// The events of the given sequence numbers, by number (one query, for a batch of deliveries).
pub fn by_seqs(
    conn: &mut DbConn,
    seqs: &[i64],
) -> AppResult<std::collections::HashMap<i64, Event>> {
    events::table
        .filter(events::seq.eq_any(seqs))
        .select(EventRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| row.into_api().map(|e| (e.seq, e)))
        .collect()
}

/// Writes an event and its recipients, and queues it for their webhooks; call inside the write
/// transaction of the change.
pub fn emit(conn: &mut DbConn, ev: NewEvent) -> AppResult<i64> {
    emit_to(conn, ev, None)
}

/// Like [`emit`]; with `only`, the event goes to that one webhook subscription (a test ping).
pub fn emit_to(conn: &mut DbConn, ev: NewEvent, only: Option<&str>) -> AppResult<i64> {
    let seqs = emit_all(
        conn,
        vec![Queued {
            event: ev,
            copy_of_previous: false,
            only,
        }],
    )?;
    Ok(seqs[0])
}

/// The subjects whose events only their addressees see: another organisation's webhook
/// subscriptions, and advisories, which TLP may keep from the national CSIRT (a sectoral
/// CSIRT's TLP:RED advisory is for the entities it names). Every other event — incidents,
/// entities, CVD cases, maturity — is about a record the national CSIRT reads in full, so its
/// national view shows them whether or not it was addressed.
pub const ADDRESSED_ONLY: &[&str] = &["webhook", "advisory"];

/// Whether the national view (its feed and its webhook subscriptions) shows an event it was
/// not addressed: never a content-less copy (the national CSIRT reads the full event), never
/// an event about an [`ADDRESSED_ONLY`] subject.
pub fn in_national_view(subject_type: &str, copy: bool) -> bool {
    !copy && !ADDRESSED_ONLY.contains(&subject_type)
}

/// An event of a change that writes several, in the order they are to be numbered.
pub struct Queued<'a> {
    pub event: NewEvent<'a>,
    /// The copy of the event just before it, without the content that its TLP keeps from this
    /// copy's recipients. The national view, which shows every event, leaves such copies out.
    pub copy_of_previous: bool,
    /// Only this webhook subscription gets it (a test ping).
    pub only: Option<&'a str>,
}

impl<'a> From<NewEvent<'a>> for Queued<'a> {
    fn from(event: NewEvent<'a>) -> Self {
        Queued {
            event,
            copy_of_previous: false,
            only: None,
        }
    }
}

/// Writes the events of one change, numbered one after the other, with one INSERT for the
/// events, one for their recipients and one look-up of the webhook subscriptions, however many
/// events the change has: these statements run under the write lock, which every writer
/// waits for. Returns their sequence numbers.
pub fn emit_all(conn: &mut DbConn, batch: Vec<Queued>) -> AppResult<Vec<i64>> {
    db::lock_writes(conn)?;
    // The first event of a transaction asks for the last number; the others count on from it.
    let first = match db::TxMarks::get().and_then(|m| m.next_event_seq) {
        Some(seq) => seq,
        None => {
            let last: Option<i64> = events::table
                .select(diesel::dsl::max(events::seq))
                .first(conn)?;
            last.unwrap_or(0) + 1
        }
    };
    let now = db::now();
    let mut seqs = Vec::with_capacity(batch.len());
    let mut rows = Vec::with_capacity(batch.len());
    let mut recipient_rows = vec![];
    let mut queued = Vec::with_capacity(batch.len());
    for (i, q) in batch.into_iter().enumerate() {
        let seq = first + i as i64;
        let copy_of = match (q.copy_of_previous, seqs.last()) {
            (true, Some(&full)) => Some(full),
            (true, None) => {
                return Err(crate::error::AppError::internal(
                    "a copy of an event must follow it",
                ))
            }
            (false, _) => None,
        };
        let ev = q.event;
        rows.push((
            events::seq.eq(seq),
            events::id.eq(db::new_id()),
            events::event_type.eq(ev.event_type),
            events::occurred_at.eq(now),
            events::subject_type.eq(ev.subject_type),
            events::subject_id.eq(ev.subject_id),
            events::significant.eq(ev.significant),
            events::data.eq(serde_json::to_string(&ev.data)?),
            events::copy_of.eq(copy_of),
        ));
        let mut recipients = ev.recipients;
        recipients.sort();
        recipients.dedup();
        recipient_rows.extend(recipients.iter().map(|org| {
            (
                event_recipients::org_id.eq(org.clone()),
                event_recipients::seq.eq(seq),
            )
        }));
        queued.push(crate::webhooks::Enqueued {
            seq,
            event_type: ev.event_type,
            recipients,
            only: q.only,
            national_view: in_national_view(ev.subject_type, copy_of.is_some()),
        });
        seqs.push(seq);
    }
    crate::insert_rows!(conn, events::table, rows, 9);
    crate::insert_rows!(conn, event_recipients::table, recipient_rows, 2);
    crate::webhooks::enqueue(conn, &queued)?;
    if let Some(last) = seqs.last() {
        db::TxMarks::update(|m| m.next_event_seq = Some(last + 1));
    }
    Ok(seqs)
}

/// Filters of the feed.
#[derive(Debug, Clone, Default)]
pub struct FeedFilter {
    pub after: i64,
    pub limit: i64,
    pub event_type: Option<String>,
    pub significant_only: bool,
    /// For the national view (`org` = `None`): the national CSIRT's own id. Events about
    /// another organisation's webhook subscriptions are left out of its view unless addressed
    /// to it.
    pub own_org: Option<String>,
}

/// The events after `after` that `org` receives (every event when `org` is `None`), in order.
pub fn feed(conn: &mut DbConn, org: Option<&str>, f: &FeedFilter) -> AppResult<Vec<Event>> {
    let mut q = events::table
        .filter(events::seq.gt(f.after))
        .select(EventRow::as_select())
        .into_boxed();
    if org.is_none() {
        let own = event_recipients::table
            .filter(
                event_recipients::org_id
                    .eq(f.own_org.clone().unwrap_or_default())
                    .and(event_recipients::seq.gt(f.after)),
            )
            .select(event_recipients::seq);
        // What [`in_national_view`] lets through, and what is addressed to it.
        q = q.filter(
            events::subject_type
                .ne_all(ADDRESSED_ONLY)
                .and(events::copy_of.is_null())
                .or(events::seq.eq_any(own)),
        );
    }
    if let Some(org) = org {
        q = q.filter(
            events::seq.eq_any(
                event_recipients::table
                    .filter(
                        event_recipients::org_id
                            .eq(org.to_string())
                            .and(event_recipients::seq.gt(f.after)),
                    )
                    .select(event_recipients::seq),
            ),
        );
    }
    if let Some(t) = &f.event_type {
        q = q.filter(events::event_type.eq(t.clone()));
    }
    if f.significant_only {
        q = q.filter(events::significant.eq(true));
    }
    let rows: Vec<EventRow> = q.order(events::seq.asc()).limit(f.limit).load(conn)?;
    rows.into_iter().map(EventRow::into_api).collect()
}
