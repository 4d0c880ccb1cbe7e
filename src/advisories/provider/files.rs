//! The provider's files: where each document lives, the stored text, and the pages, feeds, listings and security.txt built from them.

use super::*;

/// The stored text of revision `revision` of advisory `id` for the provider at `public_url`,
/// if it has been rendered; the caller has checked that its reader may read it.
pub fn stored_text(
    conn: &mut DbConn,
    id: &str,
    revision: i64,
    public_url: &str,
) -> AppResult<Option<String>> {
    Ok(csaf_documents::table
        .find((id, revision))
        .filter(csaf_documents::public_url.eq(public_url))
        .select(csaf_documents::document)
        .first(conn)
        .optional()?)
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
        match super::super::csaf::tlp_label(tlp) {
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

/// A CSAF date as the documents write it (RFC 3339, microseconds, `Z`).
pub(super) fn csaf_date(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// One listed document: the stored metadata, never its text.
#[derive(Debug, Clone, Queryable)]
pub struct Entry {
    pub tracking_id: String,
    pub title: String,
    pub year: String,
    pub file: String,
    pub published_at: NaiveDateTime,
    pub modified_at: NaiveDateTime,
}

impl Entry {
    /// `2026/ncsirt-2026-0001.json`, relative to the TLP directory.
    pub fn path(&self) -> String {
        format!("{}/{}", self.year, self.file)
    }

    /// The document's `initial_release_date`.
    pub fn initial(&self) -> String {
        csaf_date(self.published_at)
    }

    /// The document's `current_release_date`.
    pub fn current(&self) -> String {
        csaf_date(self.modified_at)
    }
}

/// One stored document as served: its bytes, hashes and signature.
#[derive(Debug, Clone, Queryable)]
pub struct Stored {
    pub advisory_id: String,
    pub file: String,
    pub document: String,
    pub sha256: String,
    pub sha512: String,
    pub signature: String,
    pub stored_at: NaiveDateTime,
    /// The advisory's TLP 2.0 label now.
    pub tlp: String,
}

impl Stored {
    /// The entity tag of the document and of the files beside it (each is its own resource).
    pub fn etag(&self, suffix: &str) -> String {
        format!("\"{}{suffix}\"", &self.sha256[..32.min(self.sha256.len())])
    }
}

/// A listing of a TLP directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// `index.txt` (§7.1.12).
    Index,
    /// `changes.csv` (§7.1.13).
    Changes,
    /// The ROLIE feed (§7.1.15).
    Feed,
    /// The directory listing (§7.1.14).
    Directory,
    /// A year folder's listing (§7.1.14).
    Year(String),
}

impl Page {
    pub(super) fn key(&self) -> String {
        match self {
            Page::Index => "index".into(),
            Page::Changes => "changes".into(),
            Page::Feed => "feed".into(),
            Page::Directory => "directory".into(),
            Page::Year(y) => format!("year/{y}"),
        }
    }
}

pub(super) fn build_page(
    config: &ProviderConfig,
    dir: Dir,
    entries: &[Entry],
    page: &Page,
    fresh: &Fresh,
) -> AppResult<Body> {
    let bytes = match page {
        Page::Index => index_txt(entries).into_bytes(),
        Page::Changes => changes_csv(entries).into_bytes(),
        Page::Feed => {
            let updated = fresh
                .seen_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            // Compact: a feed is read by programs, and at 10 000 documents the indentation
            // alone was a third of its bytes.
            serde_json::to_vec(&feed(config, dir, entries, &updated))?
        }
        Page::Directory => listing_html(
            &format!("/.well-known/csaf/{}/", dir.name()),
            &directory_entries(entries),
        )
        .into_bytes(),
        Page::Year(year) => {
            let files = year_entries(entries, year);
            if files.is_empty() {
                return Err(AppError::NotFound);
            }
            listing_html(&format!("/.well-known/csaf/{}/{year}/", dir.name()), &files).into_bytes()
        }
    };
    Ok(Body::new(bytes, Some(fresh.seen_at)))
}

/// `index.txt`: every document's path, one a line (§7.1.12).
pub fn index_txt(docs: &[Entry]) -> String {
    docs.iter().map(|d| format!("{}\n", d.path())).collect()
}

/// `changes.csv`: path and current release date, newest first, both fields quoted (§7.1.13),
/// through the service's one CSV writer. Both cells begin with a year, so the writer's formula
/// neutralisation never changes them: the file is exactly what the standard specifies.
pub fn changes_csv(docs: &[Entry]) -> String {
    let mut out = CsvWriter::csaf_changes();
    for d in docs {
        let (path, date) = (d.path(), d.current());
        out.row([Cell::Text(&path), Cell::Text(&date)]);
    }
    out.finish()
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
pub fn directory_entries(docs: &[Entry]) -> Vec<String> {
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
pub fn year_entries(docs: &[Entry], year: &str) -> Vec<String> {
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
pub(super) fn base(config: &ProviderConfig) -> String {
    format!("{}/.well-known/csaf", config.public_url)
}

pub fn feed_url(config: &ProviderConfig, dir: Dir) -> String {
    format!("{}/feed-tlp-{}.json", base(config), dir.name())
}

pub fn document_url(config: &ProviderConfig, dir: Dir, doc: &Entry) -> String {
    format!("{}/{}/{}", base(config), dir.name(), doc.path())
}

pub fn public_key_url(config: &ProviderConfig, key: &ProviderKey) -> String {
    format!("{}/openpgp/{}.asc", base(config), key.fingerprint())
}

pub(super) const ROLIE_CATEGORY: &str = "urn:ietf:params:rolie:category:information-type";

/// The ROLIE feed of one TLP directory (§7.1.15); `empty_updated` is its `updated` when it
/// lists nothing.
pub fn feed(config: &ProviderConfig, dir: Dir, docs: &[Entry], empty_updated: &str) -> Value {
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
                "published": d.initial(),
                "updated": d.current(),
                "content": {"type": "application/json", "src": url},
                "format": {
                    "schema": "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json",
                    "version": "2.0",
                },
            })
        })
        .collect();
    let updated = docs
        .first()
        .map(|d| d.current())
        .unwrap_or_else(|| empty_updated.to_string());
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
pub(super) fn publisher(conn: &mut DbConn, config: &ProviderConfig) -> AppResult<Value> {
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
pub(super) fn contact_email(conn: &mut DbConn) -> AppResult<Option<String>> {
    let dir = crate::directory::load_directory(conn)?;
    Ok(dir
        .into_iter()
        .find(|o| o.kind == OrgKind::NationalCsirt)
        .and_then(|o| crate::directory::service::get(conn, &o.id).ok())
        .and_then(|o| o.contact.email))
}

pub(super) fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `/.well-known/security.txt` (RFC 9116) with the `CSAF:` field (§7.1.8). `Expires` is the
/// start of the day eight days ahead (UTC): always at least a week away, and the same all day,
/// so the file (and its entity tag) changes once a day, not with every request.
pub fn security_txt(conn: &mut DbConn, config: &ProviderConfig) -> AppResult<String> {
    let expires = (Utc::now().date_naive() + chrono::Days::new(8))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc()
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
