//! The CSAF 2.0 trusted provider (CSAF 2.0 §7.1, requirements 1–20 for the role
//! `csaf_trusted_provider`): the published and withdrawn advisories as CSAF documents under
//! `/.well-known/csaf/`, one directory per TLP label with a folder per year of the initial
//! release, `index.txt`, `changes.csv`, a ROLIE feed per label, and beside every document its
//! SHA-256, SHA-512 and a detached OpenPGP signature with the provider key.
//!
//! Who may read a document is the advisory's own rule (`service`, TLP 2.0 and the audience):
//! the `white` tree is public; the others need a token, and every listing, feed and document
//! shows the caller only what it may read (404 for the rest). TLP 2.0 labels map to CSAF's
//! TLP 1.0 labels as in `csaf::tlp_label`, so AMBER+STRICT documents are in `amber`.
//!
//! What an anonymous caller can cost. Every published revision is rendered, hashed and signed
//! once, the first time the provider is asked for anything after it was published, and kept in
//! `csaf_documents` (keyed by advisory and revision); downloads and listings read those rows,
//! never the advisories' text. A counter (`csaf_generation`, moved by a trigger in the
//! transaction that publishes, withdraws or relabels an advisory) tells each instance when its
//! copy of the public (`white`) listings is out of date, so an anonymous listing costs one
//! primary-key read however many documents there are. Anonymous requests are limited per
//! client address ([`ANONYMOUS_PER_SECOND`], [`ANONYMOUS_BURST`]; IPv6 per /64), and every
//! answer carries an `ETag` (and, where it is sound, `Last-Modified`) so that a client polling
//! an unchanged tree gets `304 Not Modified`.

use super::model::Tlp;
use super::service;
use crate::auth::Caller;
use crate::config::ProviderConfig;
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult};
use crate::http::csv::{Cell, CsvWriter};
use crate::openpgp::ProviderKey;
use crate::rules::coverage::OrgKind;
use crate::schema::{advisories, csaf_documents, csaf_generation};
use actix_web::web::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha512};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};

/// Anonymous requests one client address may make per second, on average (IPv6 addresses
/// count per /64, the smallest network a single subscriber is normally given). At this rate
/// an aggregator mirrors 10 000 documents with their hashes and signatures in about half an
/// hour, and a polling client is unaffected; a token lifts the limit.
pub const ANONYMOUS_PER_SECOND: u32 = 20;
/// Requests an anonymous address may make at once before [`ANONYMOUS_PER_SECOND`] applies.
pub const ANONYMOUS_BURST: u32 = 200;
/// Documents rendered by one request at most: a backlog (the first start after an upgrade)
/// is worked off over several requests instead of holding one for minutes.
const RENDER_BATCH: i64 = 100;
/// Addresses the limiter tracks before it forgets those whose limit is full again.
const LIMITER_PRUNE_ABOVE: usize = 10_000;

/// The provider's per-instance state: its key, the limit on anonymous requests and the public
/// listings it keeps until an advisory changes.
pub struct Provider {
    key: ProviderKey,
    anonymous: DefaultKeyedRateLimiter<IpAddr>,
    state: Mutex<State>,
    /// One renderer at a time per instance (others wait, then find the rows stored).
    rendering: Mutex<()>,
}

/// The name the application state knows the provider by.
pub type Signer = Provider;

#[derive(Default)]
struct State {
    /// The generation at which every current revision was found stored.
    synced: Option<i64>,
    /// The newest generation seen, and when this instance first saw it (`Last-Modified` of
    /// the listings: later than the change, never earlier).
    seen: Option<(i64, DateTime<Utc>)>,
    /// The public listing of that generation, with the pages made from it.
    white: Option<Arc<WhiteCache>>,
}

struct WhiteCache {
    generation: i64,
    entries: Vec<Entry>,
    pages: Mutex<HashMap<String, Arc<Body>>>,
}

/// Where the listings stand: the generation read at the start of the request, when this
/// instance first saw it, and whether every current revision is stored.
#[derive(Debug, Clone, Copy)]
pub struct Fresh {
    pub generation: i64,
    pub seen_at: DateTime<Utc>,
    pub complete: bool,
}

