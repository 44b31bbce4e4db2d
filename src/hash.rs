//! Object ids.
//!
//! Everything in Sluice names objects through [`ObjectId`] and [`HashKind`]; no other module spells
//! out a raw id width (20 or 32 bytes, 40 or 64 hex digits): widths come from the repository's
//! [`HashKind`] (`extensions.objectFormat`), so SHA-1 and SHA-256 repositories share every code
//! path. SHA-1 is hashed with collision detection (`sha1dc`, as C git does), SHA-256 with
//! RustCrypto's `sha2` (SHA-NI where the CPU has it).

use std::fmt;

mod packed;
pub use packed::{PackedIdMap, PackedIdSet};

/// The raw bytes of a SHA-1 id: the one place this width is spelled (with [`Sha256Bytes`]).
type Sha1Bytes = [u8; 20];
/// The raw bytes of a SHA-256 id.
type Sha256Bytes = [u8; 32];

/// The hash function a repository uses to name its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HashKind {
    /// SHA-1, hashed with collision detection (C git's default).
    #[default]
    Sha1,
    /// SHA-256 (`git init --object-format=sha256`).
    Sha256,
}

impl HashKind {
    /// Length of a raw id in bytes.
    pub const fn len_in_bytes(self) -> usize {
        match self {
            HashKind::Sha1 => 20,
            HashKind::Sha256 => 32,
        }
    }

    /// Length of a hex id in characters.
    pub const fn len_in_hex(self) -> usize {
        self.len_in_bytes() * 2
    }

    /// Every kind this build can read and serve (for `sluice --version --verbose`).
    pub const ALL: &'static [HashKind] = &[HashKind::Sha1, HashKind::Sha256];

