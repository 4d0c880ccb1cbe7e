//! NIS2 Art. 23(4) reporting stages: what is due when, what was late, what comes next, and
//! which report may follow which.

use super::ruleset::RuleSet;
use chrono::{DateTime, Months, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    EarlyWarning,
    Notification,
    Intermediate,
    Final,
    Progress,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::EarlyWarning,
        Stage::Notification,
        Stage::Intermediate,
        Stage::Final,
        Stage::Progress,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::EarlyWarning => "early_warning",
            Stage::Notification => "notification",
            Stage::Intermediate => "intermediate",
            Stage::Final => "final",
            Stage::Progress => "progress",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// A report already submitted.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    pub stage: Stage,
    pub submitted_at: DateTime<Utc>,
    /// For a progress report: when handling ended, if it has.
    pub handling_ended_at: Option<DateTime<Utc>>,
}

/// A request for an intermediate report (Art. 23(4)(c)).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: String,
    pub requested_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

/// One stage of an incident with its deadline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StageStatus {
    pub stage: Stage,
    /// When it is due; `null` when the law sets no deadline (a voluntary report) or it is not
    /// known yet (the final report of an incident still being handled).
    pub due_at: Option<DateTime<Utc>>,
    pub submitted_at: Option<DateTime<Utc>>,
    /// Submitted after its deadline.
    pub late: bool,
    /// Not submitted and past its deadline.
    pub overdue: bool,
    /// For an intermediate report: the request it answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// What the reporter must send next, and by when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Obligation {
    pub stage: Stage,
    pub due_at: Option<DateTime<Utc>>,
}

fn first(reports: &[Submitted], stage: Stage) -> Option<&Submitted> {
    reports
        .iter()
        .filter(|r| r.stage == stage)
        .min_by_key(|r| r.submitted_at)
}

