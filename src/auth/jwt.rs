//! Token signing and verification.
//!
//! Which key verifies a token is chosen by the token's `alg` header, but only among the
//! algorithms this service was configured for: HS256 with the service's secret, and RS256 or
//! ES256 with an external identity provider's key — one PEM public key, or the keys of its
//! JWKS chosen by the token's `kid` (`jwks.rs`). Everything else, `none` included, is refused
//! before any claim is read. Tokens of an OpenID Connect issuer must carry that issuer as
//! `iss`; the service's own tokens and those verified with a PEM key or a JWKS address carry
//! the configured issuer.
//!
//! Tokens from the external identity provider get stricter checks than the service's own:
//! `nbf` is honoured (for every token), `iat` must be a positive time not in the future and not
//! after `exp`, and neither `exp - iat` nor `exp - now` may exceed the configured maximum
//! lifetime, so a provider cannot hand out near-eternal tokens. The arithmetic on the claims is
//! checked: they are the provider's numbers, not ours.

use super::jwks::{Jwks, Lookup};
use super::scopes::Role;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How incoming tokens are verified and how the service signs the tokens it issues.
#[derive(Clone)]
pub struct JwtConfig {
    /// HS256 key: signs tokens from `/oauth/token` and the `token` command, and verifies them.
    pub secret: Vec<u8>,
    /// PEM public key of an external identity provider (RS256 or ES256).
    pub public_key_pem: Option<String>,
    /// The external identity provider's JWKS, instead of one PEM key.
    pub jwks: Option<super::jwks::JwksSource>,
    /// The shortest time between two fetches of the JWKS (and the shortest time keys are kept).
    pub jwks_min_refresh: std::time::Duration,
    pub issuer: String,
    pub audience: String,
    /// Lifetime of the tokens this service issues.
    pub token_ttl: std::time::Duration,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("secret", &"<redacted>")
            .field(
                "public_key_pem",
                &self.public_key_pem.as_ref().map(|_| "<set>"),
            )
            .field("jwks", &self.jwks)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("token_ttl", &self.token_ttl)
            .finish()
    }
}

/// The claims of a nis2hub access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The subject: a person or a registered API client.
    pub sub: String,
    /// The organisation (or registered entity) the caller acts for.
    pub org: String,
    pub role: Role,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: String,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub aud: String,
    /// The API client the token was issued to, for tokens from `/oauth/token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// Keys built once from the configuration.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    hs: DecodingKey,
    public: Option<(Algorithm, DecodingKey)>,
    /// The identity provider's keys by `kid`, when it publishes a JWKS.
    jwks: Option<Arc<Jwks>>,
    issuer: String,
    /// The `iss` of the external identity provider's tokens.
    external_issuer: String,
    audience: String,
    pub ttl_seconds: i64,
    /// The longest `exp - iat` accepted from the external identity provider.
    external_max_lifetime: i64,
}

/// Who signed a verified token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// This service (HS256): `/oauth/token` or the `token` command.
    Service,
    /// The external identity provider (RS256/ES256).
    External,
}

/// Why a token was refused: a stable reason for the audit log, and a message for the caller.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

const LEEWAY: i64 = 30;

/// Checks that a PEM public key is RSA or EC (P-256), for the configuration check at start.
pub fn check_public_key(pem: &str) -> Result<(), String> {
    public_key(pem).map(|_| ())
}

fn public_key(pem: &str) -> Result<(Algorithm, DecodingKey), String> {
    if let Ok(key) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
        return Ok((Algorithm::RS256, key));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem.as_bytes()) {
        return Ok((Algorithm::ES256, key));
    }
    Err("not an RSA or EC public key in PEM form".into())
}

