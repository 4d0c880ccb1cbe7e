//! The entity register through the HTTP API: registration, derived fields, updates with
//! If-Match, deregistration, history, visibility and pagination.

mod common;
use common::*;
use nis2hub::auth::Role;
use serde_json::json;

#[actix_web::test]
async fn registration_derives_category_csirt_and_authority() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let r = send(
        &app,
        post(
            "/api/v1/entities",
            &t,
            &entity_body("100", "manufacturing.medical_devices"),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["category"], "important",
        "Annex II large → important"
    );
    assert_eq!(
        r.body["sectoral_csirt"]["code"], "csirt-health",
        "the subsector's CSIRT beats the sector's"
    );
    assert_eq!(r.body["supervisory_authority"]["code"], "authority-health");
    assert_eq!(
        r.body["decided_by"],
        json!([
            "size.declared",
            "category.annex_ii_medium_large",
            "coverage.csirt.exact",
            "coverage.authority.sector"
        ])
    );
    assert_eq!(r.body["status"], "registered");
    assert_eq!(r.body["version"], 1);

    let id = r.body["id"].as_str().unwrap();
    let g = send(&app, get(&format!("/api/v1/entities/{id}"), &t)).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.header("etag").as_deref(), Some("\"v1\""));
    assert_eq!(g.body, r.body);
}

#[actix_web::test]
async fn size_is_derived_from_the_figures() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let mut body = entity_body("101", "health");
    body.as_object_mut().unwrap().remove("size");
    body["employees"] = json!(120);
    body["annual_turnover_eur"] = json!(30_000_000);
    let r = send(&app, post("/api/v1/entities", &ctx.national(), &body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["size_class"], "medium");
    assert_eq!(r.body["category"], "important");
    assert_eq!(r.body["decided_by"][0], "size.derived");
}

#[actix_web::test]
async fn updates_are_versioned_and_stale_if_match_is_refused() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let r = send(
        &app,
        post("/api/v1/entities", &t, &entity_body("102", "energy.gas")),
    )
    .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/entities/{id}");

    let u = send(
        &app,
        patch(&path, &t, &json!({"size": "medium"})).insert_header(("If-Match", "\"v1\"")),
    )
    .await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.body["version"], 2);
    assert_eq!(u.body["category"], "important");
    assert_eq!(u.header("etag").as_deref(), Some("\"v2\""));

    let stale = send(
        &app,
        patch(&path, &t, &json!({"size": "small"})).insert_header(("If-Match", "\"v1\"")),
    )
    .await;
    stale.assert_problem(412, "precondition_failed");
    let now = send(&app, get(&path, &t)).await;
    assert_eq!(
        now.body["size"], "medium",
        "a refused update changes nothing"
    );

    let d = send(
        &app,
        post(
            &format!("{path}/deregister"),
            &t,
            &json!({"reason": "merged"}),
        ),
    )
    .await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["status"], "deregistered");
    let again = send(
        &app,
        post(
            &format!("{path}/deregister"),
            &t,
            &json!({"reason": "merged"}),
        ),
    )
    .await;
    again.assert_problem(409, "entity_deregistered");

    let h = send(&app, get(&format!("{path}/history"), &t)).await;
    assert_eq!(h.status, 200);
    let versions: Vec<_> = h.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].clone(), v["change"].clone()))
        .collect();
    assert_eq!(
        versions,
        vec![
            (json!(1), json!("registered")),
            (json!(2), json!("updated")),
            (json!(3), json!("deregistered: merged"))
        ]
    );
    assert_eq!(
        h.body["items"][0]["entity"]["size"], "large",
        "history keeps each version as it was"
    );
}

