//! Scopes and roles, and the one table that says which scopes a role may ever hold.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An OAuth-style permission. Checked in one place: [`crate::auth::Caller::require`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    DirectoryRead,
    DirectoryWrite,
    EntitiesRead,
    EntitiesWrite,
    IncidentsReport,
    IncidentsRead,
    IncidentsReview,
    IncidentsRequest,
    RoutingEvaluate,
    FeedsRead,
    AdvisoriesRead,
    AdvisoriesWrite,
    CvdReport,
    CvdCoordinate,
    AwarenessRead,
    MaturityRead,
    MaturityWrite,
    WebhooksManage,
    AuditRead,
    ClientsManage,
}

impl Scope {
    pub const ALL: [Scope; 20] = [
        Scope::DirectoryRead,
        Scope::DirectoryWrite,
        Scope::EntitiesRead,
        Scope::EntitiesWrite,
        Scope::IncidentsReport,
        Scope::IncidentsRead,
        Scope::IncidentsReview,
        Scope::IncidentsRequest,
        Scope::RoutingEvaluate,
        Scope::FeedsRead,
        Scope::AdvisoriesRead,
        Scope::AdvisoriesWrite,
        Scope::CvdReport,
        Scope::CvdCoordinate,
        Scope::AwarenessRead,
        Scope::MaturityRead,
        Scope::MaturityWrite,
        Scope::WebhooksManage,
        Scope::AuditRead,
        Scope::ClientsManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::DirectoryRead => "directory:read",
            Scope::DirectoryWrite => "directory:write",
            Scope::EntitiesRead => "entities:read",
            Scope::EntitiesWrite => "entities:write",
            Scope::IncidentsReport => "incidents:report",
            Scope::IncidentsRead => "incidents:read",
            Scope::IncidentsReview => "incidents:review",
            Scope::IncidentsRequest => "incidents:request",
            Scope::RoutingEvaluate => "routing:evaluate",
            Scope::FeedsRead => "feeds:read",
            Scope::AdvisoriesRead => "advisories:read",
            Scope::AdvisoriesWrite => "advisories:write",
            Scope::CvdReport => "cvd:report",
            Scope::CvdCoordinate => "cvd:coordinate",
            Scope::AwarenessRead => "awareness:read",
            Scope::MaturityRead => "maturity:read",
            Scope::MaturityWrite => "maturity:write",
            Scope::WebhooksManage => "webhooks:manage",
            Scope::AuditRead => "audit:read",
            Scope::ClientsManage => "clients:manage",
        }
    }

    /// What the scope lets a token do, as the OpenAPI document's `oauth2` scheme lists it
    /// (OpenAPI 3.1 §4.8.29, the OAuth Flow Object's `scopes` map).
    pub fn description(self) -> &'static str {
        match self {
            Scope::DirectoryRead => {
                "Read the sector taxonomy and the directory of CSIRTs and authorities"
            }
            Scope::DirectoryWrite => "Register, update and import organisations of the directory",
            Scope::EntitiesRead => "Read registered entities and their history",
            Scope::EntitiesWrite => {
                "Register and update entities; request or decide deregistrations"
            }
            Scope::IncidentsReport => "Notify incidents and send their later reports",
            Scope::IncidentsRead => "Read incidents and their routing decisions",
            Scope::IncidentsReview => "Review incident reports and close incidents",
            Scope::IncidentsRequest => "Ask an entity for an intermediate or progress report",
            Scope::RoutingEvaluate => "Dry-run the routing rules on an incident that is not stored",
            Scope::FeedsRead => "Read the feed of events addressed to the caller",
            Scope::AdvisoriesRead => "Read advisories, their revisions and CSAF documents",
            Scope::AdvisoriesWrite => "Draft, update, publish and withdraw advisories",
            Scope::CvdReport => "Report a vulnerability for coordinated disclosure",
            Scope::CvdCoordinate => {
                "Coordinate disclosure cases: triage, vendors, messages, publication"
            }
            Scope::AwarenessRead => {
                "Read aggregated situational awareness and the quarterly summary"
            }
            Scope::MaturityRead => "Read the maturity model, assessments and compliance",
            Scope::MaturityWrite => "Record maturity assessments",
            Scope::WebhooksManage => "Manage webhook subscriptions and their deliveries",
            Scope::AuditRead => "Read and verify the audit log; read the metrics",
            Scope::ClientsManage => "Register, list and revoke API clients",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// A scope that only reads (`…:read`): what a new API client gets when no scope is named.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Scope::DirectoryRead
                | Scope::EntitiesRead
                | Scope::IncidentsRead
                | Scope::FeedsRead
                | Scope::AdvisoriesRead
                | Scope::AwarenessRead
                | Scope::MaturityRead
                | Scope::AuditRead
        )
    }
}

