//! Turning a gitolite site's conf files into the logical lines its parser reads: comments
//! stripped and whitespace normalised as gitolite's `cleanup_conf_line` does, `include` files
//! expanded in place (globs relative to `conf/`, each file once), then gitolite's built-in
//! syntactic sugar (`option`, `desc`/`owner`/`category`, role names, `RWC`/`RWD`/`M` switches,
//! `testconf` blocks). What gitolite does through Perl (`subconf` delegation, `NAME/` and other
//! VREF rules, site-local sugar scripts) is refused with an error naming the file and line.

use std::collections::{BTreeMap, HashSet};

use super::Error;

/// The files of a gitolite admin tree, by path relative to its top (`conf/gitolite.conf`,
/// `keydir/alice.pub`, ...). Read from a directory or from a pushed commit alike, so that the
/// same code checks a configuration before it is applied.
pub type Files = BTreeMap<String, Vec<u8>>;

/// One logical line of the configuration, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// File path relative to the admin tree (`conf/gitolite.conf`).
    pub file: String,
    /// 1-based line number in that file.
    pub lnum: usize,
    /// The normalised text.
    pub text: String,
}

impl Line {
    /// `file:line`, as gitolite prints rule origins.
    pub fn origin(&self) -> String {
        format!("{}:{}", self.file.trim_start_matches("conf/"), self.lnum)
    }

    /// An error at this line.
    pub fn error(&self, what: impl Into<String>) -> Error {
        Error::Conf {
            at: self.origin(),
            what: what.into(),
        }
    }
}

/// Most include files a configuration may pull in (a bound on work, not a gitolite rule).
const MAX_FILES: usize = 10_000;

/// The main conf file's path in the admin tree.
pub const MAIN_CONF: &str = "conf/gitolite.conf";

/// Reads `conf/gitolite.conf` and everything it includes, then applies the sugar.
pub fn read(files: &Files) -> Result<Vec<Line>, Error> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    seen.insert(MAIN_CONF.to_string());
    let text = files.get(MAIN_CONF).ok_or(Error::Missing(MAIN_CONF))?;
    explode(files, MAIN_CONF, text, &mut seen, &mut out)?;
    sugar(out)
}

