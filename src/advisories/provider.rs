//! The CSAF 2.0 trusted provider (CSAF 2.0 §7.1, requirements 1–20 for the role
//! `csaf_trusted_provider`): the published and withdrawn advisories as CSAF documents under
//! `/.well-known/csaf/`, one directory per TLP label with a folder per year of the initial
//! release, `index.txt`, `changes.csv`, a ROLIE feed per label, and beside every document its
//! SHA-256, SHA-512 and a detached OpenPGP signature with the provider key.
//!
//! Who may read a document is the advisory's own rule (`service::csaf`, TLP 2.0 and the
//! audience): the `white` tree is public; the others need a token, and every listing, feed and
//! document shows the caller only what it may read (404 for the rest). TLP 2.0 labels map to
//! CSAF's TLP 1.0 labels as in `csaf::tlp_label`, so AMBER+STRICT documents are in `amber`.
//!
//! Documents are rendered from the database on each request (they are small, and a revision
//! or a directory change shows at once); the signature, the expensive part, is remembered per
//! document content, so one revision is signed once per instance.

use super::model::Tlp;
use super::service;
use crate::auth::Caller;
use crate::config::ProviderConfig;
use crate::db::DbConn;
use crate::error::{AppError, AppResult};
use crate::openpgp::ProviderKey;
use crate::rules::coverage::OrgKind;
use crate::schema::advisories;
use diesel::prelude::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha512};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Signatures remembered per instance; beyond this the memory is emptied and refilled.
const SIGNATURE_CACHE: usize = 4096;

/// The provider key and the signatures it has made.
pub struct Signer {
    key: ProviderKey,
    cache: Mutex<HashMap<Vec<u8>, Arc<str>>>,
}

impl Signer {
    /// Loads the configured key, generating it on first start.
    pub fn load(config: &ProviderConfig) -> Result<Self, String> {
        let user_id = format!("nis2hub CSAF provider ({})", config.public_url);
        let key = ProviderKey::load_or_create(&config.openpgp_key_file, &user_id)
            .map_err(|e| format!("NIS2HUB_OPENPGP_KEY_FILE: {e}"))?;
        Ok(Self {
            key,
            cache: Mutex::new(HashMap::new()),
        })
    }

    pub fn key(&self) -> &ProviderKey {
        &self.key
    }

    /// The armored detached signature of `data`, made once per content.
    pub fn sign(&self, data: &[u8]) -> AppResult<Arc<str>> {
        let digest = Sha512::digest(data).to_vec();
        if let Some(sig) = self.cache.lock().expect("not poisoned").get(&digest) {
            return Ok(sig.clone());
        }
        let sig: Arc<str> = self.key.sign(data).map_err(AppError::internal)?.into();
        let mut cache = self.cache.lock().expect("not poisoned");
        if cache.len() >= SIGNATURE_CACHE {
            cache.clear();
        }
        cache.insert(digest, sig.clone());
        Ok(sig)
    }
}

/// A TLP directory (CSAF's TLP 1.0 labels, lower-cased as directory names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    White,
    Green,
    Amber,
    Red,
}

impl Dir {
    pub const ALL: [Dir; 4] = [Dir::White, Dir::Green, Dir::Amber, Dir::Red];

    pub fn parse(s: &str) -> Option<Dir> {
        Dir::ALL.into_iter().find(|d| d.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            Dir::White => "white",
            Dir::Green => "green",
            Dir::Amber => "amber",
            Dir::Red => "red",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Dir::White => "WHITE",
            Dir::Green => "GREEN",
            Dir::Amber => "AMBER",
            Dir::Red => "RED",
        }
    }

    pub fn of(tlp: Tlp) -> Dir {
        match super::csaf::tlp_label(tlp) {
            "WHITE" => Dir::White,
            "GREEN" => Dir::Green,
            "AMBER" => Dir::Amber,
            _ => Dir::Red,
        }
    }
}

