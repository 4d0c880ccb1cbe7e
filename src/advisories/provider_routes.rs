//! `/.well-known/csaf/…` and `/.well-known/security.txt`: the CSAF 2.0 trusted provider.
//!
//! The `white` tree, the metadata, the feeds' list and the public key need no token; the
//! `green`, `amber` and `red` trees need one (401 without), and show a caller only the
//! documents it may read (404 for the others). Documents are served as stored when first
//! rendered (see `provider`), on the blocking pool, never on an HTTP worker.
//!
//! Requests without a token are limited per client address (IPv6 per /64; behind a trusted
//! proxy the address of `X-Forwarded-For`, as for `/oauth/token`): past the limit they get
//! `429` with `Retry-After`. Every answer carries an `ETag` (documents and listings also a
//! `Last-Modified`), and a request whose `If-None-Match` (or, without it, `If-Modified-Since`)
//! still matches gets `304 Not Modified` without a body. Public answers may be cached for
//! [`PUBLIC_MAX_AGE`] seconds by anyone; answers to a token are `private, no-cache`.

use super::provider::{self, Body, Dir, Page, Stored};
use super::routes::Reader;
use crate::auth::Caller;
use crate::error::{AppError, Problem};
use crate::AppState;
use actix_web::http::header::{
    self, CacheControl, CacheDirective, HttpDate, LastModified, IF_MODIFIED_SINCE, IF_NONE_MATCH,
};
use actix_web::web::Bytes;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use utoipa::{IntoParams, ToSchema};

/// How long anyone (a browser, a proxy, a CDN) may reuse a public answer without asking again:
/// a withdrawal, a new revision or a TLP change reaches every reader within this time, and a
/// client asking again with the entity tag gets a body-less `304`.
pub const PUBLIC_MAX_AGE: u32 = 60;

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

/// Conditional request headers every provider read honours.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct Conditional {
    /// Entity tags from earlier answers: `304` when one still matches (`*` matches any).
    #[serde(rename = "If-None-Match")]
    #[param(rename = "If-None-Match")]
    pub if_none_match: Option<String>,
    /// An earlier answer's `Last-Modified`: `304` when nothing changed since (ignored when
    /// `If-None-Match` is sent).
    #[serde(rename = "If-Modified-Since")]
    #[param(rename = "If-Modified-Since")]
    pub if_modified_since: Option<String>,
}

fn dir(name: &str) -> Result<Dir, AppError> {
    Dir::parse(name).ok_or(AppError::NotFound)
}

/// Counts a request without a token against its address's limit (429 past it).
fn limit(state: &AppState, req: &HttpRequest, caller: Option<&Caller>) -> Result<(), AppError> {
    if caller.is_some() {
        return Ok(());
    }
    state
        .provider
        .check_anonymous(state.token_limits.address_of(req))
}

/// `Last-Modified` in whole seconds, rounded up so that a change in the same second as an
/// earlier answer still moves it; none while that second has not passed (the entity tag
/// still validates).
fn last_modified_secs(t: DateTime<Utc>) -> Option<u64> {
    let secs = u64::try_from(t.timestamp()).ok()?;
    let secs = if t.timestamp_subsec_nanos() > 0 {
        secs.checked_add(1)?
    } else {
        secs
    };
    (secs <= u64::try_from(Utc::now().timestamp()).ok()?).then_some(secs)
}

/// RFC 9110 §13.2.2: `If-None-Match` decides when present (weak comparison); otherwise
/// `If-Modified-Since` against `Last-Modified`, when the answer has one.
fn not_modified(req: &HttpRequest, etag: &str, last_modified: Option<u64>) -> bool {
    let tags: Vec<&str> = req
        .headers()
        .get_all(IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if !tags.is_empty() {
        let ours = etag.trim_start_matches("W/");
        return tags
            .iter()
            .any(|t| *t == "*" || t.trim_start_matches("W/") == ours);
    }
    let since = req
        .headers()
        .get(IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<HttpDate>().ok())
        .and_then(|d| SystemTime::from(d).duration_since(UNIX_EPOCH).ok());
    match (last_modified, since) {
        (Some(changed), Some(since)) => changed <= since.as_secs(),
        _ => false,
    }
}

/// Which content coding an answer has, and whether another one was on offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    /// The only representation there is.
    Only,
    /// Uncompressed, where a gzip-compressed one is also offered (`Vary: Accept-Encoding`).
    Identity,
    /// Gzip-compressed (`Content-Encoding: gzip`, `Vary: Accept-Encoding`).
    Gzip,
}