/// The stricter time checks on an identity provider's token, with checked arithmetic: the
/// claims are the provider's numbers, and `exp = i64::MAX, iat = -1` must not wrap around.
///
/// - `iat` must be positive (a provider that sends 0 or a negative time has no clock worth
///   trusting) and not in the future beyond the leeway;
/// - `iat` must not lie after `exp`;
/// - `exp - iat` must not exceed the maximum lifetime;
/// - `exp` must not lie further than the maximum lifetime from now, so that no token accepted
///   today stays valid past that horizon, whatever its `iat` says.
fn check_provider_times(claims: &Claims, now: i64, max_lifetime: i64) -> Result<(), Refusal> {
    if claims.iat <= 0 {
        return Err(Refusal::new(
            "invalid_iat",
            "the token's `iat` is not a time after 1970-01-01T00:00:00Z",
        ));
    }
    if claims.iat > now.saturating_add(LEEWAY) {
        return Err(Refusal::new(
            "issued_in_future",
            "the token's `iat` lies in the future",
        ));
    }
    if claims.iat > claims.exp {
        return Err(Refusal::new(
            "invalid_iat",
            "the token's `iat` lies after its `exp`",
        ));
    }
    let too_long = || {
        Refusal::new(
            "lifetime_too_long",
            format!(
                "the token lives longer (exp - iat, or exp - now) than the {max_lifetime} seconds accepted from an identity provider"
            ),
        )
    };
    match claims.exp.checked_sub(claims.iat) {
        Some(lifetime) if lifetime <= max_lifetime => {}
        _ => return Err(too_long()),
    }
    if claims.exp > now.saturating_add(max_lifetime) {
        return Err(too_long());
    }
    Ok(())
}

impl Keys {
    pub fn new(cfg: &JwtConfig) -> Result<Self, String> {
        let jwks = cfg
            .jwks
            .clone()
            .map(|source| Arc::new(Jwks::new(source, cfg.jwks_min_refresh)));
        Ok(Self {
            encoding: EncodingKey::from_secret(&cfg.secret),
            hs: DecodingKey::from_secret(&cfg.secret),
            public: cfg.public_key_pem.as_deref().map(public_key).transpose()?,
            jwks: jwks.clone(),
            external_issuer: jwks
                .as_ref()
                .and_then(|j| j.issuer())
                .unwrap_or(&cfg.issuer)
                .to_string(),
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            ttl_seconds: i64::try_from(cfg.token_ttl.as_secs()).unwrap_or(i64::MAX),
            external_max_lifetime: 86_400,
        })
    }

