//! Packs: the entry header codec, delta application, `.idx` reading, and pack writing.

pub mod delta;
pub mod entry;
pub mod index;
pub mod write;
