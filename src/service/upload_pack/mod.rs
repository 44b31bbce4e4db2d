//! upload-pack: serves clone, fetch and ls-remote. (Flow written next.)

pub mod negotiate;
