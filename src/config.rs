//! Typed configuration, read once from the environment and validated before anything starts.
//!
//! Every setting is named here and only here; an unknown `NIS2HUB_*` variable stops the start,
//! because a misspelt setting silently ignored is how a production service ends up with a
//! development default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::auth::jwks::JwksSource;
pub use crate::auth::jwt::JwtConfig;
pub use crate::db::DatabaseUrl;

/// Where the settings put the database and the HS256 key, read without opening or creating
/// either: what the command-line tools say they use, and check before they would create one.
#[derive(Debug, Clone)]
pub struct Stores {
    pub database: DatabaseUrl,
    /// `None` when `NIS2HUB_JWT_SECRET` holds the key itself.
    pub key_file: Option<PathBuf>,
    /// Which of the two are the defaults, because their variable is unset.
    pub database_is_default: bool,
    pub key_file_is_default: bool,
}

impl Stores {
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(std::env::vars())
    }

    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let vars = known_vars(vars)?;
        let get = |k: &str| {
            vars.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Ok(Stores {
            database_is_default: get("DATABASE_URL").is_none(),
            key_file_is_default: get("NIS2HUB_JWT_SECRET_FILE").is_none(),
            database: DatabaseUrl::parse(
                &get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            )?,
            key_file: match get("NIS2HUB_JWT_SECRET") {
                Some(_) => None,
                None => Some(PathBuf::from(
                    get("NIS2HUB_JWT_SECRET_FILE")
                        .unwrap_or_else(|| DEFAULT_JWT_SECRET_FILE.into()),
                )),
            },
        })
    }

    /// One line naming both, for standard error.
    pub fn describe(&self) -> String {
        let key = match &self.key_file {
            Some(path) => format!("key file {}", path.display()),
            None => "the key in NIS2HUB_JWT_SECRET".to_string(),
        };
        format!("database {}, {key}", self.database.describe())
    }

    /// What a command would create that does not exist yet: a SQLite file, a key file. A
    /// PostgreSQL database is never created by the service, so it is never listed.
    pub fn missing(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let DatabaseUrl::Sqlite(path) = &self.database {
            if !path.exists() {
                out.push(format!(
                    "the SQLite file {} does not exist (DATABASE_URL{})",
                    path.display(),
                    if self.database_is_default {
                        " is unset: the default"
                    } else {
                        ""
                    }
                ));
            }
        }
        if let Some(path) = &self.key_file {
            if !path.exists() {
                out.push(format!(
                    "the key file {} does not exist (NIS2HUB_JWT_SECRET_FILE{}); a new key would sign tokens the running service refuses",
                    path.display(),
                    if self.key_file_is_default {
                        " is unset: the default"
                    } else {
                        ""
                    }
                ));
            }
        }
        out
    }
}

/// `DATABASE_URL`'s default: a SQLite file in `data/` of the working folder.
pub const DEFAULT_DATABASE_URL: &str = "data/nis2hub.db";
/// `NIS2HUB_JWT_SECRET_FILE`'s default.
pub const DEFAULT_JWT_SECRET_FILE: &str = "data/jwt-secret";

/// The `NIS2HUB_*` variables and `DATABASE_URL`; an unknown `NIS2HUB_*` name is an error.
fn known_vars(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeMap<String, String>, String> {
    let vars: BTreeMap<String, String> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with("NIS2HUB_") || k == "DATABASE_URL")
        .collect();
    for key in vars.keys() {
        if !SETTINGS.iter().any(|(name, _, _)| name == key) {
            return Err(format!(
                "unknown setting {key}; the settings are listed in the README"
            ));
        }
    }
    Ok(vars)
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: DatabaseUrl,
    pub pool_size: u32,
    pub workers: usize,
    pub body_limit: usize,
    pub jwt: JwtConfig,
    /// The rules the engine decides by.
    pub rules: crate::rules::ruleset::RuleSet,
    /// The maturity model in force: the parameter catalogue and its tier profiles.
    pub maturity: crate::rules::maturity::Model,
    /// How often the deadline sweep runs; `None` turns it off.
    pub sweep_every: Option<Duration>,
    /// Hosts webhooks may reach over plain http or on internal addresses.
    pub webhook_allow_hosts: Vec<String>,
    /// Waits between webhook delivery attempts.
    pub webhook_retry: Vec<Duration>,
    /// How often the webhook worker looks for due deliveries when idle; `None` turns it off.
    pub webhook_poll: Option<Duration>,
    /// Token requests allowed per client address and minute.
    pub token_rate_per_minute: u32,
    /// Webhook deliveries one instance makes at once.
    pub webhook_concurrency: usize,
    /// Of those, at most this many for one organisation.
    pub webhook_concurrency_per_organisation: usize,
    /// Webhook subscriptions an organisation may have.
    pub webhook_max_per_organisation: i64,
    /// Pings an organisation may send per minute (per instance).
    pub webhook_pings_per_minute: u32,
    /// Tokenless CVD reports allowed per client address and minute (per instance).
    pub cvd_intake_per_minute: u32,
    /// Authentication hardening: caches, proxies, limits, the metrics listener.
    pub security: SecurityConfig,
    /// Situational awareness: disclosure control and the longest period asked at once.
    pub awareness: AwarenessConfig,
    /// The CSAF trusted provider: its public address and signing key.
    pub provider: ProviderConfig,
}

