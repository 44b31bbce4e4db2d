//! A git-config file parser: sections, subsections, quoting, escapes, continuation lines,
//! booleans and integers with `k`/`m`/`g` suffixes, as `git config` reads them.
//!
//! Keys are addressed as git spells them on the command line: `section.key` or
//! `section.subsection.key`; section and key names are case-insensitive, subsections are not.
//! When a key appears several times the last value wins for [`GitConfig::get`], and
//! [`GitConfig::get_all`] returns them all in file order.

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
    pub fn parse(text: &[u8], source_name: &str) -> Result<GitConfig, Error> {
        Parser {
            text,
            pos: 0,
            line: 1,
            source_name,
        }
        .parse()
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

/// The line-oriented parser over the raw bytes.
struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
    source_name: &'a str,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> Error {
        Error::Syntax {
            source_name: self.source_name.to_string(),
            line: self.line,
            what: what.to_string(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn skip_blank(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r')) {
            self.pos += 1;
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.bump() {
            if c == b'\n' {
                break;
            }
        }
    }

    fn parse(mut self) -> Result<GitConfig, Error> {
        let mut cfg = GitConfig::default();
        let mut section: Option<String> = None;
        // A UTF-8 byte order mark is allowed at the start, as git allows it.
        if self.text.starts_with(b"\xef\xbb\xbf") {
            self.pos = 3;
        }
        loop {
            self.skip_blank();
            match self.peek() {
                None => return Ok(cfg),
                Some(b'\n') => {
                    self.bump();
                }
                Some(b'#' | b';') => self.skip_line(),
                Some(b'[') => {
                    self.bump();
                    section = Some(self.section_header()?);
                }
                Some(c) if c.is_ascii_alphabetic() => {
                    let sect = section
                        .clone()
                        .ok_or_else(|| self.err("key outside a section"))?;
                    let (name, value) = self.key_value()?;
                    cfg.entries.push((format!("{sect}.{name}"), value));
                }
                Some(_) => return Err(self.err("unexpected character")),
            }
        }
    }

    /// After `[`: `name]`, `name "sub"]` or the legacy `name.sub]`.
    fn section_header(&mut self) -> Result<String, Error> {
        let mut name = String::new();
        loop {
            match self.bump() {
                Some(b']') => {
                    if name.is_empty() {
                        return Err(self.err("empty section name"));
                    }
                    // Legacy `[section.sub]`: the subsection is lower-cased too.
                    return Ok(name.to_ascii_lowercase());
                }
                Some(c) if c.is_ascii_alphanumeric() || c == b'-' || c == b'.' => {
                    name.push(c as char)
                }
                Some(b' ' | b'\t') => break,
                _ => return Err(self.err("bad section header")),
            }
        }
        self.skip_blank();
        if self.bump() != Some(b'"') {
            return Err(self.err("expected '\"' before subsection"));
        }
        let mut sub = Vec::new();
        loop {
            match self.bump() {
                Some(b'"') => break,
                Some(b'\\') => match self.bump() {
                    Some(b'\n') | None => return Err(self.err("bad escape in subsection")),
                    Some(c) => sub.push(c),
                },
                Some(b'\n') | None => return Err(self.err("unterminated subsection")),
                Some(c) => sub.push(c),
            }
        }
        if self.bump() != Some(b']') {
            return Err(self.err("expected ']' after subsection"));
        }
        let sub = String::from_utf8(sub).map_err(|_| self.err("subsection is not UTF-8"))?;
        Ok(format!("{}.{sub}", name.to_ascii_lowercase()))
    }

    /// `name [= value]` up to the end of the line.
    fn key_value(&mut self) -> Result<(String, Option<String>), Error> {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'-' {
                name.push(c.to_ascii_lowercase() as char);
                self.pos += 1;
            } else {
                break;
            }
        }
        self.skip_blank();
        match self.peek() {
            None | Some(b'\n') => return Ok((name, None)),
            Some(b'#' | b';') => {
                self.skip_line();
                return Ok((name, None));
            }
            Some(b'=') => {
                self.pos += 1;
            }
            Some(_) => return Err(self.err("bad key name")),
        }
        self.skip_blank();
        let mut value = Vec::new();
        let mut quoted = false;
        // Length of `value` up to its last character that was quoted or not trailing space.
        let mut keep = 0;
        loop {
            match self.peek() {
                None => break,
                Some(b'\n') => {
                    if quoted {
                        return Err(self.err("unterminated quoted value"));
                    }
                    break;
                }
                Some(b'#' | b';') if !quoted => {
                    self.skip_line();
                    self.line -= 1;
                    break;
                }
                Some(b'"') => {
                    self.pos += 1;
                    quoted = !quoted;
                    keep = value.len();
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = self
                        .bump()
                        .ok_or_else(|| self.err("escape at end of file"))?;
                    match c {
                        b'\n' => {} // line continuation
                        b'n' => value.push(b'\n'),
                        b't' => value.push(b'\t'),
                        b'b' => {
                            value.pop();
                        }
                        b'"' | b'\\' => value.push(c),
                        _ => return Err(self.err("bad escape in value")),
                    }
                    keep = value.len();
                }
                Some(c) => {
                    self.pos += 1;
                    value.push(c);
                    if quoted || !matches!(c, b' ' | b'\t' | b'\r') {
                        keep = value.len();
                    }
                }
            }
        }
        value.truncate(keep);
        let value = String::from_utf8(value).map_err(|_| self.err("value is not UTF-8"))?;
        Ok((name, Some(value)))
    }
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
