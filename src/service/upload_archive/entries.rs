//! Walking the archived tree in C git's order (archive.c `write_archive_entries`): tree order,
//! each directory written just before the first non-directory entry met inside it (so a
//! directory that holds only directories, or nothing asked for, is left out; one whose files are
//! all `export-ignore`d is still written, as C git does), `export-ignore` applied, submodules (gitlinks) written as empty directories, and every entry handed to a
//! [`Sink`] with its final path (`--prefix` included).
//!
//! Path arguments are literal paths: a path selects itself and everything below it. Wildcards and
//! pathspec magic are refused (Deviation: C git matches them with wildmatch).

use super::attributes::{self, Stack, Value};
use super::Error;
use crate::backend::Repository;
use crate::hash::ObjectId;
use crate::odb::{Kind, TreeIter};

/// Git's tree mode of a directory.
pub const MODE_DIR: u32 = 0o040000;
/// Git's tree mode of a submodule.
pub const MODE_GITLINK: u32 = 0o160000;
/// Git's tree mode of a symbolic link.
pub const MODE_SYMLINK: u32 = 0o120000;

/// Where archive entries go (the tar or zip writer).
pub trait Sink {
    /// Writes one entry: `path` is the archive path (directories end in `/`), `mode` the tree
    /// mode, `id` the object (the tree for the `--prefix` directory), `content` the blob or the
    /// link target (empty for directories).
    fn entry(&mut self, path: &[u8], mode: u32, id: &ObjectId, content: &[u8])
        -> Result<(), Error>;
}

/// The `-v` callback: called with each archived path.
pub type Report<'a> = &'a mut dyn FnMut(&[u8]);

/// The walk's settings and state.
pub struct Walk<'a> {
    /// The repository (its view).
    pub repo: &'a dyn Repository,
    /// `--prefix`.
    pub prefix: &'a str,
    /// Literal path arguments, without trailing `/`; empty: everything.
    pub paths: Vec<String>,
    /// Largest blob read, in bytes.
    pub max_object_bytes: u64,
    /// Whether `filter.<name>.smudge` is configured for a filter name (a conversion C git runs).
    pub has_smudge: &'a dyn Fn(&str) -> bool,
    /// `-v`: called with each archived path.
    pub verbose: Option<Report<'a>>,
    /// The `.gitattributes` stack.
    pub attrs: Stack,
    /// Directories queued but not written yet: `(path relative to the tree, id, mode)`.
    pending: Vec<(String, ObjectId, u32)>,
}

/// Checks the path arguments `paths` before anything is written: literal, and each present in
/// `tree` (C git: "pathspec '...' did not match any files").
pub fn check_paths(
    repo: &dyn Repository,
    tree: ObjectId,
    paths: &[String],
) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_empty() {
            continue;
        }
        if p.contains(['*', '?', '[', '\\']) || p.starts_with(':') {
            return Err(Error::Usage(format!(
                "pathspec '{p}' uses wildcards or magic; sluice upload-archive takes literal paths"
            )));
        }
        let clean = p.trim_end_matches('/').trim_start_matches("./");
        if super::treeish::lookup_path(repo, tree, clean)?.is_none() {
            return Err(Error::Usage(format!(
                "pathspec '{p}' did not match any files"
            )));
        }
        out.push(clean.to_string());
    }
    Ok(out)
}

