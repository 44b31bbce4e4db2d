//! The records inside blocks: ref records (`r`), index records (`i`) and log records (`g`),
//! decoded from a [`Cursor`] and encoded for the writer. Keys are prefix-compressed against the
//! previous record's key in the same block: `varint(prefix_len)`,
//! `varint(suffix_len << 3 | type)`, `suffix`.

use super::decode::{put_varint, Cursor, Short};
use crate::hash::{HashKind, ObjectId};

/// A ref's value in one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefValue {
    /// Type 0: a tombstone shadowing the ref in older tables.
    Deletion,
    /// Type 1: one object id.
    Direct(ObjectId),
    /// Type 2: an annotated tag's id and the object it peels to.
    Peeled {
        /// The ref's value (the tag).
        id: ObjectId,
        /// The peeled target.
        peeled: ObjectId,
    },
    /// Type 3: a symbolic ref's target name.
    Symbolic(String),
}

impl RefValue {
    /// The record's 3-bit value type.
    pub fn type_code(&self) -> u8 {
        match self {
            RefValue::Deletion => 0,
            RefValue::Direct(_) => 1,
            RefValue::Peeled { .. } => 2,
            RefValue::Symbolic(_) => 3,
        }
    }
}

/// One decoded ref record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefRecord {
    /// The full ref name.
    pub name: String,
    /// The transaction that last wrote it (`min_update_index + delta`).
    pub update_index: u64,
    /// Its value.
    pub value: RefValue,
}

/// The data of a reflog entry (`log_type = 1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The value before the update (null for a creation).
    pub old: ObjectId,
    /// The value after it (null for a deletion).
    pub new: ObjectId,
    /// Committer name.
    pub name: String,
    /// Committer email, without `<>`.
    pub email: String,
    /// Seconds since the epoch.
    pub time: u64,
    /// Offset from UTC as C git stores it: the `±hhmm` digits read as a number (`-130` for
    /// `-0130`). Deviation: the format document says minutes; C git 2.47 writes and reads
    /// `hhmm`, and C git is what reads these tables.
    pub tz_hhmm: i16,
    /// The reflog message (`push`), possibly empty.
    pub message: String,
}

/// One decoded log record: `entry` is `None` for a log deletion (`log_type = 0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The ref the entry belongs to.
    pub name: String,
    /// The transaction's update index.
    pub update_index: u64,
    /// The entry, or `None` for a tombstone.
    pub entry: Option<LogEntry>,
}

/// Reads one record's key into `key` (which holds the previous key) and returns the 3-bit
/// type; the cursor is left at the value.
pub fn read_key(cur: &mut Cursor<'_>, key: &mut Vec<u8>) -> Result<u8, Short> {
    let prefix = cur.len("record prefix length")?;
    let packed = cur.varint("record suffix length")?;
    let suffix_len = usize::try_from(packed >> 3).map_err(|_| Short("record suffix length"))?;
    if prefix > key.len() {
        return Err(Short("record prefix length"));
    }
    let suffix = cur.take(suffix_len, "record suffix")?;
    key.truncate(prefix);
    key.extend_from_slice(suffix);
    Ok((packed & 7) as u8)
}

fn read_id(cur: &mut Cursor<'_>, kind: HashKind, field: &'static str) -> Result<ObjectId, Short> {
    ObjectId::from_bytes(cur.take(kind.len_in_bytes(), field)?).map_err(|_| Short(field))
}

fn read_string(cur: &mut Cursor<'_>, field: &'static str) -> Result<String, Short> {
    let n = cur.len(field)?;
    String::from_utf8(cur.take(n, field)?.to_vec()).map_err(|_| Short(field))
}

