//! Loose objects: one zlib stream per object holding `"<kind> <size>\0"` and the content.
//! Parsing is bounded: the header may be at most 64 bytes, and inflation stops at the declared
//! size (plus one byte to detect objects longer than they claim).

use std::io::Read;

use flate2::read::ZlibDecoder;

use crate::odb::Kind;

/// Why a loose object is unreadable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The header is missing, too long or malformed.
    #[error("bad loose object header: {0}")]
    Header(&'static str),
    /// Content length differs from the header.
    #[error("loose object size mismatch: header says {declared}, content has {actual}")]
    Size {
        /// Declared size.
        declared: u64,
        /// Size found (a lower bound when too long).
        actual: u64,
    },
    /// Larger than the caller allows.
    #[error("loose object of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// zlib failed.
    #[error("loose object is not valid zlib data: {0}")]
    Zlib(std::io::Error),
}

const MAX_HEADER: usize = 64;

/// Parses `"<kind> <size>\0"` at the start of `buf`: returns kind, size and header length.
pub fn parse_header(buf: &[u8]) -> Result<(Kind, u64, usize), Error> {
    let nul = buf
        .iter()
        .take(MAX_HEADER)
        .position(|&b| b == 0)
        .ok_or(Error::Header("no NUL within 64 bytes"))?;
    let header = &buf[..nul];
    let sp = header
        .iter()
        .position(|&b| b == b' ')
        .ok_or(Error::Header("no space"))?;
    let kind = Kind::from_name(&header[..sp]).ok_or(Error::Header("unknown kind"))?;
    let size_text =
        std::str::from_utf8(&header[sp + 1..]).map_err(|_| Error::Header("size not ASCII"))?;
    if size_text.is_empty()
        || !size_text.bytes().all(|b| b.is_ascii_digit())
        || (size_text.len() > 1 && size_text.starts_with('0'))
    {
        return Err(Error::Header("size is not a decimal number"));
    }
    let size = size_text
        .parse::<u64>()
        .map_err(|_| Error::Header("size overflows"))?;
    Ok((kind, size, nul + 1))
}

/// Reads just the header of the compressed loose object `compressed`.
pub fn read_header(compressed: &[u8]) -> Result<(Kind, u64), Error> {
    stream(compressed).map(|s| (s.kind, s.size))
}

/// A loose object opened for reading its content as a stream: what serves objects larger than
/// `core.bigFileThreshold` with memory independent of their size.
pub struct Stream<R: Read> {
    /// The object's kind.
    pub kind: Kind,
    /// The content's size, as the header declares it.
    pub size: u64,
    z: ZlibDecoder<R>,
    /// Content bytes inflated together with the header, served first.
    pending: Vec<u8>,
    /// Content bytes not yet returned.
    left: u64,
}

/// Opens the compressed loose object `compressed` (a file, a slice): parses the header and
/// returns a reader of exactly the declared content. Reading fails when the stream ends early
/// or holds more than it declares.
pub fn stream<R: Read>(compressed: R) -> Result<Stream<R>, Error> {
    let mut z = ZlibDecoder::new(compressed);
    let mut head = [0u8; MAX_HEADER];
    let mut got = 0;
    let (kind, size, hlen) = loop {
        let n = z.read(&mut head[got..]).map_err(Error::Zlib)?;
        got += n;
        if let Ok(h) = parse_header(&head[..got]) {
            break h;
        }
        if n == 0 || got == head.len() {
            return Err(Error::Header("truncated header"));
        }
    };
    let pending = head[hlen..got].to_vec();
    if pending.len() as u64 > size {
        return Err(Error::Size {
            declared: size,
            actual: pending.len() as u64,
        });
    }
    Ok(Stream {
        kind,
        size,
        z,
        left: size - pending.len() as u64,
        pending,
    })
}

