//! Progress reporting, as a sink that producers (counting, compressing, writing) feed and that the
//! service renders as git's familiar `remote: Counting objects: 100% (10/10), done.` lines on
//! sideband 2 (or drops, under `no-progress`).

/// Receives progress from long-running steps.
pub trait Progress {
    /// `done` units of stage `title` are complete, out of `total` when known.
    fn update(&mut self, title: &str, done: u64, total: Option<u64>);
    /// Stage `title` finished with `done` units.
    fn finish(&mut self, title: &str, done: u64, total: Option<u64>);
    /// A free-form message line (e.g. `Total 10 (delta 2), reused 8 (delta 2)`).
    fn message(&mut self, text: &str);
    /// The last byte of input was read (a pack being indexed: its trailer); what follows is
    /// work on what was received, during which the peer hears nothing unless told (C git's
    /// index-pack writes a NUL to its stderr here, and receive-pack starts its keepalives).
    fn input_done(&mut self) {}
}

/// A progress sink that discards everything.
#[derive(Debug, Default)]
pub struct Discard;

impl Progress for Discard {
    fn update(&mut self, _: &str, _: u64, _: Option<u64>) {}
    fn finish(&mut self, _: &str, _: u64, _: Option<u64>) {}
    fn message(&mut self, _: &str) {}
}
