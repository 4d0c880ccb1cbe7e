//! Assessments and compliance: validation, who may record and read what, storage, events and
//! the sweep that reports expired assessments and CSIRTs falling out of compliance.

use super::model::{self, AssessmentFacts, AssessmentType, Gap, Model, Standing, Tier};
use crate::audit;
use crate::auth::{Caller, Role};
use crate::db::{self, DbConn};
use crate::entities::model::{OrgRef, MEMBER_STATES};
use crate::error::{AppError, AppResult, FieldError};
use crate::http::pagination::PageParams;
use crate::outbox::{self, NewEvent};
use crate::rules::coverage::{DirectoryOrg, OrgKind};
use crate::schema::{maturity_assessments as a, maturity_compliance as mc};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// How far in the future `assessed_at` may lie (clock skew between systems).
const FUTURE_TOLERANCE_MINUTES: i64 = 5;

/// Someone who carried out an assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MaturityAssessor)]
pub struct Assessor {
    /// The person, if named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200, example = "J. Jansen")]
    pub name: Option<String>,
    /// The reviewing (or auditing) organisation; not blank.
    #[schema(min_length = 1, max_length = 200, example = "CERT-EE")]
    pub organisation: String,
    /// The organisation's id when it is in the directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub organisation_id: Option<String>,
    /// Member state of the organisation (ISO 3166-1 alpha-2); required for a peer review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::formats::MemberState>, example = "EE")]
    pub member_state: Option<String>,
}

/// An assessment as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "organisation_id": "0193a0b2-7c1e-7d3a-9f00-2b8e4c1d5e6f",
    "type": "peer",
    "assessors": [{"organisation": "CERT-EE", "member_state": "EE"}, {"organisation": "CERT.at", "member_state": "AT"}],
    "assessed_at": "2026-11-20T09:00:00Z",
    "model": "sim3-v1",
    "scores": {"O-1": 3, "O-2": 3, "H-1": 2, "T-4": 3, "P-11": 2},
    "evidence": {"O-1": "Mandate in the national cyber security act, art. 4"}
}))]
#[schema(as = MaturityAssessmentInput)]
pub struct AssessmentInput {
    /// The CSIRT assessed.
    #[schema(format = Uuid)]
    pub organisation_id: String,
    #[serde(rename = "type")]
    pub assessment_type: AssessmentType,
    /// Who assessed (at most 50): for a peer review, at least one, each with its member state.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub assessors: Vec<Assessor>,
    /// When the assessment was made (not in the future); validity runs from here.
    #[serde(with = "crate::time::bounded")]
    #[schema(value_type = crate::formats::Timestamp)]
    pub assessed_at: DateTime<Utc>,
    /// The catalogue scored against, as `GET /api/v1/maturity/model` names it.
    #[schema(example = "sim3-v1")]
    pub model: String,
    /// A level from 0 to 4 for every parameter of the model.
    pub scores: BTreeMap<String, i64>,
    /// What supports a score, per parameter.
    #[serde(default)]
    pub evidence: BTreeMap<String, String>,
}

fn org_ref(o: &DirectoryOrg) -> OrgRef {
    OrgRef {
        id: o.id.clone(),
        code: o.code.clone(),
        name: o.name.clone(),
    }
}

/// The tier profiles a tier was computed with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = MaturityProfilesRef)]
pub struct ProfilesRef {
    #[schema(example = "sim3-v1-tiers-example")]
    pub id: String,
    pub version: String,
    pub official: bool,
}

