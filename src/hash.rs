//! Object ids.
//!
//! Everything in Sluice names objects through [`ObjectId`] and [`HashKind`]; no other module spells
//! out a raw 20-byte array or a run of forty zeros, so that SHA-256 repositories need changes here
//! and in the places that match on [`HashKind`], not everywhere.

use std::fmt;

/// The hash function a repository uses to name its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HashKind {
    /// SHA-1, hashed with collision detection (the only kind Sluice serves today).
    #[default]
    Sha1,
}

impl HashKind {
    /// Length of a raw id in bytes.
    pub const fn len_in_bytes(self) -> usize {
        match self {
            HashKind::Sha1 => 20,
        }
    }

    /// Length of a hex id in characters.
    pub const fn len_in_hex(self) -> usize {
        self.len_in_bytes() * 2
    }

    /// Every kind this build can read and serve (for `sluice --version --verbose`).
    pub const ALL: &'static [HashKind] = &[HashKind::Sha1];

    /// The name used in the `object-format=` capability.
    pub const fn name(self) -> &'static str {
        match self {
            HashKind::Sha1 => "sha1",
        }
    }

    /// The all-zero id that the protocol uses for "no object" (`0000…`).
    pub const fn null(self) -> ObjectId {
        match self {
            HashKind::Sha1 => ObjectId::Sha1([0; 20]),
        }
    }
}

/// Why a byte string is not an object id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The hex form had the wrong length.
    #[error("object id {hex:?} has {len} characters, expected {expected}")]
    HexLength {
        /// The input, lossily decoded, for the message.
        hex: String,
        /// Its length.
        len: usize,
        /// The length the hash kind needs.
        expected: usize,
    },
    /// The hex form contained a character outside `0-9a-fA-F`.
    #[error("object id {hex:?} is not hexadecimal")]
    NotHex {
        /// The input, lossily decoded, for the message.
        hex: String,
    },
    /// The raw form had the wrong length.
    #[error("raw object id has {len} bytes, expected {expected}")]
    RawLength {
        /// Its length.
        len: usize,
        /// The length the hash kind needs.
        expected: usize,
    },
}

/// An owned object id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectId {
    /// A SHA-1 id.
    Sha1([u8; 20]),
}

/// Value of each byte as a hex digit; 0xff for bytes that are not one.
static HEX_VALUE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut c = 0;
    while c < 256 {
        if let Some(v) = hex_val(c as u8) {
            t[c] = v;
        }
        c += 1;
    }
    t
};

const fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl ObjectId {
    /// Parses a full-length hex id (`hex`), as found on the wire and in ref files.
    pub fn from_hex(hex: &[u8]) -> Result<Self, Error> {
        let kind = HashKind::Sha1;
        if hex.len() != kind.len_in_hex() {
            return Err(Error::HexLength {
                hex: String::from_utf8_lossy(hex).into_owned(),
                len: hex.len(),
                expected: kind.len_in_hex(),
            });
        }
        // Table-driven and branch-free per digit: ids are parsed for every commit and ref read.
        let mut out = [0u8; 20];
        let mut bad = 0u8;
        for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            let (h, l) = (
                HEX_VALUE[usize::from(pair[0])],
                HEX_VALUE[usize::from(pair[1])],
            );
            bad |= h | l;
            *o = (h << 4) | (l & 0x0f);
        }
        if bad & 0xf0 != 0 {
            return Err(Error::NotHex {
                hex: String::from_utf8_lossy(hex).into_owned(),
            });
        }
        Ok(ObjectId::Sha1(out))
    }

    /// Builds an id from its raw bytes (`raw`), as found in trees and pack indexes.
    pub fn from_bytes(raw: &[u8]) -> Result<Self, Error> {
        let kind = HashKind::Sha1;
        let arr: [u8; 20] = raw.try_into().map_err(|_| Error::RawLength {
            len: raw.len(),
            expected: kind.len_in_bytes(),
        })?;
        Ok(ObjectId::Sha1(arr))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            ObjectId::Sha1(b) => b,
        }
    }

    /// The hash kind of this id.
    pub fn kind(&self) -> HashKind {
        match self {
            ObjectId::Sha1(_) => HashKind::Sha1,
        }
    }

    /// True for the all-zero id.
    pub fn is_null(&self) -> bool {
        self.as_bytes().iter().all(|b| *b == 0)
    }

    /// The lowercase hex form.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    /// The first byte, used by fan-out tables.
    pub fn first_byte(&self) -> u8 {
        self.as_bytes()[0]
    }
}

impl ObjectId {
    /// Appends the lowercase hex form to `out` (no allocation of its own: ref advertisements
    /// write thousands).
    pub fn push_hex(&self, out: &mut Vec<u8>) {
        let (buf, n) = self.hex_buf();
        out.extend_from_slice(&buf[..n]);
    }

