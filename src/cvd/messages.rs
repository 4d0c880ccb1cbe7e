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

fn message_api(acting: &Acting, m: MessageRow) -> Message {
    let kind = match m.author_kind.as_str() {
        "finder" => Viewer::Finder,
        "vendor" => Viewer::Vendor,
        _ => Viewer::Coordinator,
    };
    let own = match acting {
        Acting::Coordinator(_) => true,
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
    let (_, acting) = acting(conn, principal, id)?;
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
        .map(|m| message_api(&acting, m))
        .collect())
}

/// Posts a message. A coordinator's message the finder can read acknowledges the report.
pub fn post_message(
    conn: &mut DbConn,
    principal: &Principal,
    id: &str,
    input: MessageInput,
) -> AppResult<Message> {
    let (row, acting) = acting(conn, principal, id)?;
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
    let row = bump(conn, id, now)?;
    emit_update(conn, &row, &changes, Audience::Visibility(input.visibility))?;
    acting.audit(conn, "cvd.message.post", "cvd_message", &message_id)?;
    let stored: MessageRow = cvd_messages::table
        .find(&message_id)
        .select(MessageRow::as_select())
        .first(conn)?;
    Ok(message_api(&acting, stored))
}
