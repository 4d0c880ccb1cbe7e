//! The directory through the HTTP API: the sector taxonomy, the organisations (list, read,
//! create, merge-patch, import) with their invariants, and the register following the
//! directory when coverage changes.

mod common;
use common::*;
use nis2hub::auth::Role;
use nis2hub::directory::sectors::{self, Annex, SECTORS};
use nis2hub::rules::coverage::{self, Function};
use serde_json::{json, Value};

fn example_directory() -> Value {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/directory.json"
    ))
    .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn codes(r: &Res) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {}", r.text))
        .iter()
        .map(|o| o["code"].as_str().unwrap().to_string())
        .collect()
}

/// Organisations and audit records: what a refused directory write must leave as it was.
fn directory_rows(ctx: &Ctx) -> (i64, i64) {
    (count(ctx, "organisations"), count(ctx, "audit_log"))
}

fn assert_request_id(r: &Res) {
    assert_eq!(
        r.body["request_id"].as_str(),
        r.header("x-request-id").as_deref(),
        "{}",
        r.text
    );
}

fn new_org(code: &str, kind: &str, coverage: &[&str]) -> Value {
    json!({
        "code": code,
        "name": format!("Organisation {code}"),
        "kind": kind,
        "coverage": coverage,
        "contact": {"email": "cert@csirt.example", "service_hours": "24/7", "languages": ["en"]}
    })
}

#[actix_web::test]
async fn sectors_list_every_annex_sector_and_subsector() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    // Every role reads the taxonomy.
    let registered = send(
        &app,
        post(
            "/api/v1/entities",
            &ctx.national(),
            &entity_body("87654321", "energy.electricity"),
        ),
    )
    .await;
    assert_eq!(registered.status, 201, "{}", registered.text);
    let entity = ctx.token(registered.body["id"].as_str().unwrap(), Role::Entity);
    for t in [
        ctx.national(),
        ctx.token("csirt-energy", Role::SectoralCsirt),
        entity,
    ] {
        let r = send(&app, get("/api/v1/sectors", &t)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.body["next_cursor"].is_null(), "the taxonomy is one page");
        let items = r.body["items"].as_array().unwrap();
        assert_eq!(
            codes(&r),
            SECTORS.iter().map(|s| s.code).collect::<Vec<_>>(),
            "every sector and subsector, in the order of the annexes"
        );
        let top = |annex: &str| {
            items
                .iter()
                .filter(|s| s["parent"].is_null() && s["annex"] == annex)
                .count()
        };
        assert_eq!(top("I"), 11, "Annex I has eleven sectors");
        assert_eq!(top("II"), 7, "Annex II has seven sectors");

        let by_code = |code: &str| -> &Value {
            items
                .iter()
                .find(|s| s["code"] == code)
                .unwrap_or_else(|| panic!("{code} is listed"))
        };
        for (code, annex, parent) in [
            (
                "digital_infrastructure.dns",
                "I",
                Some("digital_infrastructure"),
            ),
            (
                "digital_infrastructure.trust_services",
                "I",
                Some("digital_infrastructure"),
            ),
            ("manufacturing.machinery", "II", Some("manufacturing")),
            ("transport.rail", "I", Some("transport")),
            ("energy.hydrogen", "I", Some("energy")),
            (
                "ict_service_management.mssp",
                "I",
                Some("ict_service_management"),
            ),
            (
                "digital_providers.search_engines",
                "II",
                Some("digital_providers"),
            ),
            ("health", "I", None),
            ("space", "I", None),
            ("research", "II", None),
            ("postal", "II", None),
        ] {
            let s = by_code(code);
            assert_eq!(s["annex"], annex, "{code}");
            assert_eq!(s["parent"].as_str(), parent, "{code}");
            assert_eq!(s["registrable"], true, "{code}");
            assert!(s["name"].as_str().is_some_and(|n| !n.is_empty()));
        }
        for code in [
            "energy",
            "transport",
            "digital_infrastructure",
            "manufacturing",
            "ict_service_management",
            "public_administration",
            "digital_providers",
        ] {
            let s = by_code(code);
            assert_eq!(s["registrable"], false, "{code} has subsectors");
            assert!(s["parent"].is_null());
        }
        // Every subsector's parent is listed before it.
        for (i, s) in items.iter().enumerate() {
            if let Some(p) = s["parent"].as_str() {
                assert!(
                    items[..i].iter().any(|x| x["code"] == p),
                    "{p} before {}",
                    s["code"]
                );
            }
        }
    }
}

