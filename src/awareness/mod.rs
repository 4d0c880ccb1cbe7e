//! Situational awareness: aggregated, anonymised figures over the incident register.
//!
//! Figures come from cells kept per day and ISO week ([`cells`]) and, for what they do not
//! hold, from indexed SQL aggregates over the incidents (`incidents::repo::count_by_entity`),
//! never by loading incidents; what is published to anyone but the national CSIRT passes
//! [`suppression`] first.

pub mod cells;
pub mod chart;
pub mod model;
pub mod routes;
pub mod service;
pub mod suppression;
