//! `/.well-known/csaf/…` and `/.well-known/security.txt`: the CSAF 2.0 trusted provider.
//!
//! The `white` tree, the metadata, the feeds' list and the public key need no token; the
//! `green`, `amber` and `red` trees need one (401 without), and show a caller only the
//! documents it may read (404 for the others). Documents are rendered and signed on the
//! blocking pool, never on an HTTP worker.

use super::provider::{self, Dir, Document};
use super::routes::Reader;
use crate::auth::Caller;
use crate::error::{AppError, Problem};
use crate::AppState;
use actix_web::http::header::{CacheControl, CacheDirective, ContentType};
use actix_web::{get, web, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// A TLP directory: CSAF's TLP 1.0 label, lower-cased (AMBER+STRICT is in `amber`).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TlpDirectory {
    White,
    Green,
    Amber,
    Red,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DirectoryPath {
    /// The TLP directory.
    #[param(inline)]
    pub tlp: TlpDirectory,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DocumentPath {
    /// The TLP directory.
    #[param(inline)]
    pub tlp: TlpDirectory,
    /// Year of the document's initial release.
    #[param(pattern = "^[0-9]{4}$", example = "2026")]
    pub year: String,
    /// The tracking id, lower-cased, other characters than `+`, `-`, a–z and 0–9 as `_`.
    #[param(pattern = "^[+a-z0-9_-]{1,200}$", example = "ncsirt-2026-0001")]
    pub name: String,
}

fn dir(name: &str) -> Result<Dir, AppError> {
    Dir::parse(name).ok_or(AppError::NotFound)
}

fn text(content_type: &str, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CONTENT_TYPE, content_type))
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .body(body)
}

fn json_bytes(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .body(body)
}

/// The CSAF provider metadata (CSAF 2.0 §7.1.7): role `csaf_trusted_provider`, the TLP
/// directories and ROLIE feeds, and the OpenPGP key with its fingerprint. Public.
#[utoipa::path(
    operation_id = "getCsafProviderMetadata",
    tag = "advisories",
    responses((status = 200, description = "provider-metadata.json", body = serde_json::Value, content_type = "application/json"))
)]
#[get("/.well-known/csaf/provider-metadata.json")]
pub async fn metadata(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let config = state.config.clone();
    let signer = state.provider.clone();
    let doc = state
        .db(move |conn| provider::metadata(conn, &config.provider, signer.key()))
        .await?;
    Ok(json_bytes(serde_json::to_vec_pretty(&doc)?))
}

/// RFC 9116 `security.txt` with the `CSAF:` field pointing at the provider metadata.
#[utoipa::path(
    operation_id = "getSecurityTxt",
    tag = "advisories",
    responses((status = 200, description = "security.txt", body = String, content_type = "text/plain"))
)]
#[get("/.well-known/security.txt")]
pub async fn security_txt(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let config = state.config.clone();
    let body = state
        .db(move |conn| provider::security_txt(conn, &config.provider))
        .await?;
    Ok(text("text/plain; charset=utf-8", body))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KeyPath {
    /// The key's fingerprint, upper-case hex, as in the provider metadata.
    #[param(pattern = "^[0-9A-F]{40,64}$")]
    pub fingerprint: String,
}

/// The provider's public OpenPGP key, armored; it verifies every `.asc`.
#[utoipa::path(
    operation_id = "getCsafPublicKey",
    tag = "advisories",
    params(KeyPath),
    responses((status = 200, description = "The armored public key", body = String, content_type = "application/pgp-keys"))
)]
#[get("/.well-known/csaf/openpgp/{fingerprint}.asc")]
pub async fn public_key(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let key = state.provider.key();
    if path.as_str() != key.fingerprint() {
        return Err(AppError::NotFound);
    }
    Ok(text(
        "application/pgp-keys",
        key.public_armored().to_string(),
    ))
}

/// The ROLIE service document listing the four feeds (CSAF 2.0 §7.1.16). Public.
#[utoipa::path(
    operation_id = "getCsafService",
    tag = "advisories",
    responses((status = 200, description = "The ROLIE service document", body = serde_json::Value, content_type = "application/json"))
)]
#[get("/.well-known/csaf/service.json")]
pub async fn service(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let doc = provider::service_document(&state.config.provider);
    Ok(json_bytes(serde_json::to_vec_pretty(&doc)?))
}