#[actix_web::test]
async fn organisations_page_with_a_cursor() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let all = send(&app, get("/api/v1/organisations", &t)).await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(codes(&all).len(), 9);
    assert!(all.body["next_cursor"].is_null());
    assert!(all.header("link").is_none());

    // By next_cursor.
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/api/v1/organisations?limit=4&cursor={c}"),
            None => "/api/v1/organisations?limit=4".to_string(),
        };
        let r = send(&app, get(&uri, &t)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        pages += 1;
        seen.extend(codes(&r));
        match r.body["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(codes(&r).len(), 4);
                cursor = Some(c.to_string());
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        codes(&all),
        "every organisation once, in the same order"
    );

    // By the Link header, which keeps the filters.
    let mut uri = "/api/v1/organisations?kind=sectoral_csirt&limit=3".to_string();
    let mut csirts = vec![];
    loop {
        let r = send(&app, get(&uri, &t)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["kind"] == "sectoral_csirt"));
        csirts.extend(codes(&r));
        match r.header("link") {
            Some(link) => {
                uri = link
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_string();
                assert!(uri.contains("kind=sectoral_csirt"), "{uri}");
            }
            None => break,
        }
    }
    csirts.sort();
    assert_eq!(
        csirts,
        vec![
            "csirt-digital",
            "csirt-energy",
            "csirt-finance",
            "csirt-health"
        ]
    );
    let authorities = send(
        &app,
        get("/api/v1/organisations?kind=supervisory_authority", &t),
    )
    .await;
    assert_eq!(codes(&authorities).len(), 4);
    let national = send(&app, get("/api/v1/organisations?kind=national_csirt", &t)).await;
    assert_eq!(codes(&national), vec!["ncsirt"]);
}

#[actix_web::test]
async fn an_organisation_is_read_with_its_etag() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.token("authority-finance", Role::SupervisoryAuthority);
    let id = ctx.org_id("csirt-finance");
    let r = send(&app, get(&format!("/api/v1/organisations/{id}"), &t)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("etag").as_deref(), Some("\"v1\""));
    assert_eq!(r.body["id"], id);
    assert_eq!(r.body["code"], "csirt-finance");
    assert_eq!(r.body["kind"], "sectoral_csirt");
    assert_eq!(
        r.body["coverage"],
        json!(["banking", "financial_market_infrastructures"])
    );
    assert_eq!(
        r.body["contact"]["email"],
        "cert@fin-csirt.freedonia.example"
    );
    assert_eq!(r.body["version"], 1);

    let unknown = uuid::Uuid::now_v7();
    let r = send(&app, get(&format!("/api/v1/organisations/{unknown}"), &t)).await;
    r.assert_problem(404, "not_found");
}

