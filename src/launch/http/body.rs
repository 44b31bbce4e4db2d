//! The request body as the service reads it: exactly `CONTENT_LENGTH` bytes (a shorter body is
//! an error, never silently a short request), or everything up to end of input when the server
//! streams a chunked body without a length; gzip-inflated when `Content-Encoding: gzip`; and
//! never more than the configured limit, counted both before and after inflating (a small gzip
//! body may inflate to gigabytes).
//!
//! Errors are [`BodyError`]s inside `std::io::Error`, so that after a service fails the launcher
//! can still tell a bad body (400, 413) from a server fault.

use std::io::{BufReader, Read};

use super::cgi::BodySpec;

/// Why the body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// End of input before `CONTENT_LENGTH` bytes.
    #[error("request body ended after {got} of {expected} bytes")]
    Truncated {
        /// Bytes received.
        got: u64,
        /// `CONTENT_LENGTH`.
        expected: u64,
    },
    /// More than `limit` bytes (raw or inflated).
    #[error("request body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
}

impl BodyError {
    /// Finds a `BodyError` in `err`'s source chain.
    pub fn find<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a BodyError> {
        let mut source = Some(err);
        while let Some(s) = source {
            if let Some(b) = s.downcast_ref::<BodyError>() {
                return Some(b);
            }
            if let Some(b) = s
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<BodyError>())
            {
                return Some(b);
            }
            source = s.source();
        }
        None
    }
}

fn io_err(e: BodyError) -> std::io::Error {
    let kind = match e {
        BodyError::Truncated { .. } => std::io::ErrorKind::UnexpectedEof,
        BodyError::TooLarge { .. } => std::io::ErrorKind::InvalidData,
    };
    std::io::Error::new(kind, e)
}

/// Counts what passes and enforces a length: `exact` bytes (then end), or at most `limit`
/// bytes (0: no limit) to end of input.
#[derive(Debug)]
struct Framed<R> {
    inner: R,
    exact: Option<u64>,
    limit: u64,
    seen: u64,
}

impl<R: Read> Read for Framed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = match self.exact {
            Some(total) => {
                let left = total.saturating_sub(self.seen);
                if left == 0 {
                    return Ok(0);
                }
                buf.len().min(usize::try_from(left).unwrap_or(usize::MAX))
            }
            None => buf.len(),
        };
        let Some(dst) = buf.get_mut(..want) else {
            return Ok(0);
        };
        let n = self.inner.read(dst)?;
        self.seen = self.seen.saturating_add(n as u64);
        if let (0, Some(expected)) = (n, self.exact) {
            if !dst.is_empty() {
                return Err(io_err(BodyError::Truncated {
                    got: self.seen,
                    expected,
                }));
            }
        }
        if self.limit != 0 && self.seen > self.limit {
            return Err(io_err(BodyError::TooLarge { limit: self.limit }));
        }
        Ok(n)
    }
}

/// The body reader handed to the service.
pub type Body = Box<dyn Read>;

/// Checks `spec` against `limit` (0: none) before anything is read: a declared length over the
/// limit is refused here, so a client cannot make us read it.
pub fn check_declared(spec: &BodySpec, limit: u64) -> Result<(), BodyError> {
    match spec.length {
        Some(n) if limit != 0 && n > limit => Err(BodyError::TooLarge { limit }),
        _ => Ok(()),
    }
}

/// Wraps `input` for `spec`: framed by its length, inflated when gzip, both sides bounded by
/// `limit` (0: none).
pub fn reader<R: Read + 'static>(input: R, spec: &BodySpec, limit: u64) -> Body {
    let framed = Framed {
        inner: input,
        exact: spec.length,
        limit,
        seen: 0,
    };
    if !spec.gzip {
        return Box::new(framed);
    }
    let inflated = flate2::read::GzDecoder::new(BufReader::with_capacity(64 * 1024, framed));
    Box::new(Framed {
        inner: inflated,
        exact: None,
        limit,
        seen: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(
        input: &'static [u8],
        length: Option<u64>,
        gzip: bool,
        limit: u64,
    ) -> Result<Vec<u8>, BodyError> {
        let mut out = Vec::new();
        reader(input, &BodySpec { length, gzip }, limit)
            .read_to_end(&mut out)
            .map(|_| out)
            .map_err(|e| {
                BodyError::find(&e)
                    .cloned()
                    .unwrap_or(BodyError::TooLarge { limit: 999 })
            })
    }

    fn gz(data: &[u8]) -> &'static [u8] {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        Box::leak(e.finish().unwrap().into_boxed_slice())
    }

    #[test]
    fn framing_and_limits() {
        assert_eq!(
            read_all(b"hello world", Some(5), false, 0).unwrap(),
            b"hello"
        );
        assert_eq!(read_all(b"hello", None, false, 0).unwrap(), b"hello");
        assert_eq!(
            read_all(b"hel", Some(5), false, 0),
            Err(BodyError::Truncated {
                got: 3,
                expected: 5
            })
        );
        assert_eq!(
            read_all(b"hello", None, false, 4),
            Err(BodyError::TooLarge { limit: 4 })
        );
        assert_eq!(read_all(b"hello", None, false, 5).unwrap(), b"hello");
        let spec = BodySpec {
            length: Some(10),
            gzip: false,
        };
        assert!(check_declared(&spec, 9).is_err());
        assert!(check_declared(&spec, 10).is_ok());
        assert!(check_declared(&spec, 0).is_ok());
    }

    #[test]
    fn gzip_bodies() {
        let big = vec![b'a'; 100_000];
        let packed = gz(&big);
        assert_eq!(
            read_all(packed, Some(packed.len() as u64), true, 0).unwrap(),
            big
        );
        assert_eq!(read_all(packed, None, true, 0).unwrap(), big);
        // Small on the wire, too large inflated.
        assert_eq!(
            read_all(packed, None, true, 50_000),
            Err(BodyError::TooLarge { limit: 50_000 })
        );
        // A cut-off gzip stream is an error, not a short body.
        let cut: &'static [u8] = &packed[..packed.len() / 2];
        let mut out = Vec::new();
        let spec = BodySpec {
            length: None,
            gzip: true,
        };
        assert!(reader(cut, &spec, 0).read_to_end(&mut out).is_err());
        let garbage: &'static [u8] = b"not gzip at all";
        assert!(reader(garbage, &spec, 0).read_to_end(&mut out).is_err());
    }
}
