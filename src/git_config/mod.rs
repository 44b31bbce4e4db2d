//! A git-config file parser: sections, subsections, quoting, escapes, continuation lines,
//! booleans and integers with `k`/`m`/`g` suffixes, as `git config` reads them.
//!
//! Keys are addressed as git spells them on the command line: `section.key` or
//! `section.subsection.key`; section and key names are case-insensitive, subsections are not.
//! When a key appears several times the last value wins for [`GitConfig::get`], and
//! [`GitConfig::get_all`] returns them all in file order.

pub mod syntax;

/// Why a config file could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A syntax error, with the 1-based line it was found on.
    #[error("bad config line {line} in {source_name}: {what}")]
    Syntax {
        /// File name (for messages).
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// A value could not be read as the type asked for.
    #[error("bad config value for '{key}': {value:?} is not a valid {expected}")]
    Value {
        /// The key.
        key: String,
        /// The value found.
        value: String,
        /// What was expected ("boolean", "integer").
        expected: &'static str,
    },
}

/// A parsed configuration.
#[derive(Debug, Clone, Default)]
pub struct GitConfig {
    /// (canonical key, value) in file order; `None` values are keys without `=` (boolean true).
    entries: Vec<(String, Option<String>)>,
    /// The home directory `~/` in a path value expands to (the reader's `HOME`).
    home: Option<std::path::PathBuf>,
}

impl GitConfig {
    /// This configuration, expanding `~/` in path values to `home` (see [`Self::pathname`]).
    pub fn with_home(mut self, home: Option<std::path::PathBuf>) -> GitConfig {
        self.home = home;
        self
    }

    /// A path value `value` as git's `git_config_pathname` gives it: `~/` expanded to the
    /// home directory (when one is known), a relative path taken relative to `base`.
    pub fn pathname(&self, value: &str, base: Option<&std::path::Path>) -> std::path::PathBuf {
        use std::path::PathBuf;
        if let (Some(rest), Some(home)) = (value.strip_prefix("~/"), &self.home) {
            return home.join(rest);
        }
        match base {
            Some(b) => b.join(value),
            None => PathBuf::from(value),
        }
    }

    /// Parses `text`, naming it `source_name` in errors.
    /// Deviations from C git, refused with the line rather than read differently: a key
    /// before any section, and a name or value that is not UTF-8.
    pub fn parse(text: &[u8], source_name: &str) -> Result<GitConfig, Error> {
        let syntax = |line, what: &str| Error::Syntax {
            source_name: source_name.to_string(),
            line,
            what: what.to_string(),
        };
        let mut cfg = GitConfig::default();
        let mut refused = None;
        let parsed = syntax::parse_config(text, &mut |var, value, line| {
            let var = std::str::from_utf8(var);
            let value = value.map(std::str::from_utf8).transpose();
            match (var, value) {
                (Ok(k), _) if !k.contains('.') => refused = Some((line, "key outside a section")),
                (Ok(k), Ok(v)) => cfg.entries.push((k.to_string(), v.map(str::to_string))),
                _ => refused = Some((line, "name or value is not UTF-8")),
            }
            refused.is_none()
        });
        if let Some((line, what)) = refused {
            return Err(syntax(line, what));
        }
        parsed.map_err(|e| syntax(e.line, "syntax error"))?;
        Ok(cfg)
    }

    /// The last value of `key`; `Some(None)` for a key present without a value.
    pub fn get(&self, key: &str) -> Option<Option<&str>> {
        let want = canonical_key(key);
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| *k == want)
            .map(|(_, v)| v.as_deref())
    }

    /// Every value of `key` in order (keys without a value are left out).
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        let want = canonical_key(key);
        self.entries
            .iter()
            .filter(|(k, _)| *k == want)
            .filter_map(|(_, v)| v.as_deref())
            .collect()
    }

    /// Every `(key, value)` in file order, keys as [`GitConfig::get`] matches them (section and
    /// name lower-cased); for settings that are families of keys (`receive.fsck.<msg-id>`).
    pub fn entries(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_deref()))
    }

    /// Every `(key, value)` whose key starts with `prefix` (canonical form: section and key
    /// names lower-cased, e.g. `extensions.`), in file order.
    pub fn entries_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + 'a {
        self.entries().filter(move |(k, _)| k.starts_with(prefix))
    }

    /// `core.bigFileThreshold` (C git's default 512 MiB): objects larger than this are streamed,
    /// never held whole in memory, and never deltified. Zero or negative values count as 1.
    pub fn big_file_threshold(&self) -> Result<u64, Error> {
        Ok(self
            .get_i64("core.bigFileThreshold")?
            .map_or(512 << 20, |v| v.max(1) as u64))
    }

    /// `key` as a boolean (`true/yes/on/1`, `false/no/off/0/""`, or present without value).
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, Error> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let Some(v) = value else {
            return Ok(Some(true));
        };
        match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Ok(Some(true)),
            "false" | "no" | "off" | "" => Ok(Some(false)),
            other => match parse_int(other) {
                Some(n) => Ok(Some(n != 0)),
                None => Err(Error::Value {
                    key: key.into(),
                    value: v.into(),
                    expected: "boolean",
                }),
            },
        }
    }

    /// `key` as an integer with optional `k`, `m`, `g` suffix.
    pub fn get_i64(&self, key: &str) -> Result<Option<i64>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => parse_int(v.unwrap_or(""))
                .map(Some)
                .ok_or_else(|| Error::Value {
                    key: key.into(),
                    value: v.unwrap_or("").into(),
                    expected: "integer",
                }),
        }
    }
}

