//! The OpenAPI document, generated from the handlers' annotations, and the routing table.
//!
//! Routes are declared once in [`routes`]; utoipa-actix-web collects the document from the
//! same calls, so a route cannot exist undocumented. [`finish`] then adds what every operation
//! shares: the security schemes (OAuth 2.0 client credentials, and a plain bearer token) and
//! the problem responses each one can return.

mod contract;

use crate::auth::clients;
use crate::auth::scopes::Scope;
use crate::error::{FieldError, Problem};
use crate::{
    advisories, audit, awareness, cvd, directory, entities, http, incidents, maturity, ops, outbox,
    webhooks, AppState,
};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{web, App};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme,
};
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr, ResponseBuilder};
use utoipa::OpenApi;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{scope, AppExt};
use utoipa_swagger_ui::SwaggerUi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "nis2hub",
        description = "The national single source of truth for NIS2 administration: the register of \
entities, the directory of CSIRTs and supervisory authorities, incident notification and routing. \
Every error is an RFC 9457 problem document (`application/problem+json`) with a stable `code`. \
Lists are cursor-paginated (`limit`, `cursor` → `next_cursor` and a `Link: rel=\"next\"` header). \
Reads return an `ETag`; `PATCH` honours `If-Match`. Creating `POST`s honour `Idempotency-Key`.",
        license(name = "EUPL-1.2", identifier = "EUPL-1.2")
    ),
    tags(
        (name = "directory", description = "Sectors, CSIRTs and supervisory authorities"),
        (name = "entities", description = "The register of NIS2 entities"),
        (name = "incidents", description = "Incident notification in NIS2 stages, routing decisions, reviews"),
        (name = "advisories", description = "Advisories under TLP 2.0, with numbered revisions and CSAF 2.0 export"),
        (name = "cvd", description = "Coordinated vulnerability disclosure (NIS2 Art. 12): public intake, cases, vendors, messages"),
        (name = "feed", description = "Events addressed to the caller, in order"),
        (name = "webhooks", description = "Signed push delivery of events (Standard Webhooks), with retries and a delivery log"),
        (name = "clients", description = "API clients and the OAuth 2.0 client-credentials grant"),
        (name = "audit", description = "The hash-chained audit log"),
        (name = "maturity", description = "SIM3 maturity of CSIRTs: the model in force, assessments (self, peer, audit), compliance with the required tier"),
        (name = "awareness", description = "Situational awareness: aggregated incident figures with disclosure control, and the quarterly summary for ENISA (NIS2 Art. 23(9))"),
        (name = "operations", description = "Health, readiness and metrics")
    ),
    components(schemas(Problem, FieldError))
)]
struct ApiDoc;

