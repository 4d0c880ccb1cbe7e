//! The CSAF 2.0 trusted provider, crawled over HTTP as an aggregator does: the metadata, the
//! ROLIE feeds and `index.txt`, every document with its SHA-256, SHA-512 and OpenPGP
//! signature (checked by GnuPG against the published key), every document through the
//! reference validator, a withdrawn advisory's last revision, and TLP: nothing beyond `white`
//! without a token, nothing an organisation outside the audience may not read.

mod common;

use common::*;
use nis2hub::auth::Role;
use nis2hub::config::Config;
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha512};
use std::collections::BTreeSet;
use std::path::Path;

/// A blocking HTTP client that returns 4xx and 5xx responses instead of failing.
struct Http {
    agent: ureq::Agent,
}

struct Got {
    status: u16,
    content_type: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8")
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

impl Http {
    fn new() -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build();
        Http {
            agent: ureq::Agent::new_with_config(config),
        }
    }

    fn get(&self, url: &str, token: Option<&str>) -> Got {
        self.get_with(url, token, &[])
    }

    fn get_with(&self, url: &str, token: Option<&str>, headers: &[(&str, &str)]) -> Got {
        let mut req = self.agent.get(url);
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let mut res = req.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let headers = res
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Got {
            status: res.status().as_u16(),
            content_type,
            headers,
            body: res
                .body_mut()
                .with_config()
                .limit(10 << 20)
                .read_to_vec()
                .unwrap(),
        }
    }

    fn post(&self, url: &str, token: &str, body: &Value) -> Value {
        let mut res = self
            .agent
            .post(url)
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(serde_json::to_vec(body).unwrap().as_slice())
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = res.status().as_u16();
        let text = res.body_mut().read_to_string().unwrap();
        assert!(status < 300, "POST {url}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }
}

fn advisory(title: &str, extra: Value) -> Value {
    let mut body = json!({
        "title": title,
        "summary": "Example Gateway 4.1 and 4.2 allow unauthenticated remote code execution.",
        "audience": "national",
        "tlp": "CLEAR",
        "severity": "critical",
        "cves": ["CVE-2026-12345"],
        "cvss_v3": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "cwes": [{"id": "CWE-787", "name": "Out-of-bounds Write"}],
        "affected_products": [{
            "vendor": "Example Vendor", "product": "Example Gateway",
            "versions": ["4.1", "4.2"], "fixed_in": ["4.3"]
        }],
        "remediation": "Update to 4.3; until then block port 8443 from the internet.",
        "references": [{"url": "https://vendor.example/security/2026-01", "summary": "Vendor bulletin"}]
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

/// A running server on its own port, its canonical URL configured to that port.
fn serve() -> (Ctx, String) {
    serve_with(|_| {}, None)
}

/// Like [`serve`], with the configuration adjusted and, when given, another limit on
/// anonymous requests (per second, burst).
fn serve_with(adjust: impl FnOnce(&mut Config), limit: Option<(u32, u32)>) -> (Ctx, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let public = base.clone();
    let mut ctx = Ctx::with_config(true, move |c| {
        c.provider.public_url = public;
        adjust(c);
    });
    if let Some((per_second, burst)) = limit {
        ctx.state.provider = std::sync::Arc::new(
            nis2hub::advisories::provider::Provider::load_with_limit(
                &ctx.state.config.provider,
                per_second,
                burst,
            )
            .unwrap(),
        );
    }
    let state = ctx.state.clone();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            actix_web::HttpServer::new(move || nis2hub::build_app(state.clone()))
                .workers(2)
                .listen(listener)
                .unwrap()
                .run()
                .await
        })
    });
    (ctx, base)
}

/// GnuPG with a home of its own holding only the provider's published key.
struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn run(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--batch", "--no-tty", "--status-fd", "1"])
            .args(args)
            .output()
            .expect("gpg runs")
    }
}

struct Crawled {
    /// The fingerprint the metadata names.
    fingerprint: String,
    /// Where downloaded documents are saved.
    out: std::path::PathBuf,
    /// Where each document was found, its bytes saved to a file for the validator.
    docs: Vec<(String, Value, std::path::PathBuf)>,
}

/// The `href`s of an HTML listing, in order.
fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_string)
        .collect()
}

