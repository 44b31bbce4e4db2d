//! One reftable file: its header and footer (checked against each other and the footer's
//! CRC-32), the walk over its ref blocks (sequential, or from the ref index when seeking), and
//! the walk over its log blocks. Obj blocks are never read: lookups by object id are not needed
//! by a server.

use std::path::Path;

use super::block::{Block, Records};
use super::decode::{Cursor, Short};
use super::record::{read_index_position, read_log_entry, read_ref_value, split_log_key};
use super::record::{LogRecord, RefRecord};
use super::{kind_for_hash_id, Error};
use crate::hash::HashKind;

/// The largest table file read; a larger one is refused rather than read into memory
/// (C git's tables for 866k refs are 36 MiB).
pub const MAX_TABLE_BYTES: u64 = 1 << 31;

/// How many index levels a lookup follows before calling the index cyclic.
const MAX_INDEX_DEPTH: usize = 16;

/// An opened table.
#[derive(Debug)]
pub struct Table {
    /// The file name in `reftable/` (for messages).
    pub name: String,
    data: Vec<u8>,
    /// Format version (1 or 2).
    pub version: u8,
    /// Alignment of ref/index blocks; 0 for unaligned.
    pub block_size: usize,
    /// Lowest update index of the records.
    pub min_update_index: u64,
    /// Highest update index of the records.
    pub max_update_index: u64,
    /// The object id kind.
    pub kind: HashKind,
    header_len: usize,
    footer_start: usize,
    ref_index: usize,
    /// Where ref blocks end (the first of the sections after them), 0 without refs.
    ref_end: usize,
    /// Where the log blocks start and end, when there are any.
    logs: Option<(usize, usize)>,
}

