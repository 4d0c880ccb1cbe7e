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

mod files;
#[allow(unused_imports)]
pub use files::*;

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