async fn listing(
    state: &web::Data<AppState>,
    caller: Option<Caller>,
    tlp: &str,
    only: Option<String>,
) -> Result<(Dir, Vec<Document>), AppError> {
    let dir = dir(tlp)?;
    let public_url = state.config.provider.public_url.clone();
    let docs = state
        .db(move |conn| {
            provider::documents(conn, caller.as_ref(), dir, only.as_deref(), &public_url)
        })
        .await?;
    Ok((dir, docs))
}

/// The ROLIE feed of one TLP directory (CSAF 2.0 §7.1.15): the documents the caller may read.
/// `white` is public; the others need a token.
#[utoipa::path(
    operation_id = "getCsafFeed",
    tag = "advisories",
    params(DirectoryPath),
    security(("bearer" = ["advisories:read"]), ()),
    responses((status = 200, description = "The ROLIE feed", body = serde_json::Value, content_type = "application/json"))
)]
#[get("/.well-known/csaf/feed-tlp-{tlp}.json")]
pub async fn feed(
    state: web::Data<AppState>,
    reader: Reader,
    tlp: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (dir, docs) = listing(&state, reader.0, &tlp, None).await?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let feed = provider::feed(&state.config.provider, dir, &docs, &now);
    Ok(json_bytes(serde_json::to_vec_pretty(&feed)?))
}

/// `index.txt` of one TLP directory (CSAF 2.0 §7.1.12): the path of every document the caller
/// may read, one a line.
#[utoipa::path(
    operation_id = "getCsafIndex",
    tag = "advisories",
    params(DirectoryPath),
    security(("bearer" = ["advisories:read"]), ()),
    responses((status = 200, description = "index.txt", body = String, content_type = "text/plain"))
)]
#[get("/.well-known/csaf/{tlp}/index.txt")]
pub async fn index(
    state: web::Data<AppState>,
    reader: Reader,
    tlp: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (_, docs) = listing(&state, reader.0, &tlp, None).await?;
    Ok(text(
        "text/plain; charset=utf-8",
        provider::index_txt(&docs),
    ))
}

/// `changes.csv` of one TLP directory (CSAF 2.0 §7.1.13): path and current release date,
/// newest first.
#[utoipa::path(
    operation_id = "getCsafChanges",
    tag = "advisories",
    params(DirectoryPath),
    security(("bearer" = ["advisories:read"]), ()),
    responses((status = 200, description = "changes.csv", body = String, content_type = "text/csv"))
)]
#[get("/.well-known/csaf/{tlp}/changes.csv")]
pub async fn changes(
    state: web::Data<AppState>,
    reader: Reader,
    tlp: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (_, docs) = listing(&state, reader.0, &tlp, None).await?;
    Ok(text(
        "text/csv; charset=utf-8",
        provider::changes_csv(&docs),
    ))
}

