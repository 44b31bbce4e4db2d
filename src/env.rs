//! The process environment, read once. [`Env::capture`] is the only place Sluice reads
//! environment variables; the `cli` layer calls it at start and hands the snapshot (or values
//! taken from it) down to the launch modes and the backends, so library code is told its
//! context and tests give it one without touching the process environment.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// A snapshot of environment variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: BTreeMap<OsString, OsString>,
}

impl Env {
    /// The current process's environment: called once, by the command line layer.
    pub fn capture() -> Env {
        Env {
            vars: std::env::vars_os().collect(),
        }
    }

    /// An environment holding exactly `pairs` (tests, and callers that build one).
    pub fn from_pairs<K: Into<OsString>, V: Into<OsString>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// This environment with `name` set to `value` (what a launch mode adds for the layers
    /// below it, as `git http-backend` adds the committer identity of its user).
    pub fn with_var(mut self, name: &str, value: &str) -> Env {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// The value of `name` as raw bytes of the platform (paths).
    pub fn get_os(&self, name: &str) -> Option<&OsStr> {
        self.vars.get(OsStr::new(name)).map(OsString::as_os_str)
    }

    /// The value of `name`, if set and valid UTF-8 (as `std::env::var(name).ok()`).
    pub fn get(&self, name: &str) -> Option<String> {
        self.get_os(name)
            .and_then(OsStr::to_str)
            .map(str::to_string)
    }

    /// The value of `name`, if set, valid UTF-8 and not empty.
    pub fn get_nonempty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// `HOME`, for `~/` in configured paths (git's `git_config_pathname`).
    pub fn home(&self) -> Option<PathBuf> {
        self.get_os("HOME").map(PathBuf::from)
    }

    /// The client's address as a web server (`REMOTE_ADDR`/`REMOTE_PORT`) or sshd
    /// (`SSH_CLIENT`) told it: `(ip, port)`, empty strings when neither did.
    pub fn client_address(&self) -> (String, String) {
        if let Some(ip) = self.get("REMOTE_ADDR") {
            return (ip, self.get("REMOTE_PORT").unwrap_or_default());
        }
        if let Some(c) = self.get("SSH_CLIENT") {
            let mut parts = c.split_whitespace();
            let ip = parts.next().unwrap_or_default().to_string();
            let port = parts.next().unwrap_or_default().to_string();
            return (ip, port);
        }
        (String::new(), String::new())
    }

    /// `GIT_NAMESPACE`, the ref namespace C git's commands serve when it is set.
    pub fn git_namespace(&self) -> Option<String> {
        self.get("GIT_NAMESPACE")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        let env = Env::from_pairs([("SSH_CLIENT", "10.0.0.1 5555 22"), ("EMPTY", "")]);
        assert_eq!(env.client_address(), ("10.0.0.1".into(), "5555".into()));
        assert_eq!(env.get("EMPTY").as_deref(), Some(""));
        assert_eq!(env.get_nonempty("EMPTY"), None);
        let web = Env::from_pairs([("REMOTE_ADDR", "::1"), ("SSH_CLIENT", "x 1 2")]);
        assert_eq!(web.client_address(), ("::1".into(), String::new()));
        assert_eq!(
            Env::default().client_address(),
            (String::new(), String::new())
        );
    }
}