    fn hex_buf(&self) -> ([u8; 64], usize) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 64];
        let bytes = self.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            buf[2 * i] = DIGITS[usize::from(b >> 4)];
            buf[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
        }
        (buf, bytes.len() * 2)
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (buf, n) = self.hex_buf();
        // Only ASCII hex digits were written.
        f.write_str(std::str::from_utf8(&buf[..n]).unwrap_or_default())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

/// Incremental hasher for object ids, with SHA-1 collision detection (SHAttered-style inputs are
/// rejected, as C git does).
pub struct Hasher {
    inner: sha1_checked::Sha1,
}

/// The data hashed matched a known SHA-1 collision attack pattern.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("SHA-1 collision attack detected")]
pub struct CollisionDetected;

impl Default for Hasher {
    fn default() -> Self {
        Self::new(HashKind::Sha1)
    }
}

impl Hasher {
    /// A hasher for ids of `kind`.
    pub fn new(kind: HashKind) -> Self {
        match kind {
            HashKind::Sha1 => Hasher {
                inner: sha1_checked::Sha1::new(),
            },
        }
    }

    /// A hasher without collision detection, for checksums of data we produce ourselves (the
    /// trailer of a pack we send), never for naming objects received from a client.
    pub fn trailer_only(kind: HashKind) -> Self {
        match kind {
            HashKind::Sha1 => Hasher {
                inner: sha1_checked::Sha1::builder()
                    .detect_collision(false)
                    .build(),
            },
        }
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        use sha1_checked::Digest;
        self.inner.update(data);
    }

    /// Finishes, refusing inputs that carry a collision attack.
    pub fn finish(self) -> Result<ObjectId, CollisionDetected> {
        let r = self.inner.try_finalize();
        if r.has_collision() {
            return Err(CollisionDetected);
        }
        let h = r.hash();
        let mut out = [0u8; 20];
        out.copy_from_slice(h.as_slice());
        Ok(ObjectId::Sha1(out))
    }
}

/// A `BuildHasher` for maps keyed by object ids: the ids are already uniformly distributed, so
/// their first eight bytes are a fine hash (and much cheaper than SipHash). Hash-flooding needs
/// SHA-1 preimages.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdHasherBuilder;

/// The hasher of [`IdHasherBuilder`].
#[derive(Debug, Default)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // ObjectId hashes as its enum discriminant (usize) then the array (length + bytes).
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
        }
    }
}

impl std::hash::BuildHasher for IdHasherBuilder {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

/// A `HashSet` of object ids with [`IdHasherBuilder`].
pub type IdSet = std::collections::HashSet<ObjectId, IdHasherBuilder>;
/// A `HashMap` keyed by object ids with [`IdHasherBuilder`].
pub type IdMap<V> = std::collections::HashMap<ObjectId, V, IdHasherBuilder>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_roundtrip() {
        let hex = b"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";
        let id = ObjectId::from_hex(hex).unwrap();
        assert_eq!(id.to_hex().as_bytes(), hex);
        assert!(ObjectId::from_hex(b"e69d").is_err());
        assert!(ObjectId::from_hex(b"g69de29bb2d1d6434b8b29ae775ad8c2e48c5391").is_err());
        assert!(HashKind::Sha1.null().is_null());
    }

    #[test]
    fn empty_blob_id() {
        let mut h = Hasher::default();
        h.update(b"blob 0\0");
        let id = h.finish().unwrap();
        assert_eq!(id.to_hex(), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }
}

/// Compares two ids' bytes: the first eight as one big-endian integer (which settles almost
/// every comparison of a binary search), the rest only on a tie. Faster than a `memcmp` call per
/// probe in index lookups.
#[inline]
pub fn cmp_id_bytes(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    match (a.get(..8), b.get(..8)) {
        (Some(x), Some(y)) => {
            let x = u64::from_be_bytes(x.try_into().unwrap_or([0; 8]));
            let y = u64::from_be_bytes(y.try_into().unwrap_or([0; 8]));
            x.cmp(&y).then_with(|| a[8..].cmp(&b[8..]))
        }
        _ => a.cmp(b),
    }
}

#[cfg(test)]
mod cmp_tests {
    #[test]
    fn id_comparison_agrees_with_byte_order() {
        let ids: Vec<[u8; 20]> = (0u32..200)
            .map(|i| {
                let mut b = [0u8; 20];
                b[(i % 20) as usize] = (i * 37) as u8;
                b[7] = (i % 3) as u8;
                b[19] = (i % 5) as u8;
                b
            })
            .collect();
        for a in &ids {
            for b in &ids {
                assert_eq!(super::cmp_id_bytes(a, b), a.cmp(b));
            }
        }
        assert_eq!(super::cmp_id_bytes(b"ab", b"ac"), std::cmp::Ordering::Less);
    }
}