#[actix_web::test]
async fn each_caller_sees_only_its_part_of_the_register() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let mut ids = std::collections::HashMap::new();
    for (ident, sector) in [
        ("1", "energy.electricity"),
        ("2", "banking"),
        ("3", "health"),
    ] {
        let r = send(
            &app,
            post("/api/v1/entities", &t, &entity_body(ident, sector)),
        )
        .await;
        ids.insert(sector, r.body["id"].as_str().unwrap().to_string());
    }
    let listed = |r: &Res| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["sector"].as_str().unwrap().to_string())
            .collect()
    };

    let all = send(&app, get("/api/v1/entities", &t)).await;
    assert_eq!(listed(&all).len(), 3);
    let energy = send(
        &app,
        get(
            "/api/v1/entities",
            &ctx.token("csirt-energy", Role::SectoralCsirt),
        ),
    )
    .await;
    assert_eq!(listed(&energy), vec!["energy.electricity"]);
    let fsa = send(
        &app,
        get(
            "/api/v1/entities",
            &ctx.token("authority-finance", Role::SupervisoryAuthority),
        ),
    )
    .await;
    assert_eq!(listed(&fsa), vec!["banking"]);

    let health_id = &ids["health"];
    let own = ctx.token(health_id, Role::Entity);
    let mine = send(&app, get("/api/v1/entities", &own)).await;
    assert_eq!(listed(&mine), vec!["health"]);
    let other = send(
        &app,
        get(&format!("/api/v1/entities/{}", ids["banking"]), &own),
    )
    .await;
    other.assert_problem(404, "not_found");
    let energy_reads_bank = send(
        &app,
        get(
            &format!("/api/v1/entities/{}", ids["banking"]),
            &ctx.token("csirt-energy", Role::SectoralCsirt),
        ),
    )
    .await;
    energy_reads_bank.assert_problem(404, "not_found");

    // The entity keeps its own registration current, and only its own.
    let u = send(
        &app,
        patch(
            &format!("/api/v1/entities/{health_id}"),
            &own,
            &json!({"domains": ["hospital.nl"]}),
        ),
    )
    .await;
    assert_eq!(u.status, 200, "{}", u.text);
    let u = send(
        &app,
        patch(
            &format!("/api/v1/entities/{}", ids["banking"]),
            &own,
            &json!({"domains": ["x.nl"]}),
        ),
    )
    .await;
    u.assert_problem(404, "not_found");
    let c = send(
        &app,
        post("/api/v1/entities", &own, &entity_body("9", "health")),
    )
    .await;
    c.assert_problem(403, "forbidden");
}

#[actix_web::test]
async fn lists_filter_and_page_with_a_cursor() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    for i in 0..5 {
        let sector = if i % 2 == 0 {
            "energy.oil"
        } else {
            "transport.rail"
        };
        let mut body = entity_body(&format!("p{i}"), sector);
        body["name"] = json!(format!(
            "Firm {i} {}",
            if i == 3 { "Special" } else { "Plain" }
        ));
        assert_eq!(
            send(&app, post("/api/v1/entities", &t, &body)).await.status,
            201
        );
    }
    let mut seen = vec![];
    let mut uri = "/api/v1/entities?limit=2".to_string();
    loop {
        let r = send(&app, get(&uri, &t)).await;
        assert_eq!(r.status, 200);
        seen.extend(
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string()),
        );
        match r.body["next_cursor"].as_str() {
            Some(_) => {
                let link = r
                    .header("link")
                    .expect("Link header on a page with a next one");
                uri = link
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_string();
            }
            None => {
                assert!(r.header("link").is_none());
                break;
            }
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        (seen.len(), sorted),
        (5, seen.clone()),
        "every entity once, in order"
    );

    let energy = send(&app, get("/api/v1/entities?sector=energy", &t)).await;
    assert_eq!(
        energy.body["items"].as_array().unwrap().len(),
        3,
        "a sector filter includes its subsectors"
    );
    let q = send(&app, get("/api/v1/entities?q=special", &t)).await;
    assert_eq!(q.body["items"].as_array().unwrap().len(), 1);
    let cat = send(&app, get("/api/v1/entities?category=important", &t)).await;
    assert_eq!(cat.body["items"].as_array().unwrap().len(), 0);
    let future = send(
        &app,
        get("/api/v1/entities?updated_since=2999-01-01T00:00:00Z", &t),
    )
    .await;
    assert_eq!(future.body["items"].as_array().unwrap().len(), 0);
}

#[actix_web::test]
async fn idempotency_key_replays_the_first_response() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let body = entity_body("idem", "health");
    let first = send(
        &app,
        post("/api/v1/entities", &t, &body).insert_header(("Idempotency-Key", "k-1")),
    )
    .await;
    assert_eq!(first.status, 201);
    let replay = send(
        &app,
        post("/api/v1/entities", &t, &body).insert_header(("Idempotency-Key", "k-1")),
    )
    .await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.body, first.body);
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(count(&ctx, "entities"), 1);
    let other = send(
        &app,
        post("/api/v1/entities", &t, &entity_body("idem2", "health"))
            .insert_header(("Idempotency-Key", "k-1")),
    )
    .await;
    other.assert_problem(422, "idempotency_key_reused");
    assert_eq!(count(&ctx, "entities"), 1);
}

