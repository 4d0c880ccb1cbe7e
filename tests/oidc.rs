//! An OpenID Connect identity provider (`NIS2HUB_OIDC_ISSUER`, or `NIS2HUB_JWKS_URL`): a local
//! provider serves its discovery document and JWKS, rotates its keys, and the service accepts
//! tokens of a new key without a restart, refuses those of a removed key, fetches again for an
//! unknown `kid` at most once per interval, keeps keys only as long as the provider's
//! `Cache-Control` says, keeps working on the held keys while the provider is down, and checks
//! `iss` against the issuer. On SQLite and, with `TEST_DATABASE_URL`, PostgreSQL.

mod common;
use actix_web::test::{call_service, init_service};
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use nis2hub::config::JwksSource;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn jwk(name: &str) -> Value {
    let all: Value = serde_json::from_str(&fixture("jwks-keys.json")).unwrap();
    all[name].clone()
}

/// A local identity provider: `/.well-known/openid-configuration` and `/jwks`, whose keys,
/// `Cache-Control` and health the test changes as it goes; it counts the JWKS fetches.
struct Provider {
    base: String,
    keys: Arc<Mutex<Vec<Value>>>,
    cache_control: Arc<Mutex<String>>,
    down: Arc<Mutex<bool>>,
    fetches: Arc<AtomicUsize>,
}

impl Provider {
    fn start(keys: Vec<Value>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let p = Provider {
            base: base.clone(),
            keys: Arc::new(Mutex::new(keys)),
            cache_control: Arc::new(Mutex::new("public, max-age=300".into())),
            down: Arc::new(Mutex::new(false)),
            fetches: Arc::new(AtomicUsize::new(0)),
        };
        let (keys, cache, down, fetches) = (
            p.keys.clone(),
            p.cache_control.clone(),
            p.down.clone(),
            p.fetches.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap_or(0);
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let (status, body) = if *down.lock().unwrap() {
                    ("500 Internal Server Error", "{}".to_string())
                } else if path == "/.well-known/openid-configuration" {
                    (
                        "200 OK",
                        json!({"issuer": base, "jwks_uri": format!("{base}/jwks")}).to_string(),
                    )
                } else if path == "/jwks" {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    ("200 OK", json!({"keys": *keys.lock().unwrap()}).to_string())
                } else {
                    ("404 Not Found", "{}".to_string())
                };
                let cache = cache.lock().unwrap().clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nCache-Control: {cache}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        p
    }

    fn set_keys(&self, keys: Vec<Value>) {
        *self.keys.lock().unwrap() = keys;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// A token of the provider: signed with the fixture key `pem` under `kid`.
fn token(pem: &str, alg: Algorithm, kid: &str, iss: &str, org: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": "idp-user", "org": org, "role": "national_csirt", "scope": "entities:read",
        "iat": now, "exp": now + 300, "iss": iss, "aud": "nis2hub"
    });
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(fixture(pem).as_bytes()),
        _ => EncodingKey::from_ec_pem(fixture(pem).as_bytes()),
    }
    .unwrap();
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn ctx_for(source: JwksSource, min_refresh: Duration) -> Ctx {
    Ctx::with_config(true, |c| {
        c.jwt.jwks = Some(source);
        c.jwt.jwks_min_refresh = min_refresh;
    })
}

const ENTITIES: &str = "/api/v1/entities";

#[actix_web::test]
async fn a_rotated_key_is_accepted_without_a_restart_and_a_removed_one_refused() {
    let idp = Provider::start(vec![jwk("es256-a"), jwk("rs256")]);
    let ctx = ctx_for(
        JwksSource::Issuer(idp.base.clone()),
        Duration::from_millis(200),
    );
    let national = ctx.org_id("ncsirt");
    let app = init_service(nis2hub::build_app(ctx.state.clone())).await;
    let call = |t: String| call_service(&app, get(ENTITIES, &t).to_request());

    let a = token(
        "es256-private.pem",
        Algorithm::ES256,
        "key-a",
        &idp.base,
        &national,
    );
    assert_eq!(call(a.clone()).await.status(), 200, "key a, ES256");
    let rsa = token(
        "rs256-private.pem",
        Algorithm::RS256,
        "key-rsa",
        &idp.base,
        &national,
    );
    assert_eq!(call(rsa).await.status(), 200, "an RSA key of the set");
    assert_eq!(idp.fetches(), 1, "the keys are kept between tokens");

    // Issuer: an OpenID Connect provider's tokens carry its issuer, not the service's.
    let wrong_iss = token(
        "es256-private.pem",
        Algorithm::ES256,
        "key-a",
        "nis2hub",
        &national,
    );
    assert_eq!(call(wrong_iss).await.status(), 401);
    // The key's algorithm is the set's: an ES256 kid presented as RS256 is refused.
    let mixed = token(
        "rs256-private.pem",
        Algorithm::RS256,
        "key-a",
        &idp.base,
        &national,
    );
    assert_eq!(call(mixed).await.status(), 401);

    // Rotation: key b replaces key a at the provider.
    idp.set_keys(vec![jwk("es256-b")]);
    std::thread::sleep(Duration::from_millis(250));
    let b = token(
        "es256-b-private.pem",
        Algorithm::ES256,
        "key-b",
        &idp.base,
        &national,
    );
    assert_eq!(
        call(b.clone()).await.status(),
        200,
        "the new key, no restart"
    );
    let res = call(a).await;
    assert_eq!(res.status(), 401, "the removed key");
    let body: Value = serde_json::from_slice(&actix_web::test::read_body(res).await).unwrap();
    assert!(
        body["detail"].as_str().unwrap_or("").contains("kid"),
        "{body}"
    );

    // While the provider is down, the held keys keep working.
    *idp.down.lock().unwrap() = true;
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(call(b).await.status(), 200);
}

#[actix_web::test]
async fn unknown_kids_fetch_the_keys_at_most_once_per_interval() {
    let idp = Provider::start(vec![jwk("es256-a")]);
    let ctx = ctx_for(
        JwksSource::Url(format!("{}/jwks", idp.base)),
        Duration::from_secs(60),
    );
    let national = ctx.org_id("ncsirt");
    let app = init_service(nis2hub::build_app(ctx.state.clone())).await;
    // With a JWKS address the tokens carry the service's own issuer.
    let a = token(
        "es256-private.pem",
        Algorithm::ES256,
        "key-a",
        "nis2hub",
        &national,
    );
    assert_eq!(
        call_service(&app, get(ENTITIES, &a).to_request())
            .await
            .status(),
        200
    );
    assert_eq!(idp.fetches(), 1);
    // Anyone can make a token with a new kid: a flood of them makes no further fetch.
    for i in 0..20 {
        let forged = token(
            "es256-private.pem",
            Algorithm::ES256,
            &format!("forged-{i}"),
            "nis2hub",
            &national,
        );
        let res = call_service(&app, get(ENTITIES, &forged).to_request()).await;
        assert_eq!(res.status(), 401);
    }
    assert_eq!(idp.fetches(), 1, "fetches are rate-limited");
}

#[actix_web::test]
async fn keys_are_kept_as_long_as_the_provider_says() {
    let idp = Provider::start(vec![jwk("es256-a")]);
    *idp.cache_control.lock().unwrap() = "max-age=1".into();
    let ctx = ctx_for(
        JwksSource::Issuer(idp.base.clone()),
        Duration::from_millis(100),
    );
    let national = ctx.org_id("ncsirt");
    let app = init_service(nis2hub::build_app(ctx.state.clone())).await;
    let a = token(
        "es256-private.pem",
        Algorithm::ES256,
        "key-a",
        &idp.base,
        &national,
    );
    assert_eq!(
        call_service(&app, get(ENTITIES, &a).to_request())
            .await
            .status(),
        200
    );
    assert_eq!(
        call_service(&app, get(ENTITIES, &a).to_request())
            .await
            .status(),
        200
    );
    assert_eq!(idp.fetches(), 1, "fresh keys are not fetched again");
    // The provider removes key a; once max-age has passed the keys are fetched again and a
    // token of key a (a known kid, no rotation signal) is refused.
    idp.set_keys(vec![jwk("es256-b")]);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        call_service(&app, get(ENTITIES, &a).to_request())
            .await
            .status(),
        401
    );
    assert_eq!(idp.fetches(), 2);
}