impl Table {
    /// Reads and checks the table at `path`.
    pub fn open(path: &Path) -> Result<Table, Error> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let len = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        if len > MAX_TABLE_BYTES {
            return Err(Error::corrupt(
                &name,
                "file size",
                format!("{len} bytes is over the limit"),
            ));
        }
        let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Table::parse(name, data)
    }

    /// Checks `data`, the bytes of the table `name`.
    pub fn parse(name: String, data: Vec<u8>) -> Result<Table, Error> {
        let short = |s: Short| Error::corrupt(&name, s.0, "truncated or out of range");
        let mut cur = Cursor::new(&data, 0);
        if cur.take(4, "header magic").map_err(short)? != b"REFT" {
            return Err(Error::corrupt(&name, "header magic", "not 'REFT'"));
        }
        let version = cur.uint(1, "header version").map_err(short)? as u8;
        let block_size = cur.uint(3, "header block size").map_err(short)? as usize;
        let min_update_index = cur.uint(8, "header min_update_index").map_err(short)?;
        let max_update_index = cur.uint(8, "header max_update_index").map_err(short)?;
        let (kind, header_len, footer_len) = match version {
            1 => (HashKind::Sha1, 24, 68),
            2 => {
                let raw = cur.take(4, "header hash id").map_err(short)?;
                let id: [u8; 4] = raw.try_into().map_err(|_| short(Short("header hash id")))?;
                let kind = kind_for_hash_id(id).ok_or_else(|| Error::Unsupported {
                    table: name.clone(),
                    what: format!("hash id {:?}", String::from_utf8_lossy(&id)),
                })?;
                (kind, 28, 72)
            }
            v => {
                return Err(Error::Unsupported {
                    table: name,
                    what: format!("version {v}"),
                })
            }
        };
        let footer_start = data
            .len()
            .checked_sub(footer_len)
            .filter(|&s| s >= header_len)
            .ok_or_else(|| short(Short("footer")))?;
        let footer = &data[footer_start..];
        if footer[..header_len] != data[..header_len] {
            return Err(Error::corrupt(
                &name,
                "footer",
                "does not repeat the header",
            ));
        }
        let crc = crc32fast::hash(&footer[..footer_len - 4]);
        let mut cur = Cursor::new(footer, header_len);
        let mut pos = |field, shift: u32| -> Result<usize, Error> {
            let v = cur.uint(8, field).map_err(short)? >> shift;
            usize::try_from(v)
                .ok()
                .filter(|&p| p <= footer_start)
                .ok_or_else(|| Error::corrupt(&name, field, format!("{v} is past the footer")))
        };
        let ref_index = pos("footer ref_index_position", 0)?;
        let obj = pos("footer obj_position", 5)?;
        let obj_index = pos("footer obj_index_position", 0)?;
        let log_pos = pos("footer log_position", 0)?;
        let log_index = pos("footer log_index_position", 0)?;
        let stored = cur.uint(4, "footer crc").map_err(short)?;
        if u64::from(crc) != stored {
            return Err(Error::corrupt(
                &name,
                "footer crc",
                format!("{stored:08x} != {crc:08x}"),
            ));
        }
        let first_type = data
            .get(header_len)
            .copied()
            .filter(|_| header_len < footer_start);
        let ref_end = if first_type == Some(b'r') {
            [ref_index, obj, obj_index, log_pos]
                .into_iter()
                .filter(|&p| p != 0)
                .fold(footer_start, usize::min)
        } else {
            0
        };
        let log_start = match (log_pos, first_type) {
            (0, Some(b'g')) => Some(header_len),
            (0, _) => None,
            (p, _) => Some(p),
        };
        let log_end = if log_index != 0 {
            log_index
        } else {
            footer_start
        };
        let _ = obj_index;
        Ok(Table {
            name,
            data,
            version,
            block_size,
            min_update_index,
            max_update_index,
            kind,
            header_len,
            footer_start,
            ref_index,
            ref_end,
            logs: log_start.filter(|&s| s < log_end).map(|s| (s, log_end)),
        })
    }

    fn short(&self, s: Short) -> Error {
        Error::corrupt(&self.name, s.0, "truncated or out of range")
    }

    /// The ref block at `pos` (0 for the first), or `None` past the ref section.
    fn ref_block(&self, pos: usize) -> Result<Option<Block<'_>>, Error> {
        if pos >= self.ref_end {
            return Ok(None);
        }
        let first = pos == 0 || pos == self.header_len;
        let (start, header_off) = if first {
            (0, self.header_len)
        } else {
            (pos, 0)
        };
        if self.data.get(start + header_off) != Some(&b'r') {
            return Ok(None);
        }
        Block::plain(&self.data, start, header_off, self.ref_end)
            .map(Some)
            .map_err(|s| self.short(s))
    }

    /// Where the block after the one at `start` (of `block`) begins.
    fn next_block(&self, start: usize, block: &Block<'_>) -> usize {
        let start = if start == self.header_len { 0 } else { start };
        start + block.file_len.max(self.block_size)
    }

    /// The position of the ref block holding the first key at or after `key`, through the
    /// ref index when there is one; `None` when every key is before `key`.
    fn seek_block(&self, key: &[u8]) -> Result<Option<usize>, Error> {
        if self.ref_end == 0 {
            return Ok(None);
        }
        let mut pos = self.ref_index;
        if pos == 0 {
            return Ok(Some(0));
        }
        for _ in 0..MAX_INDEX_DEPTH {
            if pos == 0 || pos == self.header_len {
                return Ok(Some(0));
            }
            let block =
                Block::plain(&self.data, pos, 0, self.footer_start).map_err(|s| self.short(s))?;
            match block.typ {
                b'r' => return Ok(Some(pos)),
                b'i' => {}
                t => {
                    return Err(Error::corrupt(
                        &self.name,
                        "index block position",
                        format!("points at a block of type {t:#x}"),
                    ))
                }
            }
            let mut records = block.records();
            let mut next = None;
            while let Some((_, mut cur)) = records.next_key(&block).map_err(|s| self.short(s))? {
                let child = read_index_position(&mut cur).map_err(|s| self.short(s))?;
                records.advance(&cur);
                if records.key.as_slice() >= key {
                    next = Some(child);
                    break;
                }
            }
            let Some(child) = next else { return Ok(None) };
            pos = usize::try_from(child)
                .ok()
                .filter(|&p| p < self.footer_start)
                .ok_or_else(|| {
                    Error::corrupt(&self.name, "index block position", child.to_string())
                })?;
        }
        Err(Error::corrupt(&self.name, "ref index", "too many levels"))
    }

    /// The ref records whose names start with `prefix`, in name order (deletions included).
    pub fn refs(&self, prefix: &str) -> Result<RefIter<'_>, Error> {
        let mut it = RefIter {
            table: self,
            block: None,
            prefix: prefix.as_bytes().to_vec(),
        };
        if let Some(pos) = self.seek_block(prefix.as_bytes())? {
            if let Some(block) = self.ref_block(pos)? {
                let records = block.records();
                it.block = Some((pos, block, records));
            }
        }
        Ok(it)
    }

    /// Every log record, in key order (by ref name, newest first).
    pub fn logs(&self) -> LogIter<'_> {
        LogIter {
            table: self,
            pos: self.logs.map(|(s, _)| s),
            block: None,
        }
    }
}

