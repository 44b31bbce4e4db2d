//! The pack entry header codec: type + inflated size as a little-endian base-128 varint, and the
//! big-endian "offset encoding" that OFS_DELTA entries use for the distance to their base.
//!
//! Both directions live here so the reader, the writer and the push indexer agree byte for byte.

use crate::hash::ObjectId;

/// Pack entry type numbers (gitformat-pack).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    /// A whole commit (1).
    Commit,
    /// A whole tree (2).
    Tree,
    /// A whole blob (3).
    Blob,
    /// A whole tag (4).
    Tag,
    /// A delta against an entry earlier in the same pack, named by negative offset (6).
    OfsDelta,
    /// A delta against an object named by id (7).
    RefDelta,
}

impl EntryType {
    /// The 3-bit type number.
    pub const fn number(self) -> u8 {
        match self {
            EntryType::Commit => 1,
            EntryType::Tree => 2,
            EntryType::Blob => 3,
            EntryType::Tag => 4,
            EntryType::OfsDelta => 6,
            EntryType::RefDelta => 7,
        }
    }

    /// The type for number `n`, if valid (0 and 5 are reserved).
    pub const fn from_number(n: u8) -> Option<EntryType> {
        match n {
            1 => Some(EntryType::Commit),
            2 => Some(EntryType::Tree),
            3 => Some(EntryType::Blob),
            4 => Some(EntryType::Tag),
            6 => Some(EntryType::OfsDelta),
            7 => Some(EntryType::RefDelta),
            _ => None,
        }
    }

    /// The entry type storing a whole object of `kind`.
    pub const fn from_kind(kind: crate::odb::Kind) -> EntryType {
        match kind {
            crate::odb::Kind::Commit => EntryType::Commit,
            crate::odb::Kind::Tree => EntryType::Tree,
            crate::odb::Kind::Blob => EntryType::Blob,
            crate::odb::Kind::Tag => EntryType::Tag,
        }
    }

    /// The object kind for whole-object types; `None` for deltas.
    pub const fn kind(self) -> Option<crate::odb::Kind> {
        crate::odb::Kind::from_pack_type(self.number())
    }
}

/// Why an entry header could not be decoded.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The bytes ended inside the header.
    #[error("pack entry header is truncated")]
    Truncated,
    /// The type number is 0 or 5.
    #[error("pack entry has invalid type {0}")]
    BadType(u8),
    /// The size or offset does not fit in 64 bits.
    #[error("pack entry {field} overflows 64 bits")]
    Overflow {
        /// `"size"` or `"ofs-delta offset"`.
        field: &'static str,
    },
}

/// Longest header we accept: 1 byte + 9 continuation bytes covers 4 + 63 bits.
const MAX_HEADER_LEN: usize = 10;

/// Decodes an entry header from the start of `buf`: returns (type, inflated size, bytes used).
pub fn decode_header(buf: &[u8]) -> Result<(EntryType, u64, usize), Error> {
    let (&first, _) = buf.split_first().ok_or(Error::Truncated)?;
    let ty = (first >> 4) & 0x7;
    let ty = EntryType::from_number(ty).ok_or(Error::BadType(ty))?;
    let mut size = u64::from(first & 0x0f);
    let mut shift = 4u32;
    let mut used = 1;
    let mut byte = first;
    while byte & 0x80 != 0 {
        if used >= MAX_HEADER_LEN {
            return Err(Error::Overflow { field: "size" });
        }
        byte = *buf.get(used).ok_or(Error::Truncated)?;
        used += 1;
        let part = u64::from(byte & 0x7f);
        if shift >= 64 || (part << shift) >> shift != part {
            return Err(Error::Overflow { field: "size" });
        }
        size |= part << shift;
        shift += 7;
    }
    Ok((ty, size, used))
}