/// Settings of the awareness figures.
#[derive(Debug, Clone, Copy)]
pub struct AwarenessConfig {
    /// Groups with fewer distinct entities are withheld from everyone but the national CSIRT.
    pub suppress_below: u64,
    /// The longest period one request may cover, in days.
    pub max_period_days: i64,
}

impl Default for AwarenessConfig {
    fn default() -> Self {
        Self {
            suppress_below: 3,
            max_period_days: 366,
        }
    }
}

/// Where the CSAF provider is reached and which key signs its documents.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Scheme, host and optional path prefix of every canonical URL, without a trailing `/`
    /// (the metadata, feeds and documents name themselves with it, so it must be the address
    /// aggregators reach, not the listen address behind a proxy).
    pub public_url: String,
    /// Armored OpenPGP secret key; generated there on first start when missing.
    pub openpgp_key_file: PathBuf,
}

/// Settings of the authentication checks and of who may see operational data.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// How long a client's revocation state and a token's organisation/role match are
    /// remembered per instance; zero looks them up on every request.
    pub auth_cache_ttl: Duration,
    /// The longest `exp - iat` accepted from an external identity provider.
    pub external_token_max_lifetime: Duration,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Token requests allowed per `client_id` and minute.
    pub token_rate_per_client_per_minute: u32,
    /// A separate address for `/metrics`; when unset, `/metrics` needs a token.
    pub metrics_listen: Option<SocketAddr>,
    /// Refused authentications recorded one by one per minute and instance; more are counted.
    pub audit_refusals_per_minute: u32,
    /// How a webhook's host is looked up when a subscription is created or changed, to refuse
    /// internal addresses: the system resolver; a seam for tests (a slow or rebinding DNS).
    pub webhook_lookup: std::sync::Arc<dyn crate::webhooks::Lookup>,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            auth_cache_ttl: Duration::from_secs(5),
            external_token_max_lifetime: Duration::from_secs(86_400),
            trusted_proxies: Vec::new(),
            token_rate_per_client_per_minute: 20,
            metrics_listen: None,
            audit_refusals_per_minute: 30,
            webhook_lookup: std::sync::Arc::new(crate::webhooks::SystemLookup),
        }
    }
}

