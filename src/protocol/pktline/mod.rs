//! pkt-lines (gitprotocol-common): four lowercase hex digits of length (including themselves),
//! then the payload; `0000` flush, `0001` delim, `0002` response-end.
//!
//! [`decode::streaming`] is the pure parser; [`Reader`] and [`Writer`] put IO on top.

pub mod decode;
pub mod read;
pub mod write;

pub use read::Reader;
pub use write::Writer;

/// Longest pkt-line, including the four length bytes.
pub const MAX_LINE_LEN: usize = 65520;
/// Longest payload.
pub const MAX_DATA_LEN: usize = MAX_LINE_LEN - 4;

/// One pkt-line, borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketLineRef<'a> {
    /// A data line (payload may end in `\n`).
    Data(&'a [u8]),
    /// `0000`.
    Flush,
    /// `0001` (v2 section separator).
    Delim,
    /// `0002` (v2 end of response, stateless connections).
    ResponseEnd,
}

impl<'a> PacketLineRef<'a> {
    /// The payload of a data line without one trailing `\n`; `None` for control packets.
    pub fn as_text(&self) -> Option<&'a [u8]> {
        match self {
            PacketLineRef::Data(d) => Some(d.strip_suffix(b"\n").unwrap_or(d)),
            _ => None,
        }
    }
}

/// Why pkt-line input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The underlying stream failed.
    #[error("pkt-line I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The stream ended inside a pkt-line.
    #[error("protocol error: unexpected end of input inside a pkt-line")]
    UnexpectedEof,
    /// The four length bytes are not hex.
    #[error(
        "protocol error: bad line length character: {}",
        String::from_utf8_lossy(hex)
    )]
    BadLength {
        /// The four bytes as received.
        hex: [u8; 4],
    },
    /// A length of 3 (reserved).
    #[error("protocol error: bad line length {len}")]
    Reserved {
        /// The length.
        len: usize,
    },
    /// A length above [`MAX_LINE_LEN`].
    #[error("protocol error: bad line length {len} (maximum is {MAX_LINE_LEN})")]
    TooLong {
        /// The length.
        len: usize,
    },
    /// The peer sent `ERR <message>`.
    #[error("remote error: {0}")]
    Remote(String),
}
