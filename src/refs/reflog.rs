//! Reflogs: which ref updates C git records (`core.logAllRefUpdates`), with whose identity,
//! and the files backend's `logs/` files, where each update appends one line. The reftable
//! backend keeps the same entries as log records ([`crate::refs::reftable`]).

use crate::hash::ObjectId;

/// Which refs get reflog entries (`core.logAllRefUpdates`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogPolicy {
    /// `false`, and the default of bare repositories: only refs that already have a reflog.
    Existing,
    /// `true`, the default of non-bare repositories: branches, remote-tracking refs, notes and
    /// HEAD, plus refs that already have a reflog.
    Normal,
    /// `always`: every ref.
    Always,
}

/// The reflog identity and message of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogInfo {
    /// Which refs are logged.
    pub policy: LogPolicy,
    /// Committer name.
    pub name: String,
    /// Committer email (without `<>`).
    pub email: String,
    /// Seconds since the epoch.
    pub time: u64,
    /// Offset from UTC as `±hhmm` digits read as a number (`-130` for `-0130`), as C git
    /// stores it (see [`crate::refs::reftable::record::LogEntry::tz_hhmm`]).
    pub tz_hhmm: i16,
    /// The message (`push` for receive-pack).
    pub message: String,
}

/// Whether `name` gets a reflog entry under `policy` (before looking at existing reflogs).
pub fn logged_by_policy(name: &str, policy: LogPolicy) -> bool {
    match policy {
        LogPolicy::Always => true,
        LogPolicy::Normal => {
            name == "HEAD"
                || ["refs/heads/", "refs/remotes/", "refs/notes/"]
                    .iter()
                    .any(|p| name.starts_with(p))
        }
        LogPolicy::Existing => false,
    }
}

impl LogInfo {
    /// The line C git's files backend appends for a change from `old` to `new`:
    /// `<old> <new> <name> <<email>> <time> <±hhmm>\t<message>\n` (no tab without a message).
    pub fn line(&self, old: &ObjectId, new: &ObjectId) -> String {
        let sign = if self.tz_hhmm < 0 { '-' } else { '+' };
        let tz = self.tz_hhmm.unsigned_abs();
        let mut line = format!(
            "{old} {new} {} <{}> {} {sign}{tz:04}",
            self.name, self.email, self.time
        );
        let message = self.message.trim_end_matches('\n');
        if !message.is_empty() {
            line.push('\t');
            line.push_str(message);
        }
        line.push('\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashKind;

    #[test]
    fn lines_are_written_as_c_git_writes_them() {
        let info = LogInfo {
            policy: LogPolicy::Normal,
            name: "A U Thor".into(),
            email: "a@example.com".into(),
            time: 1_700_000_000,
            tz_hhmm: -130,
            message: "push".into(),
        };
        let null = HashKind::Sha1.null();
        let id = ObjectId::from_hex("ab".repeat(20).as_bytes()).unwrap();
        assert_eq!(
            info.line(&null, &id),
            format!("{null} {id} A U Thor <a@example.com> 1700000000 -0130\tpush\n")
        );
        let quiet = LogInfo {
            message: String::new(),
            tz_hhmm: 200,
            ..info
        };
        assert!(quiet.line(&id, &null).ends_with(" 1700000000 +0200\n"));
    }

    #[test]
    fn policies_choose_refs_as_c_git_does() {
        for name in [
            "HEAD",
            "refs/heads/main",
            "refs/remotes/o/x",
            "refs/notes/commits",
        ] {
            assert!(logged_by_policy(name, LogPolicy::Normal), "{name}");
        }
        assert!(!logged_by_policy("refs/tags/v1", LogPolicy::Normal));
        assert!(logged_by_policy("refs/tags/v1", LogPolicy::Always));
        assert!(!logged_by_policy("refs/heads/main", LogPolicy::Existing));
    }
}