/// Every setting the service reads, with its default and meaning (the README's table).
pub const SETTINGS: &[(&str, &str, &str)] = &[
    ("NIS2HUB_LISTEN", "127.0.0.1:8080", "address and port to listen on"),
    ("DATABASE_URL", "data/nis2hub.db", "postgres://… or postgresql://… for PostgreSQL; sqlite://path or a path for SQLite"),
    ("NIS2HUB_DB_POOL_SIZE", "10", "database connections per instance"),
    ("NIS2HUB_WORKERS", "number of cores", "HTTP worker threads"),
    ("NIS2HUB_BODY_LIMIT", "262144", "largest accepted request body, in bytes"),
    ("NIS2HUB_JWT_SECRET", "(unset)", "HS256 key, at least 32 bytes; signs and verifies the service's own tokens"),
    ("NIS2HUB_JWT_SECRET_FILE", "data/jwt-secret", "file holding the HS256 key when NIS2HUB_JWT_SECRET is unset; created with a random key on first use"),
    ("NIS2HUB_JWT_PUBLIC_KEY", "(unset)", "PEM public key (or a path to one) of an external identity provider, for RS256/ES256 tokens"),
    ("NIS2HUB_OIDC_ISSUER", "(unset)", "an OpenID Connect issuer (Keycloak realm, Entra ID tenant …): its signing keys are found through /.well-known/openid-configuration, kept as long as its Cache-Control says (5 min by default, at most a day) and fetched again for an unknown `kid`; its tokens must carry it as `iss`"),
    ("NIS2HUB_JWKS_URL", "(unset)", "a JWKS address of an external identity provider, instead of NIS2HUB_OIDC_ISSUER; its tokens carry NIS2HUB_JWT_ISSUER"),
    ("NIS2HUB_JWT_ISSUER", "nis2hub", "required `iss` of the service's own tokens (and of an external provider's, unless NIS2HUB_OIDC_ISSUER is set)"),
    ("NIS2HUB_JWT_AUDIENCE", "nis2hub", "required `aud` of every token"),
    ("NIS2HUB_TOKEN_TTL", "3600", "lifetime in seconds of tokens issued by POST /oauth/token"),
    ("NIS2HUB_WEBHOOK_ALLOW_HOSTS", "(empty)", "hosts that webhooks may reach over http:// or on private addresses"),
    ("NIS2HUB_RULESET", "(built in)", "a rule-set JSON file replacing the built-in NIS2 rules (see rules/nis2-default.json)"),
    ("NIS2HUB_MATURITY_MODEL", "(built in)", "a maturity parameter catalogue JSON file replacing the built-in SIM3 v1 (see maturity/sim3-v1.json)"),
    ("NIS2HUB_MATURITY_TIERS", "(built-in example)", "a tier-profile JSON file (minimum level per parameter for basic, intermediate, advanced; validity per assessment type) replacing the built-in example profiles (see maturity/tiers-example.json); use the official tables in production"),
    ("NIS2HUB_SWEEP_SECONDS", "60", "how often the deadline sweep looks for missed deadlines, expired maturity assessments and CSIRTs out of compliance; 0 turns it off"),
    ("NIS2HUB_WEBHOOK_RETRY_SECONDS", "5,300,1800,7200,18000,36000,36000", "waits between webhook delivery attempts (about a day in all, ±20 % jitter); after the last the delivery fails"),
    ("NIS2HUB_TOKEN_RATE_PER_MINUTE", "60", "POST /oauth/token requests allowed per client address and minute (argon2 checks are costly)"),
    ("NIS2HUB_WEBHOOK_POLL_MS", "500", "how often an idle webhook worker looks for due deliveries; 0 turns the worker off"),
    ("NIS2HUB_AUTH_CACHE_SECONDS", "5", "how long an instance remembers that a client is not revoked and that a token's org matches its role; a revocation elsewhere takes effect within this time (0 looks up every request)"),
    ("NIS2HUB_JWT_MAX_LIFETIME", "86400", "longest lifetime (exp - iat, seconds) accepted for RS256/ES256 tokens from an external identity provider"),
    ("NIS2HUB_TRUSTED_PROXIES", "(empty)", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For names the client address (the right-most address not in the list)"),
    ("NIS2HUB_TOKEN_RATE_PER_CLIENT_PER_MINUTE", "20", "POST /oauth/token requests allowed per client_id and minute, whatever the address"),
    ("NIS2HUB_METRICS_LISTEN", "(unset)", "a separate host:port serving only /metrics, without a token; when unset, /metrics on the main listener needs a token with audit:read"),
    ("NIS2HUB_AUDIT_REFUSALS_PER_MINUTE", "30", "refused authentications written to the audit log one by one per instance and minute; beyond that they are counted in one summary record"),
    ("NIS2HUB_WEBHOOK_CONCURRENCY", "16", "webhook deliveries (or batches of them, under a backlog) one instance makes at once"),
    ("NIS2HUB_WEBHOOK_CONCURRENCY_PER_ORGANISATION", "4", "of those, at most this many for one organisation, so a slow receiver cannot hold up other organisations"),
    ("NIS2HUB_WEBHOOK_MAX_PER_ORGANISATION", "10", "webhook subscriptions one organisation may have"),
    ("NIS2HUB_WEBHOOK_PINGS_PER_MINUTE", "6", "POST /api/v1/webhooks/{id}/ping requests one organisation may make per minute (per instance)"),
    ("NIS2HUB_AWARENESS_SUPPRESS_BELOW", "3", "awareness groups with fewer distinct entities than this are withheld (with a complementary group) from everyone but the national CSIRT; 1 turns disclosure control off"),
    ("NIS2HUB_AWARENESS_MAX_DAYS", "366", "the longest period, in days, one awareness request may cover"),
    ("NIS2HUB_PUBLIC_URL", "http://<NIS2HUB_LISTEN>", "the address aggregators and browsers reach the service at (https://csirt.example, no trailing slash); canonical URLs of the CSAF provider metadata, feeds and documents"),
    ("NIS2HUB_OPENPGP_KEY_FILE", "data/openpgp-key.asc", "armored OpenPGP secret key signing the CSAF documents (.asc); an Ed25519 key is generated there on first start when the file is missing"),
    ("NIS2HUB_CVD_INTAKE_PER_MINUTE", "5", "vulnerability reports without a token (POST /api/v1/cvd/reports) allowed per client address and minute (per instance)"),
];

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(std::env::vars())
    }

    /// Reads settings from the given variables; other variables than `NIS2HUB_*` and
    /// `DATABASE_URL` are ignored.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let vars = known_vars(vars)?;
        let get = |k: &str| {
            vars.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let number = |k: &str, default: u64| -> Result<u64, String> {
            match get(k) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .map_err(|_| format!("{k} must be a whole number, not `{v}`")),
            }
        };

        let listen = get("NIS2HUB_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen.parse().map_err(|_| {
            format!("NIS2HUB_LISTEN must be host:port, such as 127.0.0.1:8080, not `{listen}`")
        })?;
        let database_url = DatabaseUrl::parse(
            &get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
        )?;
        let pool_size = number("NIS2HUB_DB_POOL_SIZE", 10)?;
        if !(1..=200).contains(&pool_size) {
            return Err("NIS2HUB_DB_POOL_SIZE must be between 1 and 200".into());
        }
        let cores = std::thread::available_parallelism()
            .map(|n| n.get() as u64)
            .unwrap_or(2);
        let workers = number("NIS2HUB_WORKERS", cores)?;
        if !(1..=256).contains(&workers) {
            return Err("NIS2HUB_WORKERS must be between 1 and 256".into());
        }
        let body_limit = number("NIS2HUB_BODY_LIMIT", 262_144)?;
        if !(1024..=64 * 1024 * 1024).contains(&body_limit) {
            return Err("NIS2HUB_BODY_LIMIT must be between 1024 and 67108864 bytes".into());
        }

        let secret = match get("NIS2HUB_JWT_SECRET") {
            Some(s) => s.into_bytes(),
            None => {
                let path = PathBuf::from(
                    get("NIS2HUB_JWT_SECRET_FILE")
                        .unwrap_or_else(|| DEFAULT_JWT_SECRET_FILE.into()),
                );
                read_or_create_secret(&path)?
            }
        };
        if secret.len() < 32 {
            return Err("NIS2HUB_JWT_SECRET must be at least 32 bytes long".into());
        }
        let public_key_pem = match get("NIS2HUB_JWT_PUBLIC_KEY") {
            None => None,
            Some(v) if v.contains("-----BEGIN") => Some(v),
            Some(path) => Some(std::fs::read_to_string(&path).map_err(|e| {
                format!("NIS2HUB_JWT_PUBLIC_KEY: cannot read the key file `{path}`: {e}")
            })?),
        };
        if let Some(pem) = &public_key_pem {
            crate::auth::jwt::check_public_key(pem)
                .map_err(|e| format!("NIS2HUB_JWT_PUBLIC_KEY: {e}"))?;
        }
        let jwks = jwks_from(&get, public_key_pem.is_some())?;
        let ttl = number("NIS2HUB_TOKEN_TTL", 3600)?;
        if !(60..=86_400).contains(&ttl) {
            return Err("NIS2HUB_TOKEN_TTL must be between 60 and 86400 seconds".into());
        }
        let rules = crate::rules::ruleset::RuleSet::from_setting(get("NIS2HUB_RULESET"))?;
        let maturity = crate::rules::maturity::Model::from_settings(
            get("NIS2HUB_MATURITY_MODEL").map(PathBuf::from),
            get("NIS2HUB_MATURITY_TIERS").map(PathBuf::from),
        )?;
        let sweep = number("NIS2HUB_SWEEP_SECONDS", 60)?;
        if sweep > 86_400 {
            return Err("NIS2HUB_SWEEP_SECONDS must be at most 86400".into());
        }
        let webhook_allow_hosts: Vec<String> = get("NIS2HUB_WEBHOOK_ALLOW_HOSTS")
            .unwrap_or_default()
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let retry_text = get("NIS2HUB_WEBHOOK_RETRY_SECONDS")
            .unwrap_or_else(|| "5,300,1800,7200,18000,36000,36000".into());
        let webhook_retry = retry_text
            .split(',')
            .map(|p| p.trim().parse::<u64>().map(Duration::from_secs))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| format!("NIS2HUB_WEBHOOK_RETRY_SECONDS must be whole seconds separated by commas, not `{retry_text}`"))?;
        if webhook_retry.len() > 20 {
            return Err("NIS2HUB_WEBHOOK_RETRY_SECONDS lists at most 20 waits".into());
        }
        let poll = number("NIS2HUB_WEBHOOK_POLL_MS", 500)?;
        let token_rate = number("NIS2HUB_TOKEN_RATE_PER_MINUTE", 60)?;
        if !(1..=100_000).contains(&token_rate) {
            return Err("NIS2HUB_TOKEN_RATE_PER_MINUTE must be between 1 and 100000".into());
        }
        let concurrency = number("NIS2HUB_WEBHOOK_CONCURRENCY", 16)?;
        if !(1..=256).contains(&concurrency) {
            return Err("NIS2HUB_WEBHOOK_CONCURRENCY must be between 1 and 256".into());
        }
        let per_org = number(
            "NIS2HUB_WEBHOOK_CONCURRENCY_PER_ORGANISATION",
            4.min(concurrency),
        )?;
        if !(1..=concurrency).contains(&per_org) {
            return Err(format!("NIS2HUB_WEBHOOK_CONCURRENCY_PER_ORGANISATION must be between 1 and NIS2HUB_WEBHOOK_CONCURRENCY ({concurrency})"));
        }
        let max_webhooks = number("NIS2HUB_WEBHOOK_MAX_PER_ORGANISATION", 10)?;
        if !(1..=1000).contains(&max_webhooks) {
            return Err("NIS2HUB_WEBHOOK_MAX_PER_ORGANISATION must be between 1 and 1000".into());
        }
        let pings = number("NIS2HUB_WEBHOOK_PINGS_PER_MINUTE", 6)?;
        if !(1..=10_000).contains(&pings) {
            return Err("NIS2HUB_WEBHOOK_PINGS_PER_MINUTE must be between 1 and 10000".into());
        }
        let cvd_intake = number("NIS2HUB_CVD_INTAKE_PER_MINUTE", 5)?;
        if !(1..=10_000).contains(&cvd_intake) {
            return Err("NIS2HUB_CVD_INTAKE_PER_MINUTE must be between 1 and 10000".into());
        }
        let suppress_below = number("NIS2HUB_AWARENESS_SUPPRESS_BELOW", 3)?;
        if !(1..=1000).contains(&suppress_below) {
            return Err("NIS2HUB_AWARENESS_SUPPRESS_BELOW must be between 1 and 1000".into());
        }
        let max_days = number("NIS2HUB_AWARENESS_MAX_DAYS", 366)?;
        if !(1..=3660).contains(&max_days) {
            return Err("NIS2HUB_AWARENESS_MAX_DAYS must be between 1 and 3660".into());
        }
        let security = security_from(&get, &number)?;
        if security.metrics_listen == Some(listen) {
            return Err("NIS2HUB_METRICS_LISTEN must differ from NIS2HUB_LISTEN".into());
        }
        let public_url = match get("NIS2HUB_PUBLIC_URL") {
            Some(url) => public_url(&url)?,
            None => format!("http://{listen}"),
        };
        let provider = ProviderConfig {
            public_url,
            openpgp_key_file: PathBuf::from(
                get("NIS2HUB_OPENPGP_KEY_FILE").unwrap_or_else(|| "data/openpgp-key.asc".into()),
            ),
        };
        Ok(Self {
            security,
            awareness: AwarenessConfig {
                suppress_below,
                max_period_days: max_days as i64,
            },
            provider,
            webhook_concurrency: concurrency as usize,
            webhook_concurrency_per_organisation: per_org as usize,
            webhook_max_per_organisation: max_webhooks as i64,
            webhook_pings_per_minute: pings as u32,
            cvd_intake_per_minute: cvd_intake as u32,
            token_rate_per_minute: token_rate as u32,
            webhook_allow_hosts,
            webhook_retry,
            webhook_poll: (poll > 0).then(|| Duration::from_millis(poll)),
            rules,
            maturity,
            sweep_every: (sweep > 0).then(|| Duration::from_secs(sweep)),
            listen,
            database_url,
            pool_size: pool_size as u32,
            workers: workers as usize,
            body_limit: body_limit as usize,
            jwt: JwtConfig {
                secret,
                public_key_pem,
                jwks,
                jwks_min_refresh: Duration::from_secs(10),
                issuer: get("NIS2HUB_JWT_ISSUER").unwrap_or_else(|| "nis2hub".into()),
                audience: get("NIS2HUB_JWT_AUDIENCE").unwrap_or_else(|| "nis2hub".into()),
                token_ttl: Duration::from_secs(ttl),
            },
        })
    }
}