/// Every route of the service.
fn routes(cfg: &mut ServiceConfig) {
    cfg.service(ops::healthz)
        .service(ops::readyz)
        .service(ops::metrics)
        .service(clients::token)
        .service(advisories::provider_routes::metadata)
        .service(advisories::provider_routes::security_txt)
        .service(advisories::provider_routes::public_key)
        .service(advisories::provider_routes::service)
        .service(advisories::provider_routes::feed)
        .service(advisories::provider_routes::index)
        .service(advisories::provider_routes::changes)
        .service(advisories::provider_routes::directory)
        .service(advisories::provider_routes::year_directory)
        .service(advisories::provider_routes::document)
        .service(advisories::provider_routes::sha256)
        .service(advisories::provider_routes::sha512)
        .service(advisories::provider_routes::signature)
        .service(
            scope::scope("/api/v1")
                .service(directory::routes::list_sectors)
                .service(directory::routes::list)
                .service(directory::routes::create)
                .service(directory::routes::import)
                .service(directory::routes::get_one)
                .service(directory::routes::update)
                .service(entities::routes::list)
                .service(entities::routes::create)
                .service(entities::routes::get_one)
                .service(entities::routes::update)
                .service(entities::routes::deregister)
                .service(entities::routes::confirm_deregistration)
                .service(entities::routes::reject_deregistration)
                .service(entities::routes::history)
                .service(clients::list)
                .service(clients::create)
                .service(clients::get_one)
                .service(clients::revoke)
                .service(incidents::routes::list)
                .service(incidents::routes::create)
                .service(incidents::routes::get_one)
                .service(incidents::routes::add_report)
                .service(incidents::routes::routing)
                .service(incidents::routes::review)
                .service(incidents::routes::request)
                .service(incidents::routes::close)
                .service(incidents::routes::evaluate)
                .service(advisories::routes::list)
                .service(advisories::routes::create)
                .service(advisories::routes::get_one)
                .service(advisories::routes::update)
                .service(advisories::routes::publish)
                .service(advisories::routes::withdraw)
                .service(advisories::routes::revision)
                .service(advisories::routes::csaf)
                .service(cvd::routes::report)
                .service(cvd::routes::list)
                .service(cvd::routes::get_one)
                .service(cvd::routes::update)
                .service(cvd::routes::triage)
                .service(cvd::routes::add_vendor)
                .service(cvd::routes::update_vendor)
                .service(cvd::routes::messages)
                .service(cvd::routes::post_message)
                .service(cvd::routes::publish)
                .service(outbox::routes::feed)
                .service(webhooks::routes::list)
                .service(webhooks::routes::create)
                .service(webhooks::routes::get_one)
                .service(webhooks::routes::update)
                .service(webhooks::routes::remove)
                .service(webhooks::routes::rotate)
                .service(webhooks::routes::deliveries)
                .service(webhooks::routes::redeliver_one)
                .service(webhooks::routes::redeliver_failed)
                .service(webhooks::routes::ping)
                .service(audit::routes::list)
                .service(audit::routes::verify)
                .service(maturity::routes::model)
                .service(maturity::routes::create)
                .service(maturity::routes::list)
                .service(maturity::routes::get_one)
                .service(maturity::routes::compliance)
                .service(awareness::routes::awareness)
                .service(awareness::routes::quarterly_summary),
        );
}

/// The OpenAPI document, as committed in `openapi/openapi.json`.
pub fn document() -> serde_json::Value {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts();
    let api = finish(api);
    let mut doc = serde_json::to_value(&api).expect("the document serialises");
    problem_media_type(&mut doc);
    open_flattened_inputs(&mut doc);
    page_items_by_ref(&mut doc);
    one_parameter_per_name(&mut doc);
    contract::apply(&mut doc);
    security_alternatives(&mut doc);
    doc
}

/// The name of the OAuth 2.0 client-credentials scheme in the document.
pub const OAUTH2: &str = "oauth2";
/// The name of the plain bearer-token scheme in the document.
pub const BEARER: &str = "bearer";

/// Handlers name their scopes against `bearer`. Every such operation names them against
/// `oauth2`, the scheme that declares them (a token from the client-credentials grant), with
/// `bearer` as the alternative for any other token the service accepts (one `nis2hub token`
/// printed or an identity provider issued): that one lists no scope, as OpenAPI 3.0 requires
/// of non-OAuth schemes and linters expect, although the token needs the same scopes (the
/// description's "Required scope" says which). A requirement of `{}` (the token is
/// optional) stays last. An operation that names no scheme is public and says so with
/// `security: []`.
fn security_alternatives(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for item in paths.values_mut().filter_map(|i| i.as_object_mut()) {
        for op in item.values_mut().filter_map(|o| o.as_object_mut()) {
            let requirements = op
                .get("security")
                .and_then(|s| s.as_array())
                .cloned()
                .unwrap_or_default();
            let mut out = Vec::new();
            let mut optional = false;
            for requirement in requirements {
                match requirement.get(BEARER) {
                    Some(scopes) => {
                        out.push(serde_json::json!({ OAUTH2: scopes }));
                        out.push(serde_json::json!({ BEARER: [] }));
                    }
                    None if requirement.as_object().is_some_and(|r| r.is_empty()) => {
                        optional = true
                    }
                    None => out.push(requirement),
                }
            }
            if optional {
                out.push(serde_json::json!({}));
            }
            op.insert("security".into(), serde_json::Value::Array(out));
        }
    }
}

/// The OAuth 2.0 scheme: the client-credentials grant (RFC 6749 §4.4) at `/oauth/token`,
/// with every scope the service knows and what it allows.
fn oauth2_scheme() -> SecurityScheme {
    let scopes = Scopes::from_iter(Scope::ALL.iter().map(|s| (s.as_str(), s.description())));
    SecurityScheme::OAuth2(OAuth2::with_description(
        [Flow::ClientCredentials(ClientCredentials::new(
            "/oauth/token",
            scopes,
        ))],
        "OAuth 2.0 client credentials (RFC 6749 §4.4): an API client's id and secret, in the \
form body or as HTTP Basic (RFC 6749 §2.3.1), for a token holding the client's scopes or the \
subset asked for.",
    ))
}