/// An assessment with what the service derives from it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = MaturityAssessment)]
pub struct Assessment {
    pub id: String,
    pub organisation_id: String,
    pub organisation: OrgRef,
    #[serde(rename = "type")]
    pub assessment_type: AssessmentType,
    pub assessors: Vec<Assessor>,
    pub assessed_at: DateTime<Utc>,
    #[schema(example = "sim3-v1")]
    pub model: String,
    pub scores: BTreeMap<String, u8>,
    pub evidence: BTreeMap<String, String>,
    /// The highest tier whose every minimum the scores meet, by the profiles in force.
    pub tier: Tier,
    /// The tier above, if any.
    pub next_tier: Option<Tier>,
    /// The parameters below what the next tier wants, with the level it wants.
    pub gaps: Vec<Gap>,
    /// The profiles `tier` and `gaps` come from.
    pub profiles: ProfilesRef,
    /// Until when the assessment counts for compliance.
    pub valid_until: DateTime<Utc>,
    /// True once `valid_until` has passed.
    pub expired: bool,
    /// The organisation that recorded it.
    pub recorded_by: String,
    pub created_at: DateTime<Utc>,
}

/// One CSIRT's compliance.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = MaturityComplianceRow)]
pub struct ComplianceRow {
    pub organisation: OrgRef,
    /// `intermediate` for a sectoral CSIRT, `advanced` for the national CSIRT.
    pub required_tier: Tier,
    /// From the latest assessment still valid; `none` without one.
    pub tier: Tier,
    pub compliant: bool,
    /// The assessment `tier` comes from.
    pub assessment_id: Option<String>,
    pub last_assessment_at: Option<DateTime<Utc>>,
    pub last_peer_review_at: Option<DateTime<Utc>>,
    /// When the current assessment expires: the CSIRT must be assessed again by then. `null`
    /// when it has no valid assessment, i.e. it is due now.
    pub next_due_at: Option<DateTime<Utc>>,
}

/// What is kept in `body`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Body {
    assessors: Vec<Assessor>,
    scores: BTreeMap<String, u8>,
    evidence: BTreeMap<String, String>,
    profiles: ProfilesRef,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = a)]
struct Row {
    id: String,
    organisation_id: String,
    assessment_type: String,
    model: String,
    assessed_at: chrono::NaiveDateTime,
    valid_until: chrono::NaiveDateTime,
    tier: String,
    body: String,
    recorded_by: String,
    created_at: chrono::NaiveDateTime,
    expired_at: Option<chrono::NaiveDateTime>,
}

impl Row {
    fn kind(&self) -> AppResult<AssessmentType> {
        AssessmentType::parse(&self.assessment_type).ok_or_else(|| {
            AppError::internal(format!("unknown assessment type {}", self.assessment_type))
        })
    }

    /// The tier, the next tier, the gaps and the profiles used: computed with the profiles in
    /// force when the assessment is of the loaded model, else as recorded.
    fn evaluate(
        &self,
        body: &Body,
        m: &Model,
    ) -> AppResult<(Tier, Option<Tier>, Vec<Gap>, ProfilesRef)> {
        if self.model == m.id() {
            let (tier, next, gaps) = m.evaluate(&body.scores);
            Ok((tier, next, gaps, profiles_ref(m)))
        } else {
            let tier = Tier::parse(&self.tier)
                .ok_or_else(|| AppError::internal(format!("unknown tier {}", self.tier)))?;
            Ok((tier, None, vec![], body.profiles.clone()))
        }
    }

    fn facts(&self, m: &Model) -> AppResult<AssessmentFacts> {
        let body: Body = serde_json::from_str(&self.body)?;
        Ok(AssessmentFacts {
            id: self.id.clone(),
            assessment_type: self.kind()?,
            assessed_at: self.assessed_at.and_utc(),
            valid_until: self.valid_until.and_utc(),
            tier: self.evaluate(&body, m)?.0,
        })
    }

    fn into_api(self, org: &DirectoryOrg, m: &Model, now: DateTime<Utc>) -> AppResult<Assessment> {
        let body: Body = serde_json::from_str(&self.body)?;
        let (tier, next_tier, gaps, profiles) = self.evaluate(&body, m)?;
        Ok(Assessment {
            assessment_type: self.kind()?,
            organisation: org_ref(org),
            organisation_id: self.organisation_id,
            assessors: body.assessors,
            assessed_at: self.assessed_at.and_utc(),
            model: self.model,
            scores: body.scores,
            evidence: body.evidence,
            tier,
            next_tier,
            gaps,
            profiles,
            expired: self.valid_until.and_utc() <= now,
            valid_until: self.valid_until.and_utc(),
            recorded_by: self.recorded_by,
            created_at: self.created_at.and_utc(),
            id: self.id,
        })
    }
}