/// The listing of a TLP directory (CSAF 2.0 §7.1.14): `index.txt`, `changes.csv` and the
/// year folders that hold a document the caller may read.
#[utoipa::path(
    operation_id = "getCsafDirectory",
    tag = "advisories",
    params(DirectoryPath),
    security(("bearer" = ["advisories:read"]), ()),
    responses((status = 200, description = "An HTML directory listing", body = String, content_type = "text/html"))
)]
#[get("/.well-known/csaf/{tlp}/")]
pub async fn directory(
    state: web::Data<AppState>,
    reader: Reader,
    tlp: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (dir, docs) = listing(&state, reader.0, &tlp, None).await?;
    let title = format!("/.well-known/csaf/{}/", dir.name());
    Ok(text(
        "text/html; charset=utf-8",
        provider::listing_html(&title, &provider::directory_entries(&docs)),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct YearPath {
    /// The TLP directory.
    #[param(inline)]
    pub tlp: TlpDirectory,
    /// Year of the documents' initial release.
    #[param(pattern = "^[0-9]{4}$", example = "2026")]
    pub year: String,
}

/// The listing of a year folder (CSAF 2.0 §7.1.14): each document the caller may read with its
/// `.asc`, `.sha256` and `.sha512`; 404 when it may read none of that year.
#[utoipa::path(
    operation_id = "getCsafYearDirectory",
    tag = "advisories",
    params(YearPath),
    security(("bearer" = ["advisories:read"]), ()),
    responses(
        (status = 200, description = "An HTML directory listing", body = String, content_type = "text/html"),
        (status = 404, description = "No document of that year the caller may read", body = Problem)
    )
)]
#[get("/.well-known/csaf/{tlp}/{year}/")]
pub async fn year_directory(
    state: web::Data<AppState>,
    reader: Reader,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (tlp, year) = path.into_inner();
    let (dir, docs) = listing(&state, reader.0, &tlp, None).await?;
    let entries = provider::year_entries(&docs, &year);
    if entries.is_empty() {
        return Err(AppError::NotFound);
    }
    let title = format!("/.well-known/csaf/{}/{year}/", dir.name());
    Ok(text(
        "text/html; charset=utf-8",
        provider::listing_html(&title, &entries),
    ))
}

/// The document at `{tlp}/{year}/{name}.json`, if the caller may read it.
async fn one(
    state: &web::Data<AppState>,
    caller: Option<Caller>,
    path: (String, String, String),
) -> Result<Document, AppError> {
    let (tlp, year, name) = path;
    let file = format!("{name}.json");
    let (_, docs) = listing(state, caller, &tlp, Some(file)).await?;
    docs.into_iter()
        .find(|d| d.year == year)
        .ok_or(AppError::NotFound)
}

/// One CSAF 2.0 document (CSAF 2.0 §7.1.11): the advisory as its readers see it, withdrawn
/// ones with a last revision saying so.
#[utoipa::path(
    operation_id = "getCsafDocument",
    tag = "advisories",
    params(DocumentPath),
    security(("bearer" = ["advisories:read"]), ()),
    responses((status = 200, description = "The CSAF document", body = serde_json::Value, content_type = "application/json"))
)]
#[get("/.well-known/csaf/{tlp}/{year}/{name}.json")]
pub async fn document(
    state: web::Data<AppState>,
    reader: Reader,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AppError> {
    let doc = one(&state, reader.0, path.into_inner()).await?;
    Ok(json_bytes(doc.bytes))
}

/// The SHA-256 of the document's bytes (CSAF 2.0 §7.1.18), as `sha256sum` prints it.
#[utoipa::path(
    operation_id = "getCsafDocumentSha256",
    tag = "advisories",
    params(DocumentPath),
    security(("bearer" = ["advisories:read"]), ()),
    responses((status = 200, description = "`<hex>  <file>`", body = String, content_type = "text/plain"))
)]
#[get("/.well-known/csaf/{tlp}/{year}/{name}.json.sha256")]
pub async fn sha256(
    state: web::Data<AppState>,
    reader: Reader,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AppError> {
    let doc = one(&state, reader.0, path.into_inner()).await?;
    let line = provider::hash_line(&provider::sha256_hex(&doc.bytes), &doc.file);
    Ok(text("text/plain; charset=utf-8", line))
}

/// The SHA-512 of the document's bytes (CSAF 2.0 §7.1.18), as `sha512sum` prints it.
#[utoipa::path(
    operation_id = "getCsafDocumentSha512",
    tag = "advisories",
    params(DocumentPath),
    security(("bearer" = ["advisories:read"]), ()),
    responses((status = 200, description = "`<hex>  <file>`", body = String, content_type = "text/plain"))
)]
#[get("/.well-known/csaf/{tlp}/{year}/{name}.json.sha512")]
pub async fn sha512(
    state: web::Data<AppState>,
    reader: Reader,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AppError> {
    let doc = one(&state, reader.0, path.into_inner()).await?;
    let line = provider::hash_line(&provider::sha512_hex(&doc.bytes), &doc.file);
    Ok(text("text/plain; charset=utf-8", line))
}

/// The detached OpenPGP signature of the document's bytes with the provider key (CSAF 2.0
/// §7.1.19). Signed on the blocking pool, once per document content.
#[utoipa::path(
    operation_id = "getCsafDocumentSignature",
    tag = "advisories",
    params(DocumentPath),
    security(("bearer" = ["advisories:read"]), ()),
    responses((status = 200, description = "The armored detached signature", body = String, content_type = "application/pgp-signature"))
)]
#[get("/.well-known/csaf/{tlp}/{year}/{name}.json.asc")]
pub async fn signature(
    state: web::Data<AppState>,
    reader: Reader,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AppError> {
    let doc = one(&state, reader.0, path.into_inner()).await?;
    let signer = state.provider.clone();
    let sig = web::block(move || signer.sign(&doc.bytes)).await??;
    Ok(text("application/pgp-signature", sig.to_string()))
}