/// `NIS2HUB_OIDC_ISSUER` or `NIS2HUB_JWKS_URL`: one external identity provider, so neither
/// beside the other nor beside `NIS2HUB_JWT_PUBLIC_KEY`.
fn jwks_from(
    get: &dyn Fn(&str) -> Option<String>,
    has_pem: bool,
) -> Result<Option<JwksSource>, String> {
    let source = match (get("NIS2HUB_OIDC_ISSUER"), get("NIS2HUB_JWKS_URL")) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err("set NIS2HUB_OIDC_ISSUER or NIS2HUB_JWKS_URL, not both".into())
        }
        (Some(issuer), None) => ("NIS2HUB_OIDC_ISSUER", JwksSource::Issuer(issuer)),
        (None, Some(url)) => ("NIS2HUB_JWKS_URL", JwksSource::Url(url)),
    };
    let (name, source) = source;
    if has_pem {
        return Err(format!(
            "{name} and NIS2HUB_JWT_PUBLIC_KEY both name an identity provider's key; set one"
        ));
    }
    let url = match &source {
        JwksSource::Issuer(u) | JwksSource::Url(u) => u,
    };
    if !(url.starts_with("https://") || url.starts_with("http://"))
        || url.contains(char::is_whitespace)
    {
        return Err(format!("{name} must be an https:// (or http://) address"));
    }
    Ok(Some(source))
}

