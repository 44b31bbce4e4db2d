//! Git's delta format: a header with base and result sizes, then copy-from-base and insert
//! instructions. Application is fully bounds-checked: a delta that reads outside its base, writes
//! past its declared result size, or declares a result larger than the caller's limit is an error,
//! never a panic or an unbounded allocation.

/// Why a delta could not be applied.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The delta ended inside a header or instruction.
    #[error("delta is truncated in {field}")]
    Truncated {
        /// What was being read.
        field: &'static str,
    },
    /// The base the delta was made against has a different size.
    #[error("delta expects a base of {expected} bytes, base has {actual}")]
    BaseSize {
        /// Size the delta declares.
        expected: u64,
        /// Size of the base given.
        actual: u64,
    },
    /// The declared result size exceeds the limit the caller set.
    #[error("delta result of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A copy instruction reads outside the base.
    #[error(
        "delta copy of {len} bytes at offset {offset} lies outside the base ({base_len} bytes)"
    )]
    CopyOutOfBounds {
        /// Copy offset.
        offset: u64,
        /// Copy length.
        len: u64,
        /// Base size.
        base_len: u64,
    },
    /// Instructions produce more or less than the declared result size.
    #[error("delta produces {actual} bytes but declares {expected}")]
    ResultSize {
        /// Declared size.
        expected: u64,
        /// Bytes the instructions produce (so far, when too many).
        actual: u64,
    },
    /// Opcode 0 is reserved.
    #[error("delta contains the reserved opcode 0")]
    ReservedOpcode,
    /// A size varint does not fit in 64 bits.
    #[error("delta size header overflows")]
    Overflow,
}

/// Reads a little-endian base-128 varint from `buf` at `*pos`.
fn read_size(buf: &[u8], pos: &mut usize, field: &'static str) -> Result<u64, Error> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *buf.get(*pos).ok_or(Error::Truncated { field })?;
        *pos += 1;
        let part = u64::from(byte & 0x7f);
        if shift >= 64 || (part << shift) >> shift != part {
            return Err(Error::Overflow);
        }
        value |= part << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// The (base size, result size) a delta declares, and the offset where its instructions begin.
pub fn header(delta: &[u8]) -> Result<(u64, u64, usize), Error> {
    let mut pos = 0;
    let base = read_size(delta, &mut pos, "base size")?;
    let result = read_size(delta, &mut pos, "result size")?;
    Ok((base, result, pos))
}

/// Applies `delta` to `base`, refusing results larger than `max_result` bytes.
pub fn apply(base: &[u8], delta: &[u8], max_result: u64) -> Result<Vec<u8>, Error> {
    let (base_size, result_size, mut pos) = header(delta)?;
    if base_size != base.len() as u64 {
        return Err(Error::BaseSize {
            expected: base_size,
            actual: base.len() as u64,
        });
    }
    if result_size > max_result {
        return Err(Error::TooLarge {
            size: result_size,
            limit: max_result,
        });
    }
    let result_len = usize::try_from(result_size).map_err(|_| Error::Overflow)?;
    // The declared size is not trusted for the allocation: the buffer grows as instructions
    // actually produce bytes (a delta declaring 4 GiB and containing nothing costs nothing).
    let mut out = Vec::with_capacity(result_len.min(16 << 20));
    while let Some(&op) = delta.get(pos) {
        pos += 1;
        if op & 0x80 != 0 {
            let mut offset = 0u64;
            let mut len = 0u64;
            for i in 0..4 {
                if op & (1 << i) != 0 {
                    let b = *delta.get(pos).ok_or(Error::Truncated {
                        field: "copy offset",
                    })?;
                    pos += 1;
                    offset |= u64::from(b) << (8 * i);
                }
            }
            for i in 0..3 {
                if op & (0x10 << i) != 0 {
                    let b = *delta.get(pos).ok_or(Error::Truncated {
                        field: "copy length",
                    })?;
                    pos += 1;
                    len |= u64::from(b) << (8 * i);
                }
            }
            if len == 0 {
                len = 0x10000;
            }
            let oob = Error::CopyOutOfBounds {
                offset,
                len,
                base_len: base.len() as u64,
            };
            let start = usize::try_from(offset).map_err(|_| oob.clone())?;
            let end = start.checked_add(len as usize).ok_or(oob.clone())?;
            let chunk = base.get(start..end).ok_or(oob)?;
            if out.len() + chunk.len() > result_len {
                return Err(Error::ResultSize {
                    expected: result_size,
                    actual: (out.len() + chunk.len()) as u64,
                });
            }
            out.extend_from_slice(chunk);
        } else if op != 0 {
            let n = usize::from(op);
            let chunk = delta.get(pos..pos + n).ok_or(Error::Truncated {
                field: "insert data",
            })?;
            pos += n;
            if out.len() + n > result_len {
                return Err(Error::ResultSize {
                    expected: result_size,
                    actual: (out.len() + n) as u64,
                });
            }
            out.extend_from_slice(chunk);
        } else {
            return Err(Error::ReservedOpcode);
        }
    }
    if out.len() != result_len {
        return Err(Error::ResultSize {
            expected: result_size,
            actual: out.len() as u64,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::pack::delta_create::write_varint as size;

    #[test]
    fn copy_and_insert() {
        let base = b"hello world";
        let mut d = Vec::new();
        size(11, &mut d);
        size(8, &mut d);
        d.extend_from_slice(&[0x80 | 0x01 | 0x10, 6, 5]); // copy "world"
        d.extend_from_slice(&[3, b'!', b'!', b'!']);
        assert_eq!(apply(base, &d, 1 << 20).unwrap(), b"world!!!");
    }

    #[test]
    fn rejects_bad_deltas() {
        let base = b"abc";
        let mk = |res: u64, body: &[u8]| {
            let mut d = Vec::new();
            size(3, &mut d);
            size(res, &mut d);
            d.extend_from_slice(body);
            d
        };
        assert!(matches!(
            apply(base, &mk(5, &[0x91, 1, 5]), 100),
            Err(Error::CopyOutOfBounds { .. })
        ));
        assert!(matches!(
            apply(base, &mk(1, &[2, b'x', b'y']), 100),
            Err(Error::ResultSize { .. })
        ));
        assert!(matches!(
            apply(base, &mk(3, &[0]), 100),
            Err(Error::ReservedOpcode)
        ));
        assert!(matches!(
            apply(base, &mk(3, &[5, b'x']), 100),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(
            apply(base, &mk(1000, &[]), 100),
            Err(Error::TooLarge { .. })
        ));
        assert!(matches!(
            apply(b"ab", &mk(1, &[]), 100),
            Err(Error::BaseSize { .. })
        ));
        assert!(apply(base, &[0xff; 20], 100).is_err());
    }
}