/// The ref records of one table from a prefix on; see [`Table::refs`].
#[derive(Debug)]
pub struct RefIter<'t> {
    table: &'t Table,
    block: Option<(usize, Block<'t>, Records)>,
    prefix: Vec<u8>,
}

impl RefIter<'_> {
    fn step(&mut self) -> Result<Option<RefRecord>, Error> {
        let t = self.table;
        loop {
            let Some((start, block, records)) = &mut self.block else {
                return Ok(None);
            };
            let Some((typ, mut cur)) = records.next_key(block).map_err(|s| t.short(s))? else {
                let next = t.next_block(*start, block);
                self.block = t.ref_block(next)?.map(|b| {
                    let r = b.records();
                    (next, b, r)
                });
                continue;
            };
            let (update_index, value) = read_ref_value(&mut cur, typ, t.kind, t.min_update_index)
                .map_err(|s| t.short(s))?;
            records.advance(&cur);
            let key = records.key.as_slice();
            if key < self.prefix.as_slice() {
                continue;
            }
            if !key.starts_with(&self.prefix) {
                self.block = None;
                return Ok(None);
            }
            let name = std::str::from_utf8(key)
                .map_err(|_| Error::corrupt(&t.name, "ref name", "not UTF-8"))?;
            return Ok(Some(RefRecord {
                name: name.to_string(),
                update_index,
                value,
            }));
        }
    }
}

impl Iterator for RefIter<'_> {
    type Item = Result<RefRecord, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = self.step();
        if r.is_err() {
            self.block = None;
        }
        r.transpose()
    }
}

/// The log records of one table; see [`Table::logs`].
#[derive(Debug)]
pub struct LogIter<'t> {
    table: &'t Table,
    pos: Option<usize>,
    block: Option<(Block<'t>, Records)>,
}

impl LogIter<'_> {
    fn step(&mut self) -> Result<Option<LogRecord>, Error> {
        let t = self.table;
        loop {
            if self.block.is_none() {
                let Some(((_, end), pos)) = t.logs.zip(self.pos) else {
                    return Ok(None);
                };
                if pos >= end || t.data.get(pos) != Some(&b'g') {
                    self.pos = None;
                    return Ok(None);
                }
                let block = Block::log(&t.data, pos, end).map_err(|s| t.short(s))?;
                self.pos = Some(pos + block.file_len);
                let records = block.records();
                self.block = Some((block, records));
            }
            let Some((block, records)) = &mut self.block else {
                continue;
            };
            let Some((typ, mut cur)) = records.next_key(block).map_err(|s| t.short(s))? else {
                self.block = None;
                continue;
            };
            let entry = read_log_entry(&mut cur, typ, t.kind).map_err(|s| t.short(s))?;
            records.advance(&cur);
            let (name, update_index) = split_log_key(&records.key)
                .ok_or_else(|| Error::corrupt(&t.name, "log key", "no update index"))?;
            let name = std::str::from_utf8(name)
                .map_err(|_| Error::corrupt(&t.name, "log key", "not UTF-8"))?;
            return Ok(Some(LogRecord {
                name: name.to_string(),
                update_index,
                entry,
            }));
        }
    }
}

impl Iterator for LogIter<'_> {
    type Item = Result<LogRecord, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = self.step();
        if r.is_err() {
            self.pos = None;
            self.block = None;
        }
        r.transpose()
    }
}