/// gitolite's `cleanup_conf_line`: drop a comment (a `#` outside a simple double-quoted
/// string), space out the first `=`, squeeze whitespace, trim.
pub fn cleanup(line: &str) -> String {
    let mut kept = String::new();
    let mut in_quote = false;
    for c in line.chars() {
        match c {
            '"' => in_quote = !in_quote,
            '#' if !in_quote => break,
            _ => {}
        }
        kept.push(c);
    }
    // With an unbalanced quote gitolite's regex finds no comment at all: the loop above
    // never broke, so the whole line is kept, as there.
    let spaced = kept.replacen('=', " = ", 1);
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn explode(
    files: &Files,
    name: &str,
    text: &[u8],
    seen: &mut HashSet<String>,
    out: &mut Vec<Line>,
) -> Result<(), Error> {
    let text = String::from_utf8_lossy(text);
    for (i, raw) in text.lines().enumerate() {
        let line = Line {
            file: name.to_string(),
            lnum: i + 1,
            text: cleanup(raw),
        };
        if line.text.is_empty() {
            continue;
        }
        let mut words = line.text.splitn(2, ' ');
        match (words.next(), words.next()) {
            (Some("include"), Some(arg)) => include(files, &line, arg, seen, out)?,
            (Some("subconf"), Some(_)) => return Err(line.error(
                "'subconf' (delegation) is not supported by sluice; merge the file or use include",
            )),
            _ => out.push(line),
        }
    }
    Ok(())
}

fn include(
    files: &Files,
    at: &Line,
    arg: &str,
    seen: &mut HashSet<String>,
    out: &mut Vec<Line>,
) -> Result<(), Error> {
    let glob = arg
        .strip_prefix('"')
        .and_then(|a| a.strip_suffix('"'))
        .or_else(|| arg.strip_prefix('\'').and_then(|a| a.strip_suffix('\'')))
        .filter(|g| !g.is_empty())
        .ok_or_else(|| at.error(format!("invalid include/subconf file/glob '{arg}'")))?;
    if glob.starts_with('/') || glob.split('/').any(|c| c == "..") {
        return Err(at.error(format!(
            "include '{glob}' leaves the admin tree's conf/ directory; sluice reads includes only from there"
        )));
    }
    let pattern = format!("conf/{glob}");
    // A missing include is not an error in gitolite, and a glob matching nothing is silent.
    let matched: Vec<&String> = files
        .keys()
        .filter(|p| crate::access::glob_match(&pattern, p))
        .collect();
    for path in matched {
        if !path.ends_with(".conf") {
            return Err(at.error(format!("invalid include/subconf filename '{path}'")));
        }
        if !seen.insert(path.clone()) {
            tracing::warn!(file = %path, "gitolite include: already included, skipped");
            continue;
        }
        if seen.len() > MAX_FILES {
            return Err(at.error("too many include files"));
        }
        explode(files, path, &files[path], seen, out)?;
    }
    Ok(())
}

/// A permission word as gitolite's parser accepts it: `-|C|R|RW+?(C?D?|D?C?)M?`.
pub fn is_perm(word: &str) -> bool {
    if matches!(word, "-" | "C" | "R") {
        return true;
    }
    let Some(rest) = word.strip_prefix("RW") else {
        return false;
    };
    let rest = rest.strip_prefix('+').unwrap_or(rest);
    let rest = rest.strip_suffix('M').unwrap_or(rest);
    matches!(rest, "" | "C" | "D" | "CD" | "DC")
}

/// Splits a rule line `PERM [refex...] = users...` into its three parts.
pub fn split_rule(text: &str) -> Option<(&str, &str, &str)> {
    let (perm, rest) = text.split_once(' ')?;
    if !is_perm(perm) {
        return None;
    }
    let (refs, users) = if let Some(users) = rest.strip_prefix("= ") {
        ("", users)
    } else {
        let (refs, users) = rest.split_once(" = ")?;
        (refs, users)
    };
    (!users.is_empty()).then_some((perm, refs, users))
}

/// The role names gitolite's default rc defines (`ROLES`), plus `CREATOR`.
pub const ROLES: [&str; 3] = ["CREATOR", "READERS", "WRITERS"];

fn sugar(lines: Vec<Line>) -> Result<Vec<Line>, Error> {
    let mut out = Vec::with_capacity(lines.len());
    let mut seen_cdm = HashSet::new();
    let mut in_block = false;
    for mut line in lines {
        if in_block {
            in_block = !is_block_end(&line.text);
            continue;
        }
        if is_block_start(&line.text) {
            in_block = true;
            continue;
        }
        if line.text.starts_with("repo ") {
            seen_cdm.clear();
        }
        let mut extra = Vec::new();
        if let Some((perm, refs, users)) = split_rule(&line.text) {
            check_refs(&line, refs)?;
            for (flag, option) in [
                ('D', "DELETE_IS_D"),
                ('C', "CREATE_IS_C"),
                ('M', "MERGE_CHECK"),
            ] {
                let has = match flag {
                    'C' => perm.starts_with("RW") && perm.contains('C'),
                    _ => perm.contains(flag),
                };
                if has && seen_cdm.insert(flag) {
                    extra.push(format!("config gitolite-options.{option} = 1"));
                }
            }
            let users: Vec<String> = users
                .split(' ')
                .map(|u| match ROLES.contains(&u) {
                    true => format!("@{u}"),
                    false => u.to_string(),
                })
                .collect();
            line.text = match refs.is_empty() {
                true => format!("{perm} = {}", users.join(" ")),
                false => format!("{perm} {refs} = {}", users.join(" ")),
            };
        } else {
            line.text = rewrite_setting(&line.text);
        }
        let (file, lnum) = (line.file.clone(), line.lnum);
        out.push(line);
        out.extend(extra.into_iter().map(|text| Line {
            file: file.clone(),
            lnum,
            text,
        }));
    }
    Ok(out)
}

/// `option k = v`, `desc = ...`, `owner = ...`, `category = ...` become `config` lines.
fn rewrite_setting(text: &str) -> String {
    if let Some(rest) = text.strip_prefix("option ") {
        let rest = rest.replacen("mirror.slaves", "mirror.copies", 1);
        if let Some((k, v)) = rest.split_once(" = ") {
            if !k.contains(' ') && !v.is_empty() {
                return format!("config gitolite-options.{k} = {v}");
            }
        }
    }
    for (word, key) in [
        ("desc", "gitweb.description"),
        ("owner", "gitweb.owner"),
        ("category", "gitweb.category"),
    ] {
        if let Some(v) = text.strip_prefix(word).and_then(|r| r.strip_prefix(" = ")) {
            return format!("config {key} = {v}");
        }
    }
    text.to_string()
}

/// Refexes that need gitolite's Perl helpers are refused, not ignored: ignoring a `-` rule on
/// `NAME/...` would allow what the site denies.
fn check_refs(line: &Line, refs: &str) -> Result<(), Error> {
    for r in refs.split(' ').filter(|r| !r.is_empty()) {
        if r.starts_with("NAME/") || r.starts_with("VREF/") {
            return Err(line.error(format!(
                "'{r}': virtual refs (NAME/ path rules, VREF/ helpers) are not supported by sluice"
            )));
        }
    }
    Ok(())
}

fn is_block_start(text: &str) -> bool {
    let t = text.strip_prefix('=').map(str::trim_start);
    matches!(t, Some("begin testconf") | Some("begin template-data"))
}

fn is_block_end(text: &str) -> bool {
    text.strip_prefix('=').map(str::trim_start) == Some("end")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> Files {
        pairs
            .iter()
            .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
            .collect()
    }

    fn texts(f: &Files) -> Vec<String> {
        read(f).unwrap().into_iter().map(|l| l.text).collect()
    }

    #[test]
    fn cleanup_matches_gitolite() {
        assert_eq!(cleanup("  RW+\t=  alice  # boss"), "RW+ = alice");
        assert_eq!(cleanup("@g=a b"), "@g = a b");
        assert_eq!(cleanup(r#"desc = "a # b" # c"#), r#"desc = "a # b""#);
        assert_eq!(cleanup("# only a comment"), "");
        assert_eq!(cleanup("config a.b = x=y"), "config a.b = x=y");
    }

    #[test]
    fn includes_expand_in_place_once() {
        let f = files(&[
            (
                MAIN_CONF,
                "repo a\n RW = u\ninclude \"sub/*.conf\"\ninclude \"sub/x.conf\"\n",
            ),
            ("conf/sub/x.conf", "repo x\n R = u\n"),
            ("conf/sub/y.conf", "repo y\n R = @all\n"),
        ]);
        assert_eq!(
            texts(&f),
            ["repo a", "RW = u", "repo x", "R = u", "repo y", "R = @all"]
        );
        let lines = read(&f).unwrap();
        assert_eq!(lines[3].origin(), "sub/x.conf:2");
    }

    #[test]
    fn sugar_adds_options_and_roles() {
        let f = files(&[(
            MAIN_CONF,
            "repo CREATOR/..*\n C = @all\n RWC = CREATOR\n RW+D dev = WRITERS\n option deny-rules = 1\n desc = hello world\n=begin testconf\nnot parsed\n=end\n",
        )]);
        assert_eq!(
            texts(&f),
            [
                "repo CREATOR/..*",
                "C = @all",
                "RWC = @CREATOR",
                "config gitolite-options.CREATE_IS_C = 1",
                "RW+D dev = @WRITERS",
                "config gitolite-options.DELETE_IS_D = 1",
                "config gitolite-options.deny-rules = 1",
                "config gitweb.description = hello world",
            ]
        );
    }

    #[test]
    fn refused_features_name_the_line() {
        let f = files(&[(MAIN_CONF, "repo a\n- NAME/secret = u\n")]);
        let e = read(&f).unwrap_err().to_string();
        assert!(e.contains("gitolite.conf:2") && e.contains("NAME/"), "{e}");
        let f = files(&[(MAIN_CONF, "subconf \"x.conf\"\n")]);
        assert!(read(&f).unwrap_err().to_string().contains("subconf"));
        let f = files(&[(MAIN_CONF, "include \"../x.conf\"\n")]);
        assert!(read(&f).is_err());
    }

    #[test]
    fn perms() {
        for p in [
            "-", "C", "R", "RW", "RW+", "RWC", "RW+CD", "RWDC", "RW+DM", "RWM",
        ] {
            assert!(is_perm(p), "{p}");
        }
        for p in ["W", "RWX", "RW++", "RWCC", "r"] {
            assert!(!is_perm(p), "{p}");
        }
        assert_eq!(split_rule("RW+ = a b"), Some(("RW+", "", "a b")));
        assert_eq!(
            split_rule("- master dev = a"),
            Some(("-", "master dev", "a"))
        );
        assert_eq!(split_rule("repo x"), None);
    }
}
