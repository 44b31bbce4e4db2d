//! The wire: pkt-lines, sidebands, capabilities and the v0/v1 line formats.
//!
//! TODO(skeleton): being written.

pub mod capabilities;
pub mod v0;