fn profiles_ref(m: &Model) -> ProfilesRef {
    ProfilesRef {
        id: m.tiers.id.clone(),
        version: m.tiers.version.clone(),
        official: m.tiers.official,
    }
}

/// Who may record this assessment: the national CSIRT records any; a sectoral CSIRT only a
/// self-assessment of itself.
fn check_may_record(caller: &Caller, input: &AssessmentInput) -> AppResult<()> {
    match caller.role {
        Role::NationalCsirt => Ok(()),
        Role::SectoralCsirt if input.organisation_id != caller.org => Err(
            AppError::ForbiddenAction("a sectoral CSIRT records assessments of itself only".into()),
        ),
        Role::SectoralCsirt if input.assessment_type != AssessmentType::SelfAssessment => {
            Err(AppError::ForbiddenAction(
                "peer reviews and audits are recorded by the national CSIRT".into(),
            ))
        }
        Role::SectoralCsirt => Ok(()),
        _ => Err(AppError::ForbiddenAction(
            "only CSIRTs record assessments".into(),
        )),
    }
}

/// Whether the caller may read the assessments and compliance of this organisation.
fn may_see(caller: &Caller, org_id: &str) -> bool {
    match caller.role {
        Role::NationalCsirt | Role::SupervisoryAuthority => true,
        Role::SectoralCsirt => caller.org == org_id,
        Role::Entity => false,
    }
}

/// The scores as levels, and the end of validity, of an assessment that passed its checks.
pub type Checked = (BTreeMap<String, u8>, DateTime<Utc>);

