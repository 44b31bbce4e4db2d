//! One block of a table: `type`, `uint24(block_len)`, records, the restart table
//! (`uint24(restart_offset)+`, `uint16(restart_count)`), then optional padding. The first block
//! shares its bytes with the file header, so its offsets count from the start of the file.
//! Log blocks are zlib-deflated after their 4-byte header and are inflated here into an owned
//! buffer no larger than their declared `block_len` (at most 16 MiB).

use std::borrow::Cow;

use super::decode::{Cursor, Short};
use super::record::read_key;

/// A block's bytes with its records' bounds.
#[derive(Debug)]
pub struct Block<'t> {
    /// The block from its start (the file start for the first block) to `block_len`.
    data: Cow<'t, [u8]>,
    /// Where the records begin (after the block header).
    records_start: usize,
    /// Where the restart table begins (the records end).
    records_end: usize,
    /// The block type (`r`, `i`, `o`, `g`).
    pub typ: u8,
    /// How many bytes of the file this block takes (inflated blocks: the compressed length).
    pub file_len: usize,
}

impl<'t> Block<'t> {
    /// Reads the uncompressed block starting at `start` in `file` whose 4-byte header is at
    /// `start + header_off`; `limit` is where the block must end at the latest.
    pub fn plain(
        file: &'t [u8],
        start: usize,
        header_off: usize,
        limit: usize,
    ) -> Result<Block<'t>, Short> {
        let mut cur = Cursor::new(file, start + header_off);
        let typ = cur.uint(1, "block type")? as u8;
        let len = cur.uint(3, "block length")? as usize;
        let end = start.checked_add(len).ok_or(Short("block length"))?;
        if end > limit.min(file.len()) || len < header_off + 4 {
            return Err(Short("block length"));
        }
        Self::finish(Cow::Borrowed(&file[start..end]), header_off, typ, len)
    }

    /// Reads the log block at `start` in `file`: its header, then the deflated records,
    /// inflated into exactly `block_len - 4` bytes.
    pub fn log(file: &'t [u8], start: usize, limit: usize) -> Result<Block<'t>, Short> {
        let mut cur = Cursor::new(file, start);
        let typ = cur.uint(1, "log block type")? as u8;
        let len = cur.uint(3, "log block length")? as usize;
        if len < 4 + 2 {
            return Err(Short("log block length"));
        }
        let input = file
            .get(start + 4..limit.min(file.len()))
            .ok_or(Short("log block data"))?;
        let mut out = Vec::new();
        out.try_reserve_exact(len)
            .map_err(|_| Short("log block length"))?;
        out.extend_from_slice(&file[start..start + 4]);
        let mut z = flate2::Decompress::new(true);
        out.resize(len, 0);
        let status = z
            .decompress(input, &mut out[4..], flate2::FlushDecompress::Finish)
            .map_err(|_| Short("log block deflate stream"))?;
        if status != flate2::Status::StreamEnd || z.total_out() as usize != len - 4 {
            return Err(Short("log block inflated length"));
        }
        let mut block = Self::finish(Cow::Owned(out), 0, typ, len)?;
        block.file_len = 4 + z.total_in() as usize;
        Ok(block)
    }

    fn finish(data: Cow<'t, [u8]>, header_off: usize, typ: u8, len: usize) -> Result<Self, Short> {
        let count = Cursor::new(&data, len - 2).uint(2, "restart count")? as usize;
        let table = count
            .checked_mul(3)
            .and_then(|n| n.checked_add(2))
            .ok_or(Short("restart count"))?;
        let records_end = len
            .checked_sub(table)
            .filter(|&e| e >= header_off + 4 && count > 0)
            .ok_or(Short("restart count"))?;
        Ok(Block {
            data,
            records_start: header_off + 4,
            records_end,
            typ,
            file_len: len,
        })
    }

    /// Iterates the records from the first.
    pub fn records(&self) -> Records {
        Records {
            pos: self.records_start,
            end: self.records_end,
            key: Vec::new(),
        }
    }
}

/// A walk over a block's records, keeping the current (decompressed) key; it holds
/// positions only, so it can live next to its block.
#[derive(Debug)]
pub struct Records {
    pos: usize,
    end: usize,
    /// The key of the record last read by [`Records::next_key`].
    pub key: Vec<u8>,
}

impl Records {
    /// Reads the next record's key from `block`: its type and a cursor at its value, or `None`
    /// at the end. The caller reads the value and hands the cursor back with
    /// [`Records::advance`].
    pub fn next_key<'b>(
        &mut self,
        block: &'b Block<'_>,
    ) -> Result<Option<(u8, Cursor<'b>)>, Short> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let data = block.data.get(..self.end).ok_or(Short("block records"))?;
        let mut cur = Cursor::new(data, self.pos);
        let typ = read_key(&mut cur, &mut self.key)?;
        Ok(Some((typ, cur)))
    }

    /// Moves past the value `cur` has read.
    pub fn advance(&mut self, cur: &Cursor<'_>) {
        self.pos = cur.pos();
    }
}
