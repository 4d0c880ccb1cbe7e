//! An OpenID Connect identity provider's signing keys, fetched from its JWKS and kept.
//!
//! National CSIRTs run Keycloak, Entra ID or another OpenID Connect provider. These publish
//! their signing keys as a JSON Web Key Set and rotate them: a new key appears (with a new
//! `kid`) before tokens are signed with it, and an old one is removed once its tokens have
//! expired. So the keys are fetched, kept for as long as the provider's `Cache-Control:
//! max-age` says (5 minutes when it says nothing, at most a day), and fetched again when they
//! are stale or a token names a `kid` not among them. A token with an unknown `kid` can be made
//! by anyone, so such fetches are rate-limited: at most one per `min_refresh` per instance,
//! whatever arrives. A failed fetch keeps the keys held (an identity provider that is down for
//! a minute must not lock everyone out) and is retried after `min_refresh`.
//!
//! Fetching blocks; it runs on the blocking pool (`authenticate` calls [`Jwks::refresh`]
//! through `web::block`), never on an HTTP worker. Verification reads the kept keys only.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

/// Where an OpenID Connect identity provider publishes its signing keys (`auth::jwks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// An OpenID Connect issuer: its `/.well-known/openid-configuration` names the JWKS
    /// (`jwks_uri`), and its tokens carry it as `iss`.
    Issuer(String),
    /// A JWKS address given directly; tokens carry the service's configured issuer.
    Url(String),
}

/// How long keys are kept when the provider does not say.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// The longest they are kept whatever the provider says: a removed key stops working within it.
const LONGEST_MAX_AGE: Duration = Duration::from_secs(86_400);
/// The largest JWKS or discovery document read.
const LARGEST_DOCUMENT: u64 = 1 << 20;

/// Signing keys by `kid`, each with the one algorithm it verifies.
pub type KeySet = HashMap<String, (Algorithm, DecodingKey)>;

/// The keys held, and until when.
struct Held {
    keys: KeySet,
    /// `None` until the first successful fetch.
    fresh_until: Option<Instant>,
}

pub struct Jwks {
    source: JwksSource,
    min_refresh: Duration,
    agent: ureq::Agent,
    held: RwLock<Held>,
    /// When the last fetch was tried; held while fetching, so concurrent callers wait for one
    /// fetch instead of each making their own.
    last_try: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks")
            .field("source", &self.source)
            .field("min_refresh", &self.min_refresh)
            .finish()
    }
}

/// What the kept keys say of a token's `kid` and algorithm.
pub enum Lookup {
    Found(DecodingKey),
    /// No kept key has this `kid` (or the token names none and more than one key is kept).
    Unknown,
    /// The key exists but is for another algorithm than the token's header says.
    WrongAlgorithm,
}

impl Jwks {
    pub fn new(source: JwksSource, min_refresh: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(true)
            .build()
            .into();
        Self {
            source,
            min_refresh,
            agent,
            held: RwLock::new(Held {
                keys: HashMap::new(),
                fresh_until: None,
            }),
            last_try: Mutex::new(None),
        }
    }

    /// The issuer tokens of this provider carry, when it is an OpenID Connect issuer.
    pub fn issuer(&self) -> Option<&str> {
        match &self.source {
            JwksSource::Issuer(i) => Some(i),
            JwksSource::Url(_) => None,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Held> {
        self.held.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The kept key for a token's `kid` and `alg`.
    pub fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Lookup {
        let held = self.read();
        let found = match kid {
            Some(kid) => held.keys.get(kid),
            // A provider with one key may leave `kid` out of its tokens.
            None if held.keys.len() == 1 => held.keys.values().next(),
            None => None,
        };
        match found {
            Some((a, key)) if *a == alg => Lookup::Found(key.clone()),
            Some(_) => Lookup::WrongAlgorithm,
            None => Lookup::Unknown,
        }
    }

    /// Whether a token with this `kid` should wait for a fetch before it is verified: the
    /// keys are stale, or none has the `kid`. [`Jwks::refresh`] decides whether a fetch is
    /// actually made.
    pub fn wants_refresh(&self, kid: Option<&str>, alg: Algorithm) -> bool {
        let stale = self
            .read()
            .fresh_until
            .is_none_or(|until| Instant::now() >= until);
        stale || matches!(self.lookup(kid, alg), Lookup::Unknown)
    }

    /// Fetches the keys again unless a fetch was tried less than `min_refresh` ago. Blocking.
    /// A failure keeps the held keys and is logged (without the response body).
    pub fn refresh(&self) {
        let mut last = self.last_try.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < self.min_refresh) {
            return;
        }
        *last = Some(Instant::now());
        match self.fetch() {
            Ok((keys, max_age)) => {
                log::info!(
                    "identity provider keys fetched: {} signing key(s), kept {}s",
                    keys.len(),
                    max_age.as_secs()
                );
                let mut held = self.held.write().unwrap_or_else(|e| e.into_inner());
                held.keys = keys;
                held.fresh_until = Some(Instant::now() + max_age);
            }
            Err(e) => log::warn!("identity provider keys not fetched (the held ones stay): {e}"),
        }
    }

    /// Reads the JWKS (after the discovery document, for an issuer).
    fn fetch(&self) -> Result<(KeySet, Duration), String> {
        let jwks_url = match &self.source {
            JwksSource::Url(u) => u.clone(),
            JwksSource::Issuer(issuer) => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                );
                let (doc, _) = self.get(&url)?;
                let doc: serde_json::Value = serde_json::from_str(&doc)
                    .map_err(|e| format!("{url}: not a JSON document: {e}"))?;
                // OpenID Connect Discovery 1.0 §4.3: the issuer in the document is the one
                // asked for, exactly.
                if doc["issuer"].as_str() != Some(issuer.as_str()) {
                    return Err(format!("{url}: `issuer` is not `{issuer}`"));
                }
                doc["jwks_uri"]
                    .as_str()
                    .ok_or_else(|| format!("{url}: no `jwks_uri`"))?
                    .to_string()
            }
        };
        let (body, max_age) = self.get(&jwks_url)?;
        Ok((
            parse_jwks(&body).map_err(|e| format!("{jwks_url}: {e}"))?,
            max_age,
        ))
    }

