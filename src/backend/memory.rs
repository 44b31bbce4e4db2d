//! Repositories held in hash maps, for unit tests of the services.
//!
//! TODO(skeleton): being written.