/// The settings of [`SecurityConfig`].
fn security_from(
    get: &dyn Fn(&str) -> Option<String>,
    number: &dyn Fn(&str, u64) -> Result<u64, String>,
) -> Result<SecurityConfig, String> {
    let cache = number("NIS2HUB_AUTH_CACHE_SECONDS", 5)?;
    if cache > 300 {
        return Err("NIS2HUB_AUTH_CACHE_SECONDS must be at most 300".into());
    }
    let lifetime = number("NIS2HUB_JWT_MAX_LIFETIME", 86_400)?;
    if !(60..=30 * 86_400).contains(&lifetime) {
        return Err("NIS2HUB_JWT_MAX_LIFETIME must be between 60 and 2592000 seconds".into());
    }
    let trusted_proxies = get("NIS2HUB_TRUSTED_PROXIES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<ipnet::IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    format!("NIS2HUB_TRUSTED_PROXIES: `{p}` is not an address or CIDR range")
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let per_client = number("NIS2HUB_TOKEN_RATE_PER_CLIENT_PER_MINUTE", 20)?;
    if !(1..=100_000).contains(&per_client) {
        return Err("NIS2HUB_TOKEN_RATE_PER_CLIENT_PER_MINUTE must be between 1 and 100000".into());
    }
    let metrics_listen = match get("NIS2HUB_METRICS_LISTEN") {
        None => None,
        Some(v) => Some(v.parse::<SocketAddr>().map_err(|_| {
            format!("NIS2HUB_METRICS_LISTEN must be host:port, such as 127.0.0.1:9090, not `{v}`")
        })?),
    };
    let refusals = number("NIS2HUB_AUDIT_REFUSALS_PER_MINUTE", 30)?;
    if !(1..=10_000).contains(&refusals) {
        return Err("NIS2HUB_AUDIT_REFUSALS_PER_MINUTE must be between 1 and 10000".into());
    }
    Ok(SecurityConfig {
        auth_cache_ttl: Duration::from_secs(cache),
        external_token_max_lifetime: Duration::from_secs(lifetime),
        trusted_proxies,
        token_rate_per_client_per_minute: per_client as u32,
        metrics_listen,
        audit_refusals_per_minute: refusals as u32,
        ..SecurityConfig::default()
    })
}

/// An absolute http(s) URL without query, fragment or trailing `/`.
fn public_url(url: &str) -> Result<String, String> {
    let url = url.trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with('/')
                && !rest.contains(['?', '#', ' ', '@']) =>
        {
            Ok(url.to_string())
        }
        _ => Err(format!(
            "NIS2HUB_PUBLIC_URL must be an http:// or https:// URL without query or fragment, such as https://csirt.example, not `{url}`"
        )),
    }
}

