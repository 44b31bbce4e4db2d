//! Reading pkt-lines from a byte stream with one line of look-ahead ([`Reader::peek_line`]) and a
//! single reusable buffer; [`Reader::into_raw`] hands back unconsumed bytes for the raw pack that
//! follows a push's commands.

use std::io::Read;

use super::decode::{self, Stream};
use super::{Error, PacketLineRef, MAX_LINE_LEN};

/// A pkt-line reader over `R`.
pub struct Reader<R: Read> {
    inner: R,
    buf: Vec<u8>,
    /// Start of unconsumed bytes in `buf`.
    start: usize,
    /// End of valid bytes in `buf`.
    end: usize,
    /// Bytes of the line last returned by `peek_line`, consumed by the next `read_line`.
    peeked: Option<usize>,
    err_is_error: bool,
}

impl<R: Read> Reader<R> {
    /// A reader over `inner`.
    pub fn new(inner: R) -> Self {
        Reader {
            inner,
            buf: vec![0; MAX_LINE_LEN * 2],
            start: 0,
            end: 0,
            peeked: None,
            err_is_error: true,
        }
    }

    /// When `yes` (the default), a data line starting with `ERR ` becomes [`Error::Remote`].
    pub fn set_err_is_error(&mut self, yes: bool) {
        self.err_is_error = yes;
    }

    /// Ensures a complete line is buffered; returns its length, or `None` at a clean EOF.
    fn fill_line(&mut self) -> Result<Option<usize>, Error> {
        loop {
            match decode::streaming(&self.buf[self.start..self.end])? {
                Stream::Complete { consumed, .. } => return Ok(Some(consumed)),
                Stream::Incomplete { needed } => {
                    if self.start > 0 && self.end + needed > self.buf.len() {
                        self.buf.copy_within(self.start..self.end, 0);
                        self.end -= self.start;
                        self.start = 0;
                    }
                    let n = loop {
                        match self.inner.read(&mut self.buf[self.end..]) {
                            Ok(n) => break n,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                            Err(e) => return Err(Error::Io(e)),
                        }
                    };
                    if n == 0 {
                        return if self.start == self.end {
                            Ok(None)
                        } else {
                            Err(Error::UnexpectedEof)
                        };
                    }
                    self.end += n;
                }
            }
        }
    }

    /// Reads the next line; `None` when the input ended exactly at a line boundary.
    pub fn read_line(&mut self) -> Result<Option<PacketLineRef<'_>>, Error> {
        if let Some(len) = self.peeked.take() {
            let at = self.start;
            self.start += len;
            return self.line_from(at, len).map(Some);
        }
        let Some(len) = self.fill_line()? else {
            return Ok(None);
        };
        let at = self.start;
        self.start += len;
        let line = self.line_from(at, len)?;
        trace_line("<<", &line);
        Ok(Some(line))
    }

    fn line_from(&self, at: usize, len: usize) -> Result<PacketLineRef<'_>, Error> {
        line_in(&self.buf[at..at + len], self.err_is_error)
    }

    /// Returns the next line without consuming it: the next `read_line` returns it again.
    pub fn peek_line(&mut self) -> Result<Option<PacketLineRef<'_>>, Error> {
        if self.peeked.is_none() {
            match self.fill_line()? {
                None => return Ok(None),
                Some(len) => self.peeked = Some(len),
            }
        }
        let len = self.peeked.unwrap_or(0);
        line_in(&self.buf[self.start..self.start + len], self.err_is_error).map(Some)
    }

    /// The underlying reader (bytes already buffered are not visible through it).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Gives up pkt-line framing: the returned reader yields the buffered, unconsumed bytes first,
    /// then the rest of `inner`.
    pub fn into_raw(self) -> impl Read {
        let rest = self.buf[self.start..self.end].to_vec();
        std::io::Cursor::new(rest).chain(self.inner)
    }
}

fn line_in(bytes: &[u8], err_is_error: bool) -> Result<PacketLineRef<'_>, Error> {
    match decode::streaming(bytes)? {
        Stream::Complete { line, .. } => {
            if let (true, PacketLineRef::Data(d)) = (err_is_error, line) {
                if let Some(msg) = d.strip_prefix(b"ERR ") {
                    return Err(Error::Remote(
                        String::from_utf8_lossy(msg).trim_end().to_string(),
                    ));
                }
            }
            Ok(line)
        }
        Stream::Incomplete { .. } => Err(Error::UnexpectedEof),
    }
}

fn trace_line(dir: &str, line: &PacketLineRef<'_>) {
    if tracing::enabled!(tracing::Level::TRACE) {
        match line {
            PacketLineRef::Data(d) => {
                let shown = &d[..d.len().min(200)];
                tracing::trace!("{dir} {}", String::from_utf8_lossy(shown).trim_end());
            }
            other => tracing::trace!("{dir} {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_peeks_and_hands_back_raw() {
        let input = b"0009want\n0000000ahello!PACKxyz".to_vec();
        let mut r = Reader::new(&input[..]);
        assert_eq!(r.peek_line().unwrap(), Some(PacketLineRef::Data(b"want\n")));
        assert_eq!(
            r.read_line().unwrap().and_then(|l| l.as_text()),
            Some(&b"want"[..])
        );
        assert_eq!(r.read_line().unwrap(), Some(PacketLineRef::Flush));
        assert_eq!(r.read_line().unwrap(), Some(PacketLineRef::Data(b"hello!")));
        let mut rest = Vec::new();
        r.into_raw().read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"PACKxyz");
    }

    #[test]
    fn eof_handling() {
        let mut r = Reader::new(&b""[..]);
        assert_eq!(r.read_line().unwrap(), None);
        let mut r = Reader::new(&b"0009wa"[..]);
        assert!(matches!(r.read_line(), Err(Error::UnexpectedEof)));
        let mut r = Reader::new(&b"000bERR no\n"[..]);
        assert!(matches!(r.read_line(), Err(Error::Remote(m)) if m == "no"));
    }

    #[test]
    fn byte_at_a_time_input() {
        struct Slow<'a>(&'a [u8]);
        impl Read for Slow<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let Some((&b, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                buf[0] = b;
                self.0 = rest;
                Ok(1)
            }
        }
        let big = format!("{:04x}{}", 65520, "x".repeat(65516));
        let input = format!("{big}{big}0000");
        let mut r = Reader::new(Slow(input.as_bytes()));
        for _ in 0..2 {
            assert!(
                matches!(r.read_line().unwrap(), Some(PacketLineRef::Data(d)) if d.len() == 65516)
            );
        }
        assert_eq!(r.read_line().unwrap(), Some(PacketLineRef::Flush));
    }
}