/// True when `Accept-Encoding` accepts gzip (RFC 9110 §12.5.3): `gzip`, `x-gzip` or `*` with
/// a weight above zero. Go's HTTP client, which the CSAF tools are written with, asks for
/// gzip by default, as do browsers and `curl --compressed`.
fn accepts_gzip(req: &HttpRequest) -> bool {
    let mut gzip = None;
    let mut any = None;
    let values = req.headers().get_all(header::ACCEPT_ENCODING);
    for item in values
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default().to_ascii_lowercase();
        let weight = parts
            .filter_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(weight > 0.0),
            "*" => any = Some(weight > 0.0),
            _ => {}
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// The answer: the body with its validators and caching rule, or `304` with the validators.
fn respond(
    req: &HttpRequest,
    content_type: &str,
    bytes: Bytes,
    etag: &str,
    last_modified: Option<DateTime<Utc>>,
    public: bool,
    coding: Coding,
) -> HttpResponse {
    let changed = last_modified.and_then(last_modified_secs);
    let unchanged = not_modified(req, etag, changed);
    let mut res = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header(if public {
        CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(PUBLIC_MAX_AGE),
        ])
    } else {
        CacheControl(vec![CacheDirective::Private, CacheDirective::NoCache])
    })
    .insert_header((header::ETAG, etag));
    if coding != Coding::Only {
        res.insert_header((header::VARY, "Accept-Encoding"));
    }
    if let Some(secs) = changed {
        res.insert_header(LastModified(HttpDate::from(
            UNIX_EPOCH + Duration::from_secs(secs),
        )));
    }
    if unchanged {
        return res.finish();
    }
    if coding == Coding::Gzip {
        res.insert_header((header::CONTENT_ENCODING, "gzip"));
    }
    res.insert_header((header::CONTENT_TYPE, content_type))
        .body(bytes)
}

/// A public file made per request (metadata, security.txt): tagged by its content.
fn public_file(req: &HttpRequest, content_type: &str, bytes: Vec<u8>) -> HttpResponse {
    let body = Body::new(bytes, None);
    respond(
        req,
        content_type,
        body.bytes,
        &body.etag,
        None,
        true,
        Coding::Only,
    )
}

const JSON: &str = "application/json";

/// The CSAF provider metadata (CSAF 2.0 §7.1.7): role `csaf_trusted_provider`, the TLP
/// directories and ROLIE feeds, and the OpenPGP key with its fingerprint. Public;
/// `last_updated` moves only with a public (TLP:CLEAR) document.
///
/// The entry point of the CSAF provider: CSAF 2.0 §7.1.20 puts it at this well-known path,
/// where aggregators and users find the provider without a token.
#[utoipa::path(
    operation_id = "getCsafProviderMetadata",
    tag = "advisories",
    params(Conditional),
    responses(
        (status = 200, description = "provider-metadata.json", body = serde_json::Value, content_type = "application/json"),
        (status = 304, description = "Unchanged since the entity tag sent"),
        (status = 429, description = "Too many requests without a token from this address; see Retry-After", body = Problem)
    )
)]
#[get("/.well-known/csaf/provider-metadata.json")]
pub async fn metadata(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    limit(&state, &req, None)?;
    let config = state.config.clone();
    let provider = state.provider.clone();
    let doc = state
        .db(move |conn| provider.metadata(conn, &config.provider))
        .await?;
    Ok(public_file(&req, JSON, serde_json::to_vec_pretty(&doc)?))
}

