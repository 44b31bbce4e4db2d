//! The pure pkt-line decoder: bytes in, one line or "need more" out. Never panics, never reads
//! past the line it returns.

use super::{Error, PacketLineRef, MAX_LINE_LEN};

/// The outcome of decoding from the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream<'a> {
    /// A whole line is available; it used `consumed` bytes.
    Complete {
        /// The line.
        line: PacketLineRef<'a>,
        /// Bytes it occupies (header included).
        consumed: usize,
    },
    /// At least `needed` more bytes are required.
    Incomplete {
        /// How many more bytes, at least.
        needed: usize,
    },
}

fn hex_digit(c: u8) -> Option<usize> {
    match c {
        b'0'..=b'9' => Some(usize::from(c - b'0')),
        b'a'..=b'f' => Some(usize::from(c - b'a' + 10)),
        b'A'..=b'F' => Some(usize::from(c - b'A' + 10)),
        _ => None,
    }
}

/// Parses the length header `hex`.
pub fn length(hex: [u8; 4]) -> Result<usize, Error> {
    hex.iter().try_fold(0usize, |acc, &c| {
        hex_digit(c)
            .map(|d| acc * 16 + d)
            .ok_or(Error::BadLength { hex })
    })
}

/// Decodes the pkt-line at the start of `buf`.
pub fn streaming(buf: &[u8]) -> Result<Stream<'_>, Error> {
    let Some(header) = buf.get(..4) else {
        return Ok(Stream::Incomplete {
            needed: 4 - buf.len(),
        });
    };
    let hex = [header[0], header[1], header[2], header[3]];
    let len = length(hex)?;
    let line = match len {
        0 => PacketLineRef::Flush,
        1 => PacketLineRef::Delim,
        2 => PacketLineRef::ResponseEnd,
        3 => return Err(Error::Reserved { len }),
        _ if len > MAX_LINE_LEN => return Err(Error::TooLong { len }),
        _ => match buf.get(4..len) {
            Some(payload) => PacketLineRef::Data(payload),
            None => {
                return Ok(Stream::Incomplete {
                    needed: len - buf.len(),
                })
            }
        },
    };
    let consumed = if len < 4 { 4 } else { len };
    Ok(Stream::Complete { line, consumed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        assert_eq!(
            streaming(b"0009hello").unwrap(),
            Stream::Complete {
                line: PacketLineRef::Data(b"hello"),
                consumed: 9
            }
        );
        assert_eq!(
            streaming(b"0000rest").unwrap(),
            Stream::Complete {
                line: PacketLineRef::Flush,
                consumed: 4
            }
        );
        assert_eq!(
            streaming(b"0001").unwrap(),
            Stream::Complete {
                line: PacketLineRef::Delim,
                consumed: 4
            }
        );
        assert_eq!(
            streaming(b"0002").unwrap(),
            Stream::Complete {
                line: PacketLineRef::ResponseEnd,
                consumed: 4
            }
        );
        assert_eq!(
            streaming(b"0004").unwrap(),
            Stream::Complete {
                line: PacketLineRef::Data(b""),
                consumed: 4
            }
        );
        assert_eq!(
            streaming(b"000A123456").unwrap(),
            Stream::Complete {
                line: PacketLineRef::Data(b"123456"),
                consumed: 10
            }
        );
        assert_eq!(streaming(b"00").unwrap(), Stream::Incomplete { needed: 2 });
        assert_eq!(
            streaming(b"0009he").unwrap(),
            Stream::Incomplete { needed: 3 }
        );
        assert!(matches!(streaming(b"0003"), Err(Error::Reserved { .. })));
        assert!(matches!(
            streaming(b"fff1"),
            Err(Error::TooLong { len: 65521 })
        ));
        assert!(matches!(streaming(b"zzzz"), Err(Error::BadLength { .. })));
        assert!(matches!(
            streaming(b"00\x0012"),
            Err(Error::BadLength { .. })
        ));
    }
}
