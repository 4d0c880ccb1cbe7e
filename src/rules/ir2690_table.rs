//! The significance table of Implementing Regulation (EU) 2024/2690 (OJ L, 2024/2690,
//! 18.10.2024), Arts. 3–14, as test rows: for every entity type of its Art. 1 and every point,
//! a case just above and one at or just below each threshold, and for every user threshold
//! ("whichever number is smaller") a share above with a count below, the reverse, and both at
//! their figure. Shared by the unit test in `significance.rs` and the HTTP test of the dry run
//! (`tests/law_significance.rs`), so the rules and the API are held to the same table.
//!
//! Every row: (case, sector of the entity, the report's `impact`, the criteria met, in the
//! order the engine lists them: Art. 23(3), Art. 3(1), Art. 4, then the type's points).

use serde_json::{json, Value};

pub struct Row {
    pub case: String,
    pub sector: &'static str,
    pub impact: Value,
    pub expected: Vec<String>,
}

pub const DNS: &str = "digital_infrastructure.dns";
pub const TLD: &str = "digital_infrastructure.tld";
pub const CLOUD: &str = "digital_infrastructure.cloud";
pub const DATA_CENTRE: &str = "digital_infrastructure.data_centre";
pub const CDN: &str = "digital_infrastructure.cdn";
pub const MSP: &str = "ict_service_management.msp";
pub const MSSP: &str = "ict_service_management.mssp";
pub const MARKETPLACE: &str = "digital_providers.online_marketplaces";
pub const SEARCH: &str = "digital_providers.search_engines";
pub const SOCIAL: &str = "digital_providers.social_networks";
pub const TRUST: &str = "digital_infrastructure.trust_services";

fn row(case: &str, sector: &'static str, impact: Value, expected: &[&str]) -> Row {
    Row {
        case: format!("{sector}: {case}"),
        sector,
        impact,
        expected: expected.iter().map(|s| s.to_string()).collect(),
    }
}