/// RFC 9116 `security.txt` with the `CSAF:` field pointing at the provider metadata.
///
/// Public: no token. CSAF 2.0 §7.1.8 names this field as one way to find the provider
/// metadata; RFC 9116 §3 places the file here.
#[utoipa::path(
    operation_id = "getSecurityTxt",
    tag = "advisories",
    params(Conditional),
    responses(
        (status = 200, description = "security.txt", body = String, content_type = "text/plain"),
        (status = 304, description = "Unchanged since the entity tag sent"),
        (status = 429, description = "Too many requests without a token from this address; see Retry-After", body = Problem)
    )
)]
#[get("/.well-known/security.txt")]
pub async fn security_txt(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    limit(&state, &req, None)?;
    let config = state.config.clone();
    let body = state
        .db(move |conn| provider::security_txt(conn, &config.provider))
        .await?;
    Ok(public_file(
        &req,
        "text/plain; charset=utf-8",
        body.into_bytes(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KeyPath {
    /// The key's fingerprint, upper-case hex, as in the provider metadata.
    #[param(pattern = "^[0-9A-F]{40,64}$")]
    pub fingerprint: String,
}

/// The provider's public OpenPGP key, armored; it verifies every `.asc`.
///
/// Public: no token. The provider metadata names the key by its fingerprint (CSAF 2.0 §7.1.19,
/// §7.1.20); a reader checks a document's signature with it.
#[utoipa::path(
    operation_id = "getCsafPublicKey",
    tag = "advisories",
    params(KeyPath, Conditional),
    responses(
        (status = 200, description = "The armored public key", body = String, content_type = "application/pgp-keys"),
        (status = 304, description = "Unchanged since the entity tag sent"),
        (status = 429, description = "Too many requests without a token from this address; see Retry-After", body = Problem)
    )
)]
#[get("/.well-known/csaf/openpgp/{fingerprint}.asc")]
pub async fn public_key(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    limit(&state, &req, None)?;
    let key = state.provider.key();
    if path.as_str() != key.fingerprint() {
        return Err(AppError::NotFound);
    }
    Ok(public_file(
        &req,
        "application/pgp-keys",
        key.public_armored().as_bytes().to_vec(),
    ))
}

/// The ROLIE service document listing the four feeds (CSAF 2.0 §7.1.16). Public.
///
/// No token: the service document lists the feeds; reading a feed other than TLP:CLEAR's
/// needs one.
#[utoipa::path(
    operation_id = "getCsafService",
    tag = "advisories",
    params(Conditional),
    responses(
        (status = 200, description = "The ROLIE service document", body = serde_json::Value, content_type = "application/json"),
        (status = 304, description = "Unchanged since the entity tag sent"),
        (status = 429, description = "Too many requests without a token from this address; see Retry-After", body = Problem)
    )
)]
#[get("/.well-known/csaf/service.json")]
pub async fn service(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    limit(&state, &req, None)?;
    let doc = provider::service_document(&state.config.provider);
    Ok(public_file(&req, JSON, serde_json::to_vec_pretty(&doc)?))
}

/// A listing page of one TLP directory, as stored metadata makes it.
async fn listing(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Option<Caller>,
    tlp: &str,
    page: Page,
    content_type: &str,
) -> Result<HttpResponse, AppError> {
    let dir = dir(tlp)?;
    limit(&state, &req, caller.as_ref())?;
    let public = caller.is_none();
    let config = state.config.clone();
    let provider = state.provider.clone();
    let gzip = accepts_gzip(&req);
    let (body, gzipped) = state
        .db(move |conn| {
            let body = provider.page(conn, &config.provider, caller.as_ref(), dir, &page)?;
            // Compressed here, on the blocking pool, the first time a kept listing is asked
            // for with gzip; kept for every later request.
            let gzipped = if gzip { body.gzipped().cloned() } else { None };
            Ok((body, gzipped))
        })
        .await?;
    let (bytes, etag, coding) = match gzipped {
        Some(bytes) => (bytes, body.gzip_etag(), Coding::Gzip),
        None if body.offers_gzip() => (body.bytes.clone(), body.etag.clone(), Coding::Identity),
        None => (body.bytes.clone(), body.etag.clone(), Coding::Only),
    };
    Ok(respond(
        &req,
        content_type,
        bytes,
        &etag,
        body.last_modified,
        public,
        coding,
    ))
}

/// The ROLIE feed of one TLP directory (CSAF 2.0 §7.1.15): the documents the caller may read.
/// `white` is public; the others need a token.
#[utoipa::path(
    operation_id = "getCsafFeed",
    tag = "advisories",
    params(DirectoryPath, Conditional),
    security(("bearer" = ["advisories:read"]), ()),
    responses(
        (status = 200, description = "The ROLIE feed", body = serde_json::Value, content_type = "application/json"),
        (status = 304, description = "Unchanged since the entity tag or date sent"),
        (status = 429, description = "Too many requests without a token from this address; see Retry-After", body = Problem)
    )
)]
#[get("/.well-known/csaf/feed-tlp-{tlp}.json")]
pub async fn feed(
    state: web::Data<AppState>,
    reader: Reader,
    req: HttpRequest,
    tlp: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    listing(state, req, reader.0, &tlp, Page::Feed, JSON).await
}

