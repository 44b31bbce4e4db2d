//! The reflog identity and policy C git's receive-pack would use, for both ref stores
//! ([`crate::refs::reflog`]).
//!
//! Deviation: the reflog time zone is UTC (`+0000`) unless `GIT_COMMITTER_DATE` gives one;
//! C git uses the server's local zone.

use std::sync::{Arc, OnceLock};

use crate::env::Env;
use crate::git_config::GitConfig;
use crate::refs::reflog::{LogInfo, LogPolicy};

/// What each ref transaction logs with: [`log_info`], worked out at the first ref update (the
/// identity's fallbacks read `/etc/hostname`, and upload-pack opens repositories too but never
/// logs), its time taken per call.
pub fn log_source(
    config: &GitConfig,
    bare: bool,
    env: Arc<Env>,
) -> impl Fn() -> LogInfo + Send + Sync + 'static {
    let keys = LogKeys::read(config, bare);
    let log = OnceLock::new();
    move || {
        let mut info = log.get_or_init(|| keys.info(&env)).clone();
        if let Some((time, tz)) = env_date(&env) {
            (info.time, info.tz_hhmm) = (time, tz);
        } else {
            info.time = now();
        }
        info
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn env_date(env: &Env) -> Option<(u64, i16)> {
    env.get("GIT_COMMITTER_DATE").and_then(|d| raw_date(&d))
}

/// A `GIT_COMMITTER_DATE` in git's raw form (`<seconds> <±hhmm>`, or `@<seconds>`); other
/// forms are not parsed (the current time is used).
fn raw_date(text: &str) -> Option<(u64, i16)> {
    let text = text.trim().trim_start_matches('@');
    let (secs, tz) = text.split_once(' ').unwrap_or((text, "+0000"));
    let secs = secs.parse().ok()?;
    let tz = tz.trim();
    let sign = if tz.starts_with('-') { -1 } else { 1 };
    let digits = tz.trim_start_matches(['+', '-']);
    (digits.len() == 4).then_some(())?;
    Some((secs, sign * digits.parse::<i16>().ok()?))
}

/// The reflog policy and committer identity C git's receive-pack would use: `core.logAllRefUpdates`
/// (default: on unless bare), `GIT_COMMITTER_NAME`/`EMAIL` of `env`, else
/// `user.name`/`user.email`, else the login name at the host name; the message is `push`.
pub fn log_info(config: &GitConfig, bare: bool, env: &Env) -> LogInfo {
    LogKeys::read(config, bare).info(env)
}

/// What [`log_info`] takes from the repository's config, read when the repository is opened.
struct LogKeys {
    policy: LogPolicy,
    name: Option<String>,
    email: Option<String>,
}

impl LogKeys {
    /// The policy from `core.logAllRefUpdates` (`bare` decides the default) and the
    /// `user.name` / `user.email` of `config`.
    fn read(config: &GitConfig, bare: bool) -> Self {
        let always = config
            .get("core.logallrefupdates")
            .flatten()
            .is_some_and(|v| v.eq_ignore_ascii_case("always"));
        let policy = match config.get_bool("core.logallrefupdates") {
            _ if always => LogPolicy::Always,
            Ok(Some(true)) => LogPolicy::Normal,
            Ok(Some(false)) => LogPolicy::Existing,
            _ if bare => LogPolicy::Existing,
            _ => LogPolicy::Normal,
        };
        let cfg = |k: &str| config.get(k).flatten().map(str::to_string);
        LogKeys {
            policy,
            name: cfg("user.name"),
            email: cfg("user.email"),
        }
    }

    /// The identity these keys and `env` give, with the current time (or `GIT_COMMITTER_DATE`).
    fn info(&self, env: &Env) -> LogInfo {
        let var = |k: &str| env.get_nonempty(k);
        let user = var("USER")
            .or_else(|| var("LOGNAME"))
            .unwrap_or_else(|| "unknown".into());
        let name = var("GIT_COMMITTER_NAME")
            .or_else(|| self.name.clone())
            .unwrap_or_else(|| user.clone());
        let email = var("GIT_COMMITTER_EMAIL")
            .or_else(|| self.email.clone())
            .or_else(|| var("EMAIL"))
            .unwrap_or_else(|| format!("{user}@{}", host_name()));
        let (time, tz_hhmm) = env_date(env).unwrap_or((now(), 0));
        LogInfo {
            policy: self.policy,
            name: without_crud(&name),
            email: without_crud(&email),
            time,
            tz_hhmm,
            message: "push".into(),
        }
    }
}

/// The host name of `/etc/hostname`, else `localhost`.
fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// `text` as C git puts a name or email into an identity (`strbuf_addstr_without_crud`): no
/// `<`, `>` or newline anywhere, and no "crud" (control bytes, space, `.,:;"'\\`) at either end.
/// A client-chosen `REMOTE_USER` or committer name can then not break a reflog line.
fn without_crud(text: &str) -> String {
    let crud = |c: char| c <= ' ' || ".,:;<>\"'\\".contains(c);
    text.trim_matches(crud)
        .chars()
        .filter(|c| !matches!(c, '<' | '>' | '\n'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_lose_the_bytes_c_git_strips() {
        assert_eq!(without_crud(" \"A <U>\nThor\". "), "A UThor");
        assert_eq!(without_crud("a@http.::1"), "a@http.::1");
        let env = Env::from_pairs([
            ("GIT_COMMITTER_NAME", "x\n0000 1111 evil"),
            ("GIT_COMMITTER_EMAIL", "<e@x>"),
        ]);
        let info = log_info(&GitConfig::default(), true, &env);
        assert_eq!(
            (info.name.as_str(), info.email.as_str()),
            ("x0000 1111 evil", "e@x")
        );
    }

    #[test]
    fn raw_dates_and_log_policies_read_as_c_git_reads_them() {
        assert_eq!(raw_date("1700000000 -0130"), Some((1_700_000_000, -130)));
        assert_eq!(raw_date("@1700000000 +0200"), Some((1_700_000_000, 200)));
        assert_eq!(raw_date("1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(raw_date("yesterday"), None);
        assert_eq!(raw_date("1700000000 +02"), None);
        let policy = |text: &str, bare: bool| {
            let config = GitConfig::parse(text.as_bytes(), "config").unwrap();
            log_info(&config, bare, &Env::default()).policy
        };
        assert_eq!(policy("", true), LogPolicy::Existing);
        assert_eq!(policy("", false), LogPolicy::Normal);
        assert_eq!(
            policy("[core]\nlogAllRefUpdates = true\n", true),
            LogPolicy::Normal
        );
        assert_eq!(
            policy("[core]\nlogAllRefUpdates = false\n", false),
            LogPolicy::Existing
        );
        assert_eq!(
            policy("[core]\nlogAllRefUpdates = always\n", true),
            LogPolicy::Always
        );
    }
}
