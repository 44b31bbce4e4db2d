//! The services: upload-pack (clone/fetch) and receive-pack (push).
//!
//! TODO(skeleton): being written.
