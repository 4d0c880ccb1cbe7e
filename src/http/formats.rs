//! The string formats now live in [`crate::formats`], below every layer that uses them; this
//! name stays for callers that knew them here.

pub use crate::formats::*;