/// Arts. 7 (cloud), 9 (CDN) and 10 (managed and managed security services) share one text:
/// "(a) [the service] is completely unavailable for more than 30 minutes;
///  (b) the availability of [the service] of a provider is limited for more than 5 % of [its]
///      users in the Union, or for more than 1 million of [its] users in the Union, whichever
///      number is smaller, for a duration of more than one hour;
///  (c) the integrity, confidentiality or authenticity of stored, transmitted or processed data
///      related to the provision of [the service] is compromised as a result of a suspectedly
///      malicious action;
///  (d) the integrity, confidentiality or authenticity of stored, transmitted or processed data
///      related to the provision of [the service] is compromised with an impact on more than
///      5 % of [its] users in the Union, or on more than 1 million of [its] users in the Union,
///      whichever number is smaller."
fn availability_and_data(sector: &'static str, article: &str) -> Vec<Row> {
    let id = |point: &str, what: &str| format!("ir2690.art{article}_{point}.{what}");
    let (a, b) = (id("a", "unavailable"), id("b", "limited_availability"));
    let (c, d) = (
        id("c", "data_compromised_malicious"),
        id("d", "data_compromised"),
    );
    let r = |case: &str, impact: Value, expected: &[&String]| Row {
        case: format!("{sector} (Art. {article}): {case}"),
        sector,
        impact,
        expected: expected.iter().map(|s| s.to_string()).collect(),
    };
    vec![
        // (a) more than 30 minutes.
        r(
            "(a) unavailable 30 minutes",
            json!({"unavailability_minutes": 30}),
            &[],
        ),
        r(
            "(a) unavailable 31 minutes",
            json!({"unavailability_minutes": 31}),
            &[&a],
        ),
        // (b) more than one hour, and more than 5 % or more than 1 million users.
        r(
            "(b) limited 61 minutes for exactly 5 % and exactly 1 million",
            json!({"degraded_minutes": 61, "users_affected_percent": 5.0, "users_affected": 1_000_000}),
            &[],
        ),
        r(
            "(b) limited 61 minutes, share above (5.01 %) with a count below (10 000)",
            json!({"degraded_minutes": 61, "users_affected_percent": 5.01, "users_affected": 10_000}),
            &[&b],
        ),
        r(
            "(b) limited 61 minutes, count above (1 000 001) with a share below (0.5 %)",
            json!({"degraded_minutes": 61, "users_affected_percent": 0.5, "users_affected": 1_000_001}),
            &[&b],
        ),
        r(
            "(b) limited exactly one hour for every user",
            json!({"degraded_minutes": 60, "users_affected_percent": 100.0, "users_affected": 50_000_000}),
            &[],
        ),
        r(
            "(b) limited a day with no users known",
            json!({"degraded_minutes": 1440}),
            &[],
        ),
        // (c) a suspectedly malicious compromise, whatever the number of users.
        r(
            "(c) one user's data compromised by a suspectedly malicious action",
            json!({"data_compromised": true, "data_compromise_malicious": true, "data_compromised_users": 1}),
            &[&c],
        ),
        r(
            "(c)/(d) ten users' data compromised by accident",
            json!({"data_compromised": true, "data_compromised_users": 10, "data_compromised_users_percent": 0.001}),
            &[],
        ),
        // (d) more than 5 % or more than 1 million users.
        r(
            "(d) data of exactly 5 % and exactly 1 million",
            json!({"data_compromised": true, "data_compromised_users_percent": 5.0, "data_compromised_users": 1_000_000}),
            &[],
        ),
        r(
            "(d) data: share above (5.01 %) with a count below (10)",
            json!({"data_compromised": true, "data_compromised_users_percent": 5.01, "data_compromised_users": 10}),
            &[&d],
        ),
        r(
            "(d) data: count above (1 000 001) with a share below (0.5 %)",
            json!({"data_compromised": true, "data_compromised_users_percent": 0.5, "data_compromised_users": 1_000_001}),
            &[&d],
        ),
        r(
            "(c) and (d) together",
            json!({"data_compromised": true, "data_compromise_malicious": true, "data_compromised_users": 2_000_000}),
            &[&c, &d],
        ),
        // Art. 3(2): scheduled maintenance meets no availability criterion, but a malicious
        // data compromise during it is no planned consequence.
        r(
            "Art. 3(2) scheduled maintenance, down 10 hours for every user",
            json!({"scheduled_maintenance": true, "unavailability_minutes": 600, "degraded_minutes": 600,
                   "users_affected_percent": 100.0, "users_affected": 50_000_000}),
            &[],
        ),
        r(
            "Art. 3(2) scheduled maintenance with a malicious data compromise",
            json!({"scheduled_maintenance": true, "unavailability_minutes": 600,
                   "data_compromised": true, "data_compromise_malicious": true}),
            &[&c],
        ),
    ]
}

