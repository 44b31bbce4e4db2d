//! Packs: the entry header codec, delta application, `.idx` reading, and pack writing.
//!
//! TODO(skeleton): being written.