#[actix_web::test]
async fn idempotency_keys_are_forgotten_after_a_day() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let body = entity_body("forget", "health");
    send(
        &app,
        post("/api/v1/entities", &t, &body).insert_header(("Idempotency-Key", "k-old")),
    )
    .await;
    let mut conn = ctx.state.pool.get().unwrap();
    let now = chrono::Utc::now().naive_utc();
    assert_eq!(
        nis2hub::idempotency::purge(&mut conn, now).unwrap(),
        0,
        "a fresh key stays"
    );
    assert_eq!(
        nis2hub::idempotency::purge(&mut conn, now + chrono::Duration::hours(25)).unwrap(),
        1
    );
    assert_eq!(count(&ctx, "idempotency_keys"), 0);
}

/// The events of one type in a caller's feed.
async fn feed_of<S, B>(app: &S, token: &str, event_type: &str) -> Vec<serde_json::Value>
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let r = send(
        app,
        get(&format!("/api/v1/feed?type={event_type}&limit=200"), token),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn a_self_downgrade_or_move_is_told_to_the_csirt_and_authority_that_covered_it() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let id = register_entity(&app, &ctx.national(), "down-1", "energy.electricity").await;
    let own = ctx.token(&id, Role::Entity);
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let infra = ctx.token("authority-infrastructure", Role::SupervisoryAuthority);
    let health = ctx.token("csirt-health", Role::SectoralCsirt);
    let finance = ctx.token("authority-finance", Role::SupervisoryAuthority);
    let path = format!("/api/v1/entities/{id}");

    // A change of contacts only is in the history, not in anyone's feed.
    let u = send(&app, patch(&path, &own, &json!({"domains": ["grid.nl"]}))).await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert!(feed_of(&app, &energy, "entity.updated").await.is_empty());

    // The entity declares itself micro: essential → out of scope. Leaving scope by its own
    // update waits, like a deregistration request, for its authority to confirm.
    let u = send(&app, patch(&path, &own, &json!({"size": "micro"}))).await;
    assert_eq!(u.status, 202, "{}", u.text);
    assert_eq!(u.body["category"], "essential");
    assert!(feed_of(&app, &energy, "entity.updated").await.is_empty());
    let u = send(
        &app,
        post(
            &format!("{path}/deregistration/confirm"),
            &infra,
            &json!({"comment": "headcount checked"}),
        ),
    )
    .await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.body["category"], "out_of_scope");
    for (who, token) in [("the energy CSIRT", &energy), ("the authority", &infra)] {
        let events = feed_of(&app, token, "entity.updated").await;
        assert_eq!(events.len(), 1, "{who} is told: {events:?}");
        let e = &events[0];
        assert_eq!(e["subject"], json!({"type": "entity", "id": id}));
        assert_eq!(
            e["data"]["flags"],
            json!(["self_service", "category_lowered"])
        );
        assert_eq!(
            (
                e["data"]["before"]["category"].clone(),
                e["data"]["after"]["category"].clone()
            ),
            (json!("essential"), json!("out_of_scope"))
        );
        assert!(e["data"]["changed_by"].as_str().unwrap().starts_with(&id));
    }

    // Then it moves itself to another sector, out of both organisations' sight.
    let u = send(&app, patch(&path, &own, &json!({"sector": "health"}))).await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.body["sectoral_csirt"]["code"], "csirt-health");
    send(&app, get(&path, &energy))
        .await
        .assert_problem(404, "not_found");
    for (who, token) in [
        ("the energy CSIRT", &energy),
        ("the infrastructure authority", &infra),
        ("the health CSIRT, now covering it", &health),
    ] {
        let events = feed_of(&app, token, "entity.updated").await;
        let e = events.last().unwrap_or_else(|| panic!("{who} is told"));
        assert_eq!(
            e["data"]["flags"],
            json!(["self_service", "sector_changed", "left_coverage"]),
            "{who}: {e}"
        );
        assert_eq!(
            e["data"]["before"]["sectoral_csirt"]["code"],
            "csirt-energy"
        );
        assert_eq!(
            e["data"]["before"]["supervisory_authority"]["code"],
            "authority-infrastructure"
        );
        assert_eq!(e["data"]["after"]["sectoral_csirt"]["code"], "csirt-health");
        assert_eq!(
            e["data"]["after"]["supervisory_authority"]["code"],
            "authority-health"
        );
    }
    assert!(
        feed_of(&app, &finance, "entity.updated").await.is_empty(),
        "an organisation that never covered it hears nothing"
    );

    // The history marks what each change did.
    let h = send(&app, get(&format!("{path}/history"), &ctx.national())).await;
    let flags: Vec<_> = h.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["flags"].clone())
        .collect();
    assert_eq!(
        flags,
        vec![
            json!([]),
            json!(["self_service"]),
            json!(["self_service"]),
            json!(["self_service", "category_lowered"]),
            json!(["self_service", "sector_changed", "left_coverage"]),
        ]
    );

    // A change by the national CSIRT is told too, without the self-service mark.
    let u = send(
        &app,
        patch(&path, &ctx.national(), &json!({"size": "large"})),
    )
    .await;
    assert_eq!(u.status, 200, "{}", u.text);
    let events = feed_of(&app, &health, "entity.updated").await;
    assert_eq!(
        events.last().unwrap()["data"]["flags"],
        json!(["category_raised"])
    );
}

