//! CSAF 2.0 (`csaf_security_advisory`) documents from advisories.
//!
//! The tracking id is the advisory's reference, the revision history its numbered
//! publications (integer versioning, status `final`). The product tree has one branch per
//! vendor, product and version; every version named as affected, fixed or not affected is a
//! product of its own, so product statuses, scores and remediations name exact versions.
//! CSAF 2.0 carries TLP 1.0 labels: CLEAR is WHITE and AMBER+STRICT is AMBER (the TLP 2.0
//! label is kept in the distribution text).

use super::model::{Advisory, AdvisoryStatus, Tlp};
use serde_json::{json, Value};

fn date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The CSAF label of a TLP 2.0 label.
pub fn tlp_label(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Clear => "WHITE",
        Tlp::Green => "GREEN",
        Tlp::Amber | Tlp::AmberStrict => "AMBER",
        Tlp::Red => "RED",
    }
}

struct Products {
    affected: Vec<String>,
    fixed: Vec<String>,
    not_affected: Vec<String>,
}

/// Builds the document. `national` tells the publisher's role; `website` is the issuer's
/// (its namespace), else a URN naming it; `public_url` is the provider's, under which the
/// document's canonical URL (its `self` reference, CSAF 2.0 §6.2.11) lives.
pub fn document(a: &Advisory, national: bool, website: Option<&str>, public_url: &str) -> Value {
    let input = &a.input;
    let mut next_id = 0u32;
    let mut pid = || {
        next_id = next_id.saturating_add(1);
        format!("CSAFPID-{next_id:04}")
    };
    // Vendors in order of appearance, each with its products.
    let mut vendors: Vec<(String, Vec<Value>)> = vec![];
    let mut per_product: Vec<Products> = vec![];
    for p in &input.affected_products {
        let mut products = Products {
            affected: vec![],
            fixed: vec![],
            not_affected: vec![],
        };
        let mut versions = vec![];
        let mut helper = serde_json::Map::new();
        if let Some(cpe) = &p.cpe {
            helper.insert("cpe".into(), json!(cpe));
        }
        if let Some(purl) = &p.purl {
            helper.insert("purl".into(), json!(purl));
        }
        for (list, into) in [
            (&p.versions, &mut products.affected),
            (&p.fixed_in, &mut products.fixed),
            (&p.not_affected, &mut products.not_affected),
        ] {
            for v in list {
                let id = pid();
                let mut product = json!({
                    "name": format!("{} {} {}", p.vendor, p.product, v),
                    "product_id": id,
                });
                if !helper.is_empty() {
                    product["product_identification_helper"] = Value::Object(helper.clone());
                }
                versions.push(json!({
                    "category": "product_version", "name": v, "product": product
                }));
                into.push(id);
            }
        }
        let branch = json!({"category": "product_name", "name": p.product, "branches": versions});
        match vendors.iter_mut().find(|(v, _)| *v == p.vendor) {
            Some((_, list)) => list.push(branch),
            None => vendors.push((p.vendor.clone(), vec![branch])),
        }
        per_product.push(products);
    }
    let branches: Vec<Value> = vendors
        .into_iter()
        .map(|(vendor, products)| json!({"category": "vendor", "name": vendor, "branches": products}))
        .collect();

    let affected: Vec<String> = per_product
        .iter()
        .flat_map(|p| p.affected.clone())
        .collect();
    let fixed: Vec<String> = per_product.iter().flat_map(|p| p.fixed.clone()).collect();
    let not_affected: Vec<String> = per_product
        .iter()
        .flat_map(|p| p.not_affected.clone())
        .collect();
    let mut status = serde_json::Map::new();
    for (key, ids) in [
        ("known_affected", &affected),
        ("fixed", &fixed),
        ("known_not_affected", &not_affected),
    ] {
        if !ids.is_empty() {
            status.insert(key.into(), json!(ids));
        }
    }
    let mut remediations = vec![];
    for (p, ids) in input.affected_products.iter().zip(&per_product) {
        if !p.fixed_in.is_empty() && !ids.affected.is_empty() {
            remediations.push(json!({
                "category": "vendor_fix",
                "details": format!("Update {} {} to {}.", p.vendor, p.product, p.fixed_in.join(" or ")),
                "product_ids": ids.affected,
            }));
        }
    }
    if let Some(text) = &input.remediation {
        if !affected.is_empty() {
            remediations.push(json!({
                "category": "mitigation", "details": text, "product_ids": affected,
            }));
        }
    }
    let scores: Vec<Value> = match (&input.cvss_v3, &a.cvss_v3_score) {
        (Some(vector), Some(score)) if !affected.is_empty() => {
            let parsed = super::model::parse_cvss(vector).ok();
            let version = parsed
                .as_ref()
                .map(|v| format!("3.{}", v.minor_version))
                .unwrap_or_else(|| "3.1".into());
            let vector = parsed
                .map(|v| v.to_string())
                .unwrap_or_else(|| vector.clone());
            vec![json!({
                "products": affected,
                "cvss_v3": {
                    "version": version,
                    "vectorString": vector,
                    "baseScore": score.base_score,
                    "baseSeverity": score.base_severity,
                }
            })]
        }
        _ => vec![],
    };
    let vulnerability = |cve: Option<&String>| {
        let mut v = json!({
            "title": input.title,
            "notes": [{"category": "description", "title": "Description", "text": input.summary}],
            "product_status": status,
        });
        if let Some(cve) = cve {
            v["cve"] = json!(cve);
        }
        if let Some(cwe) = input.cwes.first() {
            v["cwe"] = json!({"id": cwe.id, "name": cwe.name});
        }
        if input.cwes.len() > 1 {
            let more: Vec<String> = input.cwes[1..]
                .iter()
                .map(|c| format!("{} {}", c.id, c.name))
                .collect();
            v["notes"]
                .as_array_mut()
                .expect("notes are a list")
                .push(json!({"category": "other", "title": "Further weaknesses", "text": more.join("\n")}));
        }
        if !scores.is_empty() {
            v["scores"] = json!(scores);
        }
        if !remediations.is_empty() {
            v["remediations"] = json!(remediations);
        }
        if !input.acknowledgments.is_empty() {
            let credits: Vec<Value> = input
                .acknowledgments
                .iter()
                .map(|a| match &a.summary {
                    Some(s) => json!({"names": [a.name], "summary": s}),
                    None => json!({"names": [a.name]}),
                })
                .collect();
            v["acknowledgments"] = json!(credits);
        }
        v
    };
    let vulnerabilities: Vec<Value> = if input.cves.is_empty() {
        vec![vulnerability(None)]
    } else {
        input.cves.iter().map(|c| vulnerability(Some(c))).collect()
    };

    let mut notes = vec![json!({"category": "summary", "title": "Summary", "text": input.summary})];
    if a.status == AdvisoryStatus::Withdrawn {
        notes.push(json!({
            "category": "general", "title": "Withdrawn",
            "text": format!("This advisory has been withdrawn: {}", a.withdrawn_reason.clone().unwrap_or_default()),
        }));
    }
    let mut references: Vec<Value> = input
        .references
        .iter()
        .map(|r| json!({"category": "external", "summary": r.summary, "url": r.url}))
        .collect();
    let history: Vec<Value> = a
        .revisions
        .iter()
        .map(
            |r| json!({"number": r.number.to_string(), "date": date(r.date), "summary": r.summary}),
        )
        .collect();
    let initial = a
        .published_at
        .or(a.revisions.first().map(|r| r.date))
        .unwrap_or(a.created_at);
    let current = a.revisions.last().map(|r| r.date).unwrap_or(a.updated_at);
    references.insert(
        0,
        json!({
            "category": "self",
            "summary": "The canonical URL of this document",
            "url": format!(
                "{public_url}/.well-known/csaf/{}/{}/{}",
                super::provider::Dir::of(input.tlp).name(),
                initial.format("%Y"),
                super::provider::file_name(&a.reference),
            ),
        }),
    );
    let namespace = website
        .filter(|w| w.starts_with("https://") || w.starts_with("http://"))
        .map(str::to_string)
        .unwrap_or_else(|| format!("urn:nis2hub:organisation:{}", a.issuer.code));
    json!({
        "document": {
            "category": "csaf_security_advisory",
            "csaf_version": "2.0",
            "title": input.title,
            "lang": "en",
            "aggregate_severity": {"text": input.severity.as_str()},
            "publisher": {
                "category": "coordinator",
                "name": a.issuer.name,
                "namespace": namespace,
                "issuing_authority": if national {
                    "The national CSIRT (NIS2 Art. 10), issuing national advisories."
                } else {
                    "A sectoral CSIRT (NIS2 Art. 10), issuing advisories for the sectors it covers."
                },
            },
            "distribution": {
                "text": format!("TLP:{} (TLP 2.0)", input.tlp.as_str()),
                "tlp": {"label": tlp_label(input.tlp), "url": "https://www.first.org/tlp/"},
            },
            "notes": notes,
            "references": references,
            "tracking": {
                "id": a.reference,
                "status": "final",
                "version": a.revision.to_string(),
                "initial_release_date": date(initial),
                "current_release_date": date(current),
                "revision_history": history,
                "generator": {"engine": {"name": "nis2hub", "version": env!("CARGO_PKG_VERSION")}},
            },
        },
        "product_tree": {"branches": branches},
        "vulnerabilities": vulnerabilities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlp_2_labels_map_to_csaf_tlp_1_labels() {
        assert_eq!(tlp_label(Tlp::Clear), "WHITE");
        assert_eq!(tlp_label(Tlp::Green), "GREEN");
        assert_eq!(tlp_label(Tlp::Amber), "AMBER");
        assert_eq!(tlp_label(Tlp::AmberStrict), "AMBER");
        assert_eq!(tlp_label(Tlp::Red), "RED");
    }
}