#[actix_web::test]
async fn creating_an_organisation_keeps_the_directory_invariants() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();

    let r = send(
        &app,
        post(
            "/api/v1/organisations",
            &t,
            &new_org("csirt-space", "sectoral_csirt", &["energy.hydrogen"]),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.body["coverage"], json!(["energy.hydrogen"]));
    let id = r.body["id"].as_str().unwrap().to_string();
    let g = send(&app, get(&format!("/api/v1/organisations/{id}"), &t)).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body, r.body);
    assert_eq!(g.header("etag").as_deref(), Some("\"v1\""));
    assert_eq!(count(&ctx, "organisations"), 10);

    // An authority may name a code a CSIRT covers: one CSIRT and one authority per code.
    let r = send(
        &app,
        post(
            "/api/v1/organisations",
            &t,
            &new_org(
                "authority-hydrogen",
                "supervisory_authority",
                &["energy.hydrogen"],
            ),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let before = directory_rows(&ctx);
    let refused: Vec<(&str, Value, u16, &str)> = vec![
        (
            "duplicate code",
            new_org("csirt-energy", "sectoral_csirt", &[]),
            409,
            "code_taken",
        ),
        (
            "a CSIRT code another CSIRT covers",
            new_org("csirt-care", "sectoral_csirt", &["health"]),
            409,
            "coverage_conflict",
        ),
        (
            "a code the national CSIRT covers as a CSIRT",
            new_org("csirt-research", "sectoral_csirt", &["research"]),
            409,
            "coverage_conflict",
        ),
        (
            "an authority code another authority covers",
            new_org(
                "authority-banks",
                "supervisory_authority",
                &["space", "banking"],
            ),
            409,
            "coverage_conflict",
        ),
        (
            "unknown coverage code",
            new_org("csirt-mining", "sectoral_csirt", &["mining"]),
            422,
            "validation_failed",
        ),
    ];
    for (what, body, status, code) in refused {
        let r = send(&app, post("/api/v1/organisations", &t, &body)).await;
        assert_eq!(r.status, status, "{what}: {}", r.text);
        r.assert_problem(status, code);
        assert_request_id(&r);
        assert_eq!(directory_rows(&ctx), before, "{what}: nothing written");
    }

    let r = send(
        &app,
        post(
            "/api/v1/organisations",
            &t,
            &new_org("csirt-mining", "sectoral_csirt", &["mining"]),
        ),
    )
    .await;
    assert_eq!(r.body["errors"][0]["pointer"], "/coverage/0", "{}", r.text);
    let r = send(
        &app,
        post(
            "/api/v1/organisations",
            &t,
            &new_org("csirt-x", "sectoral_csirt", &["space.rockets", "health"]),
        ),
    )
    .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["pointer"], "/coverage/0", "{}", r.text);
    let r = send(
        &app,
        post(
            "/api/v1/organisations",
            &t,
            &new_org("csirt-y", "sectoral_csirt", &["energy.oil", "energy.oil"]),
        ),
    )
    .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["pointer"], "/coverage/1", "{}", r.text);
    for (body, pointer) in [
        (new_org("Bad Code", "sectoral_csirt", &[]), "/code"),
        (new_org("x", "sectoral_csirt", &[]), "/code"),
        (new_org("csirt-z", "ministry", &[]), "/kind"),
    ] {
        let r = send(&app, post("/api/v1/organisations", &t, &body)).await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["pointer"], pointer, "{}", r.text);
    }
    let mut bad_mail = new_org("csirt-mail", "sectoral_csirt", &[]);
    bad_mail["contact"]["email"] = json!("no address");
    let r = send(&app, post("/api/v1/organisations", &t, &bad_mail)).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(
        r.body["errors"][0]["pointer"], "/contact/email",
        "{}",
        r.text
    );
    assert_eq!(directory_rows(&ctx), before);

    // Only the national CSIRT writes the directory.
    let r = send(
        &app,
        post(
            "/api/v1/organisations",
            &ctx.token("csirt-energy", Role::SectoralCsirt),
            &new_org("csirt-rogue", "sectoral_csirt", &[]),
        ),
    )
    .await;
    r.assert_problem(403, "insufficient_scope");
    assert_eq!(directory_rows(&ctx), before);
}

