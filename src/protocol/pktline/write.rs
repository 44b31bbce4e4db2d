//! Writing pkt-lines. Lengths are lowercase hex; empty data lines (`0004`) are never sent.

use std::io::Write;

use super::MAX_DATA_LEN;

/// The four hex digits of a pkt-line length (`len` includes the header itself).
pub(crate) fn length_header(len: usize) -> [u8; 4] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let n = len & 0xffff;
    [
        DIGITS[n >> 12],
        DIGITS[(n >> 8) & 0xf],
        DIGITS[(n >> 4) & 0xf],
        DIGITS[n & 0xf],
    ]
}

/// A pkt-line writer over `W`.
pub struct Writer<W: Write> {
    inner: W,
}

impl<W: Write> Writer<W> {
    /// A writer over `inner`.
    pub fn new(inner: W) -> Self {
        Writer { inner }
    }

    /// Writes a data line with `payload` (1..=65516 bytes).
    pub fn data(&mut self, payload: &[u8]) -> std::io::Result<()> {
        if payload.is_empty() || payload.len() > MAX_DATA_LEN {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("pkt-line payload of {} bytes", payload.len()),
            ));
        }
        if tracing::enabled!(tracing::Level::TRACE) {
            let shown = &payload[..payload.len().min(200)];
            tracing::trace!(">> {}", String::from_utf8_lossy(shown).trim_end());
        }
        self.inner.write_all(&length_header(payload.len() + 4))?;
        self.inner.write_all(payload)
    }

    /// Writes `line` plus a newline.
    pub fn text(&mut self, line: &str) -> std::io::Result<()> {
        let mut v = Vec::with_capacity(line.len() + 1);
        v.extend_from_slice(line.as_bytes());
        v.push(b'\n');
        self.data(&v)
    }

    /// Writes a flush-pkt (`0000`).
    pub fn flush_pkt(&mut self) -> std::io::Result<()> {
        tracing::trace!(">> FLUSH");
        self.inner.write_all(b"0000")
    }

    /// Writes a delim-pkt (`0001`).
    pub fn delim(&mut self) -> std::io::Result<()> {
        tracing::trace!(">> DELIM");
        self.inner.write_all(b"0001")
    }

    /// Writes a response-end-pkt (`0002`).
    pub fn response_end(&mut self) -> std::io::Result<()> {
        tracing::trace!(">> RESPONSE-END");
        self.inner.write_all(b"0002")
    }

    /// Writes `ERR <msg>` (cut to fit one pkt-line).
    pub fn err(&mut self, msg: &str) -> std::io::Result<()> {
        let mut text = format!("ERR {msg}");
        let mut cut = text.len().min(MAX_DATA_LEN - 1);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        self.text(&text)
    }

    /// The underlying writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes() {
        let mut w = Writer::new(Vec::new());
        w.text("hello").unwrap();
        w.flush_pkt().unwrap();
        w.delim().unwrap();
        w.err("nope").unwrap();
        assert_eq!(w.get_mut().as_slice(), b"000ahello\n00000001000dERR nope\n");
        assert!(w.data(b"").is_err());
        assert!(w.data(&vec![0; MAX_DATA_LEN + 1]).is_err());
        assert!(w.data(&vec![0; MAX_DATA_LEN]).is_ok());
    }
}