    /// Sets the longest lifetime accepted from the external identity provider.
    pub fn with_external_max_lifetime(mut self, lifetime: std::time::Duration) -> Self {
        self.external_max_lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// The identity provider's JWKS, when one is configured.
    pub fn jwks(&self) -> Option<&Arc<Jwks>> {
        self.jwks.as_ref()
    }

    /// Signs claims for this service's issuer and audience (HS256).
    pub fn issue(
        &self,
        sub: &str,
        org: &str,
        role: Role,
        scope: &str,
        ttl_seconds: i64,
        client_id: Option<String>,
    ) -> Result<String, String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: sub.to_string(),
            org: org.to_string(),
            role,
            scope: scope.to_string(),
            exp: now.saturating_add(ttl_seconds),
            iat: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            client_id,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| e.to_string())
    }

    /// Verifies signature, algorithm, expiry, issuer and audience; returns the claims.
    pub fn verify(&self, token: &str) -> Result<Claims, String> {
        self.verify_origin(token)
            .map(|(claims, _)| claims)
            .map_err(|r| r.message)
    }

    /// Like [`Keys::verify`], also saying who signed the token, and why it was refused.
    pub fn verify_origin(&self, token: &str) -> Result<(Claims, Origin), Refusal> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            Refusal::new(
                "malformed",
                "the token is malformed or uses an unsupported algorithm",
            )
        })?;
        let refused_algorithm = |alg: Algorithm| {
            Refusal::new(
                "algorithm",
                format!("tokens signed with {alg:?} are not accepted here"),
            )
        };
        let from_jwks;
        let (key, origin) =
            match (header.alg, &self.jwks) {
                (Algorithm::HS256, _) => (&self.hs, Origin::Service),
                (alg @ (Algorithm::RS256 | Algorithm::ES256), Some(jwks)) => {
                    match jwks.lookup(header.kid.as_deref(), alg) {
                        Lookup::Found(key) => {
                            from_jwks = key;
                            (&from_jwks, Origin::External)
                        }
                        Lookup::WrongAlgorithm => return Err(refused_algorithm(alg)),
                        Lookup::Unknown => return Err(Refusal::new(
                            "unknown_key",
                            "the token's key (`kid`) is not one the identity provider publishes",
                        )),
                    }
                }
                (alg, _) => match &self.public {
                    Some((expected, key)) if *expected == alg => (key, Origin::External),
                    _ => return Err(refused_algorithm(alg)),
                },
            };
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[match origin {
            Origin::Service => &self.issuer,
            Origin::External => &self.external_issuer,
        }]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY as u64;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|d| d.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind::*;
                match e.kind() {
                    ExpiredSignature => Refusal::new("expired", "the token has expired"),
                    ImmatureSignature => {
                        Refusal::new("not_yet_valid", "the token is not valid yet (nbf)")
                    }
                    InvalidSignature => {
                        Refusal::new("bad_signature", "the token's signature is not valid")
                    }
                    InvalidIssuer => {
                        Refusal::new("wrong_issuer", "the token was issued by someone else (iss)")
                    }
                    InvalidAudience => Refusal::new(
                        "wrong_audience",
                        "the token is meant for another service (aud)",
                    ),
                    MissingRequiredClaim(c) => {
                        Refusal::new("missing_claim", format!("the token lacks the claim `{c}`"))
                    }
                    _ => Refusal::new("invalid", "the token is not valid"),
                }
            })?;
        if origin == Origin::External {
            check_provider_times(
                &claims,
                chrono::Utc::now().timestamp(),
                self.external_max_lifetime,
            )?;
        }
        Ok((claims, origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cfg(secret: &str) -> JwtConfig {
        JwtConfig {
            secret: secret.as_bytes().to_vec(),
            public_key_pem: None,
            jwks: None,
            jwks_min_refresh: Duration::from_secs(10),
            issuer: "nis2hub".into(),
            audience: "nis2hub".into(),
            token_ttl: Duration::from_secs(3600),
        }
    }

    #[test]
    fn issued_tokens_verify_and_foreign_ones_do_not() {
        let keys = Keys::new(&cfg("0123456789abcdef0123456789abcdef")).unwrap();
        let t = keys
            .issue("alice", "org-1", Role::Entity, "entities:read", 60, None)
            .unwrap();
        let c = keys.verify(&t).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.org.as_str(), c.role),
            ("alice", "org-1", Role::Entity)
        );

        let other = Keys::new(&cfg("another-secret-another-secret-another")).unwrap();
        assert!(other.verify(&t).unwrap_err().contains("signature"));
        let expired = keys
            .issue("alice", "org-1", Role::Entity, "", -120, None)
            .unwrap();
        assert!(keys.verify(&expired).unwrap_err().contains("expired"));
    }

    #[test]
    fn alg_none_is_refused() {
        let keys = Keys::new(&cfg("0123456789abcdef0123456789abcdef")).unwrap();
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let now = chrono::Utc::now().timestamp();
        let body = format!(
            r#"{{"sub":"x","org":"o","role":"national_csirt","scope":"audit:read","exp":{},"iat":{now},"iss":"nis2hub","aud":"nis2hub"}}"#,
            now + 600
        );
        let token = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(&body));
        assert!(keys.verify(&token).is_err());
    }

    #[test]
    fn provider_times_are_checked_without_overflow() {
        let now = 1_800_000_000;
        let max = 86_400;
        let claims = |iat: i64, exp: i64| Claims {
            sub: "s".into(),
            org: "o".into(),
            role: Role::Entity,
            scope: String::new(),
            exp,
            iat,
            iss: "nis2hub".into(),
            aud: "nis2hub".into(),
            client_id: None,
        };
        for (iat, exp) in [
            (-1, i64::MAX),
            (i64::MIN, i64::MAX),
            (i64::MIN, 0),
            (0, now + 60),
            (now, i64::MAX),
            (now + 20, now + 10),
            (now + 20, now + 20 + max),
            (now + LEEWAY + 1, now + 600),
            (now - 10, now + max),
        ] {
            assert!(
                check_provider_times(&claims(iat, exp), now, max).is_err(),
                "iat {iat}, exp {exp}"
            );
        }
        for (iat, exp) in [
            (now, now + max),
            (now, now),
            (now - 600, now + 60),
            (now + LEEWAY, now + 600),
        ] {
            assert!(
                check_provider_times(&claims(iat, exp), now, max).is_ok(),
                "iat {iat}, exp {exp}"
            );
        }
        assert!(check_provider_times(&claims(1, 2), i64::MAX, i64::MAX).is_ok());
    }
}
