//! Situational awareness: aggregated, anonymised figures over the incident register.
//!
//! Figures are computed with indexed SQL aggregates, never by loading incidents; what is
//! published to anyone but the national CSIRT passes [`suppression`] first.

pub mod suppression;
