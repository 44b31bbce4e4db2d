//! The wire: pkt-lines, sidebands, capabilities, the v0/v1 line formats and v2 request framing.

pub mod capabilities;
pub mod keepalive;
pub mod pktline;
pub mod sideband;
pub mod v0;
pub mod v2;

/// Protocol versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Version {
    /// The original protocol.
    #[default]
    V0,
    /// v0 plus a `version 1` line.
    V1,
    /// Command-based protocol v2.
    V2,
}

/// The version requested in a `GIT_PROTOCOL` value (`version=2:other=x`): colon-separated
/// `key=value` pairs, the highest known `version=` wins, unknown keys and versions are ignored.
pub fn version_from_git_protocol(value: Option<&str>) -> Version {
    let mut best = Version::V0;
    for item in value.unwrap_or("").split(':') {
        let v = match item.strip_prefix("version=") {
            Some("1") => Version::V1,
            Some("2") => Version::V2,
            _ => continue,
        };
        best = best.max(v);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_protocol_env() {
        assert_eq!(version_from_git_protocol(None), Version::V0);
        assert_eq!(version_from_git_protocol(Some("version=2")), Version::V2);
        assert_eq!(
            version_from_git_protocol(Some("version=1:version=2")),
            Version::V2
        );
        assert_eq!(
            version_from_git_protocol(Some("version=2:version=1")),
            Version::V2
        );
        assert_eq!(
            version_from_git_protocol(Some("foo=bar:version=1")),
            Version::V1
        );
        assert_eq!(version_from_git_protocol(Some("version=3")), Version::V0);
        assert_eq!(version_from_git_protocol(Some("version=")), Version::V0);
    }
}