#[actix_web::test]
async fn an_entity_only_asks_to_be_deregistered_until_its_authority_confirms() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let id = register_entity(&app, &national, "leave-1", "energy.gas").await;
    let own = ctx.token(&id, Role::Entity);
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let infra = ctx.token("authority-infrastructure", Role::SupervisoryAuthority);
    let path = format!("/api/v1/entities/{id}");

    let d = send(
        &app,
        post(
            &format!("{path}/deregister"),
            &own,
            &json!({"reason": "we stopped trading gas"}),
        ),
    )
    .await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["status"], "deregistration_pending");
    assert_eq!(
        d.body["deregistration_request"]["reason"],
        "we stopped trading gas"
    );

    // Still visible to its CSIRT and authority, who are told; still bound to report.
    for (who, token) in [("the energy CSIRT", &energy), ("the authority", &infra)] {
        let g = send(&app, get(&path, token)).await;
        assert_eq!(g.status, 200, "{who}: {}", g.text);
        assert_eq!(g.body["status"], "deregistration_pending");
        let events = feed_of(&app, token, "entity.deregistration_requested").await;
        assert_eq!(events.len(), 1, "{who}: {events:?}");
        assert_eq!(
            events[0]["data"]["request"]["reason"],
            "we stopped trading gas"
        );
    }
    let inc = send(
        &app,
        post(
            "/api/v1/incidents",
            &own,
            &json!({"entity_id": id, "stage": "early_warning", "aware_at": chrono::Utc::now(), "summary": "x"}),
        ),
    )
    .await;
    assert_eq!(
        inc.status, 201,
        "a pending entity still reports: {}",
        inc.text
    );
    let pending = send(
        &app,
        get("/api/v1/entities?status=deregistration_pending", &national),
    )
    .await;
    assert_eq!(pending.body["items"].as_array().unwrap().len(), 1);
    let registered = send(&app, get("/api/v1/entities?status=registered", &national)).await;
    assert_eq!(registered.body["items"].as_array().unwrap().len(), 0);

    // The entity can neither confirm its request, nor ask twice, nor change itself meanwhile.
    let decision = json!({"comment": "ok"});
    send(
        &app,
        post(&format!("{path}/deregistration/confirm"), &own, &decision),
    )
    .await
    .assert_problem(403, "forbidden");
    send(
        &app,
        post(&format!("{path}/deregistration/reject"), &own, &decision),
    )
    .await
    .assert_problem(403, "forbidden");
    send(
        &app,
        post(
            &format!("{path}/deregister"),
            &own,
            &json!({"reason": "again"}),
        ),
    )
    .await
    .assert_problem(409, "deregistration_pending");
    send(&app, patch(&path, &own, &json!({"size": "micro"})))
        .await
        .assert_problem(409, "deregistration_pending");
    // The sectoral CSIRT does not decide it.
    send(
        &app,
        post(
            &format!("{path}/deregistration/confirm"),
            &energy,
            &decision,
        ),
    )
    .await
    .assert_problem(403, "insufficient_scope");
    assert_eq!(
        send(&app, get(&path, &national)).await.body["status"],
        "deregistration_pending"
    );

    // The authority covering it confirms: the entity leaves the register.
    let c = send(
        &app,
        post(
            &format!("{path}/deregistration/confirm"),
            &infra,
            &json!({"comment": "trade register shows the gas business closed"}),
        ),
    )
    .await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body["status"], "deregistered");
    assert!(c.body["deregistration_request"].is_null());
    let events = feed_of(&app, &energy, "entity.deregistered").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0]["data"]["request"]["reason"],
        "we stopped trading gas"
    );
    send(
        &app,
        post(&format!("{path}/deregistration/reject"), &infra, &decision),
    )
    .await
    .assert_problem(409, "entity_deregistered");

    let h = send(&app, get(&format!("{path}/history"), &national)).await;
    let changes: Vec<_> = h.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["change"].clone(),
                v["entity"]["status"].clone(),
                v["flags"].clone(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (json!("registered"), json!("registered"), json!([])),
            (
                json!("deregistration_requested: we stopped trading gas"),
                json!("deregistration_pending"),
                json!(["self_service"])
            ),
            (
                json!("deregistration_confirmed: trade register shows the gas business closed"),
                json!("deregistered"),
                json!([])
            ),
        ]
    );
}

