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

/// Position of `want` among the sorted ids stored at `ids_at` (`count` of them, `hash_len`
/// bytes each) under a 256-entry fan-out table at `fanout_at`, as in `.idx`, MIDX and
/// commit-graph files.
pub fn find_id(
    b: &[u8],
    fanout_at: usize,
    ids_at: usize,
    hash_len: usize,
    count: usize,
    want: &[u8],
) -> Option<usize> {
    let first = usize::from(*want.first()?);
    let lo = if first == 0 {
        0
    } else {
        be32(b, fanout_at + (first - 1) * 4) as usize
    };
    let hi = (be32(b, fanout_at + first * 4) as usize).min(count);
    search_bucket(lo, hi, want, |i| {
        let at = ids_at + i * hash_len;
        b.get(at..at + hash_len)
    })
}

/// Finds `want` among the sorted ids at positions `lo..hi`, which share their first byte.
///
/// Object ids are uniformly distributed, so the next three bytes say where in the range `want`
/// should sit: the search starts there and gallops outwards, touching neighbouring cache lines
/// instead of the far-apart ones a plain binary search starts with (index lookups were 12 % of
/// a clone's CPU). The result is the same as a binary search's; a damaged, unsorted table just
/// finds nothing.
pub fn search_bucket<'a>(
    mut lo: usize,
    mut hi: usize,
    want: &[u8],
    id_at: impl Fn(usize) -> Option<&'a [u8]>,
) -> Option<usize> {
    use std::cmp::Ordering;
    if lo >= hi {
        return None;
    }
    let key = want.get(1..4).map_or(0, |k| {
        (u64::from(k[0]) << 16) | (u64::from(k[1]) << 8) | u64::from(k[2])
    });
    let n = (hi - lo) as u64;
    let guess = lo + ((key * n) >> 24) as usize;
    // Gallop from the guess until `want` is bracketed, then bisect.
    match crate::hash::cmp_id_bytes(id_at(guess)?, want) {
        Ordering::Equal => return Some(guess),
        Ordering::Less => {
            let mut step = 1;
            let mut below = guess + 1;
            loop {
                let probe = guess + step;
                if probe >= hi {
                    lo = below;
                    break;
                }
                match crate::hash::cmp_id_bytes(id_at(probe)?, want) {
                    Ordering::Equal => return Some(probe),
                    Ordering::Less => below = probe + 1,
                    Ordering::Greater => {
                        lo = below;
                        hi = probe;
                        break;
                    }
                }
                step *= 2;
            }
        }
        Ordering::Greater => {
            let mut step = 1;
            let mut above = guess;
            loop {
                let Some(probe) = guess.checked_sub(step).filter(|&p| p >= lo) else {
                    hi = above;
                    break;
                };
                match crate::hash::cmp_id_bytes(id_at(probe)?, want) {
                    Ordering::Equal => return Some(probe),
                    Ordering::Greater => above = probe,
                    Ordering::Less => {
                        lo = probe + 1;
                        hi = above;
                        break;
                    }
                }
                step *= 2;
            }
        }
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match crate::hash::cmp_id_bytes(id_at(mid)?, want) {
            Ordering::Less => lo = mid + 1,
            Ordering::Greater => hi = mid,
            Ordering::Equal => return Some(mid),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::search_bucket;

    /// A deterministic pseudo-random id.
    fn id(seed: u64) -> [u8; 20] {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555;
        let mut out = [0u8; 20];
        for b in &mut out {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        out
    }

    #[test]
    fn finds_exactly_what_a_binary_search_finds() {
        for n in [0usize, 1, 2, 3, 17, 300, 5000] {
            let mut ids: Vec<[u8; 20]> = (0..n as u64).map(id).collect();
            // One bucket: same first byte, as the fan-out hands over.
            for i in &mut ids {
                i[0] = 7;
            }
            ids.sort();
            ids.dedup();
            let at = |i: usize| ids.get(i).map(|x| &x[..]);
            for (pos, x) in ids.iter().enumerate() {
                assert_eq!(search_bucket(0, ids.len(), x, at), Some(pos), "n={n}");
            }
            for s in 0..200u64 {
                let mut miss = id(s + 1_000_000);
                miss[0] = 7;
                assert_eq!(
                    search_bucket(0, ids.len(), &miss, at),
                    ids.binary_search(&miss).ok()
                );
            }
            // Skewed keys (all at one end of the range) still work.
            let edge = [
                7u8, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
                255, 255, 255, 255,
            ];
            assert_eq!(
                search_bucket(0, ids.len(), &edge, at),
                ids.binary_search(&edge).ok()
            );
            let mut low = [0u8; 20];
            low[0] = 7;
            assert_eq!(
                search_bucket(0, ids.len(), &low, at),
                ids.binary_search(&low).ok()
            );
            // A bucket that starts further in (ids of a smaller first byte before it).
            let mut with_prefix: Vec<[u8; 20]> = (0..5u64)
                .map(|s| {
                    let mut x = id(s + 77);
                    x[0] = 6;
                    x
                })
                .collect();
            with_prefix.sort();
            let start = with_prefix.len();
            with_prefix.extend(ids.iter().copied());
            let at2 = |i: usize| with_prefix.get(i).map(|x| &x[..]);
            for (pos, x) in ids.iter().enumerate() {
                assert_eq!(
                    search_bucket(start, with_prefix.len(), x, at2),
                    Some(start + pos)
                );
            }
        }
    }
}
