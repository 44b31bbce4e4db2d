//! Packs: the entry header codec, delta application, delta creation and search, `.idx` and multi-pack-index reading, and pack, `.idx` and `.bitmap` writing.

pub mod bitmap;
pub mod bitmap_write;
pub mod delta;
pub mod delta_create;
pub mod delta_search;
pub mod entry;
pub mod ewah;
pub mod idx_write;
pub mod index;
pub mod ingest;
pub mod midx;
pub mod stored;
pub mod write;
pub mod write_bitmap;
