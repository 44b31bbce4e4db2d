//! Sluice: a git server that speaks the pack protocol on stdin/stdout.
//!
//! Data flows one way:
//!
//! ```text
//!  launch (direct | inetd | ssh | shell)      turn a request into (service, repo, user, protocol)
//!     │
//!  access                                     may this user read/write this repository?
//!     │
//!  service (upload_pack | receive_pack)       the protocol state machines
//!     │                      │
//!  protocol (pkt-line,     backend (trait Backend / Repository; fs, memory)
//!  sideband, caps, v0/v2)    │
//!                          odb / pack / refs / walk   objects, packs, refs, reachability
//! ```
//!
//! A service never touches files; a backend never writes to the wire; nothing but the protocol
//! writer touches stdout.

#![deny(missing_docs)]
// The one exception, the read-only file mapping in `odb::mmap::map`, carries its proof.
#![deny(unsafe_code)]

pub mod access;
pub mod backend;
pub mod cleanup;
pub mod cli;
pub mod durable;
pub mod env;
mod error;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod file_mode;
pub mod filter;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod git_config;
pub mod hash;
pub mod launch;
pub mod limits;
pub mod logging;
pub mod odb;
pub mod pack;
pub mod process;
pub mod progress;
pub mod protocol;
pub mod ref_name;
pub mod refs;
pub mod service;
#[cfg(test)]
mod test_support;
pub mod walk;

pub use error::Error;