/// The field checks that need no database: the model, scores, evidence, assessors, date.
/// Returns the scores as levels and the end of validity.
pub fn validate(
    m: &Model,
    input: &AssessmentInput,
    now: DateTime<Utc>,
) -> Result<Checked, Vec<FieldError>> {
    let mut errors = Vec::new();
    let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
    if input.model != m.id() {
        errors.push(FieldError::new(
            "/model",
            format!(
                "`{}` is not a loaded model; this service scores against `{}` (see GET /api/v1/maturity/model)",
                input.model,
                m.id()
            ),
        ));
        return Err(errors);
    }
    let mut scores = BTreeMap::new();
    for (key, value) in &input.scores {
        if m.catalogue.parameter(key).is_none() {
            errors.push(FieldError::new(
                format!("/scores/{}", escape(key)),
                format!("`{key}` is not a parameter of `{}`", m.id()),
            ));
        } else if !(0..=i64::from(model::MAX_LEVEL)).contains(value) {
            errors.push(FieldError::new(
                format!("/scores/{}", escape(key)),
                format!(
                    "{value} is outside the scale: a score is 0 to {}",
                    model::MAX_LEVEL
                ),
            ));
        } else {
            scores.insert(key.clone(), u8::try_from(*value).unwrap_or(0));
        }
    }
    let missing: Vec<&str> = m
        .catalogue
        .parameters
        .iter()
        .filter(|p| !input.scores.contains_key(&p.id))
        .map(|p| p.id.as_str())
        .collect();
    if !missing.is_empty() {
        errors.push(FieldError::new(
            "/scores",
            format!(
                "every parameter needs a score; missing: {}",
                missing.join(", ")
            ),
        ));
    }
    for (key, text) in &input.evidence {
        if m.catalogue.parameter(key).is_none() {
            errors.push(FieldError::new(
                format!("/evidence/{}", escape(key)),
                format!("`{key}` is not a parameter of `{}`", m.id()),
            ));
        } else if text.chars().count() > 10_000 {
            errors.push(FieldError::new(
                format!("/evidence/{}", escape(key)),
                "must be at most 10000 characters long",
            ));
        }
    }
    if input.assessors.len() > 50 {
        errors.push(FieldError::new("/assessors", "at most 50 assessors"));
    }
    if input.assessment_type == AssessmentType::Peer && input.assessors.is_empty() {
        errors.push(FieldError::new(
            "/assessors",
            "a peer review names the reviewing organisations and their member states",
        ));
    }
    for (i, who) in input.assessors.iter().enumerate() {
        let blank = who.organisation.trim().is_empty();
        if blank || who.organisation.chars().count() > 200 {
            errors.push(FieldError::new(
                format!("/assessors/{i}/organisation"),
                "must be between 1 and 200 characters long",
            ));
        }
        if who.name.as_ref().is_some_and(|n| n.chars().count() > 200) {
            errors.push(FieldError::new(
                format!("/assessors/{i}/name"),
                "must be at most 200 characters long",
            ));
        }
        if who
            .organisation_id
            .as_ref()
            .is_some_and(|id| crate::formats::uuid(id).is_none())
        {
            errors.push(FieldError::new(
                format!("/assessors/{i}/organisation_id"),
                "must be an organisation id (a UUID)",
            ));
        }
        match &who.member_state {
            Some(ms) if !MEMBER_STATES.contains(&ms.as_str()) => errors.push(FieldError::new(
                format!("/assessors/{i}/member_state"),
                format!("`{ms}` is not an EU member state code (ISO 3166-1 alpha-2, such as `NL`)"),
            )),
            None if input.assessment_type == AssessmentType::Peer => errors.push(FieldError::new(
                format!("/assessors/{i}/member_state"),
                "a peer reviewer's member state is required",
            )),
            _ => {}
        }
    }
    let latest = crate::time::add_minutes(now, FUTURE_TOLERANCE_MINUTES).unwrap_or(now);
    if input.assessed_at > latest {
        errors.push(FieldError::new(
            "/assessed_at",
            "an assessment cannot be recorded before it was made: this lies in the future",
        ));
    }
    let valid_until = m.valid_until(input.assessment_type, db::micros(input.assessed_at));
    if valid_until.is_none_or(|t| t > crate::time::latest()) {
        errors.push(FieldError::new(
            "/assessed_at",
            "the assessment would stay valid past the year 9999",
        ));
    }
    match (errors.is_empty(), valid_until) {
        (true, Some(until)) => Ok((scores, until)),
        _ => Err(errors),
    }
}

/// The directory as the maturity module needs it.
fn directory(conn: &mut DbConn) -> AppResult<Vec<DirectoryOrg>> {
    crate::directory::service::load_directory(conn)
}

fn is_csirt(o: &DirectoryOrg) -> bool {
    model::required_tier(o.kind).is_some()
}

