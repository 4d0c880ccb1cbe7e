//! CVD disclosure controls: the lead coordinator and the co-coordinators (embargo, publication,
//! co-coordinators, the finder's identity), limits on case and vendor tokens, the public
//! intake's limits, conditional updates under concurrency, and idempotency keys per case.

mod common;

use common::cvd::*;
use common::*;
use nis2hub::auth::Role;
use serde_json::{json, Value};

/// How many audit records name this action (on this resource, when given).
fn audited(ctx: &Ctx, action: &str, resource: Option<&str>) -> i64 {
    use diesel::prelude::*;
    use nis2hub::schema::audit_log as a;
    let mut conn = ctx.state.pool.get().unwrap();
    let mut q = a::table.filter(a::action.eq(action)).into_boxed();
    if let Some(r) = resource {
        q = q.filter(a::resource_id.eq(r.to_string()));
    }
    q.count().get_result(&mut conn).unwrap()
}

fn at(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

macro_rules! everything {
    ($app:expr, $case:expr, $token:expr) => {{
        let c = send($app, get(&format!("/api/v1/cvd/cases/{}", $case), $token)).await;
        assert_eq!(c.status, 200, "{}", c.text);
        let m = send(
            $app,
            get(
                &format!("/api/v1/cvd/cases/{}/messages?limit=200", $case),
                $token,
            ),
        )
        .await;
        assert_eq!(m.status, 200, "{}", m.text);
        format!("{}\n{}", c.text, m.text)
    }};
}

#[actix_web::test]
async fn only_the_lead_publishes_and_a_co_coordinator_shortens_the_embargo_only_openly() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let mut body = report_body("VPN bypass");
    body["finder"] = json!({"name": "Ada Finder", "email": "ada@finder.example", "credit": "Ada"});
    let r = send(&app, anonymous(&body, "203.0.113.30")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let case = r.body["case_id"].as_str().unwrap().to_string();
    let case_token = r.body["case_token"].as_str().unwrap().to_string();
    let uri = format!("/api/v1/cvd/cases/{case}");
    let t = send(
        &app,
        post(
            &format!("{uri}/triage"),
            &national,
            &json!({"state": "triaged"}),
        ),
    )
    .await;
    assert_eq!(t.status, 200, "{}", t.text);
    let embargo = t.body["embargo_until"].as_str().unwrap().to_string();

    // A co-coordinator must be a CSIRT: an authority would receive the case's events.
    let authority = ctx.org_id("authority-finance");
    let r = send(
        &app,
        patch(
            &uri,
            &national,
            &json!({"co_coordinators": [{"country": "BE", "name": "FSA", "organisation_id": authority}]}),
        ),
    )
    .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(
        r.body["errors"][0]["pointer"],
        "/co_coordinators/0/organisation_id"
    );
    // Two other states' CSIRTs (stood in for by CSIRTs of the directory) co-coordinate.
    let co_list = json!([
        {"country": "BE", "name": "CCB", "organisation_id": ctx.org_id("csirt-finance")},
        {"country": "DE", "name": "BSI", "organisation_id": ctx.org_id("csirt-health")}
    ]);
    let p = send(
        &app,
        patch(&uri, &national, &json!({"co_coordinators": co_list})),
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(
        audited(&ctx, "cvd.case.update.co_coordinators", Some(&case)),
        1
    );
    let co = ctx.token("csirt-finance", Role::SectoralCsirt);
    let other_co = ctx.token("csirt-health", Role::SectoralCsirt);

    // A vendor that answered: the case could be published.
    let v = send(
        &app,
        post(
            &format!("{uri}/vendors"),
            &national,
            &json!({"name": "V", "contact_email": "v@vendor.example"}),
        ),
    )
    .await;
    assert_eq!(v.status, 201, "{}", v.text);
    let vendor_token = v.body["vendor_token"].as_str().unwrap().to_string();
    let vendor_id = v.body["id"].as_str().unwrap().to_string();
    let a = send(
        &app,
        patch(
            &format!("{uri}/vendors/{vendor_id}"),
            &vendor_token,
            &json!({"status": "affected"}),
        ),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let m = send(
        &app,
        post(
            &format!("{uri}/messages"),
            &case_token,
            &json!({"body": "finder-note", "visibility": "coordinators"}),
        ),
    )
    .await;
    assert_eq!(m.status, 201, "{}", m.text);

    // The finder's identity: the lead sees it, a co-coordinator does not (no consent).
    let lead_view = everything!(&app, &case, &national);
    assert!(lead_view.contains("ada@finder.example"), "{lead_view}");
    assert!(lead_view.contains("Ada Finder"), "{lead_view}");
    let co_view = everything!(&app, &case, &co);
    assert!(co_view.contains("finder-note"), "{co_view}");
    assert!(co_view.contains("\"viewer\":\"coordinator\""), "{co_view}");
    assert!(!co_view.contains("ada@finder.example"), "{co_view}");
    assert!(!co_view.contains("Ada Finder"), "{co_view}");

    // Bringing the embargo forward is a forced act; without force it is refused.
    let soon = at(chrono::Utc::now() + chrono::Duration::seconds(3));
    let before = send(&app, get(&uri, &national)).await;
    send(&app, patch(&uri, &co, &json!({"embargo_until": soon})))
        .await
        .assert_problem(409, "embargo_in_force");
    let r = send(
        &app,
        patch(&uri, &co, &json!({"embargo_until": soon, "force": true})),
    )
    .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["pointer"], "/reason");
    let unchanged = send(&app, get(&uri, &national)).await;
    assert_eq!(unchanged.body["embargo_until"], embargo.as_str());
    assert_eq!(unchanged.body["version"], before.body["version"]);
    // Moving it later needs no force.
    let later = at(chrono::Utc::now() + chrono::Duration::days(70));
    let p = send(&app, patch(&uri, &co, &json!({"embargo_until": later}))).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(audited(&ctx, "cvd.case.embargo_forced", Some(&case)), 0);

    // Only the lead changes the co-coordinators, publishes or ends the case.
    send(
        &app,
        patch(
            &uri,
            &co,
            &json!({"co_coordinators": [{"country": "BE", "name": "CCB", "organisation_id": ctx.org_id("csirt-finance")}]}),
        ),
    )
    .await
    .assert_problem(403, "forbidden");
    let forced = json!({"severity": "high", "force": true, "reason": "mine",
        "references": [{"url": "https://vendor.example/1", "summary": "Vendor bulletin"}]});
    let advisories = count(&ctx, "advisories");
    send(&app, post(&format!("{uri}/publish"), &co, &forced))
        .await
        .assert_problem(403, "forbidden");
    send(
        &app,
        post(
            &format!("{uri}/triage"),
            &co,
            &json!({"state": "rejected", "reason": "not a vulnerability"}),
        ),
    )
    .await
    .assert_problem(403, "forbidden");
    assert_eq!(count(&ctx, "advisories"), advisories);

    // With force and a reason: done, audited as forced, and every coordinator reads who did
    // it, from when to when, and why; the finder and the vendor do not read the note.
    let p = send(
        &app,
        patch(
            &uri,
            &co,
            &json!({"embargo_until": soon, "force": true, "reason": "exploited in the wild"}),
        ),
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(audited(&ctx, "cvd.case.embargo_forced", Some(&case)), 1);
    assert_eq!(
        audited(&ctx, "cvd.case.update.embargo_until", Some(&case)),
        2
    );
    for token in [&national, &other_co] {
        let seen = everything!(&app, &case, token);
        assert!(
            seen.contains("brought the embargo forward")
                && seen.contains("exploited in the wild")
                && seen.contains("Financial Sector CSIRT")
                && seen.contains(&later[..16])
                && seen.contains(&soon[..16]),
            "{seen}"
        );
    }
    for token in [&case_token, &vendor_token] {
        let seen = everything!(&app, &case, token);
        assert!(!seen.contains("exploited in the wild"), "{seen}");
    }
    let feed = send(&app, get("/api/v1/feed?limit=500", &other_co)).await;
    assert!(
        feed.body["items"].as_array().unwrap().iter().any(|e| {
            e["subject"]["id"] == case.as_str()
                && e["data"]["changes"]
                    .as_array()
                    .is_some_and(|c| c.contains(&json!("embargo_forced")))
        }),
        "{}",
        feed.text
    );

    // Once the embargo is over, the co-coordinator still does not publish; the lead does,
    // and the disclosure is an ordinary one.
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).naive_utc();
    sql(
        &ctx,
        &format!("UPDATE cvd_cases SET embargo_until = '{past}' WHERE id = '{case}'"),
    );
    let plain = json!({"severity": "high",
        "references": [{"url": "https://vendor.example/1", "summary": "Vendor bulletin"}]});
    send(&app, post(&format!("{uri}/publish"), &co, &plain))
        .await
        .assert_problem(403, "forbidden");
    let p = send(&app, post(&format!("{uri}/publish"), &national, &plain)).await;
    assert_eq!(p.status, 201, "{}", p.text);
    assert_eq!(audited(&ctx, "cvd.case.disclose", Some(&case)), 1);

    // Every change is audited by what changed.
    let r = send(&app, anonymous(&report_body("Second"), "203.0.113.31")).await;
    let second = r.body["case_id"].as_str().unwrap().to_string();
    let p = send(
        &app,
        patch(
            &format!("/api/v1/cvd/cases/{second}"),
            &national,
            &json!({"title": "Renamed", "cves": ["CVE-2026-40002"]}),
        ),
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(audited(&ctx, "cvd.case.update.title", Some(&second)), 1);
    assert_eq!(audited(&ctx, "cvd.case.update.cves", Some(&second)), 1);
    assert_eq!(
        audited(&ctx, "cvd.case.update.description", Some(&second)),
        0
    );
}

#[actix_web::test]
async fn a_finder_may_agree_to_share_its_identity_with_the_co_coordinators() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let co = ctx.token("csirt-finance", Role::SectoralCsirt);
    let mut shown = vec![];
    for (ip, consent) in [("203.0.113.32", Value::Null), ("203.0.113.33", json!(true))] {
        let mut body = report_body("XSS");
        body["finder"] = json!({"name": "Bo Finder", "email": "bo@finder.example"});
        if !consent.is_null() {
            body["finder"]["share_with_co_coordinators"] = consent;
        }
        let r = send(&app, anonymous(&body, ip)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let case = r.body["case_id"].as_str().unwrap().to_string();
        let p = send(
            &app,
            patch(
                &format!("/api/v1/cvd/cases/{case}"),
                &national,
                &json!({"co_coordinators": [{"country": "BE", "name": "CCB", "organisation_id": ctx.org_id("csirt-finance")}]}),
            ),
        )
        .await;
        assert_eq!(p.status, 200, "{}", p.text);
        let m = send(
            &app,
            post(
                &format!("/api/v1/cvd/cases/{case}/messages"),
                r.body["case_token"].as_str().unwrap(),
                &json!({"body": "hello"}),
            ),
        )
        .await;
        assert_eq!(m.status, 201, "{}", m.text);
        let seen = everything!(&app, &case, &co);
        shown.push(seen.contains("bo@finder.example") && seen.contains("Bo Finder"));
        assert_eq!(
            seen.contains("Bo Finder"),
            seen.contains("bo@finder.example"),
            "{seen}"
        );
    }
    assert_eq!(shown, [false, true]);
}

#[actix_web::test]
async fn a_case_token_is_rate_limited_and_its_reads_audited_once_per_interval() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let r = send(&app, anonymous(&report_body("x"), "203.0.113.34")).await;
    let case = r.body["case_id"].as_str().unwrap().to_string();
    let token = r.body["case_token"].as_str().unwrap().to_string();
    let uri = format!("/api/v1/cvd/cases/{case}");
    let limit = nis2hub::cvd::TOKEN_REQUESTS_PER_MINUTE as usize;
    for i in 0..limit {
        let r = send(&app, get(&uri, &token)).await;
        assert_eq!(r.status, 200, "read {i}: {}", r.text);
    }
    let r = send(&app, get(&uri, &token)).await;
    r.assert_problem(429, "rate_limited");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Many reads, one audit record for the interval.
    assert_eq!(audited(&ctx, "cvd.case.read", Some(&case)), 1);
    // Another case's token has its own limit, and the coordinators none.
    let r = send(&app, anonymous(&report_body("y"), "203.0.113.35")).await;
    let other = r.body["case_id"].as_str().unwrap().to_string();
    let r = send(
        &app,
        get(
            &format!("/api/v1/cvd/cases/{other}"),
            r.body["case_token"].as_str().unwrap(),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let national = ctx.national();
    for _ in 0..3 {
        let r = send(&app, get(&uri, &national)).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(audited(&ctx, "cvd.case.read", Some(&case)), 4);
}

#[actix_web::test]
async fn a_case_s_finder_and_vendors_post_at_a_limited_rate_and_within_caps() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let r = send(&app, anonymous(&report_body("x"), "203.0.113.36")).await;
    let case = r.body["case_id"].as_str().unwrap().to_string();
    let finder = r.body["case_token"].as_str().unwrap().to_string();
    let uri = format!("/api/v1/cvd/cases/{case}");
    let v = triage_and_add_vendor(&app, &case, &national).await;
    let vendor = v.body["vendor_token"].as_str().unwrap().to_string();
    let say = |token: &str, body: &str| {
        post(
            &format!("{uri}/messages"),
            token,
            &json!({"body": body, "visibility": "everyone"}),
        )
    };
    let per_minute = nis2hub::cvd::PARTICIPANT_MESSAGES_PER_CASE_PER_MINUTE as usize;
    for i in 0..per_minute {
        let token = if i % 2 == 0 { &finder } else { &vendor };
        let r = send(&app, say(token, &format!("m{i}"))).await;
        assert_eq!(r.status, 201, "message {i}: {}", r.text);
    }
    let events = count(&ctx, "events");
    let r = send(&app, say(&vendor, "one too many")).await;
    r.assert_problem(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    assert_eq!(
        count(&ctx, "events"),
        events,
        "a refused message is no event"
    );
    // The coordinators are not limited on their own case.
    let r = send(&app, say(&national, "coordinator")).await;
    assert_eq!(r.status, 201, "{}", r.text);

    // The caps, on fresh cases (the rate is per minute): the count...
    let r = send(&app, anonymous(&report_body("count"), "203.0.113.37")).await;
    let full = r.body["case_id"].as_str().unwrap().to_string();
    let full_token = r.body["case_token"].as_str().unwrap().to_string();
    let cap = nis2hub::cvd::messages::MAX_PARTICIPANT_MESSAGES;
    let now = chrono::Utc::now().naive_utc();
    let mut values = vec![];
    for i in 0..cap - 1 {
        values.push(format!(
            "('{}', '{full}', 'finder', NULL, 'Finder', 'coordinators', 'x', '{now}')",
            uuid::Uuid::now_v7().simple(),
        ));
        let _ = i;
    }
    sql(
        &ctx,
        &format!(
            "INSERT INTO cvd_messages (id, case_id, author_kind, author_id, author_name, visibility, body, created_at) VALUES {}",
            values.join(", ")
        ),
    );
    let say_on = |case: &str, token: &str, body: &str| {
        post(
            &format!("/api/v1/cvd/cases/{case}/messages"),
            token,
            &json!({"body": body}),
        )
    };
    let r = send(&app, say_on(&full, &full_token, "the last one")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = send(&app, say_on(&full, &full_token, "one more")).await;
    r.assert_problem(409, "case_message_limit");
    assert!(r.body["detail"]
        .as_str()
        .unwrap()
        .contains(&cap.to_string()));
    let r = send(
        &app,
        say_on(&full, &national, "the coordinator still writes"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // ... and the bytes.
    let r = send(&app, anonymous(&report_body("bytes"), "203.0.113.38")).await;
    let big = r.body["case_id"].as_str().unwrap().to_string();
    let big_token = r.body["case_token"].as_str().unwrap().to_string();
    let max = nis2hub::cvd::messages::MAX_PARTICIPANT_BYTES;
    let filler = "y".repeat((max - 100) as usize);
    sql(
        &ctx,
        &format!(
            "INSERT INTO cvd_messages (id, case_id, author_kind, author_id, author_name, visibility, body, created_at) \
             VALUES ('{}', '{big}', 'finder', NULL, 'Finder', 'coordinators', '{filler}', '{now}')",
            uuid::Uuid::now_v7().simple()
        ),
    );
    let r = send(&app, say_on(&big, &big_token, &"z".repeat(101))).await;
    r.assert_problem(409, "case_size_limit");
    let r = send(&app, say_on(&big, &big_token, &"z".repeat(100))).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[actix_web::test]
async fn the_intake_limits_an_ipv6_network_by_its_64() {
    let ctx = Ctx::with_config(true, |c| c.cvd_intake_per_minute = 2);
    let app = app!(ctx);
    for ip in ["2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe"] {
        let r = send(&app, anonymous(&report_body("x"), ip)).await;
        assert_eq!(r.status, 201, "{ip}: {}", r.text);
    }
    let r = send(&app, anonymous(&report_body("x"), "2001:db8:1:2:abcd::9")).await;
    r.assert_problem(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    // The next /64 is another subscriber.
    let r = send(&app, anonymous(&report_body("x"), "2001:db8:1:3::1")).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[actix_web::test]
async fn the_intake_caps_anonymous_reports_from_all_addresses_together() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let cap = nis2hub::cvd::GLOBAL_ANONYMOUS_REPORTS_PER_MINUTE;
    for i in 0..cap {
        let ip = format!("198.51.{}.{}", 100 + i / 250, 1 + i % 250);
        let r = send(&app, anonymous(&report_body("x"), &ip)).await;
        assert_eq!(r.status, 201, "report {i}: {}", r.text);
    }
    let cases = count(&ctx, "cvd_cases");
    let r = send(&app, anonymous(&report_body("x"), "192.0.2.200")).await;
    r.assert_problem(429, "rate_limited");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(count(&ctx, "cvd_cases"), cases);
    // A reporter with a token is not anonymous, and not capped with them.
    let csirt = ctx.token("csirt-energy", Role::SectoralCsirt);
    let r = send(
        &app,
        post("/api/v1/cvd/reports", &csirt, &report_body("x"))
            .peer_addr("192.0.2.200:40000".parse().unwrap()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Reports older than a minute no longer count.
    let old = (chrono::Utc::now() - chrono::Duration::minutes(2)).naive_utc();
    sql(&ctx, &format!("UPDATE cvd_cases SET created_at = '{old}'"));
    let r = send(&app, anonymous(&report_body("x"), "192.0.2.201")).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[actix_web::test]
async fn concurrent_cvd_patches_with_one_if_match_make_exactly_one_change() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let r = send(&app, anonymous(&report_body("x"), "203.0.113.39")).await;
    let case = r.body["case_id"].as_str().unwrap().to_string();
    let uri = format!("/api/v1/cvd/cases/{case}");
    let v = triage_and_add_vendor(&app, &case, &national).await;
    assert_eq!(v.status, 201, "{}", v.text);
    assert_eq!(v.body["version"], 1);
    let vendor_uri = format!("{uri}/vendors/{}", v.body["id"].as_str().unwrap());

    const N: usize = 8;
    // The case, a few rounds: each round's requests all carry the tag read before it.
    for round in 0..5 {
        let c = send(&app, get(&uri, &national)).await;
        let etag = c.header("etag").unwrap();
        let version = c.body["version"].as_i64().unwrap();
        let answers = futures_util::future::join_all((0..N).map(|i| {
            send(
                &app,
                patch(
                    &uri,
                    &national,
                    &json!({"title": format!("Title {round}.{i}")}),
                )
                .insert_header(("If-Match", etag.clone())),
            )
        }))
        .await;
        let ok: Vec<_> = answers.iter().filter(|r| r.status == 200).collect();
        assert_eq!(
            ok.len(),
            1,
            "round {round}: {:?}",
            answers.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        for r in answers.iter().filter(|r| r.status != 200) {
            r.assert_problem(412, "precondition_failed");
        }
        let after = send(&app, get(&uri, &national)).await;
        assert_eq!(after.body["version"].as_i64().unwrap(), version + 1);
        assert_eq!(after.body["title"], ok[0].body["title"]);
    }

    // The vendor entry.
    let answers = futures_util::future::join_all((0..N).map(|i| {
        send(
            &app,
            patch(
                &vendor_uri,
                &national,
                &json!({"statement": format!("Statement {i}")}),
            )
            .insert_header(("If-Match", "\"v1\"")),
        )
    }))
    .await;
    let ok: Vec<_> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        ok.len(),
        1,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in answers.iter().filter(|r| r.status != 200) {
        r.assert_problem(412, "precondition_failed");
    }
    assert_eq!(ok[0].body["version"], 2);
    assert_eq!(ok[0].header("etag").as_deref(), Some("\"v2\""));
    let after = send(&app, get(&uri, &national)).await;
    let entry = &after.body["vendors"][0];
    assert_eq!(entry["version"], 2, "{}", after.text);
    assert_eq!(entry["statement"], ok[0].body["statement"]);
    // A stale tag is refused; the current one is taken.
    send(
        &app,
        patch(&vendor_uri, &national, &json!({"status": "affected"}))
            .insert_header(("If-Match", "\"v1\"")),
    )
    .await
    .assert_problem(412, "precondition_failed");
    let r = send(
        &app,
        patch(&vendor_uri, &national, &json!({"status": "affected"}))
            .insert_header(("If-Match", "\"v2\"")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[actix_web::test]
async fn finders_keep_idempotency_keys_of_their_own() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let mut ids = vec![];
    for ip in ["203.0.113.40", "203.0.113.41"] {
        let r = send(&app, anonymous(&report_body("x"), ip)).await;
        let case = r.body["case_id"].as_str().unwrap().to_string();
        let m = send(
            &app,
            post(
                &format!("/api/v1/cvd/cases/{case}/messages"),
                r.body["case_token"].as_str().unwrap(),
                &json!({"body": format!("from the finder of {case}")}),
            )
            .insert_header(("Idempotency-Key", "retry-1")),
        )
        .await;
        assert_eq!(m.status, 201, "{}", m.text);
        assert!(m.header("idempotent-replayed").is_none(), "{}", m.text);
        ids.push(m.body["id"].as_str().unwrap().to_string());
    }
    assert_ne!(ids[0], ids[1]);
    assert_eq!(count(&ctx, "cvd_messages"), 2);
}