/// Parses git's integer syntax: decimal with an optional `k`/`m`/`g` (binary) suffix. Public for
/// environment variables in the same syntax, such as `GIT_HTTP_MAX_REQUEST_BUFFER`.
pub fn parse_int(v: &str) -> Option<i64> {
    let v = v.trim();
    let (digits, factor) = match v.chars().last()?.to_ascii_lowercase() {
        'k' => (&v[..v.len() - 1], 1i64 << 10),
        'm' => (&v[..v.len() - 1], 1 << 20),
        'g' => (&v[..v.len() - 1], 1 << 30),
        _ => (v, 1),
    };
    digits.parse::<i64>().ok()?.checked_mul(factor)
}

/// Lower-cases the section and key parts of `key`, leaving a subsection as is.
fn canonical_key(key: &str) -> String {
    match (key.find('.'), key.rfind('.')) {
        (Some(first), Some(last)) if first != last => format!(
            "{}{}{}",
            key[..first].to_ascii_lowercase(),
            &key[first..last],
            key[last..].to_ascii_lowercase()
        ),
        _ => key.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax() {
        let text = b"# c\n[core]\n\tbare = true ; comment\n\tfilemode\n[Remote \"Origin\"]\n  url = \"a b\" # x\n  fetch = +refs/*:refs/*\n  fetch = two\n[a.B]\n  k = x\\\n y\n[s]\nq = \"\\tx\\\\\\\"\"  \n";
        let c = GitConfig::parse(text, "t").unwrap();
        assert_eq!(c.get_bool("core.bare").unwrap(), Some(true));
        assert_eq!(c.get_bool("CORE.FileMode").unwrap(), Some(true));
        assert_eq!(c.get("remote.Origin.url"), Some(Some("a b")));
        assert_eq!(c.get("remote.origin.url"), None);
        assert_eq!(
            c.get_all("remote.Origin.fetch"),
            vec!["+refs/*:refs/*", "two"]
        );
        assert_eq!(c.get("a.b.k"), Some(Some("x y")));
        assert_eq!(c.get("s.q"), Some(Some("\tx\\\"")));
        assert_eq!(c.get_bool("nope.x").unwrap(), None);
    }

    #[test]
    fn values() {
        let c = GitConfig::parse(b"[r]\n a = 1k\n b = off\n c = maybe\n d =\n", "t").unwrap();
        assert_eq!(c.get_i64("r.a").unwrap(), Some(1024));
        assert_eq!(c.get_bool("r.b").unwrap(), Some(false));
        assert!(c.get_bool("r.c").is_err());
        assert_eq!(c.get_bool("r.d").unwrap(), Some(false));
        assert!(c.get_i64("r.c").is_err());
    }

    #[test]
    fn errors() {
        for bad in [
            &b"k = v\n"[..],
            b"[s\n",
            b"[s \"x]\n",
            b"[s]\n k = \"open\n",
            b"[s]\n =v\n",
            b"[s]\n k = \\q\n",
        ] {
            assert!(
                GitConfig::parse(bad, "t").is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn agrees_with_git_config() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        let set = |k: &str, v: &str| {
            let ok = std::process::Command::new("git")
                .args(["config", "--file"])
                .arg(&file)
                .args([k, v])
                .status()
                .unwrap()
                .success();
            assert!(ok);
        };
        set("uploadpack.allowTipSHA1InWant", "true");
        set("weird.sub section.key", " lead \"quote\" back\\slash\ttab ");
        let c = GitConfig::parse(&std::fs::read(&file).unwrap(), "config").unwrap();
        assert_eq!(
            c.get_bool("uploadpack.allowtipsha1inwant").unwrap(),
            Some(true)
        );
        assert_eq!(
            c.get("weird.sub section.key"),
            Some(Some(" lead \"quote\" back\\slash\ttab "))
        );
    }
}