/// Who learns of a CSIRT's maturity: the CSIRT itself and the supervisory authorities (the
/// national CSIRT's feed holds every event).
fn audience(dir: &[DirectoryOrg], org_id: &str) -> Vec<String> {
    let mut out: Vec<String> = dir
        .iter()
        .filter(|o| o.kind == OrgKind::SupervisoryAuthority)
        .map(|o| o.id.clone())
        .collect();
    out.push(org_id.to_string());
    out
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Records an assessment; call inside the write transaction.
pub fn create(
    conn: &mut DbConn,
    caller: &Caller,
    m: &Model,
    input: AssessmentInput,
) -> AppResult<Assessment> {
    check_may_record(caller, &input)?;
    let now = db::now().and_utc();
    let dir = directory(conn)?;
    let org = dir.iter().find(|o| o.id == input.organisation_id);
    let mut errors = match org {
        None => vec![FieldError::new(
            "/organisation_id",
            "no organisation of the directory has this id",
        )],
        Some(o) if !is_csirt(o) => vec![FieldError::new(
            "/organisation_id",
            format!(
                "`{}` is a {}, not a CSIRT: only CSIRTs are assessed",
                o.code,
                o.kind.as_str().replace('_', " ")
            ),
        )],
        Some(_) => vec![],
    };
    let checked = validate(m, &input, now);
    let (scores, valid_until) = match checked {
        Ok(v) if errors.is_empty() => v,
        Ok(_) => return Err(AppError::Validation(errors)),
        Err(mut more) => {
            errors.append(&mut more);
            errors.sort_by(|a, b| a.pointer.cmp(&b.pointer));
            return Err(AppError::Validation(errors));
        }
    };
    let org = org
        .cloned()
        .ok_or_else(|| AppError::internal("checked above"))?;
    let (tier, _, _) = m.evaluate(&scores);
    let mut assessors = input.assessors;
    for who in &mut assessors {
        who.organisation = who.organisation.trim().to_string();
    }
    let row = Row {
        id: db::new_id(),
        organisation_id: org.id.clone(),
        assessment_type: input.assessment_type.as_str().into(),
        model: m.id().into(),
        assessed_at: db::micros(input.assessed_at).naive_utc(),
        valid_until: valid_until.naive_utc(),
        tier: tier.as_str().into(),
        body: serde_json::to_string(&Body {
            assessors,
            scores,
            evidence: input.evidence,
            profiles: profiles_ref(m),
        })?,
        recorded_by: caller.org.clone(),
        created_at: now.naive_utc(),
        expired_at: None,
    };
    diesel::insert_into(a::table).values(&row).execute(conn)?;
    let out = row.into_api(&org, m, now)?;
    audit::record(
        conn,
        caller,
        "maturity.assessment.create",
        "maturity_assessment",
        &out.id,
    )?;
    outbox::emit(
        conn,
        NewEvent {
            event_type: "maturity.assessment_recorded",
            subject_type: "maturity_assessment",
            subject_id: &out.id,
            significant: false,
            data: serde_json::json!({
                "assessment_id": out.id,
                "organisation_id": org.id,
                "organisation_code": org.code,
                "type": out.assessment_type,
                "assessed_at": rfc3339(out.assessed_at),
                "valid_until": rfc3339(out.valid_until),
                "tier": out.tier,
            }),
            recipients: audience(&dir, &org.id),
        },
    )?;
    refresh(conn, caller, m, &dir, &[org], now)?;
    Ok(out)
}

/// One assessment, if the caller may see it.
pub fn get(conn: &mut DbConn, caller: &Caller, m: &Model, id: &str) -> AppResult<Assessment> {
    let row: Row = a::table.find(id).select(Row::as_select()).first(conn)?;
    if !may_see(caller, &row.organisation_id) {
        return Err(AppError::NotFound);
    }
    let dir = directory(conn)?;
    let org = dir
        .iter()
        .find(|o| o.id == row.organisation_id)
        .ok_or_else(|| {
            AppError::internal("an assessment of an organisation not in the directory")
        })?;
    row.into_api(org, m, db::now().and_utc())
}

/// Filters of the list.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub organisation_id: Option<String>,
    pub assessment_type: Option<AssessmentType>,
    pub updated_since: Option<chrono::NaiveDateTime>,
}

/// A page of the assessments the caller may see, in the order they were recorded.
pub fn list(
    conn: &mut DbConn,
    caller: &Caller,
    m: &Model,
    page: &PageParams,
    filter: ListFilter,
) -> AppResult<Vec<Assessment>> {
    let mut q = a::table.select(Row::as_select()).into_boxed();
    if caller.role == Role::SectoralCsirt {
        q = q.filter(a::organisation_id.eq(caller.org.clone()));
    } else if !matches!(
        caller.role,
        Role::NationalCsirt | Role::SupervisoryAuthority
    ) {
        return Ok(vec![]);
    }
    if let Some(after) = &page.after {
        q = q.filter(a::id.gt(after.clone()));
    }
    if let Some(org) = filter.organisation_id {
        q = q.filter(a::organisation_id.eq(org));
    }
    if let Some(t) = filter.assessment_type {
        q = q.filter(a::assessment_type.eq(t.as_str()));
    }
    if let Some(since) = filter.updated_since {
        q = q.filter(a::created_at.ge(since));
    }
    let rows: Vec<Row> = q.order(a::id.asc()).limit(page.limit + 1).load(conn)?;
    let dir = directory(conn)?;
    let now = db::now().and_utc();
    rows.into_iter()
        .map(|r| {
            let org = dir
                .iter()
                .find(|o| o.id == r.organisation_id)
                .ok_or_else(|| {
                    AppError::internal("an assessment of an organisation not in the directory")
                })?;
            r.into_api(org, m, now)
        })
        .collect()
}