/// A response body with its validator.
#[derive(Debug)]
pub struct Body {
    pub bytes: Bytes,
    /// A strong entity tag, quoted.
    pub etag: String,
    /// When the content was last changed, to the best of this instance's knowledge.
    pub last_modified: Option<DateTime<Utc>>,
    /// For a kept listing: the same bytes gzip-compressed, made by the first request that
    /// accepts gzip and then served as they are. A kept listing is served many times and
    /// grows with the documents (the `white` ROLIE feed is about 150 bytes a document, so
    /// 1.5 MB at 10 000); compressed it is about a tenth of that, and what a request costs is
    /// mostly the bytes it hands over. Listings made per request are not compressed.
    gzip: Option<OnceLock<Bytes>>,
}

impl Body {
    /// A body whose entity tag is the start of its SHA-256.
    pub fn new(bytes: Vec<u8>, last_modified: Option<DateTime<Utc>>) -> Self {
        let etag = format!("\"{}\"", &sha256_hex(&bytes)[..32]);
        Self {
            bytes: Bytes::from(bytes),
            etag,
            last_modified,
            gzip: None,
        }
    }

    /// The same body, offered gzip-compressed too (for listings that are kept).
    fn kept(mut self) -> Self {
        self.gzip = Some(OnceLock::new());
        self
    }

    /// True for a kept listing, which is offered gzip-compressed too.
    pub fn offers_gzip(&self) -> bool {
        self.gzip.is_some()
    }

    /// The gzip-compressed bytes, if this body offers them: compressed on the first call (on
    /// the blocking pool: the caller is a `state.db` closure), shared by every later one.
    pub fn gzipped(&self) -> Option<&Bytes> {
        let cell = self.gzip.as_ref()?;
        Some(cell.get_or_init(|| {
            use flate2::{write::GzEncoder, Compression};
            use std::io::Write;
            let mut encoder = GzEncoder::new(
                Vec::with_capacity(self.bytes.len() / 8),
                Compression::default(),
            );
            // Writing to a Vec cannot fail.
            let _ = encoder.write_all(&self.bytes);
            Bytes::from(encoder.finish().unwrap_or_default())
        }))
    }

    /// The entity tag of the gzip-compressed representation: a different representation has
    /// a different strong validator (RFC 9110 §8.8.3), so a cache never mixes them up.
    pub fn gzip_etag(&self) -> String {
        format!("{}-gzip\"", self.etag.trim_end_matches('"'))
    }
}

/// The key an anonymous request is counted under: the IPv4 address (also when it arrives
/// IPv4-mapped), or the /64 of an IPv6 address, so that one subscriber's many IPv6
/// addresses share one limit. Requests without a peer address share one key.
pub fn limit_key(addr: Option<IpAddr>) -> IpAddr {
    match addr {
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(IpAddr::V4(v4)) => IpAddr::V4(v4),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
    }
}

impl Provider {
    /// Loads the configured key, generating it on first start, with the documented limit on
    /// anonymous requests.
    pub fn load(config: &ProviderConfig) -> Result<Self, String> {
        Self::load_with_limit(config, ANONYMOUS_PER_SECOND, ANONYMOUS_BURST)
    }

    /// Like [`Provider::load`] with another anonymous limit (tests, benchmarks).
    pub fn load_with_limit(
        config: &ProviderConfig,
        per_second: u32,
        burst: u32,
    ) -> Result<Self, String> {
        let user_id = format!("nis2hub CSAF provider ({})", config.public_url);
        let key = ProviderKey::load_or_create(&config.openpgp_key_file, &user_id)
            .map_err(|e| format!("NIS2HUB_OPENPGP_KEY_FILE: {e}"))?;
        let quota = Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Ok(Self {
            key,
            anonymous: RateLimiter::keyed(quota),
            state: Mutex::new(State::default()),
            rendering: Mutex::new(()),
        })
    }

    pub fn key(&self) -> &ProviderKey {
        &self.key
    }

    /// The armored detached signature of `data` with the provider key.
    pub fn sign(&self, data: &[u8]) -> AppResult<String> {
        self.key.sign(data).map_err(AppError::internal)
    }