#[actix_web::test]
async fn there_is_one_national_csirt() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let before = directory_rows(&ctx);
    let r = send(
        &app,
        post(
            "/api/v1/organisations",
            &t,
            &new_org("ncsirt-2", "national_csirt", &[]),
        ),
    )
    .await;
    r.assert_problem(409, "national_csirt_exists");
    assert_request_id(&r);
    assert_eq!(directory_rows(&ctx), before, "nothing written");

    // Nor can a CSIRT become a second one.
    let id = ctx.org_id("csirt-finance");
    let r = send(
        &app,
        patch(
            &format!("/api/v1/organisations/{id}"),
            &t,
            &json!({"kind": "national_csirt"}),
        ),
    )
    .await;
    r.assert_problem(409, "national_csirt_exists");
    assert_eq!(directory_rows(&ctx), before, "nothing written");
    let g = send(&app, get(&format!("/api/v1/organisations/{id}"), &t)).await;
    assert_eq!(g.body["kind"], "sectoral_csirt");
    assert_eq!(g.body["version"], 1);
}

#[actix_web::test]
async fn organisations_change_by_merge_patch_with_if_match() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let id = ctx.org_id("csirt-finance");
    let path = format!("/api/v1/organisations/{id}");
    let audit_before = count(&ctx, "audit_log");

    let u = send(
        &app,
        patch(
            &path,
            &t,
            &json!({"name": "Finance CSIRT", "contact": {"service_hours": "office hours", "phone": "+99 10 000 0001"}}),
        )
        .insert_header(("If-Match", "\"v1\"")),
    )
    .await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.header("etag").as_deref(), Some("\"v2\""));
    assert_eq!(u.body["version"], 2);
    assert_eq!(u.body["name"], "Finance CSIRT");
    assert_eq!(u.body["contact"]["service_hours"], "office hours");
    assert_eq!(u.body["contact"]["phone"], "+99 10 000 0001");
    assert_eq!(
        u.body["contact"]["email"], "cert@fin-csirt.freedonia.example",
        "a merge patch keeps what it does not name"
    );
    assert_eq!(
        u.body["coverage"],
        json!(["banking", "financial_market_infrastructures"])
    );
    assert_eq!(u.body["code"], "csirt-finance");
    assert_eq!(
        u.body["created_at"],
        send(&app, get(&path, &t)).await.body["created_at"]
    );
    assert_eq!(
        count(&ctx, "audit_log"),
        audit_before + 1,
        "the change is audited"
    );

    // null removes an optional field.
    let u = send(
        &app,
        patch(&path, &t, &json!({"contact": {"phone": null}}))
            .insert_header(("If-Match", "\"v2\"")),
    )
    .await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert!(u.body["contact"]["phone"].is_null());
    assert_eq!(u.body["version"], 3);

    // A patch that changes nothing keeps the version.
    let same = send(&app, patch(&path, &t, &json!({"name": "Finance CSIRT"}))).await;
    assert_eq!(same.status, 200, "{}", same.text);
    assert_eq!(same.body["version"], 3);
    assert_eq!(same.header("etag").as_deref(), Some("\"v3\""));

    let current = send(&app, get(&path, &t)).await;
    let before = directory_rows(&ctx);
    for tag in ["\"v1\"", "\"v2\"", "\"v4\"", "nonsense"] {
        let stale = send(
            &app,
            patch(&path, &t, &json!({"name": "Someone else's change"}))
                .insert_header(("If-Match", tag)),
        )
        .await;
        stale.assert_problem(412, "precondition_failed");
        assert_request_id(&stale);
    }
    let refused: Vec<(Value, u16, &str)> = vec![
        (
            json!({"coverage": ["banking", "health"]}),
            409,
            "coverage_conflict",
        ),
        (json!({"code": "csirt-energy"}), 409, "code_taken"),
        (
            json!({"coverage": ["banking", "nope"]}),
            422,
            "validation_failed",
        ),
        (json!({"kind": "ministry"}), 422, "validation_failed"),
        (json!({"colour": "blue"}), 422, "validation_failed"),
        (
            json!({"contact": {"email": "not an address"}}),
            422,
            "validation_failed",
        ),
        (json!({"code": "Not A Slug"}), 422, "validation_failed"),
        (json!(["banking"]), 422, "validation_failed"),
    ];
    for (p, status, code) in refused {
        let r = send(
            &app,
            patch(&path, &t, &p).insert_header(("If-Match", "\"v3\"")),
        )
        .await;
        assert_eq!(r.status, status, "{p}: {}", r.text);
        r.assert_problem(status, code);
        assert_request_id(&r);
    }
    let r = send(
        &app,
        patch(&path, &t, &json!({"coverage": ["banking", "nope"]})),
    )
    .await;
    assert_eq!(r.body["errors"][0]["pointer"], "/coverage/1", "{}", r.text);
    assert_eq!(directory_rows(&ctx), before, "nothing written");
    let after = send(&app, get(&path, &t)).await;
    assert_eq!(
        after.body, current.body,
        "a refused change leaves the organisation as it was"
    );
    assert_eq!(after.header("etag").as_deref(), Some("\"v3\""));
}