#[test]
fn the_configuration_names_one_provider() {
    use nis2hub::config::Config;
    let base = [(
        "NIS2HUB_JWT_SECRET".to_string(),
        "0123456789abcdef0123456789abcdef".to_string(),
    )];
    let with = |extra: &[(&str, &str)]| {
        let mut vars: Vec<(String, String)> = base.to_vec();
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Config::from_vars(vars)
    };
    let ok = with(&[("NIS2HUB_OIDC_ISSUER", "https://idp.example/realms/csirt")]).unwrap();
    assert_eq!(
        ok.jwt.jwks,
        Some(JwksSource::Issuer(
            "https://idp.example/realms/csirt".into()
        ))
    );
    let both = with(&[
        ("NIS2HUB_OIDC_ISSUER", "https://idp.example/realms/csirt"),
        ("NIS2HUB_JWKS_URL", "https://idp.example/jwks"),
    ]);
    assert!(both.unwrap_err().contains("not both"));
    let pem = fixture("es256-public.pem");
    let beside_pem = with(&[
        ("NIS2HUB_JWKS_URL", "https://idp.example/jwks"),
        ("NIS2HUB_JWT_PUBLIC_KEY", &pem),
    ]);
    assert!(beside_pem.unwrap_err().contains("NIS2HUB_JWT_PUBLIC_KEY"));
    assert!(with(&[("NIS2HUB_JWKS_URL", "idp.example/jwks")]).is_err());
}