/// `index.txt` of one TLP directory (CSAF 2.0 §7.1.12): the path of every document the caller
/// may read, one a line.
#[utoipa::path(
    operation_id = "getCsafIndex",
    tag = "advisories",
    params(DirectoryPath, Conditional),
    security(("bearer" = ["advisories:read"]), ()),
    responses(
        (status = 200, description = "index.txt", body = String, content_type = "text/plain"),
        (status = 304, description = "Unchanged since the entity tag or date sent"),
        (status = 429, description = "Too many requests without a token from this address; see Retry-After", body = Problem)
    )
)]
#[get("/.well-known/csaf/{tlp}/index.txt")]
pub async fn index(
    state: web::Data<AppState>,
    reader: Reader,
    req: HttpRequest,
    tlp: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let text = "text/plain; charset=utf-8";
    listing(state, req, reader.0, &tlp, Page::Index, text).await
}

/// `changes.csv` of one TLP directory (CSAF 2.0 §7.1.13): path and current release date,
/// newest first.
#[utoipa::path(
    operation_id = "getCsafChanges",
    tag = "advisories",
    params(DirectoryPath, Conditional),
    security(("bearer" = ["advisories:read"]), ()),
    responses(
        (status = 200, description = "changes.csv", body = String, content_type = "text/csv"),
        (status = 304, description = "Unchanged since the entity tag or date sent"),
        (status = 429, description = "Too many requests without a token from this address; see Retry-After", body = Problem)
    )
)]
#[get("/.well-known/csaf/{tlp}/changes.csv")]
pub async fn changes(
    state: web::Data<AppState>,
    reader: Reader,
    req: HttpRequest,
    tlp: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let csv = "text/csv; charset=utf-8";
    listing(state, req, reader.0, &tlp, Page::Changes, csv).await
}

/// The listing of a TLP directory (CSAF 2.0 §7.1.14): `index.txt`, `changes.csv` and the
/// year folders that hold a document the caller may read.
#[utoipa::path(
    operation_id = "getCsafDirectory",
    tag = "advisories",
    params(DirectoryPath, Conditional),
    security(("bearer" = ["advisories:read"]), ()),
    responses(
        (status = 200, description = "An HTML directory listing", body = String, content_type = "text/html"),
        (status = 304, description = "Unchanged since the entity tag or date sent"),
        (status = 429, description = "Too many requests without a token from this address; see Retry-After", body = Problem)
    )
)]
#[get("/.well-known/csaf/{tlp}/")]
pub async fn directory(
    state: web::Data<AppState>,
    reader: Reader,
    req: HttpRequest,
    tlp: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let html = "text/html; charset=utf-8";
    listing(state, req, reader.0, &tlp, Page::Directory, html).await
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
    params(YearPath, Conditional),
    security(("bearer" = ["advisories:read"]), ()),
    responses(
        (status = 200, description = "An HTML directory listing", body = String, content_type = "text/html"),
        (status = 304, description = "Unchanged since the entity tag or date sent"),
        (status = 404, description = "No document of that year the caller may read", body = Problem),
        (status = 429, description = "Too many requests without a token from this address; see Retry-After", body = Problem)
    )
)]
#[get("/.well-known/csaf/{tlp}/{year}/")]
pub async fn year_directory(
    state: web::Data<AppState>,
    reader: Reader,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (tlp, year) = path.into_inner();
    let html = "text/html; charset=utf-8";
    listing(state, req, reader.0, &tlp, Page::Year(year), html).await
}

/// The stored document at `{tlp}/{year}/{name}.json`, if the caller may read it, and whether
/// the answer is public (no token).
async fn one(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    caller: Option<Caller>,
    path: (String, String, String),
) -> Result<(Stored, bool), AppError> {
    let (tlp, year, name) = path;
    let dir = dir(&tlp)?;
    limit(state, req, caller.as_ref())?;
    let public = caller.is_none();
    let file = format!("{name}.json");
    let config = state.config.clone();
    let provider = state.provider.clone();
    let doc = state
        .db(move |conn| {
            provider.document(conn, &config.provider, caller.as_ref(), dir, &year, &file)
        })
        .await?;
    Ok((doc, public))
}