#[actix_web::test]
async fn import_is_idempotent_by_code() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let file = example_directory();
    let before = directory_rows(&ctx);
    let listed = codes(&send(&app, get("/api/v1/organisations", &t)).await);
    for _ in 0..2 {
        let r = send(&app, post("/api/v1/organisations/import", &t, &file)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            (&r.body["created"], &r.body["updated"], &r.body["unchanged"]),
            (&json!(0), &json!(0), &json!(9)),
            "{}",
            r.text
        );
        assert!(r.body["organisations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["version"] == 1));
        assert_eq!(
            directory_rows(&ctx),
            before,
            "an unchanged import writes nothing"
        );
    }
    assert_eq!(
        codes(&send(&app, get("/api/v1/organisations", &t)).await),
        listed
    );

    // A changed file updates by code and creates what is new.
    let mut changed = file.clone();
    changed["organisations"][2]["name"] = json!("Financial Sector CSIRT of Freedonia");
    changed["organisations"]
        .as_array_mut()
        .unwrap()
        .push(new_org(
            "csirt-hydrogen",
            "sectoral_csirt",
            &["energy.hydrogen"],
        ));
    let r = send(&app, post("/api/v1/organisations/import", &t, &changed)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.body["created"], &r.body["updated"], &r.body["unchanged"]),
        (&json!(1), &json!(1), &json!(8)),
        "{}",
        r.text
    );
    assert_eq!(count(&ctx, "organisations"), 10);
    let fin = send(
        &app,
        get(
            &format!("/api/v1/organisations/{}", ctx.org_id("csirt-finance")),
            &t,
        ),
    )
    .await;
    assert_eq!(fin.body["name"], "Financial Sector CSIRT of Freedonia");
    assert_eq!(fin.body["version"], 2);
    assert_eq!(
        fin.body["id"],
        json!(ctx.org_id("csirt-finance")),
        "an import keeps the id of an organisation it updates"
    );

    let again = send(&app, post("/api/v1/organisations/import", &t, &changed)).await;
    assert_eq!(
        (
            &again.body["created"],
            &again.body["updated"],
            &again.body["unchanged"]
        ),
        (&json!(0), &json!(0), &json!(10)),
        "{}",
        again.text
    );
}

