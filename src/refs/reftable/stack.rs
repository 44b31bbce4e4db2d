//! The stack of tables named by `reftable/tables.list` (oldest first), read as one ref store:
//! the newest table holding a name decides its value, and a deletion record there hides the
//! name. Opening follows the format's reader protocol: read the list, open every table, and
//! start over if a table vanished meanwhile (a concurrent compaction).

use std::path::{Path, PathBuf};

use super::record::{LogRecord, RefRecord, RefValue};
use super::table::{RefIter, Table};
use super::Error;

/// How often opening retries when a listed table vanished under it.
const OPEN_RETRIES: usize = 32;

/// The longest `tables.list` read (a stack of 100,000 tables).
const MAX_LIST_BYTES: u64 = 8 << 20;

/// An open, consistent snapshot of a repository's reftable stack.
#[derive(Debug)]
pub struct Stack {
    dir: PathBuf,
    /// The tables, oldest first.
    tables: Vec<Table>,
}

/// The lines of `tables.list` in `dir`; an absent list is an empty stack.
pub fn read_list(dir: &Path) -> Result<Vec<String>, Error> {
    let path = dir.join("tables.list");
    let text = match std::fs::File::open(&path) {
        Ok(f) => {
            let mut text = Vec::new();
            std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_LIST_BYTES + 1), &mut text)
                .map_err(|e| Error::io(&path, e))?;
            if text.len() as u64 > MAX_LIST_BYTES {
                return Err(Error::corrupt("tables.list", "size", "over the limit"));
            }
            text
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let text =
        String::from_utf8(text).map_err(|_| Error::corrupt("tables.list", "text", "not UTF-8"))?;
    let mut names = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if line.contains('/') || line.starts_with('.') {
            return Err(Error::corrupt(
                "tables.list",
                "table name",
                line.to_string(),
            ));
        }
        names.push(line.to_string());
    }
    Ok(names)
}

impl Stack {
    /// Opens the stack in `dir` (the repository's `reftable/` directory).
    pub fn open(dir: &Path) -> Result<Stack, Error> {
        let mut last = None;
        for _ in 0..OPEN_RETRIES {
            let names = read_list(dir)?;
            match names.iter().map(|n| Table::open(&dir.join(n))).collect() {
                Ok(tables) => {
                    return Ok(Stack {
                        dir: dir.to_path_buf(),
                        tables,
                    })
                }
                Err(Error::Io { path, source })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    last = Some(Error::Io { path, source });
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::corrupt("tables.list", "tables", "keep vanishing")))
    }

    /// The directory the stack lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The tables, oldest first.
    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    /// The update index the next transaction uses (the newest table's maximum plus one).
    pub fn next_update_index(&self) -> u64 {
        self.tables
            .iter()
            .map(|t| t.max_update_index)
            .max()
            .map_or(1, |m| m.saturating_add(1))
    }

    /// The live refs whose names start with `prefix`, in name order, streamed from every
    /// table at once (no list of refs is built).
    pub fn refs(&self, prefix: &str) -> Result<MergedRefs<'_>, Error> {
        let mut heads = Vec::with_capacity(self.tables.len());
        for t in &self.tables {
            let mut it = t.refs(prefix)?;
            let head = it.next().transpose()?;
            heads.push((it, head));
        }
        Ok(MergedRefs { heads })
    }

    /// The value of `name`, or `None` when no table has it or the newest says deleted.
    pub fn lookup(&self, name: &str) -> Result<Option<RefValue>, Error> {
        for t in self.tables.iter().rev() {
            if let Some(rec) = t.refs(name)?.next().transpose()? {
                if rec.name == name {
                    return Ok(match rec.value {
                        RefValue::Deletion => None,
                        v => Some(v),
                    });
                }
            }
        }
        Ok(None)
    }

    /// The live log entries of `name`, newest first (later tables' records win for one update
    /// index, and a log deletion hides the entry).
    pub fn logs(&self, name: &str) -> Result<Vec<LogRecord>, Error> {
        let mut by_index = std::collections::BTreeMap::new();
        for t in &self.tables {
            for rec in t.logs() {
                let rec = rec?;
                if rec.name == name {
                    by_index.insert(rec.update_index, rec);
                }
            }
        }
        Ok(by_index
            .into_values()
            .rev()
            .filter(|r| r.entry.is_some())
            .collect())
    }
}

/// The refs of a [`Stack`] merged across tables; see [`Stack::refs`].
#[derive(Debug)]
pub struct MergedRefs<'s> {
    /// Per table, oldest first: its iterator and the record it is at.
    heads: Vec<(RefIter<'s>, Option<RefRecord>)>,
}

impl MergedRefs<'_> {
    fn step(&mut self) -> Result<Option<RefRecord>, Error> {
        loop {
            // The smallest name; among equal names the newest table (the last) wins.
            let mut best: Option<usize> = None;
            for (i, (_, head)) in self.heads.iter().enumerate() {
                let Some(rec) = head else { continue };
                let better = match best.and_then(|b| self.heads[b].1.as_ref()) {
                    Some(cur) => rec.name <= cur.name,
                    None => true,
                };
                if better {
                    best = Some(i);
                }
            }
            let Some(best) = best else { return Ok(None) };
            let name = match &self.heads[best].1 {
                Some(r) => r.name.clone(),
                None => return Ok(None),
            };
            let mut winner = None;
            for (i, (it, head)) in self.heads.iter_mut().enumerate() {
                if head.as_ref().is_some_and(|r| r.name == name) {
                    let next = it.next().transpose()?;
                    let rec = std::mem::replace(head, next);
                    if i == best {
                        winner = rec;
                    }
                }
            }
            match winner {
                Some(rec) if rec.value != RefValue::Deletion => return Ok(Some(rec)),
                _ => continue,
            }
        }
    }
}

impl Iterator for MergedRefs<'_> {
    type Item = Result<RefRecord, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = self.step();
        if r.is_err() {
            self.heads.clear();
        }
        r.transpose()
    }
}
