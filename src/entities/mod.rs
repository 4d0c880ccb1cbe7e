//! The register of NIS2 entities: registration, derived category and competent organisations,
//! versioned history, and row-level visibility.

pub mod model;
pub mod repo;
pub mod routes;
pub mod service;