/// The standing of each of these CSIRTs at `now`, from one query.
fn standings(
    conn: &mut DbConn,
    m: &Model,
    orgs: &[DirectoryOrg],
    now: DateTime<Utc>,
) -> AppResult<Vec<(DirectoryOrg, Standing)>> {
    let ids: Vec<&str> = orgs.iter().map(|o| o.id.as_str()).collect();
    let rows: Vec<Row> = a::table
        .filter(a::organisation_id.eq_any(&ids))
        .select(Row::as_select())
        .load(conn)?;
    let mut by_org: BTreeMap<&str, Vec<AssessmentFacts>> = BTreeMap::new();
    for r in &rows {
        by_org
            .entry(r.organisation_id.as_str())
            .or_default()
            .push(r.facts(m)?);
    }
    orgs.iter()
        .filter_map(|o| model::required_tier(o.kind).map(|req| (o, req)))
        .map(|(o, required)| {
            let facts = by_org.get(o.id.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            Ok((o.clone(), model::standing(required, facts, now)))
        })
        .collect()
}

/// Every CSIRT the caller may see, with its compliance now.
pub fn compliance(conn: &mut DbConn, caller: &Caller, m: &Model) -> AppResult<Vec<ComplianceRow>> {
    let dir = directory(conn)?;
    let visible: Vec<DirectoryOrg> = dir
        .into_iter()
        .filter(|o| is_csirt(o) && may_see(caller, &o.id))
        .collect();
    let mut rows: Vec<ComplianceRow> = standings(conn, m, &visible, db::now().and_utc())?
        .into_iter()
        .map(|(o, s)| ComplianceRow {
            organisation: org_ref(&o),
            required_tier: s.required,
            tier: s.tier,
            compliant: s.compliant,
            assessment_id: s.current,
            last_assessment_at: s.last_assessment_at,
            last_peer_review_at: s.last_peer_review_at,
            next_due_at: s.next_due_at,
        })
        .collect();
    // The national CSIRT (required: advanced) first, then by code.
    rows.sort_by(|x, y| {
        (std::cmp::Reverse(x.required_tier), &x.organisation.code)
            .cmp(&(std::cmp::Reverse(y.required_tier), &y.organisation.code))
    });
    Ok(rows)
}

/// Compares each CSIRT's compliance now with what was last recorded: a CSIRT that falls out
/// of compliance emits `maturity.compliance_lost` (one that reaches it again
/// `maturity.compliance_reached`), once per change. Call under the write lock.
fn refresh(
    conn: &mut DbConn,
    caller: &Caller,
    m: &Model,
    dir: &[DirectoryOrg],
    orgs: &[DirectoryOrg],
    now: DateTime<Utc>,
) -> AppResult<usize> {
    db::lock_writes(conn)?;
    let ids: Vec<&str> = orgs.iter().map(|o| o.id.as_str()).collect();
    let stored: Vec<(String, bool, String)> = mc::table
        .filter(mc::organisation_id.eq_any(&ids))
        .select((mc::organisation_id, mc::compliant, mc::tier))
        .load(conn)?;
    let mut changed = 0;
    for (org, s) in standings(conn, m, orgs, now)? {
        let before = stored.iter().find(|(id, _, _)| *id == org.id);
        match before {
            None => {
                diesel::insert_into(mc::table)
                    .values((
                        mc::organisation_id.eq(&org.id),
                        mc::compliant.eq(s.compliant),
                        mc::tier.eq(s.tier.as_str()),
                        mc::checked_at.eq(now.naive_utc()),
                    ))
                    .execute(conn)?;
            }
            Some((_, was, tier)) if *was == s.compliant && *tier == s.tier.as_str() => {}
            Some((_, was, previous)) => {
                diesel::update(mc::table.find(&org.id))
                    .set((
                        mc::compliant.eq(s.compliant),
                        mc::tier.eq(s.tier.as_str()),
                        mc::checked_at.eq(now.naive_utc()),
                    ))
                    .execute(conn)?;
                if *was == s.compliant {
                    continue;
                }
                let event_type = if s.compliant {
                    "maturity.compliance_reached"
                } else {
                    "maturity.compliance_lost"
                };
                outbox::emit(
                    conn,
                    NewEvent {
                        event_type,
                        subject_type: "organisation",
                        subject_id: &org.id,
                        significant: false,
                        data: serde_json::json!({
                            "organisation_id": org.id,
                            "organisation_code": org.code,
                            "required_tier": s.required,
                            "tier": s.tier,
                            "previous_tier": previous,
                            "compliant": s.compliant,
                            "assessment_id": s.current,
                            "next_due_at": s.next_due_at.map(rfc3339),
                        }),
                        recipients: audience(dir, &org.id),
                    },
                )?;
                audit::record(conn, caller, event_type, "organisation", &org.id)?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}

/// The maturity part of the deadline sweep: marks every assessment whose validity ended
/// before `now` as expired, emitting `maturity.assessment_expired` once per assessment, then
/// re-evaluates every CSIRT's compliance. Call inside a write transaction; returns how many
/// events it emitted. Instances sweeping at once take turns on the write lock.
pub fn sweep(
    conn: &mut DbConn,
    m: &Model,
    now: chrono::NaiveDateTime,
    limit: i64,
) -> AppResult<usize> {
    db::lock_writes(conn)?;
    let caller = Caller::system("maturity-sweep");
    let query = a::table
        .filter(a::expired_at.is_null().and(a::valid_until.le(now)))
        .order(a::valid_until.asc())
        .limit(limit)
        .select(a::id);
    let ids: Vec<String> = match conn {
        DbConn::Pg(c) => query.for_update().skip_locked().load(c)?,
        DbConn::Sqlite(c) => query.load(c)?,
    };
    let expired: Vec<Row> = a::table
        .filter(a::id.eq_any(&ids))
        .order(a::valid_until.asc())
        .select(Row::as_select())
        .load(conn)?;
    let dir = directory(conn)?;
    let mut emitted = 0;
    for row in expired {
        let claimed = diesel::update(a::table.find(&row.id).filter(a::expired_at.is_null()))
            .set(a::expired_at.eq(Some(now)))
            .execute(conn)?;
        if claimed != 1 {
            continue;
        }
        let code = dir
            .iter()
            .find(|o| o.id == row.organisation_id)
            .map(|o| o.code.clone())
            .unwrap_or_default();
        outbox::emit(
            conn,
            NewEvent {
                event_type: "maturity.assessment_expired",
                subject_type: "maturity_assessment",
                subject_id: &row.id,
                significant: false,
                data: serde_json::json!({
                    "assessment_id": row.id,
                    "organisation_id": row.organisation_id,
                    "organisation_code": code,
                    "type": row.assessment_type,
                    "assessed_at": rfc3339(row.assessed_at.and_utc()),
                    "valid_until": rfc3339(row.valid_until.and_utc()),
                }),
                recipients: audience(&dir, &row.organisation_id),
            },
        )?;
        audit::record(
            conn,
            &caller,
            "maturity.assessment_expired",
            "maturity_assessment",
            &row.id,
        )?;
        emitted += 1;
    }
    let csirts: Vec<DirectoryOrg> = dir.iter().filter(|o| is_csirt(o)).cloned().collect();
    emitted += refresh(conn, &caller, m, &dir, &csirts, now.and_utc())?;
    Ok(emitted)
}
