//! Designations by the member state in the entity register, through the HTTP API on SQLite and,
//! with `TEST_DATABASE_URL`, on PostgreSQL: `critical_entity` (NIS2 Art. 2(3): "Regardless of
//! their size, this Directive applies to entities identified as critical entities under
//! Directive (EU) 2022/2557"; essential by Art. 3(1)(f)) and `member_state_identification`
//! (Art. 2(2)(b)–(e); essential by Art. 3(1)(e) or important by Art. 3(2) as identified).
//!
//! They are acts of the member state, so the entity cannot set, change or clear them (and so
//! cannot leave scope, or drop to important, by its own word); the national CSIRT and the
//! supervisory authority covering the entity can. The category rows themselves are in
//! `tests/law_category.rs`.

mod common;
use common::*;
use nis2hub::auth::Role;
use serde_json::{json, Value};

fn sole_provider(category: &str) -> Value {
    json!({"ground": "sole_provider", "category": category})
}

/// Asserts a 403 `forbidden` that names `field`.
fn assert_refused_naming(r: &Res, field: &str) {
    r.assert_problem(403, "forbidden");
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&format!("`{field}`")),
        "names {field}: {detail}"
    );
}

/// The entity's own token sets, changes and clears neither designation (403 naming the
/// field, nothing written); leaving them out of its update keeps them; sending them as stored
/// is no change. The national CSIRT sets and clears them.
#[actix_web::test]
async fn the_entity_cannot_set_change_or_clear_its_designations() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    // Annex II, large: important by Art. 3(2).
    let id = register_entity(&app, &national, "D-1", "food").await;
    let path = format!("/api/v1/entities/{id}");
    let own = ctx.token(&id, Role::Entity);

    // Art. 2(3), 3(1)(f): the entity cannot make itself a critical entity...
    let r = send(&app, patch(&path, &own, &json!({"critical_entity": true}))).await;
    assert_refused_naming(&r, "critical_entity");
    // ... nor identified under Art. 2(2)(b), 3(1)(e).
    let r = send(
        &app,
        patch(
            &path,
            &own,
            &json!({"member_state_identification": sole_provider("essential")}),
        ),
    )
    .await;
    assert_refused_naming(&r, "member_state_identification");
    let g = send(&app, get(&path, &national)).await;
    assert_eq!(g.body["version"], 1, "nothing written");
    assert_eq!(g.body["category"], "important");
    assert_eq!(g.body["critical_entity"], false);
    assert_eq!(g.body["member_state_identification"], Value::Null);

    // The national CSIRT sets both: essential by Art. 3(1)(f), cited before 3(1)(e).
    let r = send(
        &app,
        patch(
            &path,
            &national,
            &json!({"critical_entity": true, "member_state_identification": sole_provider("essential")}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["category"], "essential");
    assert_eq!(r.body["decided_by"][1], "category.critical_entity");

    // The entity cannot clear them (`false`, `null`) or change the category identified.
    for (body, field) in [
        (json!({"critical_entity": false}), "critical_entity"),
        (json!({"critical_entity": null}), "critical_entity"),
        (
            json!({"member_state_identification": null}),
            "member_state_identification",
        ),
        (
            json!({"member_state_identification": {"category": "important"}}),
            "member_state_identification",
        ),
        (
            json!({"member_state_identification": {"ground": "systemic_risk"}}),
            "member_state_identification",
        ),
    ] {
        let r = send(&app, patch(&path, &own, &body)).await;
        assert_refused_naming(&r, field);
    }
    // An update that leaves them out keeps them; one that sends them as stored is no change.
    let r = send(&app, patch(&path, &own, &json!({"domains": ["food.nl"]}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["critical_entity"], true);
    assert_eq!(
        r.body["member_state_identification"],
        sole_provider("essential")
    );
    assert_eq!(r.body["category"], "essential");
    let r = send(
        &app,
        patch(
            &path,
            &own,
            &json!({
                "critical_entity": true,
                "member_state_identification": sole_provider("essential"),
                "domains": ["food.nl", "food.example"]
            }),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["domains"], json!(["food.nl", "food.example"]));
    assert_eq!(r.body["critical_entity"], true);

    // The national CSIRT clears them: important again by Art. 3(2).
    let r = send(
        &app,
        patch(
            &path,
            &national,
            &json!({"critical_entity": false, "member_state_identification": null}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["category"], "important");
    assert_eq!(r.body["decided_by"][1], "category.annex_ii_medium_large");
}

/// A designation keeps an entity in scope at any size (Art. 2(2)(b)–(e), 2(3)), so its own
/// change to micro size is applied, not held as a scope exit; without one, the same change
/// would take it out of scope (Art. 2(1)) and waits for confirmation. Clearing the designation
/// to leave scope is refused outright.
#[actix_web::test]
async fn a_designated_entity_stays_in_scope_whatever_size_it_declares() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let mut critical = entity_body("D-2", "food");
    critical["critical_entity"] = json!(true);
    let r = send(&app, post("/api/v1/entities", &national, &critical)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let critical_id = r.body["id"].as_str().unwrap().to_string();
    let mut identified = entity_body("D-3", "food");
    identified["member_state_identification"] = sole_provider("important");
    let r = send(&app, post("/api/v1/entities", &national, &identified)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let identified_id = r.body["id"].as_str().unwrap().to_string();
    let plain_id = register_entity(&app, &national, "D-4", "food").await;

    // Art. 2(3), 3(1)(f): micro and still essential.
    let path = format!("/api/v1/entities/{critical_id}");
    let own = ctx.token(&critical_id, Role::Entity);
    let r = send(&app, patch(&path, &own, &json!({"size": "micro"}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "registered");
    assert_eq!(r.body["category"], "essential");
    assert_eq!(r.body["decided_by"][1], "category.critical_entity");
    // Clearing the designation would take it out of scope: refused, not held.
    let r = send(&app, patch(&path, &own, &json!({"critical_entity": false}))).await;
    assert_refused_naming(&r, "critical_entity");
    let g = send(&app, get(&path, &own)).await;
    assert_eq!(g.body["status"], "registered");
    assert_eq!(g.body["category"], "essential");

    // Art. 2(2)(b), 3(2): micro and still important.
    let path = format!("/api/v1/entities/{identified_id}");
    let own = ctx.token(&identified_id, Role::Entity);
    let r = send(&app, patch(&path, &own, &json!({"size": "micro"}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["category"], "important");
    assert_eq!(r.body["decided_by"][1], "category.sole_provider");
    let r = send(
        &app,
        patch(&path, &own, &json!({"member_state_identification": null})),
    )
    .await;
    assert_refused_naming(&r, "member_state_identification");

    // The other side: no designation, Art. 2(1) — the same change is a scope exit, held.
    let path = format!("/api/v1/entities/{plain_id}");
    let own = ctx.token(&plain_id, Role::Entity);
    let r = send(&app, patch(&path, &own, &json!({"size": "micro"}))).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["status"], "deregistration_pending");
    assert_eq!(r.body["category"], "important");
}

/// The supervisory authority covering the entity sets, changes and clears its designations
/// and nothing else (403 naming the field); one that does not cover it finds no entity; a
/// sectoral CSIRT has no write scope.
#[actix_web::test]
async fn the_covering_authority_sets_designations_and_nothing_else() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let mut body = entity_body("D-5", "food");
    body["size"] = json!("micro");
    let r = send(&app, post("/api/v1/entities", &national, &body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["category"], "out_of_scope",
        "Art. 2(1): micro Annex II"
    );
    let id = r.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/entities/{id}");
    let authority = ctx.token("authority-infrastructure", Role::SupervisoryAuthority);

    // Art. 2(2)(d), 3(1)(e): identified as essential on the ground of systemic risk.
    let r = send(
        &app,
        patch(
            &path,
            &authority,
            &json!({"member_state_identification": {"ground": "systemic_risk", "category": "essential"}}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["category"], "essential");
    assert_eq!(r.body["decided_by"][1], "category.systemic_risk");
    // Changed to important (Art. 3(2)), then a CER critical entity (Art. 2(3), 3(1)(f)).
    let r = send(
        &app,
        patch(
            &path,
            &authority,
            &json!({"member_state_identification": {"category": "important"}}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["category"], "important");
    let r = send(
        &app,
        patch(&path, &authority, &json!({"critical_entity": true})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["category"], "essential");
    assert_eq!(r.body["decided_by"][1], "category.critical_entity");

    // Nothing else: a designation together with another field is refused whole.
    let r = send(
        &app,
        patch(
            &path,
            &authority,
            &json!({"critical_entity": false, "size": "large"}),
        ),
    )
    .await;
    assert_refused_naming(&r, "size");
    let g = send(&app, get(&path, &national)).await;
    assert_eq!(g.body["critical_entity"], true, "nothing written");
    assert_eq!(g.body["size"], "micro");

    // An authority that does not cover the entity finds none; a sectoral CSIRT may not write.
    let other = ctx.token("authority-health", Role::SupervisoryAuthority);
    let r = send(
        &app,
        patch(&path, &other, &json!({"critical_entity": false})),
    )
    .await;
    r.assert_problem(404, "not_found");
    let csirt = ctx.token("csirt-energy", Role::SectoralCsirt);
    let r = send(
        &app,
        patch(&path, &csirt, &json!({"critical_entity": false})),
    )
    .await;
    r.assert_problem(403, "insufficient_scope");

    // The authority clears both: out of scope again by Art. 2(1), at once (its own act, not
    // the entity's), and the history marks the category lowered.
    let r = send(
        &app,
        patch(
            &path,
            &authority,
            &json!({"critical_entity": false, "member_state_identification": null}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "registered");
    assert_eq!(r.body["category"], "out_of_scope");
    let h = send(&app, get(&format!("{path}/history"), &national)).await;
    assert_eq!(h.status, 200, "{}", h.text);
    let last = h.body["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["flags"], json!(["category_lowered"]), "{last}");
}

/// A designation names a ground of Art. 2(2)(b)–(e) and a category of Art. 3(1)(e) or 3(2);
/// anything else is a 422 pointing at it.
#[actix_web::test]
async fn a_designation_is_a_ground_and_essential_or_important() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    for (i, bad) in [
        json!({"ground": "whim", "category": "essential"}),
        json!({"ground": "sole_provider", "category": "out_of_scope"}),
        json!({"ground": "sole_provider"}),
        json!({"ground": "sole_provider", "category": "essential", "since": "2026"}),
        json!("sole_provider"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = entity_body(&format!("D-bad-{i}"), "food");
        body["member_state_identification"] = bad.clone();
        let r = send(&app, post("/api/v1/entities", &national, &body)).await;
        r.assert_problem(422, "validation_failed");
        let pointer = r.body["errors"][0]["pointer"].as_str().unwrap_or_default();
        assert!(
            pointer.starts_with("/member_state_identification"),
            "{bad}: {}",
            r.text
        );
    }
    let mut body = entity_body("D-bad-flag", "food");
    body["critical_entity"] = json!("yes");
    let r = send(&app, post("/api/v1/entities", &national, &body)).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(
        r.body["errors"][0]["pointer"], "/critical_entity",
        "{}",
        r.text
    );
}
