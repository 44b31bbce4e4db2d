//! The one error a `sluice` command ends with: each layer's error converts into it (`#[from]`),
//! and it alone decides the exit code and whether stderr should say more, so that policy lives
//! in one place (ripgrep's `main.rs` habit).

/// Why a `sluice` command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Serving a request failed (launch, access, service or the repository it opened).
    #[error(transparent)]
    Launch(#[from] crate::launch::Error),
    /// A repository could not be opened, created or maintained.
    #[error(transparent)]
    Backend(#[from] crate::backend::Error),
    /// `sluice repack` failed.
    #[error(transparent)]
    Repack(#[from] crate::backend::fs::repack::Error),
    /// A gitolite site could not be read or its keys synced.
    #[error(transparent)]
    Gitolite(#[from] crate::access::gitolite::Error),
    /// An access file is malformed.
    #[error("{path}: {source}")]
    Policy {
        /// The access file.
        path: String,
        /// What is wrong in it.
        source: crate::access::Error,
    },
    /// The command line asked for something it cannot have (beyond what clap checks).
    #[error("{0}")]
    Usage(String),
    /// The log file could not be opened.
    #[error("cannot open log file: {0}")]
    Log(std::io::Error),
    /// Reading or writing a local file or stream failed (not transparent: the walk in
    /// [`Error::is_broken_pipe`] must meet the `io::Error` itself).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The process exit code: 0 when the client hung up (a broken pipe is no failure worth a
    /// message, as with C git), else 128, what git's `die()` returns.
    pub fn exit_code(&self) -> u8 {
        if self.is_broken_pipe() {
            0
        } else {
            128
        }
    }

    /// Whether the failure is only the client closing the connection.
    pub fn is_broken_pipe(&self) -> bool {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                return io.kind() == std::io::ErrorKind::BrokenPipe;
            }
            source = s.source();
        }
        false
    }

    /// Whether the client was already told why on the wire, so stderr need not repeat it.
    pub fn told_client(&self) -> bool {
        matches!(self, Error::Launch(e) if e.told_client())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let served = Error::Launch(crate::launch::Error::Io(pipe));
        assert_eq!(served.exit_code(), 0);
        assert_eq!(Error::Usage("x".into()).exit_code(), 128);
        let other = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(Error::Io(other).exit_code(), 128);
    }
}
