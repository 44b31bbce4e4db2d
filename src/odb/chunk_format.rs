//! git's chunk-file layout (gitformat-chunk), shared by the commit-graph and the
//! multi-pack-index: after a file-specific header, a table of (4-byte id, 8-byte offset) rows
//! ended by a zero id and the end offset, then the chunk bodies in table order. Readers get the
//! table, fan-out and sorted-id helpers both files need; writers [`append_chunks`].

/// Appends the chunk table and the bodies of `chunks` to `out`, which holds the header.
pub fn append_chunks(out: &mut Vec<u8>, chunks: &[(&[u8; 4], Vec<u8>)]) {
    let mut at = (out.len() + (chunks.len() + 1) * 12) as u64;
    for (id, body) in chunks {
        out.extend_from_slice(*id);
        out.extend_from_slice(&at.to_be_bytes());
        at += body.len() as u64;
    }
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&at.to_be_bytes());
    for (_, body) in chunks {
        out.extend_from_slice(body);
    }
}

/// Big-endian u32 at `at` (0 past the end: callers validated their bounds at open time).
pub fn be32(b: &[u8], at: usize) -> u32 {
    let s = b.get(at..at + 4).unwrap_or(&[0; 4]);
    u32::from_be_bytes([s[0], s[1], s[2], s[3]])
}

/// Big-endian u64 at `at`.
pub fn be64(b: &[u8], at: usize) -> u64 {
    (u64::from(be32(b, at)) << 32) | u64::from(be32(b, at + 4))
}

/// Why a chunk table or chunk is unusable: (chunk id, reason).
pub type ChunkError = (String, String);

/// A validated chunk table: each chunk's (id, start, end) inside the file body.
#[derive(Debug)]
pub struct ChunkTable {
    rows: Vec<([u8; 4], usize, usize)>,
}

impl ChunkTable {
    /// Reads the `count` rows starting at `table_at` of `b`, whose body ends at `body_end` (where
    /// the trailing checksum begins); every chunk must lie after the table and before it.
    pub fn parse(
        b: &[u8],
        table_at: usize,
        count: usize,
        body_end: usize,
    ) -> Result<Self, ChunkError> {
        let table_end = table_at + (count + 1) * 12;
        if table_end > body_end {
            return Err(("table".into(), "beyond the file".into()));
        }
        let mut rows = Vec::with_capacity(count);
        for i in 0..count {
            let row = table_at + i * 12;
            let id: [u8; 4] = b[row..row + 4].try_into().unwrap_or([0; 4]);
            let (start, end) = (be64(b, row + 4), be64(b, row + 16));
            if start < table_end as u64 || end < start || end > body_end as u64 {
                return Err((
                    String::from_utf8_lossy(&id).into_owned(),
                    "outside the file".into(),
                ));
            }
            rows.push((id, start as usize, end as usize));
        }
        Ok(ChunkTable { rows })
    }

    /// (start, length) of chunk `id`, if present.
    pub fn get(&self, id: &[u8; 4]) -> Option<(usize, usize)> {
        self.rows
            .iter()
            .find(|(i, _, _)| i == id)
            .map(|(_, s, e)| (*s, *e - *s))
    }

    /// (start, length) of chunk `id`, which must be present.
    pub fn require(&self, id: &[u8; 4]) -> Result<(usize, usize), ChunkError> {
        self.get(id)
            .ok_or_else(|| (String::from_utf8_lossy(id).into_owned(), "missing".into()))
    }
}

/// Validates the 256-entry fan-out (an OIDF chunk of `len` bytes at `at`); returns the object
/// count it declares.
pub fn fanout_count(b: &[u8], at: usize, len: usize) -> Result<usize, ChunkError> {
    if len != 256 * 4 {
        return Err(("OIDF".into(), "wrong size".into()));
    }
    let mut prev = 0;
    for i in 0..256 {
        let v = be32(b, at + i * 4);
        if v < prev {
            return Err(("OIDF".into(), "not monotonic".into()));
        }
        prev = v;
    }
    Ok(prev as usize)
}

/// Position of `want` among `count` sorted ids of `hash_len` bytes at `ids_at`, narrowed by the
/// fan-out at `fanout_at` (both validated by the caller).
pub fn find_id(
    b: &[u8],
    fanout_at: usize,
    ids_at: usize,
    hash_len: usize,
    count: usize,
    want: &[u8],
) -> Option<usize> {
    let first = usize::from(*want.first()?);
    let mut lo = if first == 0 {
        0
    } else {
        be32(b, fanout_at + (first - 1) * 4) as usize
    };
    let mut hi = (be32(b, fanout_at + first * 4) as usize).min(count);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let at = ids_at + mid * hash_len;
        match crate::hash::cmp_id_bytes(b.get(at..at + hash_len)?, want) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(mid),
        }
    }
    None
}