/// The development key file: created once with 48 random bytes, readable by the owner only,
/// so the server and the `token` command agree on a key without anyone choosing one.
fn read_or_create_secret(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use base64::Engine;
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s.trim().as_bytes().to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                // 0700, like the database's: by default both live in `data/`.
                crate::db::files::create_private_dir_all(dir)
                    .map_err(|e| format!("cannot create the folder of {}: {e}", path.display()))?;
            }
            let mut bytes = [0u8; 48];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
            let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
            create_once(path, &key)
                .map_err(|e| format!("cannot write the key file {}: {e}", path.display()))?;
            log::info!("created a new HS256 key file at {}", path.display());
            // Another process may have created it at the same moment: the file on disk wins.
            std::fs::read_to_string(path)
                .map(|s| s.trim().as_bytes().to_vec())
                .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))
        }
        Err(e) => Err(format!("cannot read the key file {}: {e}", path.display())),
    }
}

/// Creates `path` with `contents`, readable by the owner only, unless it exists: the file is
/// written under a temporary name and linked into place, so no reader ever sees it half written.
fn create_once(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = options
        .open(&tmp)
        .and_then(|mut f| f.write_all(contents.as_bytes()).and_then(|_| f.sync_all()))
        .and_then(|_| match std::fs::hard_link(&tmp, path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            other => other,
        });
    let _ = std::fs::remove_file(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.push((
            "NIS2HUB_JWT_SECRET".into(),
            "0123456789abcdef0123456789abcdef".into(),
        ));
        v
    }

    #[test]
    fn database_url_picks_the_backend_by_scheme() {
        use DatabaseUrl::*;
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/db").unwrap(),
            Postgres("postgres://u@h/db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://h/db").unwrap(),
            Postgres("postgresql://h/db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/x.db").unwrap(),
            Sqlite("data/x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/x.db").unwrap(),
            Sqlite("/var/x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("data/x.db").unwrap(),
            Sqlite("data/x.db".into())
        );
        assert!(DatabaseUrl::parse("mysql://h/db")
            .unwrap_err()
            .contains("mysql://"));
    }

    #[test]
    fn unknown_and_invalid_settings_stop_the_start() {
        assert!(Config::from_vars(vars(&[("NIS2HUB_LISTN", "x")]))
            .unwrap_err()
            .contains("NIS2HUB_LISTN"));
        assert!(Config::from_vars(vars(&[("NIS2HUB_LISTEN", "nowhere")]))
            .unwrap_err()
            .contains("host:port"));
        assert!(Config::from_vars(vars(&[("NIS2HUB_DB_POOL_SIZE", "0")])).is_err());
        let short = vec![("NIS2HUB_JWT_SECRET".to_string(), "short".to_string())];
        assert!(Config::from_vars(short).unwrap_err().contains("32 bytes"));
        assert!(Config::from_vars(vars(&[
            ("NIS2HUB_WEBHOOK_CONCURRENCY", "4"),
            ("NIS2HUB_WEBHOOK_CONCURRENCY_PER_ORGANISATION", "5")
        ]))
        .unwrap_err()
        .contains("NIS2HUB_WEBHOOK_CONCURRENCY_PER_ORGANISATION"));
        assert!(Config::from_vars(vars(&[("NIS2HUB_WEBHOOK_MAX_PER_ORGANISATION", "0")])).is_err());
        assert!(Config::from_vars(vars(&[("NIS2HUB_WEBHOOK_PINGS_PER_MINUTE", "0")])).is_err());
        let ok = Config::from_vars(vars(&[("PATH", "/bin")])).unwrap();
        assert_eq!(
            (
                ok.webhook_concurrency,
                ok.webhook_concurrency_per_organisation,
                ok.webhook_max_per_organisation,
                ok.webhook_pings_per_minute
            ),
            (16, 4, 10, 6)
        );
        assert_eq!(ok.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(ok.jwt.issuer, "nis2hub");
    }

    #[test]
    fn the_public_url_defaults_to_the_listen_address_and_is_checked() {
        let ok = Config::from_vars(vars(&[("NIS2HUB_LISTEN", "127.0.0.1:9000")])).unwrap();
        assert_eq!(ok.provider.public_url, "http://127.0.0.1:9000");
        assert_eq!(
            ok.provider.openpgp_key_file,
            PathBuf::from("data/openpgp-key.asc")
        );
        let set =
            Config::from_vars(vars(&[("NIS2HUB_PUBLIC_URL", "https://csirt.example/")])).unwrap();
        assert_eq!(set.provider.public_url, "https://csirt.example");
        for bad in [
            "csirt.example",
            "ftp://csirt.example",
            "https://",
            "https://x/?a=1",
        ] {
            let err = Config::from_vars(vars(&[("NIS2HUB_PUBLIC_URL", bad)])).unwrap_err();
            assert!(err.contains("NIS2HUB_PUBLIC_URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn security_settings_are_read_and_checked() {
        let ok = Config::from_vars(vars(&[
            ("NIS2HUB_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1"),
            ("NIS2HUB_METRICS_LISTEN", "127.0.0.1:9090"),
            ("NIS2HUB_AUTH_CACHE_SECONDS", "0"),
        ]))
        .unwrap();
        assert_eq!(ok.security.trusted_proxies.len(), 2);
        assert!(ok.security.trusted_proxies[1]
            .contains(&"192.0.2.1".parse::<std::net::IpAddr>().unwrap()));
        assert_eq!(ok.security.metrics_listen.unwrap().port(), 9090);
        assert_eq!(ok.security.auth_cache_ttl, Duration::ZERO);
        let defaults = Config::from_vars(vars(&[])).unwrap().security;
        assert_eq!(defaults.auth_cache_ttl, Duration::from_secs(5));
        assert_eq!(
            defaults.external_token_max_lifetime,
            Duration::from_secs(86_400)
        );
        assert!(defaults.metrics_listen.is_none());
        for (k, v) in [
            ("NIS2HUB_TRUSTED_PROXIES", "10.0.0.0/33"),
            ("NIS2HUB_METRICS_LISTEN", "metrics"),
            ("NIS2HUB_AUTH_CACHE_SECONDS", "3600"),
            ("NIS2HUB_JWT_MAX_LIFETIME", "10"),
            ("NIS2HUB_METRICS_LISTEN", "127.0.0.1:8080"),
        ] {
            assert!(
                Config::from_vars(vars(&[(k, v)])).unwrap_err().contains(k),
                "{k}"
            );
        }
    }

    #[test]
    fn maturity_files_are_loaded_and_checked_at_start() {
        let ok = Config::from_vars(vars(&[])).unwrap();
        assert_eq!(ok.maturity.id(), "sim3-v1");
        assert!(!ok.maturity.tiers.official);
        let dir = tempfile::tempdir().unwrap();
        let tiers = dir.path().join("official.json");
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("../maturity/tiers-example.json")).unwrap();
        v["id"] = "official".into();
        v["official"] = true.into();
        std::fs::write(&tiers, v.to_string()).unwrap();
        let path = tiers.to_string_lossy().to_string();
        let replaced = Config::from_vars(vars(&[("NIS2HUB_MATURITY_TIERS", &path)])).unwrap();
        assert_eq!(
            (
                replaced.maturity.tiers.id.as_str(),
                replaced.maturity.tiers.official
            ),
            ("official", true)
        );
        v["profiles"]["basic"]["Z-9"] = 1.into();
        std::fs::write(&tiers, v.to_string()).unwrap();
        let err = Config::from_vars(vars(&[("NIS2HUB_MATURITY_TIERS", &path)])).unwrap_err();
        assert!(
            err.contains("NIS2HUB_MATURITY_TIERS") && err.contains("Z-9"),
            "{err}"
        );
        let err = Config::from_vars(vars(&[("NIS2HUB_MATURITY_MODEL", "/no/such/sim3.json")]))
            .unwrap_err();
        assert!(
            err.contains("NIS2HUB_MATURITY_MODEL") && err.contains("cannot read"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/jwt-secret");
        let a = read_or_create_secret(&path).unwrap();
        let b = read_or_create_secret(&path).unwrap();
        assert_eq!(a, b);
        assert!(a.len() >= 32);
    }
}