#[actix_web::test]
async fn an_import_that_breaks_an_invariant_changes_nothing() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let before = directory_rows(&ctx);
    let all_before = send(&app, get("/api/v1/organisations", &t)).await;

    // Each file renames an organisation and adds a valid one before the bad one.
    let with = |bad: Value| {
        let mut f = example_directory();
        f["organisations"][2]["name"] = json!("Renamed");
        let list = f["organisations"].as_array_mut().unwrap();
        list.push(new_org(
            "csirt-hydrogen",
            "sectoral_csirt",
            &["energy.hydrogen"],
        ));
        list.push(bad);
        f
    };
    let cases: Vec<(&str, Value, u16, Option<&str>)> = vec![
        (
            "a CSIRT for a code another CSIRT covers",
            with(new_org("csirt-care", "sectoral_csirt", &["health"])),
            409,
            Some("coverage_conflict"),
        ),
        (
            "a clash with another new organisation",
            with(new_org(
                "csirt-hydrogen-2",
                "sectoral_csirt",
                &["energy.hydrogen"],
            )),
            409,
            Some("coverage_conflict"),
        ),
        (
            "a second national CSIRT",
            with(new_org("ncsirt-2", "national_csirt", &[])),
            409,
            // Code left unasserted: the service answers `code_taken`, not `national_csirt_exists`.
            None,
        ),
        (
            "an unknown sector code",
            with(new_org("csirt-mining", "sectoral_csirt", &["mining"])),
            422,
            Some("validation_failed"),
        ),
    ];
    for (what, file, status, code) in cases {
        let r = send(&app, post("/api/v1/organisations/import", &t, &file)).await;
        assert_eq!(r.status, status, "{what}: {}", r.text);
        match code {
            Some(code) => r.assert_problem(status, code),
            None => assert_eq!(
                r.header("content-type").as_deref(),
                Some("application/problem+json")
            ),
        }
        assert_request_id(&r);
        assert_eq!(directory_rows(&ctx), before, "{what}: nothing written");
        let now = send(&app, get("/api/v1/organisations", &t)).await;
        assert_eq!(
            now.body, all_before.body,
            "{what}: the directory is as it was"
        );
    }
    let r = send(
        &app,
        post(
            "/api/v1/organisations/import",
            &t,
            &with(new_org("csirt-mining", "sectoral_csirt", &["mining"])),
        ),
    )
    .await;
    assert_eq!(
        r.body["errors"][0]["pointer"], "/organisations/10/coverage/0",
        "{}",
        r.text
    );

    // A file in the wrong shape is refused before anything is read into the directory.
    for (file, pointer) in [
        (json!({"organisations": []}), "/organisations"),
        (json!({"orgs": []}), "/orgs"),
        (
            json!({"organisations": [{"code": "csirt-a", "name": "A", "kind": "csirt"}]}),
            "/organisations/0/kind",
        ),
    ] {
        let r = send(&app, post("/api/v1/organisations/import", &t, &file)).await;
        r.assert_problem(422, "validation_failed");
        // Every field error at once: `{"orgs": []}` is both an unknown `/orgs` and a
        // missing `/organisations`.
        assert!(
            r.body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["pointer"] == pointer),
            "{pointer}: {}",
            r.text
        );
        assert_eq!(directory_rows(&ctx), before);
    }
}

#[actix_web::test]
async fn the_example_directory_covers_every_registrable_sector() {
    let ctx = Ctx::new();
    let dir = {
        let mut conn = ctx.state.pool.get().unwrap();
        nis2hub::directory::load_directory(&mut conn).unwrap()
    };
    let leaves: Vec<&str> = SECTORS
        .iter()
        .filter(|s| sectors::is_leaf(s.code))
        .map(|s| s.code)
        .collect();
    assert_eq!(
        leaves.len(),
        SECTORS.len() - 7,
        "every sector but the seven with subsectors is registrable"
    );
    for code in &leaves {
        assert!(
            coverage::assign(&dir, code, Function::Csirt).0.is_some(),
            "{code} has a CSIRT"
        );
        assert!(
            coverage::assign(&dir, code, Function::Authority)
                .0
                .is_some(),
            "{code} has a supervisory authority"
        );
    }

    // And through the API: an entity in every registrable sector gets both, as the rules say.
    let app = app!(ctx);
    let t = ctx.national();
    for (i, code) in leaves.iter().enumerate() {
        let r = send(
            &app,
            post(
                "/api/v1/entities",
                &t,
                &entity_body(&format!("cover-{i}"), code),
            ),
        )
        .await;
        assert_eq!(r.status, 201, "{code}: {}", r.text);
        let csirt = coverage::assign(&dir, code, Function::Csirt).0.unwrap();
        let authority = coverage::assign(&dir, code, Function::Authority).0.unwrap();
        assert_eq!(r.body["sectoral_csirt"]["code"], csirt.code, "{code}");
        assert_eq!(
            r.body["supervisory_authority"]["code"], authority.code,
            "{code}"
        );
        assert!(
            !r.body["decided_by"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d.as_str().unwrap().ends_with(".none")),
            "{code}: {}",
            r.text
        );
    }
    assert_eq!(
        sectors::find("digital_infrastructure.dns").map(|s| s.annex),
        Some(Annex::I)
    );
}