/// Arts. 11 (online marketplaces), 12 (online search engines), 13 (social networking services
/// platforms) share one text:
/// "(a) [the service] is completely unavailable for more than 5 % of [its] users in the Union,
///      or for more than 1 million of [its] users in the Union, whichever number is smaller;
///  (b) more than 5 % of [its] users in the Union, or more than 1 million of [its] users in the
///      Union, whichever number is smaller, are impacted by the limited availability of [it];
///  (c) … data … is compromised as a result of a suspectedly malicious action;
///  (d) … data … is compromised with an impact on more than 5 % of [its] users in the Union,
///      or on more than 1 million of [its] users in the Union, whichever number is smaller."
/// No duration: (a) and (b) read the minutes only to know the service was unavailable or
/// limited at all.
fn platform(sector: &'static str, article: &str) -> Vec<Row> {
    let id = |point: &str, what: &str| format!("ir2690.art{article}_{point}.{what}");
    let (a, b) = (id("a", "unavailable"), id("b", "limited_availability"));
    let (c, d) = (
        id("c", "data_compromised_malicious"),
        id("d", "data_compromised"),
    );
    let r = |case: &str, impact: Value, expected: &[&String]| Row {
        case: format!("{sector} (Art. {article}): {case}"),
        sector,
        impact,
        expected: expected.iter().map(|s| s.to_string()).collect(),
    };
    vec![
        r(
            "(a) down a minute for exactly 5 % and exactly 1 million",
            json!({"unavailability_minutes": 1, "users_affected_percent": 5.0, "users_affected": 1_000_000}),
            &[],
        ),
        r(
            "(a) down a minute, share above (5.01 %) with a count below (10 000)",
            json!({"unavailability_minutes": 1, "users_affected_percent": 5.01, "users_affected": 10_000}),
            &[&a],
        ),
        r(
            "(a) down a minute, count above (1 000 001) with a share below (0.5 %)",
            json!({"unavailability_minutes": 1, "users_affected_percent": 0.5, "users_affected": 1_000_001}),
            &[&a],
        ),
        r(
            "(a) down ten hours for a few users",
            json!({"unavailability_minutes": 600, "users_affected_percent": 0.01, "users_affected": 100}),
            &[],
        ),
        r(
            "(b) limited, exactly 5 % and exactly 1 million",
            json!({"degraded_minutes": 1, "users_affected_percent": 5.0, "users_affected": 1_000_000}),
            &[],
        ),
        r(
            "(b) limited, share above (5.01 %) with a count below (10 000)",
            json!({"degraded_minutes": 1, "users_affected_percent": 5.01, "users_affected": 10_000}),
            &[&b],
        ),
        r(
            "(b) limited, count above (1 000 001) with a share below (0.5 %)",
            json!({"degraded_minutes": 1, "users_affected_percent": 0.5, "users_affected": 1_000_001}),
            &[&b],
        ),
        r(
            "(c) one user's data, suspectedly malicious",
            json!({"data_compromised": true, "data_compromise_malicious": true, "data_compromised_users": 1}),
            &[&c],
        ),
        r(
            "(d) data of exactly 5 % and exactly 1 million, by accident",
            json!({"data_compromised": true, "data_compromised_users_percent": 5.0, "data_compromised_users": 1_000_000}),
            &[],
        ),
        r(
            "(d) data: share above (5.01 %) with a count below (10)",
            json!({"data_compromised": true, "data_compromised_users_percent": 5.01, "data_compromised_users": 10}),
            &[&d],
        ),
        r(
            "(d) data: count above (1 000 001) with a share below (0.5 %)",
            json!({"data_compromised": true, "data_compromised_users_percent": 0.5, "data_compromised_users": 1_000_001}),
            &[&d],
        ),
        r(
            "Art. 3(2) scheduled maintenance, down for every user",
            json!({"scheduled_maintenance": true, "unavailability_minutes": 60, "degraded_minutes": 60,
                   "users_affected_percent": 100.0, "users_affected": 50_000_000}),
            &[],
        ),
    ]
}