    fn get(&self, url: &str) -> Result<(String, Duration), String> {
        let mut res = self
            .agent
            .get(url)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| format!("{url}: {e}"))?;
        let max_age = res
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .unwrap_or(DEFAULT_MAX_AGE)
            .clamp(self.min_refresh, LONGEST_MAX_AGE);
        let body = res
            .body_mut()
            .with_config()
            .limit(LARGEST_DOCUMENT)
            .read_to_string()
            .map_err(|e| format!("{url}: {e}"))?;
        Ok((body, max_age))
    }
}

/// `max-age` of a `Cache-Control` value (`no-store`/`no-cache` keep for the shortest time).
fn max_age(value: &str) -> Option<Duration> {
    value.split(',').map(str::trim).find_map(|d| {
        let d = d.to_ascii_lowercase();
        if d == "no-store" || d == "no-cache" {
            return Some(Duration::ZERO);
        }
        d.strip_prefix("max-age=")
            .and_then(|s| s.trim_matches('"').parse::<u64>().ok())
            .map(Duration::from_secs)
    })
}

/// The signing keys of a JWKS that this service accepts (RS256 and ES256 on P-256), by
/// `kid`. Keys for encryption, of other types or algorithms, or without a `kid` are skipped
/// one by one, so a provider that also publishes such keys (Keycloak's `RSA-OAEP` key) works.
pub fn parse_jwks(body: &str) -> Result<KeySet, String> {
    let set: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("not a JSON document: {e}"))?;
    let keys = set["keys"]
        .as_array()
        .ok_or("not a JSON Web Key Set (no `keys` array)")?;
    let mut out = HashMap::new();
    for key in keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(key.clone()) else {
            continue;
        };
        if let Some((kid, alg)) = signing_key(&jwk) {
            if let Ok(decoding) = DecodingKey::from_jwk(&jwk) {
                out.insert(kid, (alg, decoding));
            }
        }
    }
    Ok(out)
}

/// The `kid` and algorithm of a JWK this service verifies with, if it is one.
fn signing_key(jwk: &Jwk) -> Option<(String, Algorithm)> {
    let kid = jwk.common.key_id.clone()?;
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption) | Some(PublicKeyUse::Other(_))
    ) {
        return None;
    }
    let alg = match (&jwk.algorithm, &jwk.common.key_algorithm) {
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
        (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
            if ec.curve == EllipticCurve::P256 =>
        {
            Algorithm::ES256
        }
        _ => return None,
    };
    Some((kid, alg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_reads_the_directive() {
        assert_eq!(
            max_age("public, max-age=600"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(max_age("no-cache"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
    }

    #[test]
    fn only_rs256_and_es256_signing_keys_are_kept() {
        let set = serde_json::json!({"keys": [
            // Keycloak's encryption key: skipped.
            {"kid": "enc", "kty": "RSA", "alg": "RSA-OAEP", "use": "enc", "n": "sXch", "e": "AQAB"},
            // A symmetric key: never from a JWKS.
            {"kid": "oct", "kty": "oct", "k": "c2VjcmV0"},
            // No kid: cannot be chosen.
            {"kty": "EC", "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kid": "ec", "kty": "EC", "crv": "P-256", "use": "sig",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
        ]});
        let keys = parse_jwks(&set.to_string()).unwrap();
        assert_eq!(keys.len(), 1, "{:?}", keys.keys().collect::<Vec<_>>());
        assert_eq!(keys["ec"].0, Algorithm::ES256);
        assert!(parse_jwks("{}").is_err());
    }
}