/// The file name of a tracking id (CSAF 2.0 §5.1): lower case, every run of characters
/// outside `[+\-a-z0-9]` one `_`, then `.json`.
pub fn file_name(tracking_id: &str) -> String {
    let mut out = String::with_capacity(tracking_id.len() + 5);
    let mut in_run = false;
    for c in tracking_id.to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '+' || c == '-' {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out.push_str(".json");
    out
}

/// One document as served: its bytes and where it lives.
pub struct Document {
    pub tracking_id: String,
    pub title: String,
    pub file: String,
    pub year: String,
    pub initial: String,
    pub current: String,
    pub bytes: Vec<u8>,
}

impl Document {
    /// `2026/ncsirt-2026-0001.json`, relative to the TLP directory.
    pub fn path(&self) -> String {
        format!("{}/{}", self.year, self.file)
    }
}

fn document(doc: &Value) -> AppResult<Document> {
    let tracking = &doc["document"]["tracking"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let tracking_id = text(&tracking["id"]);
    let initial = text(&tracking["initial_release_date"]);
    Ok(Document {
        file: file_name(&tracking_id),
        year: initial.get(..4).unwrap_or("0000").to_string(),
        title: text(&doc["document"]["title"]),
        current: text(&tracking["current_release_date"]),
        initial,
        tracking_id,
        bytes: serde_json::to_vec_pretty(doc)?,
    })
}

/// The documents of `dir` the caller may read, newest change first. Without a token only the
/// `white` tree opens.
pub fn documents(
    conn: &mut DbConn,
    caller: Option<&Caller>,
    dir: Dir,
    only_file: Option<&str>,
    public_url: &str,
) -> AppResult<Vec<Document>> {
    if caller.is_none() && dir != Dir::White {
        return Err(AppError::Unauthorized(
            "without a bearer token only the white (TLP:CLEAR) CSAF directory can be read".into(),
        ));
    }
    let rows: Vec<(String, String, String)> = advisories::table
        .filter(advisories::status.ne("draft"))
        .order(advisories::reference.asc())
        .select((advisories::id, advisories::reference, advisories::tlp))
        .load(conn)?;
    let mut out = vec![];
    for (id, reference, tlp) in rows {
        if Dir::of(Tlp::parse(&tlp).unwrap_or(Tlp::Red)) != dir {
            continue;
        }
        if only_file.is_some_and(|f| f != file_name(&reference)) {
            continue;
        }
        match service::csaf(conn, caller, &id, public_url) {
            Ok(doc) => out.push(document(&doc)?),
            Err(AppError::NotFound | AppError::Unauthorized(_)) => {}
            Err(e) => return Err(e),
        }
    }
    out.sort_by(|a, b| b.current.cmp(&a.current).then(a.file.cmp(&b.file)));
    Ok(out)
}

/// `index.txt`: every document's path, one a line (§7.1.12).
pub fn index_txt(docs: &[Document]) -> String {
    docs.iter().map(|d| format!("{}\n", d.path())).collect()
}

/// `changes.csv`: path and current release date, newest first (§7.1.13).
pub fn changes_csv(docs: &[Document]) -> String {
    docs.iter()
        .map(|d| format!("\"{}\",\"{}\"\n", d.path(), d.current))
        .collect()
}

/// A server-side directory listing (§7.1.14): a plain HTML page with one link per entry,
/// relative to the directory, so a person can browse the tree as a web server shows folders.
pub fn listing_html(title: &str, entries: &[String]) -> String {
    fn escape(s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    }
    let title = escape(title);
    let mut out = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n<body><h1>Index of {title}</h1>\n<ul>\n<li><a href=\"../\">../</a></li>\n"
    );
    for entry in entries {
        let entry = escape(entry);
        out.push_str(&format!("<li><a href=\"{entry}\">{entry}</a></li>\n"));
    }
    out.push_str("</ul></body></html>\n");
    out
}

/// The entries of a TLP directory: `index.txt`, `changes.csv` and a folder per year, newest first.
pub fn directory_entries(docs: &[Document]) -> Vec<String> {
    let mut years: Vec<&str> = docs.iter().map(|d| d.year.as_str()).collect();
    years.sort_unstable_by(|a, b| b.cmp(a));
    years.dedup();
    ["index.txt", "changes.csv"]
        .into_iter()
        .map(String::from)
        .chain(years.into_iter().map(|y| format!("{y}/")))
        .collect()
}

/// The entries of a year folder: every document with its hashes and signature, by file name.
pub fn year_entries(docs: &[Document], year: &str) -> Vec<String> {
    let mut files: Vec<&str> = docs
        .iter()
        .filter(|d| d.year == year)
        .map(|d| d.file.as_str())
        .collect();
    files.sort_unstable();
    files
        .into_iter()
        .flat_map(|f| {
            ["", ".asc", ".sha256", ".sha512"]
                .into_iter()
                .map(move |ext| format!("{f}{ext}"))
        })
        .collect()
}

/// The provider's base for canonical URLs.
fn base(config: &ProviderConfig) -> String {
    format!("{}/.well-known/csaf", config.public_url)
}

pub fn feed_url(config: &ProviderConfig, dir: Dir) -> String {
    format!("{}/feed-tlp-{}.json", base(config), dir.name())
}

pub fn document_url(config: &ProviderConfig, dir: Dir, doc: &Document) -> String {
    format!("{}/{}/{}", base(config), dir.name(), doc.path())
}

pub fn public_key_url(config: &ProviderConfig, key: &ProviderKey) -> String {
    format!("{}/openpgp/{}.asc", base(config), key.fingerprint())
}

const ROLIE_CATEGORY: &str = "urn:ietf:params:rolie:category:information-type";

/// The ROLIE feed of one TLP directory (§7.1.15).
pub fn feed(config: &ProviderConfig, dir: Dir, docs: &[Document], now: &str) -> Value {
    let entries: Vec<Value> = docs
        .iter()
        .map(|d| {
            let url = document_url(config, dir, d);
            json!({
                "id": d.tracking_id,
                "title": d.title,
                "link": [
                    {"rel": "self", "href": url},
                    {"rel": "hash", "href": format!("{url}.sha256")},
                    {"rel": "hash", "href": format!("{url}.sha512")},
                    {"rel": "signature", "href": format!("{url}.asc")},
                ],
                "published": d.initial,
                "updated": d.current,
                "content": {"type": "application/json", "src": url},
                "format": {
                    "schema": "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json",
                    "version": "2.0",
                },
            })
        })
        .collect();
    let updated = docs.first().map(|d| d.current.as_str()).unwrap_or(now);
    json!({
        "feed": {
            "id": format!("nis2hub-csaf-feed-tlp-{}", dir.name()),
            "title": format!("CSAF advisories, TLP:{}", dir.label()),
            "link": [{"rel": "self", "href": feed_url(config, dir)}],
            "category": [{"scheme": ROLIE_CATEGORY, "term": "csaf"}],
            "updated": updated,
            "entry": entries,
        }
    })
}

/// The ROLIE service document listing the feeds (§7.1.16).
pub fn service_document(config: &ProviderConfig) -> Value {
    let collections: Vec<Value> = Dir::ALL
        .iter()
        .map(|d| {
            json!({
                "title": format!("CSAF advisories, TLP:{}", d.label()),
                "href": feed_url(config, *d),
                "categories": {"category": [{"scheme": ROLIE_CATEGORY, "term": "csaf"}]},
            })
        })
        .collect();
    json!({"service": {"workspace": [{"title": "CSAF advisories", "collection": collections}]}})
}

/// The publisher named in the metadata: the national CSIRT operating the service.
fn publisher(conn: &mut DbConn, config: &ProviderConfig) -> AppResult<Value> {
    let dir = crate::directory::load_directory(conn)?;
    let national = dir.into_iter().find(|o| o.kind == OrgKind::NationalCsirt);
    let Some(org) = national else {
        return Ok(json!({
            "category": "coordinator",
            "name": "nis2hub",
            "namespace": config.public_url,
        }));
    };
    let contact = crate::directory::service::get(conn, &org.id)
        .ok()
        .map(|o| o.contact);
    let namespace = contact
        .as_ref()
        .and_then(|c| c.website.clone())
        .filter(|w| w.starts_with("https://") || w.starts_with("http://"))
        .unwrap_or_else(|| config.public_url.clone());
    let mut publisher = json!({
        "category": "coordinator",
        "name": org.name,
        "namespace": namespace,
        "issuing_authority": "The national CSIRT (NIS2 Art. 10); sectoral CSIRTs issue the advisories for the sectors they cover through this provider.",
    });
    if let Some(email) = contact.and_then(|c| c.email) {
        publisher["contact_details"] = json!(format!("mailto:{email}"));
    }
    Ok(publisher)
}

/// The national CSIRT's e-mail address, for `security.txt`'s `Contact:`.
fn contact_email(conn: &mut DbConn) -> AppResult<Option<String>> {
    let dir = crate::directory::load_directory(conn)?;
    Ok(dir
        .into_iter()
        .find(|o| o.kind == OrgKind::NationalCsirt)
        .and_then(|o| crate::directory::service::get(conn, &o.id).ok())
        .and_then(|o| o.contact.email))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `provider-metadata.json` (§7.1.7) for the role `csaf_trusted_provider`.
pub fn metadata(conn: &mut DbConn, config: &ProviderConfig, key: &ProviderKey) -> AppResult<Value> {
    let last: Option<chrono::NaiveDateTime> = advisories::table
        .filter(advisories::status.ne("draft"))
        .select(diesel::dsl::max(advisories::updated_at))
        .first(conn)?;
    let last_updated = last
        .map(|t| {
            t.and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_else(now);
    let mut distributions: Vec<Value> = Dir::ALL
        .iter()
        .map(|d| json!({"directory_url": format!("{}/{}/", base(config), d.name())}))
        .collect();
    let feeds: Vec<Value> = Dir::ALL
        .iter()
        .map(|d| {
            json!({
                "summary": format!("Advisories under TLP:{}", d.label()),
                "tlp_label": d.label(),
                "url": feed_url(config, *d),
            })
        })
        .collect();
    distributions.push(json!({"rolie": {
        "feeds": feeds,
        "services": [format!("{}/service.json", base(config))],
    }}));
    Ok(json!({
        "canonical_url": format!("{}/provider-metadata.json", base(config)),
        "distributions": distributions,
        "last_updated": last_updated,
        "list_on_CSAF_aggregators": true,
        "metadata_version": "2.0",
        "mirror_on_CSAF_aggregators": true,
        "public_openpgp_keys": [{
            "fingerprint": key.fingerprint(),
            "url": public_key_url(config, key),
        }],
        "publisher": publisher(conn, config)?,
        "role": "csaf_trusted_provider",
    }))
}

/// `/.well-known/security.txt` (RFC 9116) with the `CSAF:` field (§7.1.8). It is rendered
/// per request, so `Expires` is always a week ahead.
pub fn security_txt(conn: &mut DbConn, config: &ProviderConfig) -> AppResult<String> {
    let expires = (chrono::Utc::now() + chrono::Duration::days(7))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let contact = match contact_email(conn)? {
        Some(email) => format!("mailto:{email}"),
        None => format!("{}/api/v1/cvd/reports", config.public_url),
    };
    Ok(format!(
        "Contact: {contact}\nExpires: {expires}\nCanonical: {url}/.well-known/security.txt\nPreferred-Languages: en\nCSAF: {base}/provider-metadata.json\n",
        url = config.public_url,
        base = base(config),
    ))
}

/// The hash line of `.sha256` / `.sha512` files: the hex digest, two spaces, the file name
/// (the format of `sha256sum`, which `sha256sum -c` checks).
pub fn hash_line(hex: &str, file: &str) -> String {
    format!("{hex}  {file}\n")
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn sha512_hex(data: &[u8]) -> String {
    hex::encode(Sha512::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_lower_case_with_other_runs_as_one_underscore() {
        assert_eq!(file_name("NCSIRT-2026-0001"), "ncsirt-2026-0001.json");
        assert_eq!(
            file_name("Example Company - 2019-YH3234"),
            "example_company_-_2019-yh3234.json"
        );
        assert_eq!(file_name("rhba-2019:0024"), "rhba-2019_0024.json");
        assert_eq!(file_name("a//b+c"), "a_b+c.json");
    }

    #[test]
    fn amber_strict_is_served_from_the_amber_directory() {
        assert_eq!(Dir::of(Tlp::Clear), Dir::White);
        assert_eq!(Dir::of(Tlp::Green), Dir::Green);
        assert_eq!(Dir::of(Tlp::Amber), Dir::Amber);
        assert_eq!(Dir::of(Tlp::AmberStrict), Dir::Amber);
        assert_eq!(Dir::of(Tlp::Red), Dir::Red);
        assert_eq!(Dir::parse("amber"), Some(Dir::Amber));
        assert_eq!(Dir::parse("AMBER"), None);
    }
}