impl<R: Read> Read for Stream<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.pending.is_empty() {
            let n = self.pending.len().min(buf.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            return Ok(n);
        }
        if self.left == 0 {
            // One more byte would mean the object is longer than it says.
            let mut probe = [0u8; 1];
            return match self.z.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    Error::Size {
                        declared: self.size,
                        actual: self.size + 1,
                    },
                )),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.z.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                Error::Size {
                    declared: self.size,
                    actual: self.size - self.left,
                },
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Inflates the loose object `compressed`, refusing content over `limit` bytes.
pub fn read(compressed: &[u8], limit: u64) -> Result<(Kind, Vec<u8>), Error> {
    let mut z = ZlibDecoder::new(compressed);
    let mut head = [0u8; MAX_HEADER];
    let mut got = 0;
    let (kind, size, hlen) = loop {
        let n = z.read(&mut head[got..]).map_err(Error::Zlib)?;
        got += n;
        if let Ok(h) = parse_header(&head[..got]) {
            break h;
        }
        if n == 0 || got == head.len() {
            return Err(Error::Header("truncated header"));
        }
    };
    if size > limit {
        return Err(Error::TooLarge { size, limit });
    }
    let size_usize = usize::try_from(size).map_err(|_| Error::TooLarge { size, limit })?;
    let mut data = Vec::with_capacity(size_usize);
    data.extend_from_slice(&head[hlen..got]);
    (&mut z)
        .take(size + 1 - data.len().min(size_usize + 1) as u64)
        .read_to_end(&mut data)
        .map_err(Error::Zlib)?;
    if data.len() as u64 != size {
        return Err(Error::Size {
            declared: size,
            actual: data.len() as u64,
        });
    }
    Ok((kind, data))
}

/// Compresses an object into loose format (`level` is the zlib level).
pub fn encode(kind: Kind, data: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    encode_with(&mut super::zlib::Deflater::new(level), kind, data)
}

/// Compresses an object into loose format with `deflater` (one for a run of objects).
pub fn encode_with(
    deflater: &mut super::zlib::Deflater,
    kind: Kind,
    data: &[u8],
) -> std::io::Result<Vec<u8>> {
    let header = format!("{} {}\0", kind.as_str(), data.len());
    deflater.compress(Vec::new(), &[header.as_bytes(), data])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_limits() {
        let enc = encode(Kind::Blob, b"hello", 6).unwrap();
        assert_eq!(read_header(&enc).unwrap(), (Kind::Blob, 5));
        assert_eq!(read(&enc, 100).unwrap(), (Kind::Blob, b"hello".to_vec()));
        assert!(matches!(read(&enc, 4), Err(Error::TooLarge { .. })));
        let lie = {
            use std::io::Write;
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(b"blob 3\0hello").unwrap();
            z.finish().unwrap()
        };
        assert!(matches!(read(&lie, 100), Err(Error::Size { .. })));
        assert!(parse_header(b"blob 01\0").is_err());
        assert!(parse_header(b"bloc 1\0").is_err());
        assert!(parse_header(&[b'a'; 100]).is_err());
        assert!(read(b"not zlib", 100).is_err());
    }

    #[test]
    fn streams_exactly_the_declared_content() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let enc = encode(Kind::Blob, &data, 6).unwrap();
        let mut s = stream(&enc[..]).unwrap();
        assert_eq!((s.kind, s.size), (Kind::Blob, 100_000));
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        let lie = |text: &[u8]| {
            use std::io::Write;
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(text).unwrap();
            z.finish().unwrap()
        };
        let mut out = Vec::new();
        assert!(stream(&lie(b"blob 3\0hello")[..]).is_err());
        assert!(stream(&lie(b"blob 30\0hello")[..])
            .unwrap()
            .read_to_end(&mut out)
            .is_err());
        let long = lie(&[b"blob 3\0".as_slice(), &[7u8; 70_000]].concat());
        assert!(stream(&long[..]).map_or(true, |mut s| s.read_to_end(&mut out).is_err()));
        let longer = lie(&[b"blob 3\0".as_slice(), &[7u8; 70_000]].concat());
        let mut s = stream(&longer[..3.min(longer.len())]);
        assert!(s
            .as_mut()
            .map_or(true, |s| s.read_to_end(&mut out).is_err()));
    }
}
