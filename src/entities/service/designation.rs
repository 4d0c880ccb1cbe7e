//! Designations by the member state in a registration: who may set or change them.
//!
//! `critical_entity` (NIS2 Art. 2(3), 3(1)(f): identified under Directive (EU) 2022/2557) and
//! `member_state_identification` (Art. 2(2)(b)–(e), 3(1)(e), 3(2)) are acts of the member
//! state, not facts the entity declares, and each can make an entity essential or bring it in
//! scope at any size. So the entity cannot set, change or clear them (else it could leave scope,
//! or drop from essential to important, by its own word); the national CSIRT, which keeps the
//! register, may set them with everything else, and the supervisory authority covering the
//! entity, which otherwise changes no registration, may set these and nothing else.

use super::*;

/// The fields of a registration that only the member state's organisations set.
pub const FIELDS: [&str; 2] = ["critical_entity", "member_state_identification"];

/// A field's value in a stored or patched registration document, with what an absent or
/// `null` field means (`false`, no identification), so that leaving it out changes nothing.
fn value<'a>(doc: &'a serde_json::Value, field: &str) -> std::borrow::Cow<'a, serde_json::Value> {
    use std::borrow::Cow;
    match (field, doc.get(field)) {
        ("critical_entity", None | Some(serde_json::Value::Null)) => {
            Cow::Owned(serde_json::Value::Bool(false))
        }
        (_, None) => Cow::Owned(serde_json::Value::Null),
        (_, Some(v)) => Cow::Borrowed(v),
    }
}

/// Checks that the caller may make the change from `stored` to `patched` (the stored document
/// with the merge patch applied, before validation: a refusal comes before a 422, as
/// docs/API-DESIGN.md orders the checks).
///
/// * The entity itself: any change to a designation is refused, 403 `forbidden` naming it.
///   Sending a designation unchanged (a whole document read back) is no change.
/// * The supervisory authority covering the entity: only the designations; a change to any
///   other field is refused, 403 `forbidden` naming it.
/// * The national CSIRT: anything.
pub fn check_change(
    role: Role,
    stored: &serde_json::Value,
    patched: &serde_json::Value,
) -> AppResult<()> {
    match role {
        Role::NationalCsirt => Ok(()),
        Role::Entity => {
            let changed: Vec<&str> = FIELDS
                .into_iter()
                .filter(|f| value(stored, f) != value(patched, f))
                .collect();
            if changed.is_empty() {
                return Ok(());
            }
            Err(AppError::ForbiddenAction(format!(
                "{} {} a designation by the member state (NIS2 Art. 2(2)(b)–(e), 2(3)): only the \
                 national CSIRT or the supervisory authority covering the entity sets or changes it",
                quoted(&changed),
                if changed.len() == 1 { "is" } else { "are" }
            )))
        }
        Role::SupervisoryAuthority => {
            let keys = |d: &serde_json::Value| -> Vec<String> {
                d.as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default()
            };
            let mut other: Vec<String> = keys(stored)
                .into_iter()
                .chain(keys(patched))
                .filter(|k| !FIELDS.contains(&k.as_str()))
                .filter(|k| stored.get(k) != patched.get(k))
                .collect();
            other.sort();
            other.dedup();
            if other.is_empty() {
                return Ok(());
            }
            let other: Vec<&str> = other.iter().map(String::as_str).collect();
            Err(AppError::ForbiddenAction(format!(
                "a supervisory authority changes only `critical_entity` and \
                 `member_state_identification` of a registration, not {}",
                quoted(&other)
            )))
        }
        Role::SectoralCsirt => Err(AppError::ForbiddenAction(
            "only the national CSIRT, the supervisory authority covering the entity (its \
             designations) or the entity itself changes a registration"
                .into(),
        )),
    }
}

fn quoted(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refusal(r: AppResult<()>) -> String {
        match r {
            Err(AppError::ForbiddenAction(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// Leaving a designation out, or sending it as stored, is no change: allowed to the entity.
    #[test]
    fn absent_null_and_default_are_the_same_designation() {
        let stored = json!({"name": "x"});
        for patched in [
            json!({"name": "x", "critical_entity": false}),
            json!({"name": "x", "critical_entity": null, "member_state_identification": null}),
        ] {
            assert!(check_change(Role::Entity, &stored, &patched).is_ok());
        }
        let id = json!({"ground": "systemic_risk", "category": "important"});
        let stored = json!({"critical_entity": true, "member_state_identification": id});
        let echoed = json!({"member_state_identification": {"category": "important", "ground": "systemic_risk"}, "critical_entity": true});
        assert!(check_change(Role::Entity, &stored, &echoed).is_ok());
    }

    /// The entity sets, changes or clears neither; the refusal names the field.
    #[test]
    fn the_entity_changes_no_designation() {
        let none = json!({"size": "large"});
        let critical = json!({"size": "large", "critical_entity": true});
        let identified = json!({"size": "large", "member_state_identification": {"ground": "sole_provider", "category": "essential"}});
        let important = json!({"size": "large", "member_state_identification": {"ground": "sole_provider", "category": "important"}});
        for (stored, patched, field) in [
            (&none, &critical, "`critical_entity`"),
            (&critical, &none, "`critical_entity`"),
            (&none, &identified, "`member_state_identification`"),
            (&identified, &none, "`member_state_identification`"),
            (&identified, &important, "`member_state_identification`"),
        ] {
            let m = refusal(check_change(Role::Entity, stored, patched));
            assert!(m.contains(field), "{m}");
            assert!(check_change(Role::NationalCsirt, stored, patched).is_ok());
            assert!(check_change(Role::SupervisoryAuthority, stored, patched).is_ok());
        }
    }

    /// The supervisory authority changes the designations and nothing else.
    #[test]
    fn the_authority_changes_only_designations() {
        let stored = json!({"size": "large", "domains": ["a.nl"]});
        let patched = json!({"size": "micro", "domains": ["a.nl"], "critical_entity": true});
        let m = refusal(check_change(Role::SupervisoryAuthority, &stored, &patched));
        assert!(m.contains("`size`") && !m.contains("`domains`"), "{m}");
        let added = json!({"size": "large", "domains": ["a.nl"], "employees": 5});
        let m = refusal(check_change(Role::SupervisoryAuthority, &stored, &added));
        assert!(m.contains("`employees`"), "{m}");
        assert!(check_change(Role::NationalCsirt, &stored, &patched).is_ok());
    }
}
