//! The CSAF 2.0 trusted provider, crawled over HTTP as an aggregator does: the metadata, the
//! ROLIE feeds and `index.txt`, every document with its SHA-256, SHA-512 and OpenPGP
//! signature (checked by GnuPG against the published key), every document through the
//! reference validator, a withdrawn advisory's last revision, and TLP: nothing beyond `white`
//! without a token, nothing an organisation outside the audience may not read.

mod common;

use common::*;
use nis2hub::auth::Role;
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
    body: Vec<u8>,
}

impl Got {
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
        let mut req = self.agent.get(url);
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut res = req.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Got {
            status: res.status().as_u16(),
            content_type,
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
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let public = base.clone();
    let ctx = Ctx::with_config(true, move |c| c.provider.public_url = public);
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