/// Parses a space-separated scope string; unknown scopes are reported by name.
pub fn parse_scopes(s: &str) -> Result<Vec<Scope>, String> {
    let mut out = Vec::new();
    for word in s.split_whitespace() {
        let scope = Scope::parse(word).ok_or_else(|| format!("unknown scope `{word}`"))?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    out.sort();
    Ok(out)
}

pub fn join_scopes(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Who a caller is, which decides both its scope ceiling and what rows it may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    NationalCsirt,
    SectoralCsirt,
    SupervisoryAuthority,
    Entity,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::NationalCsirt => "national_csirt",
            Role::SectoralCsirt => "sectoral_csirt",
            Role::SupervisoryAuthority => "supervisory_authority",
            Role::Entity => "entity",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [
            Role::NationalCsirt,
            Role::SectoralCsirt,
            Role::SupervisoryAuthority,
            Role::Entity,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    /// The most a token of this role can ever grant; anything beyond is dropped.
    pub fn ceiling(self) -> &'static [Scope] {
        use Scope::*;
        match self {
            Role::NationalCsirt => &Scope::ALL,
            Role::SectoralCsirt => &[
                DirectoryRead,
                EntitiesRead,
                IncidentsRead,
                IncidentsRequest,
                RoutingEvaluate,
                FeedsRead,
                AdvisoriesRead,
                AdvisoriesWrite,
                CvdReport,
                CvdCoordinate,
                AwarenessRead,
                MaturityRead,
                // Only for its own self-assessments (maturity::service checks).
                MaturityWrite,
                WebhooksManage,
            ],
            Role::SupervisoryAuthority => &[
                DirectoryRead,
                EntitiesRead,
                // Only to deregister the entities it covers, or decide their own requests.
                EntitiesWrite,
                IncidentsRead,
                IncidentsReview,
                IncidentsRequest,
                RoutingEvaluate,
                FeedsRead,
                AdvisoriesRead,
                AwarenessRead,
                MaturityRead,
                WebhooksManage,
            ],
            Role::Entity => &[
                DirectoryRead,
                EntitiesRead,
                EntitiesWrite,
                IncidentsReport,
                IncidentsRead,
                RoutingEvaluate,
                FeedsRead,
                AdvisoriesRead,
                CvdReport,
                WebhooksManage,
            ],
        }
    }
}

// The kinds of organisation of the directory; each acts in one role. (No doc comment: it
// would become the schema's description.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    NationalCsirt,
    SectoralCsirt,
    SupervisoryAuthority,
}

impl OrgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::NationalCsirt => "national_csirt",
            OrgKind::SectoralCsirt => "sectoral_csirt",
            OrgKind::SupervisoryAuthority => "supervisory_authority",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            OrgKind::NationalCsirt,
            OrgKind::SectoralCsirt,
            OrgKind::SupervisoryAuthority,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// The scope-list pattern: scope names separated by single spaces.
pub fn scope_list_pattern() -> String {
    let names: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    let one = format!("(?:{})", names.join("|"));
    format!("^{one}(?: {one})*$")
}

/// True for exactly the strings [`scope_list_pattern`] matches.
pub fn is_scope_list(s: &str) -> bool {
    !s.is_empty() && s.split(' ').all(|w| Scope::parse(w).is_some())
}

crate::formats::named_schema!(
    ScopeList,
    "ScopeList",
    "Scope names separated by single spaces, such as `incidents:read feeds:read`.",
    crate::formats::string_pattern(
        "Scope names separated by single spaces, such as `incidents:read feeds:read`.",
        &scope_list_pattern(),
        None
    )
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_names_round_trip() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert_eq!(
            parse_scopes("entities:read  entities:read audit:read").unwrap(),
            vec![Scope::EntitiesRead, Scope::AuditRead]
        );
        assert!(parse_scopes("entities:delete")
            .unwrap_err()
            .contains("entities:delete"));
    }

    #[test]
    fn scope_lists_are_single_spaced_known_names() {
        let re = regex::Regex::new(&scope_list_pattern()).unwrap();
        for s in [
            "incidents:read",
            "incidents:read feeds:read",
            "feeds:read feeds:read",
        ] {
            assert!(is_scope_list(s) && re.is_match(s), "{s}");
        }
        for s in [
            "",
            " incidents:read",
            "incidents:read  feeds:read",
            "nope",
            "feeds:read\t",
        ] {
            assert!(!is_scope_list(s) && !re.is_match(s), "{s:?}");
        }
    }

    #[test]
    fn only_the_national_csirt_manages_clients_and_reads_the_audit_log() {
        for role in [
            Role::SectoralCsirt,
            Role::SupervisoryAuthority,
            Role::Entity,
        ] {
            assert!(!role.ceiling().contains(&Scope::ClientsManage));
            assert!(!role.ceiling().contains(&Scope::AuditRead));
            assert!(!role.ceiling().contains(&Scope::DirectoryWrite));
        }
        assert!(!Role::SectoralCsirt
            .ceiling()
            .contains(&Scope::EntitiesWrite));
        assert!(Role::Entity.ceiling().contains(&Scope::EntitiesWrite));
    }

    #[test]
    fn csirts_write_maturity_assessments_authorities_and_entities_never() {
        for role in [Role::NationalCsirt, Role::SectoralCsirt] {
            assert!(role.ceiling().contains(&Scope::MaturityWrite), "{role:?}");
        }
        for role in [Role::SupervisoryAuthority, Role::Entity] {
            assert!(!role.ceiling().contains(&Scope::MaturityWrite), "{role:?}");
        }
        assert!(Role::SupervisoryAuthority
            .ceiling()
            .contains(&Scope::MaturityRead));
    }

    #[test]
    fn csirts_and_authorities_request_intermediate_reports_entities_never() {
        for role in [
            Role::NationalCsirt,
            Role::SectoralCsirt,
            Role::SupervisoryAuthority,
        ] {
            assert!(
                role.ceiling().contains(&Scope::IncidentsRequest),
                "{role:?}"
            );
        }
        assert!(!Role::Entity.ceiling().contains(&Scope::IncidentsRequest));
        assert_eq!(
            Scope::parse("incidents:request"),
            Some(Scope::IncidentsRequest)
        );
    }
}
