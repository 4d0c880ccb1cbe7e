//! Situational awareness: aggregated, anonymised figures over the incident register.
//!
//! Figures are computed with indexed SQL aggregates (`incidents::repo::count_by`), never by
//! loading incidents; what is published to anyone but the national CSIRT passes
//! [`suppression`] first.

pub mod chart;
pub mod model;
pub mod routes;
pub mod service;
pub mod suppression;
