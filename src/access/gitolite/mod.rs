//! Reading a gitolite site as it is: `conf/gitolite.conf` (with its includes), `keydir/`, and
//! the wild-repository files (`gl-creator`, `gl-perms`) in each repository, with gitolite's
//! semantics — not a translation into Sluice's own access file.
//!
//! - [`lines`]: comments, includes and gitolite's syntactic sugar → logical lines;
//! - [`parse`]: the lines → repositories, rules, configs and groups, as gitolite stores them;
//! - [`eval`]: the two access checks (before git runs, and per pushed ref);
//! - [`info`]: what `ssh git@host info` prints;
//! - [`keys`]: the `authorized_keys` block built from `keydir/`;
//! - [`site`]: a site on disk (admin directory + repository root) tying these together.
//!
//! What gitolite does through Perl (triggers, custom commands, VREFs, `subconf` delegation,
//! the rc file's settings) is not read: where a configuration uses it, loading fails with an
//! error naming the line, so a site never runs with a rule silently dropped.

pub mod admin;
pub mod eval;
pub mod info;
pub mod keys;

pub mod lines;
pub mod names;
pub mod parse;
pub mod site;

pub use eval::{Decision, RepoState};
pub use lines::Files;
pub use parse::Conf;
pub use site::Site;

/// Why a gitolite site could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is wrong at a line.
    #[error("{at}: {what}")]
    Conf {
        /// `file:line`.
        at: String,
        /// What is wrong.
        what: String,
    },
    /// A required file is missing.
    #[error("{0} not found")]
    Missing(&'static str),
    /// Reading or writing the site failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A key file in keydir/ is unusable.
    #[error("{0}")]
    Key(String),
}

impl Error {
    fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// Parses a whole admin tree's configuration.
pub fn load(files: &Files) -> Result<Conf, Error> {
    Conf::parse(&lines::read(files)?)
}
