//! Advisories: drafts by the national CSIRT (national) or a sectoral CSIRT (its sectors),
//! published as numbered revisions to an audience under TLP 2.0, withdrawn without being
//! deleted, and exported as CSAF 2.0 documents.

/// Who may read a non-draft advisory, as SQL over `advisories` for a caller with a token
/// (TLP 2.0 and the audience, `service`'s module doc): its issuer; CLEAR and GREEN anyone
/// authenticated; AMBER and AMBER+STRICT of a national advisory anyone authenticated;
/// otherwise the organisations in `advisory_readers`, resolved at publication. One predicate
/// for the API's list and the CSAF provider's trees, so the two can never disagree about TLP;
/// `service::may_read` is the same rule for one loaded row.
macro_rules! readable_by {
    ($org:expr) => {
        $crate::schema::advisories::issuer_id
            .eq($org.clone())
            .or($crate::schema::advisories::tlp.eq_any(["CLEAR", "GREEN"]))
            .or($crate::schema::advisories::audience
                .eq("national")
                .and($crate::schema::advisories::tlp.eq_any(["AMBER", "AMBER+STRICT"])))
            .or($crate::schema::advisories::id.eq_any(
                $crate::schema::advisory_readers::table
                    .filter($crate::schema::advisory_readers::org_id.eq($org.clone()))
                    .select($crate::schema::advisory_readers::advisory_id),
            ))
    };
}

pub mod csaf;
pub mod model;
pub mod provider;
pub mod provider_routes;
pub mod routes;
pub mod service;