    /// One anonymous request from `addr`: 429 with the seconds to wait once its address (or
    /// /64) has used its limit. Requests with a token are not counted.
    pub fn check_anonymous(&self, addr: Option<IpAddr>) -> AppResult<()> {
        use governor::clock::{Clock, DefaultClock};
        if self.anonymous.len() > LIMITER_PRUNE_ABOVE {
            self.anonymous.retain_recent();
        }
        self.anonymous
            .check_key(&limit_key(addr))
            .map_err(|not_until| {
                AppError::TooManyRequests(
                    not_until
                        .wait_time_from(DefaultClock::default().now())
                        .as_secs()
                        .max(1),
                )
            })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a cache: whatever a panicking holder left is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the generation and, when it moved since every current revision was last found
    /// stored, renders and stores the missing ones (at most [`RENDER_BATCH`] a call).
    pub fn refresh(&self, conn: &mut DbConn, public_url: &str) -> AppResult<Fresh> {
        let generation: i64 = csaf_generation::table
            .find(1)
            .select(csaf_generation::generation)
            .first(conn)?;
        let (synced, seen_at) = {
            let mut state = self.lock();
            let seen_at = match state.seen {
                Some((g, at)) if g == generation => at,
                Some((g, at)) if g > generation => at,
                _ => {
                    let at = Utc::now();
                    state.seen = Some((generation, at));
                    at
                }
            };
            (state.synced, seen_at)
        };
        if synced.is_some_and(|s| s >= generation) {
            return Ok(Fresh {
                generation,
                seen_at,
                complete: true,
            });
        }
        let _rendering = self.rendering.lock().unwrap_or_else(|e| e.into_inner());
        if self.lock().synced.is_some_and(|s| s >= generation) {
            return Ok(Fresh {
                generation,
                seen_at,
                complete: true,
            });
        }
        let complete = self.store_missing(conn, public_url)?;
        if complete {
            let mut state = self.lock();
            state.synced = Some(state.synced.map_or(generation, |s| s.max(generation)));
        }
        Ok(Fresh {
            generation,
            seen_at,
            complete,
        })
    }

    /// Renders and stores the current revision of every published or withdrawn advisory that
    /// has no stored document for this provider address; true when none is left.
    fn store_missing(&self, conn: &mut DbConn, public_url: &str) -> AppResult<bool> {
        use diesel::dsl::{exists, not};
        let missing: Vec<String> = advisories::table
            .filter(advisories::status.ne("draft"))
            .filter(not(exists(
                csaf_documents::table
                    .filter(csaf_documents::advisory_id.eq(advisories::id))
                    .filter(csaf_documents::revision.eq(advisories::revision))
                    .filter(csaf_documents::public_url.eq(public_url)),
            )))
            .select(advisories::id)
            // The latest changes first: a backlog shows the newest publications soonest.
            .order((advisories::updated_at.desc(), advisories::id.asc()))
            .limit(RENDER_BATCH + 1)
            .load(conn)?;
        let mut complete = missing.len() as i64 <= RENDER_BATCH;
        for id in missing.iter().take(RENDER_BATCH as usize) {
            complete &= self.render_and_store(conn, id, public_url)?;
        }
        Ok(complete)
    }

    /// Renders the advisory's current revision as its readers see it, signs it and stores it;
    /// false when the advisory changed while it was rendered (the next request renders it).
    fn render_and_store(&self, conn: &mut DbConn, id: &str, public_url: &str) -> AppResult<bool> {
        let (issuer, tlp, revision): (String, String, i64) = advisories::table
            .find(id)
            .select((advisories::issuer_id, advisories::tlp, advisories::revision))
            .first(conn)?;
        // Rendered as its issuer would read it: the text is the published one for everyone
        // (`service::render_csaf`); the issuer's view only lets every TLP be rendered here.
        let caller = Caller {
            org: issuer,
            ..Caller::system("csaf-provider")
        };
        let doc = service::render_csaf(conn, Some(&caller), id, public_url)?;
        let tracking = &doc["document"]["tracking"];
        let version = tracking["version"]
            .as_str()
            .and_then(|v| v.parse::<i64>().ok());
        let last = tracking["revision_history"]
            .as_array()
            .and_then(|h| h.last())
            .and_then(|r| r["number"].as_str())
            .and_then(|n| n.parse::<i64>().ok());
        let tlp = Tlp::parse(&tlp).unwrap_or(Tlp::Red);
        let dir = Dir::of(tlp);
        if version != Some(revision)
            || last != Some(revision)
            || doc["document"]["distribution"]["tlp"]["label"] != dir.label()
        {
            return Ok(false);
        }
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let time = |v: &Value| -> AppResult<NaiveDateTime> {
            DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default())
                .map(|t| t.with_timezone(&Utc).naive_utc())
                .map_err(|e| AppError::internal(format!("CSAF date of {id}: {e}")))
        };
        let tracking_id = text(&tracking["id"]);
        let initial = text(&tracking["initial_release_date"]);
        let bytes = serde_json::to_vec_pretty(&doc)?;
        let signature = self.sign(&bytes)?;
        let document = String::from_utf8(bytes).map_err(|e| AppError::internal(e.to_string()))?;
        let row = (
            csaf_documents::advisory_id.eq(id),
            csaf_documents::revision.eq(revision),
            csaf_documents::tlp.eq(tlp.as_str()),
            csaf_documents::directory.eq(dir.name()),
            csaf_documents::year.eq(initial.get(..4).unwrap_or("0000").to_string()),
            csaf_documents::file.eq(file_name(&tracking_id)),
            csaf_documents::title.eq(text(&doc["document"]["title"])),
            csaf_documents::tracking_id.eq(tracking_id),
            csaf_documents::published_at.eq(time(&tracking["initial_release_date"])?),
            csaf_documents::modified_at.eq(time(&tracking["current_release_date"])?),
            csaf_documents::public_url.eq(public_url),
            csaf_documents::sha256.eq(sha256_hex(document.as_bytes())),
            csaf_documents::sha512.eq(sha512_hex(document.as_bytes())),
            csaf_documents::document.eq(&document),
            csaf_documents::signature.eq(&signature),
            csaf_documents::stored_at.eq(db::now()),
        );
        let stored = db::write_tx(conn, |conn| {
            // A row for another provider address (the setting changed) is replaced.
            diesel::delete(
                csaf_documents::table
                    .filter(csaf_documents::advisory_id.eq(id))
                    .filter(csaf_documents::revision.eq(revision))
                    .filter(csaf_documents::public_url.ne(public_url)),
            )
            .execute(conn)?;
            match diesel::insert_into(csaf_documents::table)
                .values(row)
                .execute(conn)
            {
                Ok(_) => Ok(()),
                Err(e) if db::is_unique_violation(&e) => Err(AppError::Conflict(
                    "csaf_document_stored",
                    "stored by another instance".into(),
                )),
                Err(e) => Err(e.into()),
            }
        });
        match stored {
            Ok(()) => Ok(true),
            // Another instance stored it first: its row is the one everybody serves.
            Err(AppError::Conflict(..)) => Ok(true),
            Err(e) => Err(e),
        }
    }
}

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

