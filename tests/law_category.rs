//! NIS2 Arts. 2 and 3 through the HTTP API: the law table of `tests/law/category_table.rs`
//! (every sector code × size class, the size-independent cases, both sides of every size
//! ceiling of Recommendation 2003/361/EC, and the designations by the member state) registered
//! with `POST /api/v1/entities`, on SQLite and, with `TEST_DATABASE_URL`, on PostgreSQL. The
//! register has no dry run for entities, so each row is a registration; the category and the
//! rules that decided it are read from the response and again from `GET /api/v1/entities/{id}`
//! (they are derived on every read).

mod common;
#[path = "law/category_table.rs"]
mod law_table;

use common::*;
use law_table::Kind;
use serde_json::{json, Value};

/// Registers `body` and returns what the register says of it, after checking that a read
/// says the same.
async fn register<S, B>(app: &S, token: &str, body: &Value) -> Value
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let r = send(app, post("/api/v1/entities", token, body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap();
    let g = send(app, get(&format!("/api/v1/entities/{id}"), token)).await;
    assert_eq!(g.status, 200, "{}", g.text);
    for field in ["category", "size_class", "decided_by"] {
        assert_eq!(g.body[field], r.body[field], "{field} on read");
    }
    r.body
}

/// Every registrable code × micro, small, medium, large, for the kinds of sector in `kinds`.
async fn sector_rows(kinds: &[Kind], prefix: &str) {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let mut n = 0;
    for (code, _, kind) in law_table::SECTORS.iter().filter(|r| kinds.contains(&r.2)) {
        for (size, (category, rule, law)) in law_table::SIZES.iter().zip(law_table::expected(*kind))
        {
            n += 1;
            let mut body = entity_body(&format!("{prefix}{n}"), code);
            body["size"] = json!(size);
            let e = register(&app, &t, &body).await;
            assert_eq!(e["category"], *category, "{code} {size}: {law}");
            assert_eq!(e["size_class"], *size, "{code} {size}");
            assert_eq!(e["decided_by"][0], "size.declared", "{code} {size}: {law}");
            assert_eq!(e["decided_by"][1], *rule, "{code} {size}: {law}");
        }
    }
    assert!(n > 0);
}

/// Annex I types under the size cap (Art. 2(1), 3(1)(a), 3(2)).
#[actix_web::test]
async fn annex_i_sectors_by_size_class() {
    sector_rows(&[Kind::AnnexI], "AI-").await;
}

/// Annex II types under the size cap (Art. 2(1), 3(2)).
#[actix_web::test]
async fn annex_ii_sectors_by_size_class() {
    sector_rows(&[Kind::AnnexII], "AII-").await;
}

/// The size-independent types that a sector code names: public electronic communications
/// (Art. 2(2)(a)(i), 3(1)(c)), trust services (2(2)(a)(ii)), TLD and DNS (2(2)(a)(iii),
/// 3(1)(b)), public administration (2(2)(f), 3(1)(d)).
#[actix_web::test]
async fn size_independent_sectors_by_size_class() {
    sector_rows(
        &[
            Kind::PublicEcn,
            Kind::TrustServices,
            Kind::TldDns,
            Kind::CentralGovernment,
            Kind::RegionalGovernment,
        ],
        "SI-",
    )
    .await;
}

/// Qualified trust service providers at every size (Art. 3(1)(b)) and entities active in
/// several sectors.
#[actix_web::test]
async fn qualified_tsp_and_multi_sector_cases() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    for (i, c) in law_table::CASES.iter().enumerate() {
        let mut body = entity_body(&format!("C-{i}"), c.sectors[0]);
        body["additional_sectors"] = json!(c.sectors[1..]);
        body["size"] = json!(c.size);
        body["qualified_trust_service_provider"] = json!(c.qualified_tsp);
        let e = register(&app, &t, &body).await;
        assert_eq!(e["category"], c.category, "{}", c.law);
        assert_eq!(e["decided_by"][1], c.rule, "{}", c.law);
    }
}

/// Both sides of every ceiling of Recommendation 2003/361/EC, Annex Art. 2, from the figures
/// (and a declaration checked against them), for an Annex I electricity undertaking: the size
/// class, the size rule, and the category it gives (Art. 2(1), 3(1)(a), 3(2)).
#[actix_web::test]
async fn size_derived_from_the_figures_on_both_sides_of_every_ceiling() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let by_size = law_table::expected(Kind::AnnexI);
    for (i, c) in law_table::SIZE_CASES.iter().enumerate() {
        let mut body = entity_body(&format!("S-{i}"), "energy.electricity");
        match c.declared {
            Some(d) => body["size"] = json!(d),
            None => {
                body.as_object_mut().unwrap().remove("size");
            }
        }
        body["employees"] = json!(c.employees);
        if let Some(v) = c.turnover {
            body["annual_turnover_eur"] = json!(v);
        }
        if let Some(v) = c.balance {
            body["balance_sheet_eur"] = json!(v);
        }
        let e = register(&app, &t, &body).await;
        assert_eq!(e["size_class"], c.size, "{}", c.law);
        assert_eq!(e["decided_by"][0], c.rule, "{}", c.law);
        let at = law_table::SIZES.iter().position(|s| *s == c.size).unwrap();
        let (category, rule, law) = by_size[at];
        assert_eq!(e["category"], category, "{}: {law}", c.law);
        assert_eq!(e["decided_by"][1], rule, "{}: {law}", c.law);
    }
}

/// The size-independent cases no sector code can say, registered by the national CSIRT with
/// `critical_entity` and `member_state_identification`: Art. 2(3) with 3(1)(f) (CER critical
/// entities, essential), and Art. 2(2)(b)–(e) with 3(1)(e) or 3(2) (identified by the member
/// state as essential or important) — every ground × essential or important × micro or large,
/// and the same entities without the designation (Art. 2(1), 3(2)).
#[actix_web::test]
async fn critical_and_identified_entities_at_any_size() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    for (i, c) in law_table::DESIGNATION_CASES.iter().enumerate() {
        let mut body = entity_body(&format!("D-{i}"), c.sector);
        body["size"] = json!(c.size);
        body["critical_entity"] = json!(c.critical_entity);
        if let Some((ground, category)) = c.identification {
            body["member_state_identification"] = json!({"ground": ground, "category": category});
        }
        let e = register(&app, &t, &body).await;
        assert_eq!(e["category"], c.category, "{}", c.law);
        assert_eq!(e["decided_by"][1], c.rule, "{}", c.law);
        assert_eq!(e["critical_entity"], c.critical_entity, "{}", c.law);
        assert_eq!(
            e["member_state_identification"],
            body.get("member_state_identification")
                .cloned()
                .unwrap_or(Value::Null),
            "{}",
            c.law
        );
    }
}