#[actix_web::test]
async fn a_rejected_request_keeps_the_entity_registered_and_outsiders_find_nothing() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let id = register_entity(&app, &national, "stay-1", "banking").await;
    let own = ctx.token(&id, Role::Entity);
    let path = format!("/api/v1/entities/{id}");
    let decision = json!({"comment": "still licensed as a bank"});

    // Nothing to decide yet.
    send(
        &app,
        post(
            &format!("{path}/deregistration/reject"),
            &national,
            &decision,
        ),
    )
    .await
    .assert_problem(409, "deregistration_not_pending");
    let d = send(
        &app,
        post(
            &format!("{path}/deregister"),
            &own,
            &json!({"reason": "merged"}),
        ),
    )
    .await;
    assert_eq!(d.body["status"], "deregistration_pending", "{}", d.text);

    // An authority that does not cover it, and another entity, find no such entity.
    let other = register_entity(&app, &national, "stay-2", "health").await;
    for (who, token) in [
        (
            "the infrastructure authority",
            ctx.token("authority-infrastructure", Role::SupervisoryAuthority),
        ),
        (
            "the health authority",
            ctx.token("authority-health", Role::SupervisoryAuthority),
        ),
        ("another entity", ctx.token(&other, Role::Entity)),
    ] {
        for action in ["confirm", "reject"] {
            let r = send(
                &app,
                post(
                    &format!("{path}/deregistration/{action}"),
                    &token,
                    &decision,
                ),
            )
            .await;
            r.assert_problem(404, "not_found");
            let _ = who;
        }
        send(
            &app,
            post(
                &format!("{path}/deregister"),
                &token,
                &json!({"reason": "x"}),
            ),
        )
        .await
        .assert_problem(404, "not_found");
    }
    assert_eq!(
        send(&app, get(&path, &national)).await.body["status"],
        "deregistration_pending"
    );

    // The authority covering it rejects: registered again, the entity told.
    let finance = ctx.token("authority-finance", Role::SupervisoryAuthority);
    let r = send(
        &app,
        post(
            &format!("{path}/deregistration/reject"),
            &finance,
            &decision,
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "registered");
    let told = feed_of(&app, &own, "entity.deregistration_rejected").await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0]["data"]["comment"], "still licensed as a bank");
    // The entity may change itself again, and the authority may deregister it directly.
    let u = send(&app, patch(&path, &own, &json!({"domains": ["bank.nl"]}))).await;
    assert_eq!(u.status, 200, "{}", u.text);
    let direct = send(
        &app,
        post(
            &format!("{path}/deregister"),
            &finance,
            &json!({"reason": "licence withdrawn"}),
        ),
    )
    .await;
    assert_eq!(direct.status, 200, "{}", direct.text);
    assert_eq!(direct.body["status"], "deregistered");
    // An authority changes no registration otherwise.
    let other_path = format!("/api/v1/entities/{other}");
    send(
        &app,
        patch(
            &other_path,
            &ctx.token("authority-health", Role::SupervisoryAuthority),
            &json!({"size": "micro"}),
        ),
    )
    .await
    .assert_problem(403, "forbidden");
}