/// The stored documents that are their advisory's current revision.
macro_rules! current_documents {
    () => {
        csaf_documents::table.inner_join(
            advisories::table.on(advisories::id
                .eq(csaf_documents::advisory_id)
                .and(advisories::revision.eq(csaf_documents::revision))),
        )
    };
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

/// A CSAF date as the documents write it (RFC 3339, microseconds, `Z`).
fn csaf_date(t: NaiveDateTime) -> String {
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
    fn key(&self) -> String {
        match self {
            Page::Index => "index".into(),
            Page::Changes => "changes".into(),
            Page::Feed => "feed".into(),
            Page::Directory => "directory".into(),
            Page::Year(y) => format!("year/{y}"),
        }
    }
}

impl Provider {
    /// The documents of `dir` the caller may read (anonymous: TLP:CLEAR only), newest change
    /// first: one query over the stored metadata.
    pub fn entries(conn: &mut DbConn, caller: Option<&Caller>, dir: Dir) -> AppResult<Vec<Entry>> {
        let mut q = current_documents!()
            .filter(csaf_documents::directory.eq(dir.name()))
            .filter(advisories::status.ne("draft"))
            .select((
                csaf_documents::tracking_id,
                csaf_documents::title,
                csaf_documents::year,
                csaf_documents::file,
                csaf_documents::published_at,
                csaf_documents::modified_at,
            ))
            .into_boxed();
        q = match caller {
            None => q.filter(advisories::tlp.eq("CLEAR")),
            Some(c) => q.filter(readable_by!(c.org)),
        };
        Ok(q.order((
            csaf_documents::modified_at.desc(),
            csaf_documents::file.asc(),
        ))
        .load(conn)?)
    }

    /// A listing of `dir` for the caller. The `white` tree is the same for everyone: it is
    /// kept per generation, so serving it again costs the generation's read; the other trees
    /// are one query over the stored metadata per request. 404 for a year folder without a
    /// document the caller may read; 401 for the trees beyond `white` without a token.
    pub fn page(
        &self,
        conn: &mut DbConn,
        config: &ProviderConfig,
        caller: Option<&Caller>,
        dir: Dir,
        page: &Page,
    ) -> AppResult<Arc<Body>> {
        if caller.is_none() && dir != Dir::White {
            return Err(AppError::Unauthorized(
                "without a bearer token only the white (TLP:CLEAR) CSAF directory can be read"
                    .into(),
            ));
        }
        let fresh = self.refresh(conn, &config.public_url)?;
        if dir != Dir::White || !fresh.complete {
            let entries = Self::entries(conn, caller, dir)?;
            return Ok(Arc::new(build_page(config, dir, &entries, page, &fresh)?));
        }
        let cached = self
            .lock()
            .white
            .clone()
            .filter(|c| c.generation == fresh.generation);
        let cache = match cached {
            Some(c) => c,
            None => {
                let cache = Arc::new(WhiteCache {
                    generation: fresh.generation,
                    entries: Self::entries(conn, None, Dir::White)?,
                    pages: Mutex::new(HashMap::new()),
                });
                let mut state = self.lock();
                if state
                    .white
                    .as_ref()
                    .is_none_or(|w| w.generation <= fresh.generation)
                {
                    state.white = Some(cache.clone());
                }
                cache
            }
        };
        let key = page.key();
        let pages = || cache.pages.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(body) = pages().get(&key) {
            return Ok(body.clone());
        }
        // Only pages that exist are kept (a year folder with documents), so the cache holds
        // at most four pages and one per year.
        let body = Arc::new(build_page(config, dir, &cache.entries, page, &fresh)?.kept());
        pages().insert(key, body.clone());
        Ok(body)
    }

    /// The stored document at `{dir}/{year}/{file}` if the caller may read it: the current
    /// revision of its advisory, as first rendered and signed.
    pub fn document(
        &self,
        conn: &mut DbConn,
        config: &ProviderConfig,
        caller: Option<&Caller>,
        dir: Dir,
        year: &str,
        file: &str,
    ) -> AppResult<Stored> {
        if caller.is_none() && dir != Dir::White {
            return Err(AppError::Unauthorized(
                "without a bearer token only the white (TLP:CLEAR) CSAF directory can be read"
                    .into(),
            ));
        }
        let fresh = self.refresh(conn, &config.public_url)?;
        let mut found = Self::stored(conn, dir, year, file)?;
        if found.is_none() && !fresh.complete {
            // A backlog not yet worked off: render the one asked for now. The service's
            // references (`FD-<CODE>-<year>-<n>`) are their file names upper-cased.
            let reference = file.trim_end_matches(".json").to_uppercase();
            let id: Option<String> = advisories::table
                .filter(advisories::reference.eq(&reference))
                .filter(advisories::status.ne("draft"))
                .select(advisories::id)
                .first(conn)
                .optional()?;
            if let Some(id) = id {
                let _rendering = self.rendering.lock().unwrap_or_else(|e| e.into_inner());
                self.render_and_store(conn, &id, &config.public_url)?;
                found = Self::stored(conn, dir, year, file)?;
            }
        }
        let doc = found.ok_or(AppError::NotFound)?;
        match caller {
            None if doc.tlp == "CLEAR" => Ok(doc),
            None => Err(AppError::NotFound),
            // The service's own rule decides, as for every other read of an advisory.
            Some(c) => match service::get(conn, Some(c), &doc.advisory_id) {
                Ok(_) => Ok(doc),
                Err(AppError::NotFound | AppError::Unauthorized(_)) => Err(AppError::NotFound),
                Err(e) => Err(e),
            },
        }
    }

    /// The stored current revision at `{dir}/{year}/{file}`, whoever may read it.
    fn stored(conn: &mut DbConn, dir: Dir, year: &str, file: &str) -> AppResult<Option<Stored>> {
        Ok(current_documents!()
            .filter(csaf_documents::directory.eq(dir.name()))
            .filter(csaf_documents::year.eq(year))
            .filter(csaf_documents::file.eq(file))
            .filter(advisories::status.ne("draft"))
            .select((
                csaf_documents::advisory_id,
                csaf_documents::file,
                csaf_documents::document,
                csaf_documents::sha256,
                csaf_documents::sha512,
                csaf_documents::signature,
                csaf_documents::stored_at,
                advisories::tlp,
            ))
            .first(conn)
            .optional()?)
    }

    /// `provider-metadata.json` (§7.1.7) for the role `csaf_trusted_provider`. `last_updated`
    /// is the newest change of a public document (TLP:CLEAR, published or withdrawn): what
    /// anyone can see, so a restricted publication does not show in the public file.
    pub fn metadata(&self, conn: &mut DbConn, config: &ProviderConfig) -> AppResult<Value> {
        self.refresh(conn, &config.public_url)?;
        let last: Option<NaiveDateTime> = current_documents!()
            .filter(csaf_documents::directory.eq(Dir::White.name()))
            .filter(advisories::tlp.eq("CLEAR"))
            .filter(advisories::status.ne("draft"))
            .select(diesel::dsl::max(csaf_documents::modified_at))
            .first(conn)?;
        let last_updated = last
            .map(|t| {
                t.and_utc()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            })
            .unwrap_or_else(now);
        let key = &self.key;
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
}

fn build_page(
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
fn base(config: &ProviderConfig) -> String {
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

const ROLIE_CATEGORY: &str = "urn:ietf:params:rolie:category:information-type";

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
    fn changes_csv_is_the_two_quoted_fields_of_section_7_1_13() {
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().naive_utc();
        let entry = |year: &str, file: &str, modified: &str| Entry {
            tracking_id: String::new(),
            title: String::new(),
            year: year.into(),
            file: file.into(),
            published_at: at("2025-01-01T00:00:00Z"),
            modified_at: at(modified),
        };
        let docs = [
            entry(
                "2026",
                "fd-ncsirt-2026-0002.json",
                "2026-03-04T05:06:07.000008Z",
            ),
            entry(
                "2025",
                "example_company_-_2019-yh3234.json",
                "2025-07-01T10:09:07Z",
            ),
        ];
        assert_eq!(
            changes_csv(&docs),
            "\"2026/fd-ncsirt-2026-0002.json\",\"2026-03-04T05:06:07.000008Z\"\n\
             \"2025/example_company_-_2019-yh3234.json\",\"2025-07-01T10:09:07.000000Z\"\n"
        );
        assert_eq!(changes_csv(&[]), "");
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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn anonymous_requests_count_per_ipv4_address_and_per_ipv6_64() {
        // One subscriber's IPv6 addresses share its /64; the next /64 is someone else.
        assert_eq!(
            limit_key(Some(ip("2001:db8:1:2:aaaa::1"))),
            limit_key(Some(ip("2001:db8:1:2:ffff:1:2:3")))
        );
        assert_eq!(limit_key(Some(ip("2001:db8:1:2::1"))), ip("2001:db8:1:2::"));
        assert_ne!(
            limit_key(Some(ip("2001:db8:1:2::1"))),
            limit_key(Some(ip("2001:db8:1:3::1")))
        );
        // IPv4 per address, also when it arrives IPv4-mapped.
        assert_eq!(limit_key(Some(ip("192.0.2.7"))), ip("192.0.2.7"));
        assert_ne!(
            limit_key(Some(ip("192.0.2.7"))),
            limit_key(Some(ip("192.0.2.8")))
        );
        assert_eq!(limit_key(Some(ip("::ffff:192.0.2.7"))), ip("192.0.2.7"));
        assert_eq!(limit_key(None), ip("0.0.0.0"));
    }
}