/// utoipa's actix integration adds a handler's path arguments as parameters even when an
/// `IntoParams` struct has stated them already (with their enums and patterns), and OpenAPI
/// forbids two parameters with the same name and location. The stated ones come first; keep
/// them.
fn one_parameter_per_name(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for operation in paths.values_mut().filter_map(|p| p.as_object_mut()) {
        for op in operation.values_mut() {
            let Some(params) = op.get_mut("parameters").and_then(|p| p.as_array_mut()) else {
                continue;
            };
            let mut seen = std::collections::HashSet::new();
            params.retain(|p| seen.insert((p["name"].to_string(), p["in"].to_string())));
        }
    }
}

/// utoipa inlines a generic's argument, so `Page<Entity>` carried its own copy of `Entity` and
/// generated clients got a second, anonymous class for the same record. Each `Page_X` now
/// refers to the named schema `X`.
fn page_items_by_ref(doc: &mut serde_json::Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(|s| s.as_object_mut())
    else {
        return;
    };
    let named: Vec<String> = schemas.keys().cloned().collect();
    for (name, schema) in schemas.iter_mut() {
        let Some(item) = name.strip_prefix("Page_") else {
            continue;
        };
        if !named.iter().any(|n| n == item) {
            continue;
        }
        if let Some(items) = schema.pointer_mut("/properties/items/items") {
            *items = serde_json::json!({ "$ref": format!("#/components/schemas/{item}") });
        }
    }
}

/// Problem bodies declared on handlers get the `application/problem+json` media type.
fn problem_media_type(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for item in paths.values_mut().filter_map(|i| i.as_object_mut()) {
        for op in item.values_mut() {
            let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else {
                continue;
            };
            for response in responses.values_mut() {
                let Some(content) = response.get_mut("content").and_then(|c| c.as_object_mut())
                else {
                    continue;
                };
                let is_problem = content
                    .get("application/json")
                    .and_then(|m| m.pointer("/schema/$ref"))
                    .is_some_and(|r| r == "#/components/schemas/Problem");
                if is_problem {
                    let media = content.remove("application/json").expect("checked above");
                    content.insert("application/problem+json".into(), media);
                }
            }
        }
    }
}

/// An output that flattens an input type (an entity is its registration plus derived fields)
/// must not inherit the input's `additionalProperties: false`: the input's properties are
/// copied in without it.
fn open_flattened_inputs(doc: &mut serde_json::Value) {
    let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(|s| s.as_object())
        .cloned()
    else {
        return;
    };
    fn walk(v: &mut serde_json::Value, schemas: &serde_json::Map<String, serde_json::Value>) {
        match v {
            serde_json::Value::Object(o) => {
                if let Some(all_of) = o.get_mut("allOf").and_then(|a| a.as_array_mut()) {
                    for part in all_of.iter_mut() {
                        let name = part
                            .get("$ref")
                            .and_then(|r| r.as_str())
                            .map(|r| r.trim_start_matches("#/components/schemas/").to_string());
                        let Some(mut referenced) = name.and_then(|n| schemas.get(&n).cloned())
                        else {
                            continue;
                        };
                        if referenced.get("additionalProperties")
                            == Some(&serde_json::Value::Bool(false))
                        {
                            if let Some(r) = referenced.as_object_mut() {
                                r.remove("additionalProperties");
                                r.remove("example");
                            }
                            *part = referenced;
                        }
                    }
                }
                o.values_mut().for_each(|c| walk(c, schemas));
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|c| walk(c, schemas)),
            _ => {}
        }
    }
    walk(doc, &schemas);
    // A schema every use of which was copied in is referenced no more: drop it.
    let text = doc.to_string();
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(|s| s.as_object_mut())
    {
        schemas.retain(|name, schema| {
            schema.get("additionalProperties") != Some(&serde_json::Value::Bool(false))
                || text.contains(&format!("\"#/components/schemas/{name}\""))
        });
    }
}

