//! The directory: the NIS2 sector taxonomy and the organisations (national CSIRT, sectoral
//! CSIRTs, supervisory authorities) with the sectors each covers.

pub mod routes;
/// The sector taxonomy, kept below the directory with the rules (`crate::sectors`).
pub use crate::sectors;
pub mod service;

pub use service::{load_directory, Contact, Organisation, OrganisationInput};