impl<'a> Walk<'a> {
    /// A walk over `repo` with `prefix`, `paths` (checked), the blob size bound and the smudge test.
    pub fn new(
        repo: &'a dyn Repository,
        prefix: &'a str,
        paths: Vec<String>,
        max_object_bytes: u64,
        has_smudge: &'a dyn Fn(&str) -> bool,
    ) -> Walk<'a> {
        Walk {
            repo,
            prefix,
            paths,
            max_object_bytes,
            has_smudge,
            verbose: None,
            attrs: Stack::default(),
            pending: Vec::new(),
        }
    }

    /// Writes everything under `tree` to `sink`, starting with the `--prefix` directory when
    /// the prefix ends in `/` (as C git, with mode 040777).
    pub fn run(&mut self, tree: ObjectId, sink: &mut dyn Sink) -> Result<(), Error> {
        if self.prefix.ends_with('/') {
            let trimmed = self.prefix.trim_end_matches('/');
            let dir = format!("{trimmed}/");
            self.report(dir.as_bytes());
            sink.entry(dir.as_bytes(), 0o040777, &tree, b"")?;
        }
        self.walk(tree, "", sink)
    }

    fn report(&mut self, path: &[u8]) {
        if let Some(v) = self.verbose.as_mut() {
            v(path);
        }
    }

    /// Whether `path` (relative, no trailing `/`) is asked for; `dir`: also when a path
    /// argument lies below it.
    fn interesting(&self, path: &str, dir: bool) -> bool {
        self.paths.is_empty()
            || self.paths.iter().any(|s| {
                path == s
                    || path
                        .strip_prefix(s.as_str())
                        .is_some_and(|r| r.starts_with('/'))
                    || dir && s.strip_prefix(path).is_some_and(|r| r.starts_with('/'))
            })
    }

    fn read(&self, id: &ObjectId, want: Kind) -> Result<Vec<u8>, Error> {
        match self.repo.object_header(id)? {
            Some((k, size)) if k == want => {
                if size > self.max_object_bytes {
                    return Err(Error::TooLarge(format!("object {id} ({size} bytes)")));
                }
            }
            _ => return Err(Error::Usage(format!("cannot read '{id}'"))),
        }
        let obj = self.repo.read_object(id)?;
        obj.map(|o| o.data)
            .ok_or_else(|| Error::Usage(format!("cannot read '{id}'")))
    }

    fn walk(&mut self, tree: ObjectId, base: &str, sink: &mut dyn Sink) -> Result<(), Error> {
        let data = self.read(&tree, Kind::Tree)?;
        let mut pushed_attrs = false;
        for e in TreeIter::new(&data, tree.kind()) {
            let e = e?;
            if e.name == b".gitattributes" && e.mode & 0o170000 == 0o100000 {
                let text = self.read(&e.id, Kind::Blob)?;
                let file = attributes::parse(&text, base).map_err(|p| {
                    Error::Usage(format!(
                        "attribute pattern too complex in {base}.gitattributes: {p}"
                    ))
                })?;
                self.attrs.files.push(file);
                pushed_attrs = true;
            }
        }
        for e in TreeIter::new(&data, tree.kind()) {
            let e = e?;
            let name = std::str::from_utf8(e.name)
                .map_err(|_| Error::Usage(format!("path in tree {tree} is not UTF-8")))?;
            let path = format!("{base}{name}");
            let is_dir = e.mode == MODE_DIR;
            if !self.interesting(&path, is_dir) {
                continue;
            }
            let slashed = if is_dir || e.mode == MODE_GITLINK {
                format!("{path}/")
            } else {
                path.clone()
            };
            if !is_dir {
                // C git writes the queued directories before it looks at the file's
                // attributes: a directory whose files are all export-ignored is still there.
                self.write_pending(sink)?;
            }
            let attrs = self.attrs.lookup(&slashed);
            if attrs.get("export-ignore") == Some(&Value::Set) {
                continue;
            }
            if is_dir {
                self.pending.push((slashed.clone(), e.id, e.mode));
                self.walk(e.id, &slashed, sink)?;
                if self.pending.last().is_some_and(|p| p.0 == slashed) {
                    self.pending.pop();
                }
                continue;
            }
            let content = match e.mode {
                MODE_GITLINK => Vec::new(),
                _ => self.read(&e.id, Kind::Blob)?,
            };
            if e.mode != MODE_GITLINK && e.mode != MODE_SYMLINK {
                self.check_conversions(&slashed, &attrs, &content)?;
            }
            let full = format!("{}{slashed}", self.prefix);
            self.report(full.as_bytes());
            sink.entry(full.as_bytes(), e.mode, &e.id, &content)?;
        }
        if pushed_attrs {
            self.attrs.files.pop();
        }
        Ok(())
    }

    /// Writes the queued directories, outermost first.
    fn write_pending(&mut self, sink: &mut dyn Sink) -> Result<(), Error> {
        for (path, id, mode) in std::mem::take(&mut self.pending) {
            let full = format!("{}{path}", self.prefix);
            self.report(full.as_bytes());
            sink.entry(full.as_bytes(), mode, &id, b"")?;
        }
        Ok(())
    }

    /// Refuses a file C git would convert on the way out (see [`attributes::conversion`]) or whose
    /// `export-subst` placeholders it would expand.
    fn check_conversions(
        &self,
        path: &str,
        attrs: &std::collections::HashMap<String, Value>,
        content: &[u8],
    ) -> Result<(), Error> {
        if let Some(what) = attributes::conversion(attrs, self.has_smudge) {
            return Err(Error::Usage(format!(
                "'{path}' has the attribute {what}; sluice upload-archive does not convert content"
            )));
        }
        let subst = attrs.get("export-subst") == Some(&Value::Set);
        if subst && content.windows(8).any(|w| w == b"$Format:") {
            return Err(Error::Usage(format!(
                "'{path}' has export-subst placeholders ($Format:...$), which sluice upload-archive does not expand"
            )));
        }
        Ok(())
    }
}