/// Appends the header for an entry of type `ty` and inflated size `size` to `out`.
pub fn encode_header(ty: EntryType, size: u64, out: &mut Vec<u8>) {
    let mut byte = (ty.number() << 4) | (size & 0x0f) as u8;
    let mut rest = size >> 4;
    while rest != 0 {
        out.push(byte | 0x80);
        byte = (rest & 0x7f) as u8;
        rest >>= 7;
    }
    out.push(byte);
}

/// Decodes an OFS_DELTA base distance from the start of `buf`: returns (distance, bytes used).
pub fn decode_ofs_distance(buf: &[u8]) -> Result<(u64, usize), Error> {
    let overflow = Error::Overflow {
        field: "ofs-delta offset",
    };
    let (&first, _) = buf.split_first().ok_or(Error::Truncated)?;
    let mut value = u64::from(first & 0x7f);
    let mut used = 1;
    let mut byte = first;
    while byte & 0x80 != 0 {
        byte = *buf.get(used).ok_or(Error::Truncated)?;
        used += 1;
        value = value
            .checked_add(1)
            .and_then(|v| v.checked_mul(128))
            .map(|v| v | u64::from(byte & 0x7f))
            .ok_or(overflow.clone())?;
    }
    Ok((value, used))
}

/// Appends the OFS_DELTA encoding of base distance `distance` to `out`.
pub fn encode_ofs_distance(mut distance: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 10];
    let mut pos = buf.len() - 1;
    buf[pos] = (distance & 0x7f) as u8;
    distance >>= 7;
    while distance != 0 {
        distance -= 1;
        pos -= 1;
        buf[pos] = 0x80 | (distance & 0x7f) as u8;
        distance >>= 7;
    }
    out.extend_from_slice(&buf[pos..]);
}

/// What a delta entry names as its base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaBase {
    /// OFS_DELTA: the base entry starts at this offset of the same pack.
    Offset(u64),
    /// REF_DELTA: the base is this object (in the pack or, for a thin pack, outside it).
    Id(ObjectId),
}

/// Sets `buf` to the header of a delta entry written at `offset`, whose delta inflates to
/// `size` bytes, against `base` (an [`DeltaBase::Offset`] must lie before `offset`).
pub fn encode_delta_header(size: u64, offset: u64, base: DeltaBase, buf: &mut Vec<u8>) {
    buf.clear();
    match base {
        DeltaBase::Offset(at) => {
            encode_header(EntryType::OfsDelta, size, buf);
            encode_ofs_distance(offset - at, buf);
        }
        DeltaBase::Id(id) => {
            encode_header(EntryType::RefDelta, size, buf);
            buf.extend_from_slice(id.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip() {
        for size in [
            0u64,
            15,
            16,
            127,
            128,
            1 << 20,
            u64::from(u32::MAX) + 7,
            u64::MAX,
        ] {
            for ty in [EntryType::Blob, EntryType::OfsDelta, EntryType::RefDelta] {
                let mut v = Vec::new();
                encode_header(ty, size, &mut v);
                assert_eq!(decode_header(&v).unwrap(), (ty, size, v.len()));
                assert_eq!(decode_header(&v[..v.len() - 1]).is_err(), true);
            }
        }
    }

    #[test]
    fn header_errors() {
        assert_eq!(decode_header(&[]), Err(Error::Truncated));
        assert_eq!(decode_header(&[0x00]), Err(Error::BadType(0)));
        assert_eq!(decode_header(&[0x50]), Err(Error::BadType(5)));
        assert!(decode_header(&[0xbf; 16]).is_err());
    }

    #[test]
    fn ofs_roundtrip() {
        for d in [1u64, 127, 128, 16511, 16512, 1 << 40, u64::MAX >> 1] {
            let mut v = Vec::new();
            encode_ofs_distance(d, &mut v);
            assert_eq!(decode_ofs_distance(&v).unwrap(), (d, v.len()));
        }
        assert_eq!(decode_ofs_distance(&[0x80]), Err(Error::Truncated));
        assert!(decode_ofs_distance(&[0xff; 12]).is_err());
    }
}
