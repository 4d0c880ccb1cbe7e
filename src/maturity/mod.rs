//! CSIRT maturity (SIM3): the model as data, assessments of CSIRTs, and their compliance with
//! the tier NIS2 administration asks of them.

pub mod model;
pub mod routes;
pub mod service;
