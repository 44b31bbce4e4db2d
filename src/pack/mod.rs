//! Packs: the entry header codec, delta application, delta creation and search, `.idx` and
//! multi-pack-index reading, new bases for orphaned deltas ([`orphans`]), pack and `.idx` writing ([`files`]: a pack with its `.idx` and `.bitmap` in a directory), reachability bitmaps ([`bitmap`]: reading,
//! writing, counting with them), pack reuse ([`reuse`]: a pack sent from a stored pack's
//! entries), and reading stored `.pack` + `.idx` pairs ([`reader`]). Stored packs are reached
//! through [`stored::PackStore`].

pub mod bitmap;
pub mod delta;
pub mod delta_create;
pub mod delta_search;
pub mod entry;
pub mod ewah;
pub mod files;
pub mod idx_write;
pub mod index;
pub mod ingest;
pub mod midx;
pub mod orphans;
pub mod reader;
pub mod reuse;
pub mod stored;
pub mod write;
