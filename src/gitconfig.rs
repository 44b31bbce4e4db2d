//! A git-config file parser: sections, subsections, quoting, escapes, continuation lines,
//! booleans and integers with `k`/`m`/`g` suffixes, as `git config` reads them.
//!
//! Keys are addressed as git spells them on the command line: `section.key` or
//! `section.subsection.key`; section and key names are case-insensitive, subsections are not.
//! When a key appears several times the last value wins for [`GitConfig::get`], and
//! [`GitConfig::get_all`] returns them all in file order.
//!
//! TODO(skeleton): the parser is being written; today every file parses as empty.

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
}

impl GitConfig {
    /// Parses `text`, naming it `source_name` in errors.
    pub fn parse(text: &[u8], source_name: &str) -> Result<GitConfig, Error> {
        let _ = (text, source_name);
        Ok(GitConfig::default())
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

    /// `key` as a boolean (`true/yes/on/1`, `false/no/off/0/""`, or present without value).
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, Error> {
        let _ = key;
        Ok(None)
    }

    /// `key` as an integer with optional `k`, `m`, `g` suffix.
    pub fn get_i64(&self, key: &str) -> Result<Option<i64>, Error> {
        let _ = key;
        Ok(None)
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
