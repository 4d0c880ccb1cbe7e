//! The incident register: NIS2 Art. 23 reports in stages, routing decisions by the rules
//! engine, reviews, requests for intermediate reports, and the deadline sweep.

pub mod model;
pub mod repo;
pub mod report;
pub mod review;
pub mod routes;
pub mod service;
pub mod sweep;