    /// The name used in the `object-format=` capability.
    pub const fn name(self) -> &'static str {
        match self {
            HashKind::Sha1 => "sha1",
            HashKind::Sha256 => "sha256",
        }
    }

    /// The kind named `name` in `object-format=` or `extensions.objectFormat` (case-insensitive,
    /// as C git's `hash_algo_by_name`).
    pub fn from_name(name: &str) -> Option<HashKind> {
        HashKind::ALL
            .iter()
            .copied()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }

    /// The format id C git writes in binary files that record their hash (commit-graph and
    /// multi-pack-index headers, `.rev` and `.bitmap` v1 in newer git): 1 for SHA-1, 2 for
    /// SHA-256 (`hash.h: GIT_HASH_SHA1/GIT_HASH_SHA256`).
    pub const fn version_byte(self) -> u8 {
        match self {
            HashKind::Sha1 => 1,
            HashKind::Sha256 => 2,
        }
    }

    /// The 4-byte format id of `.idx`-like files and reftable headers (`sha1` / `s256`).
    pub const fn format_id(self) -> u32 {
        match self {
            HashKind::Sha1 => u32::from_be_bytes(*b"sha1"),
            HashKind::Sha256 => u32::from_be_bytes(*b"s256"),
        }
    }

    /// Parses a hex id of exactly this kind's width (`hex`): what the wire and files of a
    /// repository of this kind carry. An id of another kind's width is refused, never guessed.
    pub fn id_from_hex(self, hex: &[u8]) -> Result<ObjectId, Error> {
        if hex.len() != self.len_in_hex() {
            return Err(Error::HexLength {
                hex: String::from_utf8_lossy(hex).into_owned(),
                len: hex.len(),
                expected: self.len_in_hex(),
            });
        }
        ObjectId::from_hex(hex)
    }

    /// Builds an id of this kind from exactly `len_in_bytes` raw bytes (`raw`).
    pub fn id_from_bytes(self, raw: &[u8]) -> Result<ObjectId, Error> {
        if raw.len() != self.len_in_bytes() {
            return Err(Error::RawLength {
                len: raw.len(),
                expected: self.len_in_bytes(),
            });
        }
        ObjectId::from_bytes(raw)
    }

    /// The all-zero id that the protocol uses for "no object" (`0000…`).
    pub const fn null(self) -> ObjectId {
        match self {
            HashKind::Sha1 => ObjectId::Sha1([0; 20]),
            HashKind::Sha256 => ObjectId::Sha256([0; 32]),
        }
    }

    /// The id made of `byte` repeated, for tests and fixtures.
    pub const fn repeat_byte(self, byte: u8) -> ObjectId {
        match self {
            HashKind::Sha1 => ObjectId::Sha1([byte; 20]),
            HashKind::Sha256 => ObjectId::Sha256([byte; 32]),
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
    Sha1(Sha1Bytes),
    /// A SHA-256 id.
    Sha256(Sha256Bytes),
}

/// Value of each byte as a hex digit; 0xff for bytes that are not one.
/// Decodes `N` bytes from exactly `2 * N` hex digits (`hex`; the caller checked the length).
/// Table-driven and branch-free per digit: ids are parsed for every commit and ref read.
fn decode_hex<const N: usize>(hex: &[u8]) -> Result<[u8; N], Error> {
    let mut out = [0u8; N];
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
    Ok(out)
}

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
    /// Parses a full-length hex id (`hex`), its kind told by its length (40 or 64 digits). Wire
    /// parsers use [`HashKind::id_from_hex`], which takes the repository's width.
    pub fn from_hex(hex: &[u8]) -> Result<Self, Error> {
        match hex.len() {
            40 => decode_hex::<20>(hex).map(ObjectId::Sha1),
            64 => decode_hex::<32>(hex).map(ObjectId::Sha256),
            len => Err(Error::HexLength {
                hex: String::from_utf8_lossy(hex).into_owned(),
                len,
                expected: HashKind::default().len_in_hex(),
            }),
        }
    }

    /// Builds an id from its raw bytes (`raw`), as found in trees and pack indexes, its kind told
    /// by its length (20 or 32 bytes).
    pub fn from_bytes(raw: &[u8]) -> Result<Self, Error> {
        if let Ok(a) = <[u8; 20]>::try_from(raw) {
            return Ok(ObjectId::Sha1(a));
        }
        if let Ok(a) = <[u8; 32]>::try_from(raw) {
            return Ok(ObjectId::Sha256(a));
        }
        Err(Error::RawLength {
            len: raw.len(),
            expected: HashKind::default().len_in_bytes(),
        })
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            ObjectId::Sha1(b) => b,
            ObjectId::Sha256(b) => b,
        }
    }

    /// The hash kind of this id.
    pub fn kind(&self) -> HashKind {
        match self {
            ObjectId::Sha1(_) => HashKind::Sha1,
            ObjectId::Sha256(_) => HashKind::Sha256,
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

/// Incremental hasher for object ids: SHA-1 with collision detection (SHAttered-style inputs are
/// rejected, as C git does), or SHA-256.
pub struct Hasher {
    inner: Inner,
}

/// The hash function behind a [`Hasher`]. Not boxed although SHA-1's collision-detection state
/// is large: a hasher lives on the stack for one object, and a heap allocation per object hashed
/// would cost pushes more than the move.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Sha1(sha1dc::Hasher),
    Sha1Trailer(sha1::Sha1),
    Sha256(sha2::Sha256),
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
        let inner = match kind {
            HashKind::Sha1 => Inner::Sha1(sha1dc::Hasher::new()),
            HashKind::Sha256 => Inner::Sha256(sha2::Sha256::default()),
        };
        Hasher { inner }
    }

    /// A hasher without collision detection, for checksums of data we produce ourselves (the
    /// trailer of a pack we send), never for naming objects received from a client.
    pub fn trailer_only(kind: HashKind) -> Self {
        let inner = match kind {
            HashKind::Sha1 => Inner::Sha1Trailer(sha1::Sha1::default()),
            HashKind::Sha256 => Inner::Sha256(sha2::Sha256::default()),
        };
        Hasher { inner }
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.inner {
            Inner::Sha1(h) => h.update(data),
            Inner::Sha1Trailer(h) => sha1::Digest::update(h, data),
            Inner::Sha256(h) => sha2::Digest::update(h, data),
        }
    }

    /// Finishes, refusing inputs that carry a collision attack.
    pub fn finish(self) -> Result<ObjectId, CollisionDetected> {
        match self.inner {
            Inner::Sha1(h) => match h.finalize() {
                Ok(digest) => Ok(ObjectId::Sha1(digest.to_bytes())),
                Err(_) => Err(CollisionDetected),
            },
            Inner::Sha1Trailer(h) => Ok(ObjectId::Sha1(sha1::Digest::finalize(h).into())),
            Inner::Sha256(h) => Ok(ObjectId::Sha256(sha2::Digest::finalize(h).into())),
        }
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

/// A `HashSet` of object ids with [`IdHasherBuilder`]. Each entry takes the width of the widest
/// hash; tables with an entry per object of a push or clone use [`PackedIdSet`] instead.
pub type IdSet = std::collections::HashSet<ObjectId, IdHasherBuilder>;
/// A `HashMap` keyed by object ids with [`IdHasherBuilder`] (see [`IdSet`] for when to use
/// [`PackedIdMap`]).
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
        let long = b"473a0f4c3be8a93681a267e3b1e9a7dcda1185436fe141f7749120a303721813";
        let id = ObjectId::from_hex(long).unwrap();
        assert_eq!(id.kind(), HashKind::Sha256);
        assert_eq!(id.to_hex().as_bytes(), long);
        assert!(HashKind::Sha1.id_from_hex(long).is_err());
        assert!(HashKind::Sha256.id_from_hex(hex).is_err());
        assert_eq!(HashKind::from_name("SHA256"), Some(HashKind::Sha256));
    }

    #[test]
    fn empty_blob_id() {
        let mut h = Hasher::default();
        h.update(b"blob 0\0");
        let id = h.finish().unwrap();
        assert_eq!(id.to_hex(), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        let mut h = Hasher::new(HashKind::Sha256);
        h.update(b"blob 0\0");
        assert_eq!(
            h.finish().unwrap().to_hex(),
            "473a0f4c3be8a93681a267e3b1e9a7dcda1185436fe141f7749120a303721813"
        );
    }

    /// The first 320 bytes of the SHAttered PDFs: a shared 192-byte prefix, then two different
    /// near-collision block pairs with the same SHA-1 (f92d74e3…). Plain SHA-1 names both alike;
    /// the object hasher refuses both, whichever way the input is cut into updates.
    #[test]
    fn shattered_blocks_are_refused_and_trailers_are_plain_sha1() {
        let hex = |parts: &[&str]| {
            let s: String = parts.concat();
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect::<Vec<u8>>()
        };
        let prefix = hex(&[
            "255044462d312e330a25e2e3cfd30a0a0a312030206f626a0a3c3c2f57696474",
            "682032203020522f4865696768742033203020522f547970652034203020522f",
            "537562747970652035203020522f46696c7465722036203020522f436f6c6f72",
            "53706163652037203020522f4c656e6774682038203020522f42697473506572",
            "436f6d706f6e656e7420383e3e0a73747265616d0affd8fffe00245348412d31",
            "20697320646561642121212121852fec092339759c39b1a1c63c4c97e1fffe01",
        ]);
        let blocks = [
            hex(&[
                "7346dc9166b67e118f029ab621b2560ff9ca67cca8c7f85ba84c79030c2b3de2",
                "18f86db3a90901d5df45c14f26fedfb3dc38e96ac22fe7bd728f0e45bce046d2",
                "3c570feb141398bb552ef5a0a82be331fea48037b8b5d71f0e332edf93ac3500",
                "eb4ddc0decc1a864790c782c76215660dd309791d06bd0af3f98cda4bc4629b1",
            ]),
            hex(&[
                "7f46dc93a6b67e013b029aaa1db2560b45ca67d688c7f84b8c4c791fe02b3df6",
                "14f86db1690901c56b45c1530afedfb76038e972722fe7ad728f0e4904e046c2",
                "30570fe9d41398abe12ef5bc942be33542a4802d98b5d70f2a332ec37fac3514",
                "e74ddc0f2cc1a874cd0c78305a21566461309789606bd0bf3f98cda8044629a1",
            ]),
        ];
        for block in &blocks {
            let data = [prefix.as_slice(), block].concat();
            for cut in [1, 63, 64, 100, 320] {
                let mut h = Hasher::default();
                for piece in data.chunks(cut) {
                    h.update(piece);
                }
                assert_eq!(h.finish(), Err(CollisionDetected), "cut {cut}");
            }
            let mut t = Hasher::trailer_only(HashKind::Sha1);
            t.update(&data);
            let id = t.finish().unwrap();
            assert_eq!(id.to_hex(), "f92d74e3874587aaf443d1db961d4e26dde13e9c");
        }
        assert_ne!(blocks[0], blocks[1]);
    }

    /// The detecting and the plain hasher agree on ordinary data fed in uneven pieces.
    #[test]
    fn object_and_trailer_hashers_agree() {
        let mut x: u32 = 0x9e37_79b9;
        let data: Vec<u8> = (0..100_003)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let (mut a, mut b) = (Hasher::default(), Hasher::trailer_only(HashKind::Sha1));
        for piece in data.chunks(997) {
            a.update(piece);
        }
        b.update(&data);
        assert_eq!(a.finish().unwrap(), b.finish().unwrap());
        let mut abc = Hasher::default();
        abc.update(b"abc");
        assert_eq!(
            abc.finish().unwrap().to_hex(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
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