/// The methods a route pattern serves (for the `Allow` header of a 405), read from the document
/// so it cannot disagree with the routes.
pub fn allowed_methods(pattern: &str) -> String {
    static TABLE: std::sync::OnceLock<std::collections::HashMap<String, String>> =
        std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let doc = document();
        let mut table = std::collections::HashMap::new();
        if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
            for (path, item) in paths {
                let methods: Vec<String> = item
                    .as_object()
                    .map(|o| {
                        o.keys()
                            .filter(|k| k.len() <= 7)
                            .map(|k| k.to_uppercase())
                            .collect()
                    })
                    .unwrap_or_default();
                table.insert(path.clone(), methods.join(", "));
            }
        }
        table
    });
    table
        .get(pattern)
        .cloned()
        .unwrap_or_else(|| "GET".to_string())
}

fn problem_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                Content::new(Some(Ref::from_schema_name("Problem"))),
            )
            .build(),
    )
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
    ]
    .into_iter()
    .flatten()
}

/// Adds the security schemes and the shared error responses; marks problem bodies with
/// their media type.
fn finish(mut api: Document) -> Document {
    // Paths are relative to wherever the service answers (the document is served by the
    // service itself); OpenAPI 3.1 §4.8.5 resolves a relative server URL against the
    // document's location.
    api.servers = Some(vec![utoipa::openapi::server::ServerBuilder::new()
        .url("/")
        .description(Some("This service"))
        .build()]);
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(OAUTH2, oauth2_scheme());
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "Any token the service accepts, as `Authorization: Bearer`: one from \
`/oauth/token`, one `nis2hub token` printed, or one from the configured identity provider",
                ))
                .build(),
        ),
    );
    for (path, item) in api.paths.paths.iter_mut() {
        let has_id = path.contains('{');
        for op in operations(item) {
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let has_body = op.request_body.is_some();
            let responses = &mut op.responses.responses;
            if path == "/oauth/token" {
                continue;
            }
            let mut add = |status: &str, description: &str| {
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| problem_response(description));
            };
            if secured {
                add(
                    "401",
                    "No token, or an expired, malformed or wrongly signed one",
                );
                add("403", "The token lacks the scope this operation needs");
            }
            if has_id {
                add("404", "No such record, or not one the caller may see");
            }
            if secured {
                add(
                    "400",
                    "Malformed request: query parameters, cursor or JSON syntax",
                );
            }
            if has_body {
                add("413", "The body is larger than the limit");
                add("415", "The body is not JSON");
                add(
                    "422",
                    "The body failed validation; `errors` points at each bad field",
                );
            }
            if let Some(scopes) = op.security.as_ref().and_then(|s| s.first()).map(scopes_of) {
                if !scopes.is_empty() {
                    let note = format!("\n\nRequired scope: `{}`.", scopes.join("`, `"));
                    let d = op.description.get_or_insert_with(String::new);
                    if !d.contains("Required scope") {
                        d.push_str(&note);
                    }
                }
            }
        }
    }
    api
}

fn scopes_of(req: &utoipa::openapi::security::SecurityRequirement) -> Vec<String> {
    serde_json::to_value(req)
        .ok()
        .and_then(|v| v.get("bearer").cloned())
        .and_then(|v| serde_json::from_value::<Vec<String>>(v).ok())
        .unwrap_or_default()
}

/// `/docs` (no slash) is where people type the docs' address: send them to the page.
async fn docs_redirect() -> actix_web::HttpResponse {
    actix_web::HttpResponse::MovedPermanently()
        .insert_header((actix_web::http::header::LOCATION, "/docs/"))
        .finish()
}

/// The application: routes, shared state, middleware, docs and the problem+json fallbacks.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let (app, _) = App::new()
        .into_utoipa_app()
        .configure(routes)
        .split_for_parts();
    app.app_data(web::Data::new(state))
        .app_data(web::QueryConfig::default().error_handler(http::query_error))
        .app_data(web::PathConfig::default().error_handler(http::path_error))
        .service(SwaggerUi::new("/docs/{_:.*}").external_url_unchecked("/openapi.json", document()))
        .service(web::resource("/docs").get(docs_redirect))
        .app_data(web::Data::new(http::AllowedMethods(allowed_methods)))
        .default_service(web::to(http::not_found))
        .wrap(actix_web::middleware::from_fn(http::refuse_nul_in_query))
        .wrap(actix_web::middleware::from_fn(http::request_id::middleware))
}