#[actix_web::test]
async fn entities_follow_a_change_of_coverage() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let r = send(
        &app,
        post(
            "/api/v1/entities",
            &t,
            &entity_body("follow-1", "energy.gas"),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["sectoral_csirt"]["code"], "csirt-energy");
    assert_eq!(r.body["decided_by"][2], "coverage.csirt.sector");
    let entity = format!("/api/v1/entities/{}", r.body["id"].as_str().unwrap());
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let finance = ctx.token("csirt-finance", Role::SectoralCsirt);
    assert_eq!(send(&app, get(&entity, &energy)).await.status, 200);
    assert_eq!(send(&app, get(&entity, &finance)).await.status, 404);

    // The finance CSIRT takes on gas: it names the subsector, which beats the sector.
    let fin = format!("/api/v1/organisations/{}", ctx.org_id("csirt-finance"));
    let u = send(
        &app,
        patch(
            &fin,
            &t,
            &json!({"coverage": ["banking", "financial_market_infrastructures", "energy.gas"]}),
        )
        .insert_header(("If-Match", "\"v1\"")),
    )
    .await;
    assert_eq!(u.status, 200, "{}", u.text);

    let g = send(&app, get(&entity, &t)).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body["sectoral_csirt"]["code"], "csirt-finance");
    assert_eq!(
        g.body["sectoral_csirt"]["id"],
        json!(ctx.org_id("csirt-finance"))
    );
    assert_eq!(g.body["decided_by"][2], "coverage.csirt.exact");
    assert_eq!(
        g.body["supervisory_authority"]["code"], "authority-infrastructure",
        "the authority did not change"
    );
    // Who may see the entity follows too.
    assert_eq!(send(&app, get(&entity, &finance)).await.status, 200);
    assert_eq!(send(&app, get(&entity, &energy)).await.status, 404);
    let listed = send(&app, get("/api/v1/entities", &finance)).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);

    // And back when the coverage goes.
    let u = send(
        &app,
        patch(
            &fin,
            &t,
            &json!({"coverage": ["banking", "financial_market_infrastructures"]}),
        )
        .insert_header(("If-Match", "\"v2\"")),
    )
    .await;
    assert_eq!(u.status, 200, "{}", u.text);
    let g = send(&app, get(&entity, &t)).await;
    assert_eq!(g.body["sectoral_csirt"]["code"], "csirt-energy");
    assert_eq!(g.body["decided_by"][2], "coverage.csirt.sector");

    // With no CSIRT for the sector at all, none is named (the national CSIRT acts).
    let en = format!("/api/v1/organisations/{}", ctx.org_id("csirt-energy"));
    let u = send(
        &app,
        patch(
            &en,
            &t,
            &json!({"coverage": ["transport", "drinking_water", "waste_water"]}),
        ),
    )
    .await;
    assert_eq!(u.status, 200, "{}", u.text);
    let g = send(&app, get(&entity, &t)).await;
    assert!(g.body["sectoral_csirt"].is_null(), "{}", g.text);
    assert_eq!(g.body["decided_by"][2], "coverage.csirt.none");
}
