//! Refs: validated names (git check-ref-format), loose refs and `packed-refs`.
//!
//! TODO(skeleton): being written.
