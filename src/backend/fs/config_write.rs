//! Setting and unsetting one key in a repository's `config` file, as `git config --file F KEY
//! VALUE` and `git config --file F --unset-all KEY` do, keeping every other byte of the file:
//! the value goes into the last section with the key's name (replacing an existing single
//! value), or into a new section at the end. Used to apply settings that come from outside
//! the repository (gitolite's `config` lines).

use std::path::Path;

use crate::backend::Error;

/// A config key split as git does: section (case-insensitive), optional subsection
/// (case-sensitive), variable name (case-insensitive).
struct Key<'a> {
    section: &'a str,
    subsection: Option<&'a str>,
    name: &'a str,
}

fn split_key(key: &str) -> Option<Key<'_>> {
    let (section, rest) = key.split_once('.')?;
    let (subsection, name) = match rest.rsplit_once('.') {
        Some((sub, name)) => (Some(sub), name),
        None => (None, rest),
    };
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let sub_ok = subsection.is_none_or(|s| !s.contains(['"', '\n', '\\']));
    (ok(section) && ok(name) && name.as_bytes()[0].is_ascii_alphabetic() && sub_ok).then_some(Key {
        section,
        subsection,
        name,
    })
}

/// The section a header line opens, if it is one: (section, subsection).
fn header(line: &str) -> Option<(String, Option<String>)> {
    let inner = line.trim().strip_prefix('[')?;
    let inner = &inner[..inner.find(']')?];
    match inner.split_once(char::is_whitespace) {
        Some((sec, sub)) => {
            let sub = sub.trim().strip_prefix('"')?.strip_suffix('"')?;
            Some((
                sec.to_ascii_lowercase(),
                Some(sub.replace("\\\"", "\"").replace("\\\\", "\\")),
            ))
        }
        None => match inner.split_once('.') {
            Some((sec, sub)) => Some((sec.to_ascii_lowercase(), Some(sub.to_ascii_lowercase()))),
            None => Some((inner.to_ascii_lowercase(), None)),
        },
    }
}

/// Whether `line` sets the variable `name`.
fn sets(line: &str, name: &str) -> bool {
    let t = line.trim_start();
    let var: String = t
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    var.eq_ignore_ascii_case(name) && {
        let rest = t[var.len()..].trim_start();
        rest.is_empty() || rest.starts_with('=') || rest.starts_with(['#', ';'])
    }
}

fn quote(value: &str) -> String {
    let needs =
        value.starts_with(' ') || value.ends_with(' ') || value.contains(['#', ';', '"', '\\']);
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    match needs {
        true => format!("\"{escaped}\""),
        false => escaped,
    }
}

/// `git config --file path key value` (`value: None`: `--unset-all key`).
pub fn set(path: &Path, key: &str, value: Option<&str>) -> Result<(), Error> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::io(path.display().to_string(), e))?;
    let out = set_in_text(&text, key, value)?;
    write_locked(path, out.as_bytes())
}

/// [`set`] on config text `text` (the distributed backend keeps a repository's config in its
/// ref store): the new text.
pub fn set_in_text(text: &str, key: &str, value: Option<&str>) -> Result<String, Error> {
    let k = split_key(key)
        .ok_or_else(|| Error::corrupt("config key", format!("invalid key '{key}'")))?;
    if value.is_some_and(|v| v.contains('\n')) {
        return Err(Error::corrupt(
            "config value",
            format!("newline in the value of {key}"),
        ));
    }
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let want = (
        k.section.to_ascii_lowercase(),
        k.subsection.map(str::to_string),
    );
    let mut in_section = false;
    let mut last_section_end = None;
    let mut hits = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(h) = header(line) {
            in_section = h == want;
        } else if in_section && sets(line, k.name) {
            if line.trim_end().ends_with('\\') {
                return Err(Error::corrupt(
                    "config",
                    format!("{key}: continued value lines are not rewritten"),
                ));
            }
            hits.push(i);
        }
        if in_section {
            last_section_end = Some(i + 1);
        }
    }
    let entry = value.map(|v| format!("\t{} = {}", k.name, quote(v)));
    match (entry, hits.as_slice()) {
        (None, _) => {
            for &i in hits.iter().rev() {
                lines.remove(i);
            }
        }
        (Some(_), [_, _, ..]) => {
            return Err(Error::corrupt(
                "config",
                format!("{key} has multiple values; not overwritten"),
            ));
        }
        (Some(e), [i]) => lines[*i] = e,
        (Some(e), []) => match last_section_end {
            Some(end) => lines.insert(end, e),
            None => {
                lines.push(match k.subsection {
                    Some(sub) => format!("[{} \"{}\"]", k.section, sub),
                    None => format!("[{}]", k.section),
                });
                lines.push(e);
            }
        },
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(out)
}

/// Replaces `path` as git does: `path.lock` created exclusively (so C git and Sluice never
/// write the file at once), written, fsynced, renamed over.
fn write_locked(path: &Path, data: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let lock = path.with_extension("lock");
    let io = |e| Error::io(lock.display().to_string(), e);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock)
        .map_err(io)?;
    let done = f
        .write_all(data)
        .and_then(|()| f.sync_all())
        .and_then(|()| std::fs::rename(&lock, path));
    if done.is_err() {
        let _ = std::fs::remove_file(&lock);
    }
    done.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(before: &str, key: &str, value: Option<&str>) -> String {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config");
        std::fs::write(&p, before).unwrap();
        set(&p, key, value).unwrap();
        std::fs::read_to_string(&p).unwrap()
    }

    #[test]
    fn set_replace_append_unset() {
        let base = "[core]\n\tbare = true\n[hooks]\n\tmailinglist = old@x\n";
        assert_eq!(
            run(base, "hooks.mailinglist", Some("new@x")),
            "[core]\n\tbare = true\n[hooks]\n\tmailinglist = new@x\n"
        );
        assert_eq!(
            run(base, "core.logAllRefUpdates", Some("true")),
            "[core]\n\tbare = true\n\tlogAllRefUpdates = true\n[hooks]\n\tmailinglist = old@x\n"
        );
        assert_eq!(
            run(base, "gitweb.owner", Some("A # B")),
            format!("{base}[gitweb]\n\towner = \"A # B\"\n")
        );
        assert_eq!(
            run(base, "hooks.mailinglist", None),
            "[core]\n\tbare = true\n[hooks]\n"
        );
        assert_eq!(
            run(base, "remote.o r.url", Some("u")),
            format!("{base}[remote \"o r\"]\n\turl = u\n")
        );
    }
}
