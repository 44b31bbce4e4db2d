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
    let mut z = ZlibDecoder::new(compressed);
    let mut buf = [0u8; MAX_HEADER];
    let mut got = 0;
    while got < buf.len() {
        let n = z.read(&mut buf[got..]).map_err(Error::Zlib)?;
        if n == 0 {
            break;
        }
        got += n;
        if buf[..got].contains(&0) {
            break;
        }
    }
    let (kind, size, _) = parse_header(&buf[..got])?;
    Ok((kind, size))
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
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level.min(9)));
    z.write_all(format!("{} {}\0", kind.as_str(), data.len()).as_bytes())?;
    z.write_all(data)?;
    z.finish()
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
}