/// Reads one feed as an aggregator: every entry's document, hashes and signature.
fn crawl_feed(
    http: &Http,
    gpg: &Gpg,
    feed_url: &str,
    dir: &str,
    token: Option<&str>,
    crawled: &mut Crawled,
) -> BTreeSet<String> {
    let out = crawled.out.clone();
    let fingerprint = crawled.fingerprint.clone();
    let feed = http.get(feed_url, token);
    assert_eq!(feed.status, 200, "{feed_url}: {}", feed.text());
    let feed = feed.json();
    assert_eq!(feed["feed"]["link"][0]["href"], feed_url);
    assert_eq!(feed["feed"]["category"][0]["term"], "csaf");
    let mut paths = BTreeSet::new();
    for entry in feed["feed"]["entry"].as_array().unwrap() {
        let url = entry["content"]["src"].as_str().unwrap().to_string();
        let links = entry["link"].as_array().unwrap();
        let link = |rel: &str, suffix: &str| {
            links
                .iter()
                .filter(|l| l["rel"] == rel)
                .map(|l| l["href"].as_str().unwrap().to_string())
                .find(|h| h.ends_with(suffix))
                .unwrap_or_else(|| panic!("{rel} link {suffix} in {entry}"))
        };
        assert_eq!(link("self", ".json"), url);
        let doc = http.get(&url, token);
        assert_eq!(doc.status, 200, "{url}: {}", doc.text());
        assert!(doc.content_type.starts_with("application/json"));
        let parsed = doc.json();

        // Where the spec puts it: the TLP directory, the year of the initial release, the
        // tracking id lower-cased.
        let tracking = &parsed["document"]["tracking"];
        let id = tracking["id"].as_str().unwrap();
        assert_eq!(entry["id"], id);
        let year = &tracking["initial_release_date"].as_str().unwrap()[..4];
        let file = format!("{}.json", id.to_lowercase());
        let prefix = format!("/.well-known/csaf/{dir}/");
        let path = url.split(&prefix).nth(1).unwrap_or_else(|| panic!("{url}"));
        assert_eq!(path, format!("{year}/{file}"));
        // The document names that URL as its canonical one (CSAF 2.0 §6.2.11).
        let selves: Vec<&Value> = parsed["document"]["references"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["category"] == "self")
            .map(|r| &r["url"])
            .collect();
        assert_eq!(selves, [&json!(url)], "the self reference of {url}");
        assert_eq!(
            parsed["document"]["distribution"]["tlp"]["label"],
            dir.to_uppercase()
        );

        // Both hashes over the exact bytes served.
        let sha256 = http.get(&link("hash", ".sha256"), token).text();
        assert_eq!(
            sha256,
            format!("{}  {file}\n", hex::encode(Sha256::digest(&doc.body)))
        );
        let sha512 = http.get(&link("hash", ".sha512"), token).text();
        assert_eq!(
            sha512,
            format!("{}  {file}\n", hex::encode(Sha512::digest(&doc.body)))
        );

        // The signature, by the published key.
        let sig = http.get(&link("signature", ".asc"), token);
        assert_eq!(sig.status, 200);
        let local = out.join(format!("{dir}-{file}"));
        std::fs::write(&local, &doc.body).unwrap();
        let sig_file = out.join(format!("{dir}-{file}.asc"));
        std::fs::write(&sig_file, &sig.body).unwrap();
        let verified = gpg.run(&[
            "--verify",
            sig_file.to_str().unwrap(),
            local.to_str().unwrap(),
        ]);
        let status = String::from_utf8_lossy(&verified.stdout);
        assert!(
            verified.status.success() && status.contains(&format!("VALIDSIG {fingerprint}")),
            "{url}: {status}\n{}",
            String::from_utf8_lossy(&verified.stderr)
        );
        paths.insert(path.to_string());
        crawled.docs.push((url, parsed, local));
    }

    // index.txt and changes.csv list the same documents, changes.csv newest first.
    let base = feed_url.rsplit_once('/').unwrap().0;
    let index = http.get(&format!("{base}/{dir}/index.txt"), token);
    assert_eq!(index.status, 200);
    let listed: BTreeSet<String> = index.text().lines().map(str::to_string).collect();
    assert_eq!(listed, paths, "index.txt of {dir}");
    // The directory listings (§7.1.14) lead a person to the same documents, with their hashes
    // and signatures.
    let top = http.get(&format!("{base}/{dir}/"), token);
    assert_eq!(top.status, 200, "{dir}/: {}", top.text());
    assert!(top.content_type.starts_with("text/html"));
    let top = hrefs(&top.text());
    assert!(top.contains(&"index.txt".to_string()) && top.contains(&"changes.csv".to_string()));
    let mut browsed = BTreeSet::new();
    for year in top.iter().filter(|h| h.ends_with('/') && *h != "../") {
        let folder = http.get(&format!("{base}/{dir}/{year}"), token);
        assert_eq!(folder.status, 200, "{dir}/{year}: {}", folder.text());
        let entries = hrefs(&folder.text());
        for file in entries.iter().filter(|h| h.ends_with(".json")) {
            for ext in [".asc", ".sha256", ".sha512"] {
                assert!(
                    entries.contains(&format!("{file}{ext}")),
                    "{year}{file}{ext}"
                );
            }
            browsed.insert(format!("{year}{file}"));
        }
    }
    assert_eq!(browsed, paths, "the listings of {dir}");
    let changes = http.get(&format!("{base}/{dir}/changes.csv"), token).text();
    let rows: Vec<(String, String)> = changes
        .lines()
        .map(|l| {
            let (p, d) = l.split_once(',').unwrap();
            (
                p.trim_matches('"').to_string(),
                d.trim_matches('"').to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows.iter().map(|(p, _)| p.clone()).collect::<BTreeSet<_>>(),
        paths
    );
    assert!(
        rows.windows(2).all(|w| w[0].1 >= w[1].1),
        "changes.csv newest first: {changes}"
    );
    paths
}

#[test]
fn an_aggregator_crawls_the_trusted_provider() {
    let (ctx, base) = serve();
    let http = Http::new();
    let api = |p: &str| format!("{base}/api/v1{p}");
    let national = ctx.national();
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let health = ctx.token("csirt-health", Role::SectoralCsirt);

    let publish = |token: &str, body: Value| -> Value {
        let a = http.post(&api("/advisories"), token, &body);
        let id = a["id"].as_str().unwrap();
        http.post(
            &api(&format!("/advisories/{id}/publish")),
            token,
            &json!({}),
        )
    };
    let clear = publish(&national, advisory("Clear advisory", json!({})));
    let withdrawn = publish(&national, advisory("Withdrawn advisory", json!({})));
    let wid = withdrawn["id"].as_str().unwrap();
    http.post(
        &api(&format!("/advisories/{wid}/withdraw")),
        &national,
        &json!({"reason": "the vendor retracted the vulnerability report"}),
    );
    let green = publish(
        &national,
        advisory("Green advisory", json!({"tlp": "GREEN"})),
    );
    let sectoral =
        json!({"audience": "sectoral", "sectors": ["energy"], "cves": ["CVE-2026-0002"]});
    let mut amber_body = sectoral.clone();
    amber_body["tlp"] = json!("AMBER");
    let amber = publish(&energy, advisory("Amber energy advisory", amber_body));
    let mut strict_body = sectoral;
    strict_body["tlp"] = json!("AMBER+STRICT");
    let strict = publish(&energy, advisory("Strict energy advisory", strict_body));
    // A draft is nowhere.
    let draft = http.post(
        &api("/advisories"),
        &national,
        &advisory("Draft", json!({})),
    );

    // The metadata, public, naming itself and its key.
    let metadata_url = format!("{base}/.well-known/csaf/provider-metadata.json");
    let metadata = http.get(&metadata_url, None);
    assert_eq!(metadata.status, 200);
    let metadata = metadata.json();
    assert_eq!(metadata["role"], "csaf_trusted_provider");
    assert_eq!(metadata["metadata_version"], "2.0");
    assert_eq!(metadata["canonical_url"], metadata_url.as_str());
    assert_eq!(metadata["publisher"]["category"], "coordinator");
    assert_eq!(
        metadata["publisher"]["namespace"],
        "https://ncsc.freedonia.example"
    );

    // security.txt points at it (RFC 9116, CSAF 2.0 §7.1.8), and has not expired.
    let security = http.get(&format!("{base}/.well-known/security.txt"), None);
    assert_eq!(security.status, 200);
    assert!(security.content_type.starts_with("text/plain"));
    let security = security.text();
    assert!(
        security
            .lines()
            .any(|l| l == format!("CSAF: {metadata_url}")),
        "{security}"
    );
    assert!(security.contains("Contact: mailto:cert@ncsc.freedonia.example"));
    let expires = security
        .lines()
        .find_map(|l| l.strip_prefix("Expires: "))
        .expect("Expires");
    let expires = chrono::DateTime::parse_from_rfc3339(expires).unwrap();
    assert!(expires > chrono::Utc::now());

    // The public key, imported into an empty keyring; its fingerprint is the metadata's.
    let key = &metadata["public_openpgp_keys"][0];
    let fingerprint = key["fingerprint"].as_str().unwrap();
    let armored = http.get(key["url"].as_str().unwrap(), None);
    assert_eq!(armored.status, 200);
    assert!(!armored.text().contains("PRIVATE"));
    let gpg = Gpg {
        home: tempfile::tempdir().unwrap(),
    };
    let out = tempfile::tempdir().unwrap();
    let key_file = out.path().join("provider.asc");
    std::fs::write(&key_file, &armored.body).unwrap();
    let import = gpg.run(&["--import", key_file.to_str().unwrap()]);
    assert!(import.status.success());
    let listing =
        String::from_utf8_lossy(&gpg.run(&["--with-colons", "--fingerprint"]).stdout).to_string();
    assert!(
        listing.contains(&format!("fpr:::::::::{fingerprint}:")),
        "{listing}"
    );

    // Every feed the metadata lists, as an aggregator with the national CSIRT's token.
    let feeds: Vec<(String, String)> = metadata["distributions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["rolie"]["feeds"].as_array())
        .flatten()
        .map(|f| {
            (
                f["tlp_label"].as_str().unwrap().to_lowercase(),
                f["url"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        feeds.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>(),
        ["white", "green", "amber", "red"]
    );
    let mut crawled = Crawled {
        fingerprint: fingerprint.to_string(),
        out: out.path().to_path_buf(),
        docs: vec![],
    };
    let mut found = std::collections::BTreeMap::new();
    for (dir, url) in &feeds {
        let token = (dir != "white").then_some(national.as_str());
        let paths = crawl_feed(&http, &gpg, url, dir, token, &mut crawled);
        found.insert(dir.clone(), paths);
    }
    let reference = |a: &Value| {
        let year = a["published_at"].as_str().unwrap()[..4].to_string();
        format!(
            "{year}/{}.json",
            a["reference"].as_str().unwrap().to_lowercase()
        )
    };
    assert_eq!(
        found["white"],
        BTreeSet::from([reference(&clear), reference(&withdrawn)])
    );
    assert_eq!(found["green"], BTreeSet::from([reference(&green)]));
    // AMBER+STRICT is in the amber tree (CSAF 2.0 has TLP 1.0 labels).
    assert_eq!(
        found["amber"],
        BTreeSet::from([reference(&amber), reference(&strict)])
    );
    assert!(found["red"].is_empty());
    let draft_ref = draft["reference"].as_str().unwrap().to_lowercase();
    assert!(crawled.docs.iter().all(|(u, _, _)| !u.contains(&draft_ref)));

    // The withdrawn advisory's document stays, its last revision saying so.
    let (_, doc, _) = crawled
        .docs
        .iter()
        .find(|(u, _, _)| u.ends_with(&reference(&withdrawn)))
        .unwrap();
    let history = doc["document"]["tracking"]["revision_history"]
        .as_array()
        .unwrap();
    assert_eq!(history.len(), 2);
    assert!(history[1]["summary"]
        .as_str()
        .unwrap()
        .starts_with("Withdrawn: the vendor retracted"));
    assert_eq!(doc["document"]["tracking"]["version"], "2");

    // Every document passes the reference validator.
    let files: Vec<&Path> = crawled.docs.iter().map(|(_, _, f)| f.as_path()).collect();
    assert_eq!(files.len(), 5);
    validate_csaf(&files);

    // Without a token nothing beyond white opens: not the feed, the index, the changes, a
    // document, its hashes or its signature.
    let amber_url = crawled
        .docs
        .iter()
        .find(|(u, _, _)| u.ends_with(&reference(&amber)))
        .unwrap()
        .0
        .clone();
    let csaf = format!("{base}/.well-known/csaf");
    for url in [
        format!("{csaf}/feed-tlp-amber.json"),
        format!("{csaf}/amber/index.txt"),
        format!("{csaf}/amber/changes.csv"),
        format!("{csaf}/amber/"),
        format!("{}/", amber_url.rsplit_once('/').unwrap().0),
        amber_url.clone(),
        format!("{amber_url}.sha256"),
        format!("{amber_url}.sha512"),
        format!("{amber_url}.asc"),
        format!("{csaf}/feed-tlp-green.json"),
    ] {
        let r = http.get(&url, None);
        assert_eq!(r.status, 401, "{url}: {}", r.text());
        assert!(!r.text().contains("Amber energy advisory"));
    }
    // Nor are AMBER documents listed in white, or served from it.
    let white_path = amber_url.replace("/amber/", "/white/");
    assert_eq!(http.get(&white_path, None).status, 404);

    // A CSIRT outside the energy audience sees an empty amber tree and 404 for the document;
    // GREEN, the national community, it reads.
    let feed = http.get(&format!("{csaf}/feed-tlp-amber.json"), Some(&health));
    assert_eq!(feed.status, 200);
    assert_eq!(feed.json()["feed"]["entry"], json!([]));
    assert_eq!(
        http.get(&format!("{csaf}/amber/index.txt"), Some(&health))
            .text(),
        ""
    );
    let listing = http.get(&format!("{csaf}/amber/"), Some(&health));
    assert_eq!(listing.status, 200);
    assert_eq!(hrefs(&listing.text()), ["../", "index.txt", "changes.csv"]);
    for url in [
        amber_url.clone(),
        format!("{amber_url}.asc"),
        format!("{amber_url}.sha256"),
        format!("{}/", amber_url.rsplit_once('/').unwrap().0),
    ] {
        assert_eq!(http.get(&url, Some(&health)).status, 404, "{url}");
    }
    let green_feed = http.get(&format!("{csaf}/feed-tlp-green.json"), Some(&health));
    assert_eq!(
        green_feed.json()["feed"]["entry"].as_array().unwrap().len(),
        1
    );
    // The energy authority, in the audience, reads both amber documents.
    let authority = ctx.token("authority-infrastructure", Role::SupervisoryAuthority);
    let feed = http.get(&format!("{csaf}/feed-tlp-amber.json"), Some(&authority));
    assert_eq!(feed.json()["feed"]["entry"].as_array().unwrap().len(), 2);
}

/// A new revision is a new document: new hashes, a new signature that verifies, the same URL.
#[test]
fn a_revision_changes_the_document_and_its_signature_at_the_same_url() {
    let (ctx, base) = serve();
    let http = Http::new();
    let national = ctx.national();
    let a = http.post(
        &format!("{base}/api/v1/advisories"),
        &national,
        &advisory("Revised advisory", json!({})),
    );
    let id = a["id"].as_str().unwrap();
    let a = http.post(
        &format!("{base}/api/v1/advisories/{id}/publish"),
        &national,
        &json!({}),
    );
    let year = &a["published_at"].as_str().unwrap()[..4];
    let url = format!(
        "{base}/.well-known/csaf/white/{year}/{}.json",
        a["reference"].as_str().unwrap().to_lowercase()
    );
    let first = http.get(&url, None).body;
    let first_sig = http.get(&format!("{url}.asc"), None).body;
    // The same content gets the remembered signature.
    assert_eq!(http.get(&format!("{url}.asc"), None).body, first_sig);

    let mut res = http
        .agent
        .patch(&format!("{base}/api/v1/advisories/{id}"))
        .header("Authorization", &format!("Bearer {national}"))
        .header("Content-Type", "application/merge-patch+json")
        .send(br#"{"severity": "high"}"#.as_slice())
        .unwrap();
    assert_eq!(
        res.status().as_u16(),
        200,
        "{}",
        res.body_mut().read_to_string().unwrap()
    );
    http.post(
        &format!("{base}/api/v1/advisories/{id}/publish"),
        &national,
        &json!({"summary": "Severity lowered"}),
    );
    let second = http.get(&url, None);
    assert_eq!(second.status, 200);
    assert_ne!(second.body, first);
    assert_eq!(second.json()["document"]["tracking"]["version"], "2");
    assert_eq!(
        http.get(&format!("{url}.sha256"), None)
            .text()
            .split(' ')
            .next()
            .unwrap(),
        hex::encode(Sha256::digest(&second.body))
    );
    let sig = http.get(&format!("{url}.asc"), None).body;
    assert_ne!(sig, first_sig);

    let gpg = Gpg {
        home: tempfile::tempdir().unwrap(),
    };
    let out = tempfile::tempdir().unwrap();
    let metadata = http
        .get(
            &format!("{base}/.well-known/csaf/provider-metadata.json"),
            None,
        )
        .json();
    let key = http.get(
        metadata["public_openpgp_keys"][0]["url"].as_str().unwrap(),
        None,
    );
    std::fs::write(out.path().join("key.asc"), &key.body).unwrap();
    assert!(gpg
        .run(&["--import", out.path().join("key.asc").to_str().unwrap()])
        .status
        .success());
    std::fs::write(out.path().join("doc.json"), &second.body).unwrap();
    std::fs::write(out.path().join("doc.json.asc"), &sig).unwrap();
    let ok = gpg.run(&[
        "--verify",
        out.path().join("doc.json.asc").to_str().unwrap(),
        out.path().join("doc.json").to_str().unwrap(),
    ]);
    assert!(ok.status.success());
    // The old signature does not verify the new document.
    std::fs::write(out.path().join("doc.json.asc"), &first_sig).unwrap();
    let stale = gpg.run(&[
        "--verify",
        out.path().join("doc.json.asc").to_str().unwrap(),
        out.path().join("doc.json").to_str().unwrap(),
    ]);
    assert!(!stale.status.success());
}

/// Creates and publishes an advisory through the API.
fn publish_new(http: &Http, base: &str, token: &str, body: Value) -> Value {
    let a = http.post(&format!("{base}/api/v1/advisories"), token, &body);
    let id = a["id"].as_str().unwrap();
    http.post(
        &format!("{base}/api/v1/advisories/{id}/publish"),
        token,
        &json!({}),
    )
}

/// Registers an entity and returns its id; RED advisories are for named entities.
fn register_entity(http: &Http, base: &str, token: &str, identifier: &str) -> String {
    let e = http.post(
        &format!("{base}/api/v1/entities"),
        token,
        &entity_body(identifier, "energy.electricity"),
    );
    e["id"].as_str().unwrap().to_string()
}

/// Changes a published advisory and publishes the change as its next revision.
fn republish(http: &Http, base: &str, token: &str, id: &str, patch: &Value, summary: &str) {
    let mut res = http
        .agent
        .patch(&format!("{base}/api/v1/advisories/{id}"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/merge-patch+json")
        .send(serde_json::to_vec(patch).unwrap().as_slice())
        .unwrap();
    let status = res.status().as_u16();
    assert_eq!(status, 200, "{}", res.body_mut().read_to_string().unwrap());
    http.post(
        &format!("{base}/api/v1/advisories/{id}/publish"),
        token,
        &json!({ "summary": summary }),
    );
}

/// `{base}/.well-known/csaf/{dir}/{year}/{name}.json` of a published advisory.
fn document_url(base: &str, dir: &str, a: &Value) -> String {
    let year = &a["published_at"].as_str().unwrap()[..4];
    format!(
        "{base}/.well-known/csaf/{dir}/{year}/{}.json",
        a["reference"].as_str().unwrap().to_lowercase()
    )
}

/// Every public file and listing answers a matching `If-None-Match` with a body-less 304 (and
/// a stale one with 200), a matching `If-Modified-Since` with 304 (and an earlier date with
/// 200), carries `Cache-Control`, and a new revision changes the validators.
#[test]
fn conditional_requests_get_304_until_something_changes() {
    let (ctx, base) = serve();
    let http = Http::new();
    let national = ctx.national();
    let a = publish_new(&http, &base, &national, advisory("Conditional", json!({})));
    let doc = document_url(&base, "white", &a);
    let csaf = format!("{base}/.well-known/csaf");
    let urls = [
        format!("{csaf}/white/index.txt"),
        format!("{csaf}/white/changes.csv"),
        format!("{csaf}/white/"),
        format!("{}/", doc.rsplit_once('/').unwrap().0),
        format!("{csaf}/feed-tlp-white.json"),
        doc.clone(),
        format!("{doc}.sha256"),
        format!("{doc}.sha512"),
        format!("{doc}.asc"),
        format!("{csaf}/provider-metadata.json"),
        format!("{csaf}/service.json"),
        format!("{base}/.well-known/security.txt"),
    ];
    let mut first = vec![];
    for url in &urls {
        let r = http.get(url, None);
        assert_eq!(r.status, 200, "{url}: {}", r.text());
        let etag = r.header("etag").unwrap_or_else(|| panic!("ETag of {url}"));
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "{url}: {etag}"
        );
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=60"),
            "{url}"
        );
        let same = http.get_with(url, None, &[("If-None-Match", etag)]);
        assert_eq!(same.status, 304, "{url} with its own ETag");
        assert!(same.body.is_empty(), "{url}: a 304 has no body");
        assert_eq!(same.header("etag"), Some(etag), "{url}");
        let listed = format!("\"0000\", W/{etag}");
        let same = http.get_with(url, None, &[("If-None-Match", listed.as_str())]);
        assert_eq!(same.status, 304, "{url} with its ETag in a list, weakly");
        let other = http.get_with(url, None, &[("If-None-Match", "\"0000\"")]);
        assert_eq!(other.status, 200, "{url} with another ETag");
        assert_eq!(other.body, r.body, "{url}");
        first.push((url.clone(), etag.to_string(), r.body));
    }

    // Listings and documents carry Last-Modified once its second has passed.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for url in &urls[..9] {
        let r = http.get(url, None);
        let modified = r
            .header("last-modified")
            .unwrap_or_else(|| panic!("Last-Modified of {url}"))
            .to_string();
        let since = http.get_with(url, None, &[("If-Modified-Since", modified.as_str())]);
        assert_eq!(since.status, 304, "{url} since {modified}");
        let earlier =
            chrono::DateTime::parse_from_rfc2822(&modified).unwrap() - chrono::Duration::seconds(1);
        let earlier = earlier.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let before = http.get_with(url, None, &[("If-Modified-Since", earlier.as_str())]);
        assert_eq!(before.status, 200, "{url} since {earlier}");
        // If-None-Match decides when both are sent.
        let both = http.get_with(
            url,
            None,
            &[
                ("If-None-Match", "\"0000\""),
                ("If-Modified-Since", modified.as_str()),
            ],
        );
        assert_eq!(both.status, 200, "{url}: If-None-Match wins");
    }

    // A token's answers are private.
    let r = http.get(&format!("{csaf}/green/index.txt"), Some(&national));
    assert_eq!(r.header("cache-control"), Some("private, no-cache"));
    let etag = r.header("etag").unwrap().to_string();
    let same = http.get_with(
        &format!("{csaf}/green/index.txt"),
        Some(&national),
        &[("If-None-Match", etag.as_str())],
    );
    assert_eq!(same.status, 304);

    // A new revision: the document, its files and the listings change; the old tags no longer
    // match.
    let id = a["id"].as_str().unwrap();
    republish(
        &http,
        &base,
        &national,
        id,
        &json!({"severity": "high"}),
        "Severity lowered",
    );
    for (url, etag, body) in &first[..9] {
        let r = http.get_with(url, None, &[("If-None-Match", etag.as_str())]);
        if url.ends_with("/index.txt") || url.ends_with('/') {
            // The same paths: the tag is of the content, which has not changed.
            assert_eq!(r.status, 304, "{url} lists the same paths");
        } else {
            assert_eq!(r.status, 200, "{url} after a new revision");
            assert_ne!(&r.body, body, "{url} after a new revision");
        }
    }
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = vec![];
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip stream");
    out
}

/// The public listings, which are kept and served many times, are sent gzip-compressed to a
/// client that accepts gzip (as Go's HTTP client, which the CSAF tools use, does by default):
/// the same bytes once decompressed, their own entity tag, `Vary: Accept-Encoding` on both
/// representations, and `304` for the compressed one's tag. Documents, and listings made per
/// request for a token, are sent as they are.
#[test]
fn kept_listings_are_sent_gzip_compressed_to_clients_that_accept_it() {
    let (ctx, base) = serve();
    let http = Http::new();
    let national = ctx.national();
    for i in 0..3 {
        publish_new(
            &http,
            &base,
            &national,
            advisory(&format!("Compressed {i}"), json!({})),
        );
    }
    let csaf = format!("{base}/.well-known/csaf");
    for url in [
        format!("{csaf}/feed-tlp-white.json"),
        format!("{csaf}/white/index.txt"),
        format!("{csaf}/white/changes.csv"),
        format!("{csaf}/white/"),
    ] {
        let plain = http.get(&url, None);
        assert_eq!(plain.status, 200, "{url}");
        assert_eq!(plain.header("content-encoding"), None, "{url}");
        assert_eq!(plain.header("vary"), Some("Accept-Encoding"), "{url}");
        let plain_tag = plain.header("etag").unwrap().to_string();

        let gz = http.get_with(&url, None, &[("Accept-Encoding", "gzip, deflate, br")]);
        assert_eq!(gz.status, 200, "{url}");
        assert_eq!(gz.header("content-encoding"), Some("gzip"), "{url}");
        assert_eq!(gz.header("vary"), Some("Accept-Encoding"), "{url}");
        assert_eq!(gz.content_type, plain.content_type, "{url}");
        assert_eq!(gunzip(&gz.body), plain.body, "{url}: the same listing");
        let gz_tag = gz.header("etag").unwrap().to_string();
        assert_ne!(
            gz_tag, plain_tag,
            "{url}: each representation has its own tag"
        );
        assert!(gz_tag.starts_with('"') && gz_tag.ends_with('"'), "{gz_tag}");

        let again = http.get_with(
            &url,
            None,
            &[
                ("Accept-Encoding", "gzip"),
                ("If-None-Match", gz_tag.as_str()),
            ],
        );
        assert_eq!(again.status, 304, "{url}: the compressed one's tag");
        assert_eq!(again.header("etag"), Some(gz_tag.as_str()));
        // The compressed tag does not validate the uncompressed representation.
        let other = http.get_with(&url, None, &[("If-None-Match", gz_tag.as_str())]);
        assert_eq!(other.status, 200, "{url}");
        assert_eq!(other.body, plain.body, "{url}");

        // RFC 9110 §12.5.3: a weight of zero refuses a coding; `*` accepts any.
        for (accept, compressed) in [
            ("gzip;q=0", false),
            ("gzip; q=0.0, identity", false),
            ("*;q=0", false),
            ("br", false),
            ("*", true),
            ("x-gzip", true),
            ("identity;q=0.5, GZIP;q=0.8", true),
            ("*, gzip;q=0", false),
        ] {
            let r = http.get_with(&url, None, &[("Accept-Encoding", accept)]);
            assert_eq!(r.status, 200, "{url}");
            assert_eq!(
                r.header("content-encoding").is_some(),
                compressed,
                "{url} with Accept-Encoding: {accept}"
            );
        }
    }

    // Sent as stored: a document (its hashes and signature are of these bytes), and a token's
    // listing, made for it alone.
    let a = publish_new(&http, &base, &national, advisory("Document", json!({})));
    let doc = http.get_with(
        &document_url(&base, "white", &a),
        None,
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(doc.status, 200);
    assert_eq!(doc.header("content-encoding"), None);
    assert_eq!(doc.header("vary"), None);
    let green = http.get_with(
        &format!("{csaf}/green/index.txt"),
        Some(&national),
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(green.status, 200);
    assert_eq!(green.header("content-encoding"), None);
}

/// What is served is what was stored when the revision was first served: the document bytes,
/// their hashes and signature are the stored row's, and listings are made from the stored
/// metadata, not from the advisories' text.
#[test]
fn documents_and_listings_are_served_from_the_stored_rows() {
    use diesel::prelude::*;
    use nis2hub::schema::csaf_documents as d;
    let (ctx, base) = serve();
    let http = Http::new();
    let national = ctx.national();
    let a = publish_new(&http, &base, &national, advisory("Stored once", json!({})));
    let url = document_url(&base, "white", &a);
    let served = http.get(&url, None);
    assert_eq!(served.status, 200);
    let sha256 = http.get(&format!("{url}.sha256"), None).text();
    let sha512 = http.get(&format!("{url}.sha512"), None).text();
    let sig = http.get(&format!("{url}.asc"), None).text();

    let feed_url = format!("{base}/.well-known/csaf/feed-tlp-white.json");
    let feed = http.get(&feed_url, None).json();
    assert_eq!(feed["feed"]["entry"][0]["title"], "Stored once");

    let mut conn = ctx.state.pool.get().unwrap();
    let id = a["id"].as_str().unwrap().to_string();
    let rows: Vec<(i64, String, String, String, String)> = d::table
        .filter(d::advisory_id.eq(&id))
        .select((d::revision, d::document, d::sha256, d::sha512, d::signature))
        .load(&mut *conn)
        .unwrap();
    assert_eq!(rows.len(), 1, "one stored revision");
    let (revision, document, row256, row512, row_sig) = rows.into_iter().next().unwrap();
    assert_eq!(revision, 1);
    assert_eq!(served.body, document.as_bytes());
    let file = url.rsplit('/').next().unwrap();
    assert_eq!(sha256, format!("{row256}  {file}\n"));
    assert_eq!(row256, hex::encode(Sha256::digest(&served.body)));
    assert_eq!(sha512, format!("{row512}  {file}\n"));
    assert_eq!(row512, hex::encode(Sha512::digest(&served.body)));
    assert_eq!(sig, row_sig);

    // The served bytes are the stored ones, whatever the advisory's text says now.
    let changed = document.replace("Stored once", "Stored twice");
    diesel::update(d::table.filter(d::advisory_id.eq(&id)))
        .set((d::document.eq(&changed), d::title.eq("Stored twice")))
        .execute(&mut *conn)
        .unwrap();
    assert_eq!(http.get(&url, None).text(), changed);
    // The API's CSAF document is the provider's stored one, byte for byte (so its hashes and
    // signature verify it), anonymously and with a token alike.
    let api_url = format!("{base}/api/v1/advisories/{id}/csaf");
    for token in [None, Some(national.as_str())] {
        let api = http.get(&api_url, token);
        assert_eq!(api.status, 200);
        assert_eq!(api.text(), changed, "{token:?}");
    }
    // The public listing is kept until an advisory changes: the feed still says "once".
    let feed = http.get(&feed_url, None);
    assert_eq!(feed.json()["feed"]["entry"][0]["title"], "Stored once");
    // A change to any advisory (here a second publication) makes it read the rows again.
    publish_new(&http, &base, &national, advisory("Another", json!({})));
    let feed = http.get(&feed_url, None).json();
    let titles: Vec<&str> = feed["feed"]["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"Stored twice"), "{titles:?}");
    // Each revision is rendered once: two advisories, two rows.
    let stored: i64 = d::table.count().get_result(&mut *conn).unwrap();
    assert_eq!(stored, 2);
}

/// A document relabelled from CLEAR to RED leaves the public tree at once: the kept public
/// listing is dropped with the change, the old URL is 404, and the red tree has it.
#[test]
fn a_relabelled_document_leaves_the_public_tree() {
    let (ctx, base) = serve();
    let http = Http::new();
    let national = ctx.national();
    let a = publish_new(&http, &base, &national, advisory("Relabelled", json!({})));
    let white = document_url(&base, "white", &a);
    let csaf = format!("{base}/.well-known/csaf");
    let path = white.split("/white/").nth(1).unwrap().to_string();
    assert_eq!(
        http.get(&format!("{csaf}/white/index.txt"), None).text(),
        format!("{path}\n")
    );
    assert_eq!(http.get(&white, None).status, 200);
    let id = a["id"].as_str().unwrap();
    let entity = register_entity(&http, &base, &national, "relabel-1");
    republish(
        &http,
        &base,
        &national,
        id,
        &json!({"tlp": "RED", "audience": "targeted", "entity_ids": [entity]}),
        "Restricted",
    );
    assert_eq!(
        http.get(&format!("{csaf}/white/index.txt"), None).text(),
        ""
    );
    let feed = http
        .get(&format!("{csaf}/feed-tlp-white.json"), None)
        .json();
    assert_eq!(feed["feed"]["entry"], json!([]));
    for url in [
        white.clone(),
        format!("{white}.sha256"),
        format!("{white}.asc"),
    ] {
        assert_eq!(http.get(&url, None).status, 404, "{url}");
        assert_eq!(http.get(&url, Some(&national)).status, 404, "{url}");
    }
    let red = white.replace("/white/", "/red/");
    let doc = http.get(&red, Some(&national));
    assert_eq!(doc.status, 200);
    assert_eq!(
        doc.json()["document"]["distribution"]["tlp"]["label"],
        "RED"
    );
    assert_eq!(
        http.get(&format!("{csaf}/red/index.txt"), Some(&national))
            .text(),
        format!("{path}\n")
    );
    // Another CSIRT, not among the RED readers, sees nothing.
    let health = ctx.token("csirt-health", Role::SectoralCsirt);
    assert_eq!(http.get(&red, Some(&health)).status, 404);
    assert_eq!(
        http.get(&format!("{csaf}/red/index.txt"), Some(&health))
            .text(),
        ""
    );
}

/// Anonymous requests are limited per address (IPv6 per /64) with 429, problem+json and
/// `Retry-After`; other addresses and callers with a token are not held up.
#[test]
fn anonymous_requests_past_the_limit_get_429() {
    let (ctx, base) = serve_with(
        |c| c.security.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()],
        Some((1, 3)),
    );
    let http = Http::new();
    let national = ctx.national();
    publish_new(&http, &base, &national, advisory("Limited", json!({})));
    let index = format!("{base}/.well-known/csaf/white/index.txt");
    let from = |addr: &str| http.get_with(&index, None, &[("X-Forwarded-For", addr)]);
    for _ in 0..3 {
        assert_eq!(from("2001:db8:1:2::1").status, 200);
    }
    let refused = from("2001:db8:1:2::1");
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert!(refused.content_type.starts_with("application/problem+json"));
    assert_eq!(refused.json()["code"], "rate_limited");
    let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    // The same /64 shares the limit, on every provider path.
    assert_eq!(from("2001:db8:1:2:ffff:ffff:ffff:ffff").status, 429);
    for path in [
        "/.well-known/csaf/provider-metadata.json",
        "/.well-known/security.txt",
        "/.well-known/csaf/feed-tlp-white.json",
    ] {
        let r = http.get_with(
            &format!("{base}{path}"),
            None,
            &[("X-Forwarded-For", "2001:db8:1:2::2")],
        );
        assert_eq!(r.status, 429, "{path}");
    }
    // Another /64, another IPv4 address: their own limits.
    assert_eq!(from("2001:db8:1:3::1").status, 200);
    assert_eq!(from("192.0.2.1").status, 200);
    // A token is not counted.
    let r = http.get_with(
        &index,
        Some(&national),
        &[("X-Forwarded-For", "2001:db8:1:2::1")],
    );
    assert_eq!(r.status, 200);
    // After the wait, the address is served again.
    std::thread::sleep(std::time::Duration::from_secs(wait));
    assert_eq!(from("2001:db8:1:2::1").status, 200);
}

/// `last_updated` in the public metadata moves with public (TLP:CLEAR) documents only: a
/// RED, AMBER or GREEN publication, and an unpublished change, leave it as it was.
#[test]
fn last_updated_moves_only_with_public_documents() {
    let (ctx, base) = serve();
    let http = Http::new();
    let national = ctx.national();
    let metadata_url = format!("{base}/.well-known/csaf/provider-metadata.json");
    let last_updated = || {
        http.get(&metadata_url, None).json()["last_updated"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let a = publish_new(&http, &base, &national, advisory("Public", json!({})));
    let doc = http.get(&document_url(&base, "white", &a), None).json();
    let current = doc["document"]["tracking"]["current_release_date"]
        .as_str()
        .unwrap();
    let before = last_updated();
    assert_eq!(before, format!("{}Z", &current[..19]));

    let entity = register_entity(&http, &base, &national, "last-updated-1");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for tlp in ["RED", "AMBER", "GREEN"] {
        let extra = if tlp == "RED" {
            json!({"tlp": tlp, "audience": "targeted", "entity_ids": [entity]})
        } else {
            json!({ "tlp": tlp })
        };
        let b = publish_new(
            &http,
            &base,
            &national,
            advisory(&format!("{tlp} one"), extra),
        );
        assert_eq!(b["status"], "published");
    }
    // An edit of the public advisory not yet published.
    let id = a["id"].as_str().unwrap();
    let mut res = http
        .agent
        .patch(&format!("{base}/api/v1/advisories/{id}"))
        .header("Authorization", &format!("Bearer {national}"))
        .header("Content-Type", "application/merge-patch+json")
        .send(br#"{"severity": "high"}"#.as_slice())
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let _ = res.body_mut().read_to_string();
    assert_eq!(last_updated(), before, "restricted publications stay out");

    // Publishing the public advisory's change moves it.
    http.post(
        &format!("{base}/api/v1/advisories/{id}/publish"),
        &national,
        &json!({"summary": "Severity lowered"}),
    );
    assert!(last_updated() > before, "a public revision moves it");
}