/// The whole table.
pub fn rows() -> Vec<Row> {
    let mut t = vec![
        row("nothing happened", DNS, json!({}), &[]),
        // Art. 3(1): "(a) … direct financial loss … that exceeds EUR 500 000 or 5 % of the
        // relevant entity's total annual turnover in the preceding financial year, whichever
        // is lower" (the turnover cases are in `significance.rs`).
        row(
            "Art. 3(1)(a) loss of exactly EUR 500 000",
            CLOUD,
            json!({"financial_loss_eur": 500_000}),
            &[],
        ),
        row(
            "Art. 3(1)(a) loss of EUR 500 001",
            CLOUD,
            json!({"financial_loss_eur": 500_001}),
            &["ir2690.art3_1_a.financial_loss"],
        ),
        // "(e) a successful, suspectedly malicious and unauthorised access to network and
        // information systems occurred, which is capable of causing severe operational
        // disruption": not the data criteria of Arts. 7–13 (c).
        row(
            "Art. 3(1)(e) malicious access, no data compromised",
            CLOUD,
            json!({"malicious_access": true}),
            &["ir2690.art3_1_e.malicious_access"],
        ),
        // Art. 5 (DNS service providers):
        // "(a) a recursive or authoritative domain name resolution service is completely
        //      unavailable for more than 30 minutes;"
        row(
            "Art. 5(a) down 30 minutes",
            DNS,
            json!({"unavailability_minutes": 30}),
            &[],
        ),
        row(
            "Art. 5(a) down 31 minutes",
            DNS,
            json!({"unavailability_minutes": 31}),
            &["ir2690.art5_a.unavailable"],
        ),
        // "(b) for a period of more than one hour, the average response time of a recursive or
        //      authoritative domain name resolution service to DNS requests is more than 10
        //      seconds;"
        row(
            "Art. 5(b) 10.5 s for exactly one hour",
            DNS,
            json!({"response_time_seconds": 10.5, "degraded_minutes": 60}),
            &[],
        ),
        row(
            "Art. 5(b) 10.5 s for 61 minutes",
            DNS,
            json!({"response_time_seconds": 10.5, "degraded_minutes": 61}),
            &["ir2690.art5_b.slow_response"],
        ),
        row(
            "Art. 5(b) exactly 10 s for ten hours",
            DNS,
            json!({"response_time_seconds": 10.0, "degraded_minutes": 600}),
            &[],
        ),
        // "(c) the integrity, confidentiality or authenticity of stored, transmitted or
        //      processed data related to the provision of the authoritative domain name
        //      resolution service is compromised, except in cases where the data of fewer than
        //      1 000 domain names managed by the DNS service provider, amounting to not more
        //      than 1 % of the domain names managed by the DNS service provider, are
        //      compromised due to misconfiguration."
        row(
            "Art. 5(c) data compromised",
            DNS,
            json!({"data_compromised": true}),
            &["ir2690.art5_c.data_compromised"],
        ),
        row(
            "Art. 5(c) misconfiguration, 999 domains of 99 900 (exactly 1 %): excepted",
            DNS,
            json!({"data_compromised": true, "misconfigured_domains": 999, "domains_managed": 99_900}),
            &[],
        ),
        row(
            "Art. 5(c) misconfiguration, 999 domains of 99 899 (above 1 %)",
            DNS,
            json!({"data_compromised": true, "misconfigured_domains": 999, "domains_managed": 99_899}),
            &["ir2690.art5_c.data_compromised"],
        ),
        row(
            "Art. 5(c) misconfiguration, 1 000 domains of 1 000 000 (not fewer than 1 000)",
            DNS,
            json!({"data_compromised": true, "misconfigured_domains": 1_000, "domains_managed": 1_000_000}),
            &["ir2690.art5_c.data_compromised"],
        ),
        row(
            "Art. 5(c) misconfiguration, 999 domains of 1 000 000: excepted",
            DNS,
            json!({"data_compromised": true, "misconfigured_domains": 999, "domains_managed": 1_000_000}),
            &[],
        ),
        row(
            "Art. 5(c) 10 domains of 1 000 000, suspectedly malicious: no misconfiguration",
            DNS,
            json!({"data_compromised": true, "data_compromise_malicious": true,
                   "misconfigured_domains": 10, "domains_managed": 1_000_000}),
            &["ir2690.art5_c.data_compromised"],
        ),
        // Art. 3(2) for DNS.
        row(
            "Art. 3(2) scheduled maintenance, down and slow ten hours",
            DNS,
            json!({"scheduled_maintenance": true, "unavailability_minutes": 600,
                   "response_time_seconds": 30.0, "degraded_minutes": 600}),
            &[],
        ),
        // Art. 6 (TLD name registries):
        // "(a) an authoritative domain name resolution service is completely unavailable;"
        row(
            "Art. 6(a) not down",
            TLD,
            json!({"unavailability_minutes": 0}),
            &[],
        ),
        row(
            "Art. 6(a) down a minute",
            TLD,
            json!({"unavailability_minutes": 1}),
            &["ir2690.art6_a.unavailable"],
        ),
        // "(b) for a period of more than one hour, the average response time of an
        //      authoritative domain name resolution service to DNS requests is more than 10
        //      seconds;"
        row(
            "Art. 6(b) 11 s for exactly one hour",
            TLD,
            json!({"response_time_seconds": 11.0, "degraded_minutes": 60}),
            &[],
        ),
        row(
            "Art. 6(b) 11 s for 61 minutes",
            TLD,
            json!({"response_time_seconds": 11.0, "degraded_minutes": 61}),
            &["ir2690.art6_b.slow_response"],
        ),
        row(
            "Art. 6(b) 10 s for 61 minutes",
            TLD,
            json!({"response_time_seconds": 10.0, "degraded_minutes": 61}),
            &[],
        ),
        // "(c) the integrity, confidentiality or authenticity of stored, transmitted or
        //      processed data related to the technical operation of the TLD is compromised."
        row(
            "Art. 6(c) data compromised, even by accident",
            TLD,
            json!({"data_compromised": true, "data_compromised_users": 1}),
            &["ir2690.art6_c.data_compromised"],
        ),
        row(
            "Art. 3(2) scheduled maintenance, down five minutes",
            TLD,
            json!({"scheduled_maintenance": true, "unavailability_minutes": 5}),
            &[],
        ),
        // Art. 8 (data centre service providers):
        // "(a) a data centre service of a data centre operated by the provider is completely
        //      unavailable;"
        row(
            "Art. 8(a) not down",
            DATA_CENTRE,
            json!({"unavailability_minutes": 0}),
            &[],
        ),
        row(
            "Art. 8(a) down a minute",
            DATA_CENTRE,
            json!({"unavailability_minutes": 1}),
            &["ir2690.art8_a.unavailable"],
        ),
        // "(b) the availability of a data centre service of a data centre operated by the
        //      provider is limited for a duration of more than one hour;" (no users involved)
        row(
            "Art. 8(b) limited exactly one hour",
            DATA_CENTRE,
            json!({"degraded_minutes": 60}),
            &[],
        ),
        row(
            "Art. 8(b) limited 61 minutes, no users given",
            DATA_CENTRE,
            json!({"degraded_minutes": 61}),
            &["ir2690.art8_b.limited_availability"],
        ),
        // "(c) the integrity, confidentiality or authenticity of stored, transmitted or
        //      processed data related to the provision of a data centre service is compromised
        //      as a result of a suspectedly malicious action;"
        row(
            "Art. 8(c) every user's data compromised by accident",
            DATA_CENTRE,
            json!({"data_compromised": true, "data_compromised_users_percent": 100.0}),
            &[],
        ),
        row(
            "Art. 8(c) data compromised by a suspectedly malicious action",
            DATA_CENTRE,
            json!({"data_compromised": true, "data_compromise_malicious": true}),
            &["ir2690.art8_c.data_compromised_malicious"],
        ),
        // "(d) physical access to a data centre operated by the provider is compromised."
        row(
            "Art. 8(d) physical access compromised",
            DATA_CENTRE,
            json!({"physical_access_compromised": true}),
            &["ir2690.art8_d.physical_access"],
        ),
        row(
            "Art. 3(2) scheduled maintenance, limited ten hours",
            DATA_CENTRE,
            json!({"scheduled_maintenance": true, "unavailability_minutes": 30, "degraded_minutes": 600}),
            &[],
        ),
        // Art. 14 (trust service providers):
        // "(a) a trust service is completely unavailable for more than 20 minutes;"
        row(
            "Art. 14(a) down 20 minutes",
            TRUST,
            json!({"unavailability_minutes": 20}),
            &[],
        ),
        row(
            "Art. 14(a) down 21 minutes",
            TRUST,
            json!({"unavailability_minutes": 21}),
            &["ir2690.art14_a.unavailable"],
        ),
        // "(b) a trust service is unavailable to users or relying parties for more than one
        //      hour calculated on a calendar week basis;"
        row(
            "Art. 14(b) 60 minutes in the week",
            TRUST,
            json!({"unavailability_minutes": 15, "weekly_unavailability_minutes": 60}),
            &[],
        ),
        row(
            "Art. 14(b) 61 minutes in the week, 15 of them now",
            TRUST,
            json!({"unavailability_minutes": 15, "weekly_unavailability_minutes": 61}),
            &["ir2690.art14_b.weekly_unavailability"],
        ),
        // "(c) more than 1 % of the users or relying parties in the Union, or more than
        //      200 000 users or relying parties in the Union, whichever number is smaller, are
        //      impacted by the limited availability of a trust service;" (no duration)
        row(
            "Art. 14(c) limited a minute for exactly 1 % and exactly 200 000",
            TRUST,
            json!({"degraded_minutes": 1, "users_affected_percent": 1.0, "users_affected": 200_000}),
            &[],
        ),
        row(
            "Art. 14(c) limited a minute, share above (1.01 %) with a count below (1 000)",
            TRUST,
            json!({"degraded_minutes": 1, "users_affected_percent": 1.01, "users_affected": 1_000}),
            &["ir2690.art14_c.limited_availability"],
        ),
        row(
            "Art. 14(c) limited a minute, count above (200 001) with a share below (0.5 %)",
            TRUST,
            json!({"degraded_minutes": 1, "users_affected_percent": 0.5, "users_affected": 200_001}),
            &["ir2690.art14_c.limited_availability"],
        ),
        // "(d) physical access to a restricted area where network and information systems are
        //      located and to which access is limited to trusted personnel of the trust service
        //      provider, or the protection of such physical access, is compromised;"
        row(
            "Art. 14(d) physical access compromised",
            TRUST,
            json!({"physical_access_compromised": true}),
            &["ir2690.art14_d.physical_access"],
        ),
        // "(e) the integrity, confidentiality or authenticity of stored, transmitted or
        //      processed data related to the provision of a trust service is compromised with
        //      an impact on more than 0,1 % of the users or relying parties, or more than 100
        //      users or relying parties of the trust service in the Union, whichever number is
        //      smaller."
        row(
            "Art. 14(e) data of exactly 0.1 % and exactly 100",
            TRUST,
            json!({"data_compromised": true, "data_compromised_users_percent": 0.1, "data_compromised_users": 100}),
            &[],
        ),
        row(
            "Art. 14(e) data: share above (0.11 %) with a count below (5)",
            TRUST,
            json!({"data_compromised": true, "data_compromised_users_percent": 0.11, "data_compromised_users": 5}),
            &["ir2690.art14_e.data_compromised"],
        ),
        row(
            "Art. 14(e) data: count above (101) with a share below (0.01 %)",
            TRUST,
            json!({"data_compromised": true, "data_compromised_users_percent": 0.01, "data_compromised_users": 101}),
            &["ir2690.art14_e.data_compromised"],
        ),
        row(
            "Art. 14 has no malicious-data point: one user's data, suspectedly malicious",
            TRUST,
            json!({"data_compromised": true, "data_compromise_malicious": true, "data_compromised_users": 1}),
            &[],
        ),
        row(
            "Art. 3(2) scheduled maintenance, down ten hours in the week for every user",
            TRUST,
            json!({"scheduled_maintenance": true, "unavailability_minutes": 600,
                   "weekly_unavailability_minutes": 600, "degraded_minutes": 600,
                   "users_affected_percent": 100.0, "users_affected": 5_000_000}),
            &[],
        ),
        // An entity both MSP and MSSP meets Art. 10 once per point (the dry run with
        // additional sectors is in the HTTP test).
    ];
    t.extend(availability_and_data(CLOUD, "7"));
    t.extend(availability_and_data(CDN, "9"));
    t.extend(availability_and_data(MSP, "10"));
    t.extend(availability_and_data(MSSP, "10"));
    t.extend(platform(MARKETPLACE, "11"));
    t.extend(platform(SEARCH, "12"));
    t.extend(platform(SOCIAL, "13"));
    t
}
