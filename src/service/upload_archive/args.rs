//! The `argument <arg>` lines of an upload-archive request, parsed as C git's
//! `parse_archive_args` parses its command line (archive.c): options anywhere before `--`, then
//! the tree-ish and the paths. Everything C git takes that Sluice does not implement is refused
//! with a line that says so; nothing is silently ignored.

use super::Error;

/// The archive formats C git serves remotely (`git archive --remote --list`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `tar`: ustar with a pax global header holding the commit id.
    Tar,
    /// `tgz` / `tar.gz`: the same tar through C git's internal gzip (`tar.<fmt>.command`
    /// = `git archive gzip`).
    TarGz,
    /// `zip`.
    Zip,
}

/// What the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveArgs {
    /// `--format` (default tar), as the client named it (`tgz` and `tar.gz` are both kept).
    pub format_name: String,
    /// `--prefix`: prepended to every path (C git does not add a `/`).
    pub prefix: String,
    /// `-0` .. `-9`; `None`: the format's default.
    pub level: Option<u32>,
    /// `-v`: list the archived paths on the progress channel.
    pub verbose: bool,
    /// `--list`: print the formats instead of an archive.
    pub list: bool,
    /// The tree-ish (absent only with `--list`).
    pub treeish: Option<String>,
    /// Path arguments (literal paths; see [`super::entries`]).
    pub paths: Vec<String>,
}

/// Takes the value of `--name=value` or `--name value` from `args`.
fn value<'a>(
    arg: &'a str,
    name: &str,
    rest: &mut impl Iterator<Item = &'a String>,
) -> Result<Option<&'a str>, Error> {
    let Some(tail) = arg.strip_prefix(name) else {
        return Ok(None);
    };
    if let Some(v) = tail.strip_prefix('=') {
        return Ok(Some(v));
    }
    if !tail.is_empty() {
        return Ok(None);
    }
    rest.next()
        .map(|v| Some(v.as_str()))
        .ok_or_else(|| Error::Usage(format!("option `{}' requires a value", &name[2..])))
}

/// Parses the client's arguments `argv` (without C git's leading `git-upload-archive`).
pub fn parse(argv: &[String]) -> Result<ArchiveArgs, Error> {
    let mut out = ArchiveArgs {
        format_name: "tar".into(),
        prefix: String::new(),
        level: None,
        verbose: false,
        list: false,
        treeish: None,
        paths: Vec::new(),
    };
    let mut positional = Vec::new();
    let mut it = argv.iter();
    let mut options_done = false;
    while let Some(arg) = it.next() {
        let a = arg.as_str();
        if options_done || !a.starts_with('-') || a == "-" {
            positional.push(arg.clone());
            continue;
        }
        if a == "--" {
            options_done = true;
        } else if let Some(v) = value(a, "--format", &mut it)? {
            out.format_name = v.to_string();
        } else if let Some(v) = value(a, "--prefix", &mut it)? {
            out.prefix = v.to_string();
        } else if a == "-v" || a == "--verbose" {
            out.verbose = true;
        } else if a == "-l" || a == "--list" {
            out.list = true;
        } else if a == "--no-worktree-attributes" {
        } else if let Some(n) = a
            .strip_prefix('-')
            .filter(|n| !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()))
        {
            out.level = n.parse().ok();
        } else {
            return Err(refused_option(a));
        }
    }
    let mut positional = positional.into_iter();
    out.treeish = positional.next();
    out.paths = positional.collect();
    if out.list {
        if let Some(extra) = out.treeish.take() {
            return Err(Error::Usage(format!(
                "extra command line parameter '{extra}'"
            )));
        }
    } else if out.treeish.is_none() {
        return Err(Error::Usage(
            "a tree-ish is required (git archive --remote=<repo> <tree-ish>)".into(),
        ));
    }
    Ok(out)
}

/// The message for option `a`, which C git either refuses remotely too or which Sluice does not
/// implement.
fn refused_option(a: &str) -> Error {
    let name = a.split('=').next().unwrap_or(a);
    Error::Usage(match name {
        "--remote" => "Unexpected option --remote".into(),
        "--exec" => "the option '--exec' requires '--remote'".into(),
        "-o" | "--output" => "Unexpected option --output".into(),
        "--add-file" | "--add-virtual-file" => {
            format!("options '{name}' and '--remote' cannot be used together")
        }
        "--worktree-attributes" | "--mtime" => {
            format!("option '{name}' is not supported by sluice upload-archive")
        }
        _ => format!("unknown option `{}'", name.trim_start_matches('-')),
    })
}

impl ArchiveArgs {
    /// The format the name stands for, given whether `tar.<name>.remote` allows it (C git's
    /// `tar.tgz.remote` / `tar.tar.gz.remote`, true by default).
    pub fn format(&self, gz_remote_allowed: bool) -> Result<Format, Error> {
        let f = match self.format_name.as_str() {
            "tar" => Format::Tar,
            "zip" => Format::Zip,
            "tgz" | "tar.gz" if gz_remote_allowed => Format::TarGz,
            other => {
                return Err(Error::Usage(format!("Unknown archive format '{other}'")));
            }
        };
        match (f, self.level) {
            (_, None) | (Format::Zip | Format::TarGz, Some(0..=9)) => Ok(f),
            (_, Some(n)) => Err(Error::Usage(format!(
                "Argument not supported for format '{}': -{n}",
                self.format_name
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<ArchiveArgs, Error> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options_anywhere_before_dashdash() {
        let a = p(&["--format=zip", "main", "--prefix", "x/", "-9", "--", "-odd"]).unwrap();
        assert_eq!(a.format_name, "zip");
        assert_eq!(a.prefix, "x/");
        assert_eq!(a.level, Some(9));
        assert_eq!(a.treeish.as_deref(), Some("main"));
        assert_eq!(a.paths, vec!["-odd".to_string()]);
        assert_eq!(a.format(true).unwrap(), Format::Zip);
    }

    #[test]
    fn refusals_name_the_option() {
        for (args, want) in [
            (&["--remote=x", "main"][..], "Unexpected option --remote"),
            (&["--add-file=f", "main"][..], "'--add-file' and '--remote'"),
            (&["--mtime=now", "main"][..], "not supported"),
            (&["--bogus", "main"][..], "unknown option `bogus'"),
            (&[][..], "tree-ish is required"),
            (
                &["--list", "main"][..],
                "extra command line parameter 'main'",
            ),
        ] {
            let e = p(args).unwrap_err().to_string();
            assert!(e.contains(want), "{args:?}: {e}");
        }
        let a = p(&["-9", "main"]).unwrap();
        assert!(a
            .format(true)
            .unwrap_err()
            .to_string()
            .contains("'tar': -9"));
        let a = p(&["--format=tgz", "main"]).unwrap();
        assert!(a.format(false).is_err());
        assert_eq!(a.format(true).unwrap(), Format::TarGz);
    }
}
