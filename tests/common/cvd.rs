//! Set-up shared by the CVD tests: reports, tokenless intake, triage and a vendor.

use super::{post, send, Ctx, Res};
use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use serde_json::{json, Value};

pub fn report_body(title: &str) -> Value {
    json!({
        "title": title,
        "description": "An empty password on /login grants a session.",
        "vendor": "Example Networks", "product": "ExampleVPN", "versions": ["4.2"]
    })
}

/// A tokenless report from an address.
pub fn anonymous(body: &Value, ip: &str) -> TestRequest {
    let addr = if ip.contains(':') {
        format!("[{ip}]:40000")
    } else {
        format!("{ip}:40000")
    };
    TestRequest::post()
        .uri("/api/v1/cvd/reports")
        .peer_addr(addr.parse().unwrap())
        .set_json(body)
}

pub fn sql(ctx: &Ctx, statement: &str) {
    use diesel::connection::SimpleConnection;
    let mut conn = ctx.state.pool.get().unwrap();
    conn.batch_execute(statement).unwrap();
}

/// Triages a case (as the coordinator whose token is given) and adds the vendor "V"; the
/// answer to adding the vendor.
pub async fn triage_and_add_vendor<S, B>(app: &S, case: &str, coordinator: &str) -> Res
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let uri = format!("/api/v1/cvd/cases/{case}");
    send(
        app,
        post(
            &format!("{uri}/triage"),
            coordinator,
            &json!({"state": "triaged"}),
        ),
    )
    .await;
    send(
        app,
        post(
            &format!("{uri}/vendors"),
            coordinator,
            &json!({"name": "V", "contact_email": "v@vendor.example"}),
        ),
    )
    .await
}
