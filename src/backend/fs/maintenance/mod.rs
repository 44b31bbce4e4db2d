//! Maintenance of an on-disk repository, for repositories that only ever saw Sluice (no `git gc`
//! runs there): [`repack`] (many packs and loose objects into one pack with bitmaps) and
//! [`commit_graph`] (writing `objects/info/commit-graph`). Neither runs while serving; `sluice
//! repack` and `sluice commit-graph` call them.

pub mod commit_graph;
pub mod repack;

pub use commit_graph::{write_commit_graph, write_commit_graph_with_progress};
