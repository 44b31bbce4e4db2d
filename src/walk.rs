//! Reachability: which objects a fetch must send, and ancestry questions for negotiation.
//!
//! TODO(skeleton): being written.
