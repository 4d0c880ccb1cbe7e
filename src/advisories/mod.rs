//! Advisories: drafts by the national CSIRT (national) or a sectoral CSIRT (its sectors),
//! published as numbered revisions to an audience under TLP 2.0, withdrawn without being
//! deleted, and exported as CSAF 2.0 documents.

pub mod csaf;
pub mod model;
pub mod provider;
pub mod provider_routes;
pub mod routes;
pub mod service;
