//! CSIRT maturity (SIM3): the model as data, assessments of CSIRTs, and their compliance with
//! the tier NIS2 administration asks of them.

/// The model and its pure rules, kept with the rules (`crate::rules::maturity`).
pub use crate::rules::maturity as model;
pub mod routes;
pub mod service;