fn status(
    stage: Stage,
    due_at: Option<DateTime<Utc>>,
    submitted_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> StageStatus {
    StageStatus {
        stage,
        due_at,
        submitted_at,
        late: matches!((submitted_at, due_at), (Some(s), Some(d)) if s > d),
        overdue: submitted_at.is_none() && due_at.is_some_and(|d| now > d),
        request_id: None,
    }
}

/// Every stage of an incident with its deadline.
///
/// `mandatory` incidents carry the deadlines of Art. 23(4); a voluntary one (Art. 30) has none
/// but for intermediate reports someone requested. A notification sent before the early warning
/// was due also serves as the early warning.
pub fn stages(
    rs: &RuleSet,
    aware_at: DateTime<Utc>,
    trust_service: bool,
    mandatory: bool,
    reports: &[Submitted],
    requests: &[Request],
    now: DateTime<Utc>,
) -> Vec<StageStatus> {
    let d = &rs.deadlines;
    let due = |hours: i64| {
        mandatory
            .then(|| crate::time::add_hours(aware_at, hours))
            .flatten()
    };
    let notification = first(reports, Stage::Notification);
    let early = first(reports, Stage::EarlyWarning).or(notification);
    let notification_hours = if trust_service {
        d.trust_service_notification_hours
    } else {
        d.notification_hours
    };
    let notification_due = due(notification_hours);
    let months = Months::new(d.final_report_months);
    let final_base = notification.map(|n| n.submitted_at).or(notification_due);
    let original_final_due = if mandatory {
        final_base.and_then(|b| b.checked_add_months(months))
    } else {
        None
    };
    let progress = first(reports, Stage::Progress);
    let final_due = match progress {
        // Still being handled at the final deadline: the final report is due a month after
        // handling ends.
        Some(p) => p
            .handling_ended_at
            .and_then(|h| h.checked_add_months(months)),
        None => original_final_due,
    };

    let mut out = vec![
        status(
            Stage::EarlyWarning,
            due(d.early_warning_hours),
            early.map(|r| r.submitted_at),
            now,
        ),
        status(
            Stage::Notification,
            notification_due,
            notification.map(|r| r.submitted_at),
            now,
        ),
    ];
    let mut intermediates: Vec<&Submitted> = reports
        .iter()
        .filter(|r| r.stage == Stage::Intermediate)
        .collect();
    intermediates.sort_by_key(|r| r.submitted_at);
    let mut requests: Vec<&Request> = requests.iter().collect();
    requests.sort_by_key(|r| r.requested_at);
    for (i, req) in requests.iter().enumerate() {
        let mut s = status(
            Stage::Intermediate,
            Some(req.due_at),
            intermediates.get(i).map(|r| r.submitted_at),
            now,
        );
        s.request_id = Some(req.id.clone());
        out.push(s);
    }
    for extra in intermediates.iter().skip(requests.len()) {
        out.push(status(
            Stage::Intermediate,
            None,
            Some(extra.submitted_at),
            now,
        ));
    }
    if let Some(p) = progress {
        out.push(status(
            Stage::Progress,
            original_final_due,
            Some(p.submitted_at),
            now,
        ));
    }
    out.push(status(
        Stage::Final,
        final_due,
        first(reports, Stage::Final).map(|r| r.submitted_at),
        now,
    ));
    out
}

/// The reporter's next obligation: the first stage still open that has a deadline, or a
/// requested intermediate report; `None` once the final report is in or nothing is owed.
pub fn next_obligation(stages: &[StageStatus], mandatory: bool) -> Option<Obligation> {
    let final_done = stages
        .iter()
        .any(|s| s.stage == Stage::Final && s.submitted_at.is_some());
    if final_done {
        return None;
    }
    let open = |s: &&StageStatus| s.submitted_at.is_none();
    let requested = stages
        .iter()
        .filter(|s| s.stage == Stage::Intermediate && s.request_id.is_some())
        .filter(open)
        .min_by_key(|s| s.due_at);
    let ordered = stages
        .iter()
        .filter(|s| mandatory && matches!(s.stage, Stage::EarlyWarning | Stage::Notification))
        .find(open);
    let candidate = match (ordered, requested) {
        (Some(a), Some(b)) => Some(if b.due_at < a.due_at { b } else { a }),
        (a, b) => a.or(b),
    };
    if let Some(s) = candidate {
        return Some(Obligation {
            stage: s.stage,
            due_at: s.due_at,
        });
    }
    if !mandatory {
        return None;
    }
    stages
        .iter()
        .find(|s| s.stage == Stage::Final)
        .map(|s| Obligation {
            stage: Stage::Final,
            due_at: s.due_at,
        })
}

/// Whether a report of `stage` may follow the reports already submitted.
pub fn check_order(
    stage: Stage,
    mandatory: bool,
    reports: &[Submitted],
    open_requests: usize,
    closed: bool,
) -> Result<(), String> {
    let has = |s: Stage| reports.iter().any(|r| r.stage == s);
    if closed {
        return Err("the incident is closed; it takes no more reports".into());
    }
    if has(Stage::Final) {
        return Err("the final report is in; the incident takes no more reports".into());
    }
    match stage {
        Stage::EarlyWarning if !reports.is_empty() => {
            Err("the early warning is the first report; this incident has reports already".into())
        }
        Stage::Notification if has(Stage::Notification) => {
            Err("the incident notification was submitted already; send updates as an intermediate report when asked, or the final report".into())
        }
        Stage::Intermediate if open_requests == 0 => {
            Err("an intermediate report is sent when a CSIRT or authority requests one; there is no open request".into())
        }
        Stage::Final | Stage::Progress if mandatory && !has(Stage::Notification) => {
            Err(format!("a {} report comes after the incident notification; submit the notification first", stage.as_str()))
        }
        Stage::Progress if has(Stage::Progress) => Err("a progress report was submitted already".into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // fixed test values
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 31, 8, 0, 0).unwrap() + chrono::Duration::hours(hours)
    }

    fn sub(stage: Stage, hours: i64) -> Submitted {
        Submitted {
            stage,
            submitted_at: t(hours),
            handling_ended_at: None,
        }
    }

    fn find(stages: &[StageStatus], stage: Stage) -> &StageStatus {
        stages.iter().find(|s| s.stage == stage).unwrap()
    }

    /// Art. 23(4): early warning 24 h, notification 72 h (24 h for trust services), final one
    /// month after the notification; exactly on time is not late.
    #[test]
    fn the_deadline_table() {
        let rs = RuleSet::nis2_default();
        let s = stages(
            &rs,
            t(0),
            false,
            true,
            &[sub(Stage::EarlyWarning, 24), sub(Stage::Notification, 73)],
            &[],
            t(100),
        );
        let ew = find(&s, Stage::EarlyWarning);
        assert_eq!(
            (ew.due_at, ew.late),
            (Some(t(24)), false),
            "exactly 24 h is on time"
        );
        let n = find(&s, Stage::Notification);
        assert_eq!((n.due_at, n.late), (Some(t(72)), true), "72 h + 1 is late");
        let f = find(&s, Stage::Final);
        // One calendar month after the notification (73 h after 31 January 08:00 = 3 February 09:00).
        assert_eq!(
            f.due_at,
            Some(Utc.with_ymd_and_hms(2026, 3, 3, 9, 0, 0).unwrap())
        );

        let tsp = stages(&rs, t(0), true, true, &[], &[], t(25));
        let n = find(&tsp, Stage::Notification);
        assert_eq!(
            (n.due_at, n.overdue),
            (Some(t(24)), true),
            "a trust service provider notifies within 24 h"
        );
        assert_eq!(
            find(&tsp, Stage::Final).due_at,
            Some(Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap())
        );
        let early = stages(
            &rs,
            t(0),
            false,
            true,
            &[sub(Stage::Notification, 2)],
            &[],
            t(3),
        );
        let f = find(&early, Stage::Final).due_at;
        assert_eq!(
            f,
            Some(Utc.with_ymd_and_hms(2026, 2, 28, 10, 0, 0).unwrap()),
            "31 January + one month is 28 February"
        );

        let on_time = stages(&rs, t(0), false, true, &[], &[], t(24));
        assert!(
            !find(&on_time, Stage::EarlyWarning).overdue,
            "not overdue at exactly 24 h"
        );
        let after = stages(
            &rs,
            t(0),
            false,
            true,
            &[],
            &[],
            t(24) + chrono::Duration::seconds(1),
        );
        assert!(find(&after, Stage::EarlyWarning).overdue);
    }

    #[test]
    fn a_notification_within_24_hours_is_also_the_early_warning() {
        let rs = RuleSet::nis2_default();
        let s = stages(
            &rs,
            t(0),
            false,
            true,
            &[sub(Stage::Notification, 20)],
            &[],
            t(30),
        );
        let ew = find(&s, Stage::EarlyWarning);
        assert_eq!(
            (ew.submitted_at, ew.late, ew.overdue),
            (Some(t(20)), false, false)
        );
    }

    #[test]
    fn voluntary_reports_have_no_deadlines() {
        let rs = RuleSet::nis2_default();
        let s = stages(
            &rs,
            t(0),
            false,
            false,
            &[sub(Stage::Notification, 500)],
            &[],
            t(1000),
        );
        assert!(s
            .iter()
            .all(|x| x.due_at.is_none() && !x.late && !x.overdue));
        assert_eq!(next_obligation(&s, false), None);
    }

    #[test]
    fn intermediate_reports_answer_requests_and_progress_moves_the_final_deadline() {
        let rs = RuleSet::nis2_default();
        let req = Request {
            id: "r1".into(),
            requested_at: t(80),
            due_at: t(120),
        };
        let reports = [sub(Stage::EarlyWarning, 2), sub(Stage::Notification, 40)];
        let s = stages(
            &rs,
            t(0),
            false,
            true,
            &reports,
            std::slice::from_ref(&req),
            t(100),
        );
        let i = find(&s, Stage::Intermediate);
        assert_eq!(
            (i.due_at, i.request_id.as_deref(), i.overdue),
            (Some(t(120)), Some("r1"), false)
        );
        assert_eq!(
            next_obligation(&s, true),
            Some(Obligation {
                stage: Stage::Intermediate,
                due_at: Some(t(120))
            })
        );

        let mut reports = reports.to_vec();
        reports.push(sub(Stage::Intermediate, 130));
        let mut progress = sub(Stage::Progress, 800);
        progress.handling_ended_at = Some(t(900));
        reports.push(progress);
        let s = stages(&rs, t(0), false, true, &reports, &[req], t(1000));
        assert!(find(&s, Stage::Intermediate).late);
        let f = find(&s, Stage::Final);
        assert_eq!(
            f.due_at,
            t(900).checked_add_months(Months::new(1)),
            "final due a month after handling ended"
        );
        assert_eq!(
            next_obligation(&s, true).map(|o| o.stage),
            Some(Stage::Final)
        );
    }

    /// Stage order: stage, mandatory, reports so far, open requests, closed → allowed.
    #[test]
    fn the_stage_order_table() {
        use Stage::*;
        let none: &[Submitted] = &[];
        let ew = [sub(EarlyWarning, 1)];
        let notified = [sub(EarlyWarning, 1), sub(Notification, 2)];
        let done = [sub(Notification, 2), sub(Final, 3)];
        // stage, mandatory, reports so far, open requests, closed → allowed
        type Row<'a> = (Stage, bool, &'a [Submitted], usize, bool, bool);
        let table: &[Row] = &[
            (EarlyWarning, true, none, 0, false, true),
            (Notification, true, none, 0, false, true),
            (EarlyWarning, true, &ew, 0, false, false),
            (Notification, true, &ew, 0, false, true),
            (Notification, true, &notified, 0, false, false),
            (Final, true, &ew, 0, false, false),
            (Final, false, &ew, 0, false, true),
            (Final, true, &notified, 0, false, true),
            (Progress, true, &notified, 0, false, true),
            (Intermediate, true, &notified, 0, false, false),
            (Intermediate, true, &notified, 1, false, true),
            (Intermediate, true, &done, 1, false, false),
            (Notification, true, &ew, 0, true, false),
        ];
        for (stage, mandatory, reports, open, closed, allowed) in table {
            assert_eq!(
                check_order(*stage, *mandatory, reports, *open, *closed).is_ok(),
                *allowed,
                "{stage:?} after {reports:?}"
            );
        }
    }
}