/// One CSAF 2.0 document (CSAF 2.0 §7.1.11): the advisory as its readers see it, withdrawn
/// ones with a last revision saying so. Each revision is rendered and signed once; these are
/// the bytes its hashes and signature are of.
#[utoipa::path(
    operation_id = "getCsafDocument",
    tag = "advisories",
    params(DocumentPath, Conditional),
    security(("bearer" = ["advisories:read"]), ()),
    responses(
        (status = 200, description = "The CSAF document", body = serde_json::Value, content_type = "application/json"),
        (status = 304, description = "Unchanged since the entity tag or date sent"),
        (status = 429, description = "Too many requests without a token from this address; see Retry-After", body = Problem)
    )
)]
#[get("/.well-known/csaf/{tlp}/{year}/{name}.json")]
pub async fn document(
    state: web::Data<AppState>,
    reader: Reader,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AppError> {
    let (doc, public) = one(&state, &req, reader.0, path.into_inner()).await?;
    let etag = doc.etag("");
    let at = Some(doc.stored_at.and_utc());
    Ok(respond(
        &req,
        JSON,
        doc.document.into(),
        &etag,
        at,
        public,
        Coding::Only,
    ))
}

/// Which hash file of a document.
#[derive(Clone, Copy)]
enum Sha {
    Sha256,
    Sha512,
}

/// A document's hash file, `<hex>  <file>` as `sha256sum`/`sha512sum` print it, tagged by
/// the document's tag and the file's suffix.
fn hash_file(req: &HttpRequest, doc: &Stored, public: bool, sha: Sha) -> HttpResponse {
    let (hex, suffix) = match sha {
        Sha::Sha256 => (&doc.sha256, "-sha256"),
        Sha::Sha512 => (&doc.sha512, "-sha512"),
    };
    let line = provider::hash_line(hex, &doc.file);
    let (etag, at) = (doc.etag(suffix), Some(doc.stored_at.and_utc()));
    let text = "text/plain; charset=utf-8";
    respond(req, text, line.into(), &etag, at, public, Coding::Only)
}

/// The SHA-256 of the document's bytes (CSAF 2.0 §7.1.18), as `sha256sum` prints it.
#[utoipa::path(
    operation_id = "getCsafDocumentSha256",
    tag = "advisories",
    params(DocumentPath, Conditional),
    security(("bearer" = ["advisories:read"]), ()),
    responses(
        (status = 200, description = "`<hex>  <file>`", body = String, content_type = "text/plain"),
        (status = 304, description = "Unchanged since the entity tag or date sent"),
        (status = 429, description = "Too many requests without a token from this address; see Retry-After", body = Problem)
    )
)]
#[get("/.well-known/csaf/{tlp}/{year}/{name}.json.sha256")]
pub async fn sha256(
    state: web::Data<AppState>,
    reader: Reader,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AppError> {
    let (doc, public) = one(&state, &req, reader.0, path.into_inner()).await?;
    Ok(hash_file(&req, &doc, public, Sha::Sha256))
}

/// The SHA-512 of the document's bytes (CSAF 2.0 §7.1.18), as `sha512sum` prints it.
#[utoipa::path(
    operation_id = "getCsafDocumentSha512",
    tag = "advisories",
    params(DocumentPath, Conditional),
    security(("bearer" = ["advisories:read"]), ()),
    responses(
        (status = 200, description = "`<hex>  <file>`", body = String, content_type = "text/plain"),
        (status = 304, description = "Unchanged since the entity tag or date sent"),
        (status = 429, description = "Too many requests without a token from this address; see Retry-After", body = Problem)
    )
)]
#[get("/.well-known/csaf/{tlp}/{year}/{name}.json.sha512")]
pub async fn sha512(
    state: web::Data<AppState>,
    reader: Reader,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AppError> {
    let (doc, public) = one(&state, &req, reader.0, path.into_inner()).await?;
    Ok(hash_file(&req, &doc, public, Sha::Sha512))
}

/// The detached OpenPGP signature of the document's bytes with the provider key (CSAF 2.0
/// §7.1.19), made once, when the revision was first rendered.
#[utoipa::path(
    operation_id = "getCsafDocumentSignature",
    tag = "advisories",
    params(DocumentPath, Conditional),
    security(("bearer" = ["advisories:read"]), ()),
    responses(
        (status = 200, description = "The armored detached signature", body = String, content_type = "application/pgp-signature"),
        (status = 304, description = "Unchanged since the entity tag or date sent"),
        (status = 429, description = "Too many requests without a token from this address; see Retry-After", body = Problem)
    )
)]
#[get("/.well-known/csaf/{tlp}/{year}/{name}.json.asc")]
pub async fn signature(
    state: web::Data<AppState>,
    reader: Reader,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AppError> {
    let (doc, public) = one(&state, &req, reader.0, path.into_inner()).await?;
    let (etag, at) = (doc.etag("-asc"), Some(doc.stored_at.and_utc()));
    let sig = "application/pgp-signature";
    Ok(respond(
        &req,
        sig,
        doc.signature.into(),
        &etag,
        at,
        public,
        Coding::Only,
    ))
}
