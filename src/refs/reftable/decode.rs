//! Checked reads from a table's bytes: big-endian fixed-width integers and the format's
//! varints, each failing with the name of the field instead of indexing past the end.

/// Why a read ran out of bytes or overflowed: the field that broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Short(pub &'static str);

/// A read position over a borrowed byte slice.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Starts reading `buf` at `pos`.
    pub fn new(buf: &'a [u8], pos: usize) -> Self {
        Cursor { buf, pos }
    }

    /// The current offset into the slice.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The next `n` bytes (for `field`).
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], Short> {
        let end = self.pos.checked_add(n).ok_or(Short(field))?;
        let out = self.buf.get(self.pos..end).ok_or(Short(field))?;
        self.pos = end;
        Ok(out)
    }

    /// A big-endian unsigned integer of `n` (≤ 8) bytes.
    pub fn uint(&mut self, n: usize, field: &'static str) -> Result<u64, Short> {
        Ok(self
            .take(n, field)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// A varint as the format defines it (the pack ofs-delta encoding).
    pub fn varint(&mut self, field: &'static str) -> Result<u64, Short> {
        let mut byte = self.take(1, field)?[0];
        let mut val = u64::from(byte & 0x7f);
        while byte & 0x80 != 0 {
            byte = self.take(1, field)?[0];
            val = val
                .checked_add(1)
                .filter(|v| v.leading_zeros() >= 7)
                .ok_or(Short(field))?;
            val = (val << 7) | u64::from(byte & 0x7f);
        }
        Ok(val)
    }

    /// A varint that must fit a `usize` length.
    pub fn len(&mut self, field: &'static str) -> Result<usize, Short> {
        usize::try_from(self.varint(field)?).map_err(|_| Short(field))
    }
}

/// Appends `val` as a format varint to `out`.
pub fn put_varint(out: &mut Vec<u8>, mut val: u64) {
    let mut tmp = [0u8; 10];
    let mut i = tmp.len() - 1;
    tmp[i] = (val & 0x7f) as u8;
    while val >= 0x80 {
        val = (val >> 7) - 1;
        i -= 1;
        tmp[i] = 0x80 | (val & 0x7f) as u8;
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Appends the low `n` bytes of `val`, big-endian.
pub fn put_uint(out: &mut Vec<u8>, val: u64, n: usize) {
    out.extend_from_slice(&val.to_be_bytes()[8 - n..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_overflow_is_refused() {
        for v in [0, 1, 127, 128, 255, 16383, 16384, 1 << 40, u64::MAX >> 8] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut c = Cursor::new(&out, 0);
            assert_eq!(c.varint("v"), Ok(v), "{v}");
            assert_eq!(c.pos(), out.len());
        }
        assert_eq!(Cursor::new(&[0x80], 0).varint("v"), Err(Short("v")));
        assert_eq!(Cursor::new(&[0xff; 12], 0).varint("v"), Err(Short("v")));
        assert_eq!(Cursor::new(&[0, 1, 2], 0).uint(3, "u"), Ok(0x102));
        assert_eq!(Cursor::new(&[0, 1], 0).uint(3, "u"), Err(Short("u")));
    }
}
