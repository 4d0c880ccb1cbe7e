//! The rules engine: pure functions from facts to decisions, with the ids of the rules that
//! decided. No database, no HTTP: every rule is tested as a table and can be benchmarked.
//!
//! Arithmetic here works on values that clients send (dates, amounts, counts), so the lint
//! below refuses any operator that could overflow and panic: use the checked forms, or
//! `crate::time` for dates.
#![deny(clippy::arithmetic_side_effects)]

pub mod category;
pub mod coverage;
pub mod deadlines;
pub mod maturity;
pub mod routing;
pub mod ruleset;
pub mod significance;

/// A rule the engine may cite, with the provision it implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub text: &'static str,
}