/// Reads a ref record's value of type `typ` (after [`read_key`]), with `min_update_index` from
/// the header.
pub fn read_ref_value(
    cur: &mut Cursor<'_>,
    typ: u8,
    kind: HashKind,
    min_update_index: u64,
) -> Result<(u64, RefValue), Short> {
    let delta = cur.varint("ref update_index delta")?;
    let update_index = min_update_index
        .checked_add(delta)
        .ok_or(Short("ref update_index delta"))?;
    let value = match typ {
        0 => RefValue::Deletion,
        1 => RefValue::Direct(read_id(cur, kind, "ref value")?),
        2 => RefValue::Peeled {
            id: read_id(cur, kind, "ref value")?,
            peeled: read_id(cur, kind, "ref peeled value")?,
        },
        3 => RefValue::Symbolic(read_string(cur, "symref target")?),
        _ => return Err(Short("ref value type (reserved 4..7)")),
    };
    Ok((update_index, value))
}

/// Reads an index record's block position (after [`read_key`], whose type must be 0).
pub fn read_index_position(cur: &mut Cursor<'_>) -> Result<u64, Short> {
    cur.varint("index block position")
}

/// Reads a log record's data of type `typ` (after [`read_key`]).
pub fn read_log_entry(
    cur: &mut Cursor<'_>,
    typ: u8,
    kind: HashKind,
) -> Result<Option<LogEntry>, Short> {
    match typ {
        0 => Ok(None),
        1 => {
            let old = read_id(cur, kind, "log old id")?;
            let new = read_id(cur, kind, "log new id")?;
            let name = read_string(cur, "log name")?;
            let email = read_string(cur, "log email")?;
            let time = cur.varint("log time")?;
            let tz = cur.uint(2, "log tz offset")? as u16 as i16;
            let message = read_string(cur, "log message")?;
            Ok(Some(LogEntry {
                old,
                new,
                name,
                email,
                time,
                tz_hhmm: tz,
                message,
            }))
        }
        _ => Err(Short("log type (reserved)")),
    }
}

/// Splits a log key `name \0 reverse_int64(update_index)` into its parts.
pub fn split_log_key(key: &[u8]) -> Option<(&[u8], u64)> {
    let (name, rev) = key.split_at_checked(key.len().checked_sub(9)?)?;
    let rev = rev.strip_prefix(b"\0")?;
    let rev: [u8; 8] = rev.try_into().ok()?;
    Some((name, u64::MAX - u64::from_be_bytes(rev)))
}

/// The log key of `name` at `update_index`.
pub fn log_key(name: &str, update_index: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 9);
    key.extend_from_slice(name.as_bytes());
    key.push(0);
    key.extend_from_slice(&(u64::MAX - update_index).to_be_bytes());
    key
}

/// Appends a record key: `key` compressed against `prev` (not at all when `restart`).
pub fn put_key(out: &mut Vec<u8>, prev: &[u8], key: &[u8], typ: u8, restart: bool) {
    let prefix = if restart {
        0
    } else {
        prev.iter().zip(key).take_while(|(a, b)| a == b).count()
    };
    let suffix = &key[prefix..];
    put_varint(out, prefix as u64);
    put_varint(out, ((suffix.len() as u64) << 3) | u64::from(typ));
    out.extend_from_slice(suffix);
}

/// Appends a ref record's value part (`update_index - min_update_index` first).
pub fn put_ref_value(out: &mut Vec<u8>, delta: u64, value: &RefValue) {
    put_varint(out, delta);
    match value {
        RefValue::Deletion => {}
        RefValue::Direct(id) => out.extend_from_slice(id.as_bytes()),
        RefValue::Peeled { id, peeled } => {
            out.extend_from_slice(id.as_bytes());
            out.extend_from_slice(peeled.as_bytes());
        }
        RefValue::Symbolic(target) => {
            put_varint(out, target.len() as u64);
            out.extend_from_slice(target.as_bytes());
        }
    }
}

/// Appends a log record's data part (nothing for a tombstone).
pub fn put_log_entry(out: &mut Vec<u8>, entry: Option<&LogEntry>) {
    let Some(e) = entry else { return };
    out.extend_from_slice(e.old.as_bytes());
    out.extend_from_slice(e.new.as_bytes());
    for s in [&e.name, &e.email] {
        put_varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    put_varint(out, e.time);
    out.extend_from_slice(&e.tz_hhmm.to_be_bytes());
    put_varint(out, e.message.len() as u64);
    out.extend_from_slice(e.message.as_bytes());
}
