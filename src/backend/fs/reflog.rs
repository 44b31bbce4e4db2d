//! The reflog identity and policy C git's receive-pack would use, for both ref stores
//! ([`crate::refs::reflog`]).
//!
//! Deviation: the reflog time zone is UTC (`+0000`) unless `GIT_COMMITTER_DATE` gives one;
//! C git uses the server's local zone.

use std::sync::{Arc, OnceLock};

use crate::env::Env;
use crate::git_config::GitConfig;
use crate::refs::reflog::{LogInfo, LogPolicy};

/// What each ref transaction logs with: the policy and configured identity read now, the rest of
/// the identity (environment, `/etc/hostname`) at the first transaction, since most opens of a
/// repository (every fetch) write no ref; the time is taken per call.
pub fn log_source(
    config: &GitConfig,
    bare: bool,
    env: Arc<Env>,
) -> impl Fn() -> LogInfo + Send + Sync + 'static {
    let policy = log_policy(config, bare);
    let configured = Configured::read(config);
    let identity = OnceLock::new();
    move || {
        let (name, email) = identity.get_or_init(|| configured.identity(&env));
        let (time, tz_hhmm) = env_date(&env).unwrap_or_else(|| (now(), 0));
        LogInfo {
            policy,
            name: name.clone(),
            email: email.clone(),
            time,
            tz_hhmm,
            message: "push".into(),
        }
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

/// The reflog policy and committer identity C git's receive-pack would use now (see [`log_source`]).
pub fn log_info(config: &GitConfig, bare: bool, env: &Env) -> LogInfo {
    let (name, email) = Configured::read(config).identity(env);
    let (time, tz_hhmm) = env_date(env).unwrap_or((now(), 0));
    LogInfo {
        policy: log_policy(config, bare),
        name,
        email,
        time,
        tz_hhmm,
        message: "push".into(),
    }
}

/// `core.logAllRefUpdates` as C git reads it: `always`, a boolean, or unset (on unless bare).
fn log_policy(config: &GitConfig, bare: bool) -> LogPolicy {
    let always = config
        .get("core.logallrefupdates")
        .flatten()
        .is_some_and(|v| v.eq_ignore_ascii_case("always"));
    match config.get_bool("core.logallrefupdates") {
        _ if always => LogPolicy::Always,
        Ok(Some(true)) => LogPolicy::Normal,
        Ok(Some(false)) => LogPolicy::Existing,
        _ if bare => LogPolicy::Existing,
        _ => LogPolicy::Normal,
    }
}

/// `user.name` and `user.email` from the repository's configuration.
struct Configured {
    name: Option<String>,
    email: Option<String>,
}

impl Configured {
    fn read(config: &GitConfig) -> Self {
        let cfg = |k: &str| config.get(k).flatten().map(str::to_string);
        Configured {
            name: cfg("user.name"),
            email: cfg("user.email"),
        }
    }

    /// The committer name and email: `GIT_COMMITTER_NAME`/`EMAIL` of `env`, else
    /// `user.name`/`user.email`, else the login name at the host name, cleaned as C git does.
    fn identity(&self, env: &Env) -> (String, String) {
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
        (without_crud(&name), without_crud(&email))
    }
}

/// The host name for a default email, as C git's `xgethostname` gives it.
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
