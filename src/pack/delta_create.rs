//! Making deltas in git's format (the inverse of [`crate::pack::delta::apply`]): a header with the
//! base and result sizes as base-128 varints, then copy-from-base instructions (offset in up to 4
//! bytes, length in up to 3, a length of 0x10000 written as 0) and insert instructions of at most
//! 127 literal bytes.
//!
//! As in git's `diff-delta.c`, the base is indexed once ([`DeltaIndex`]): a hash table of its
//! 16-byte blocks at block-aligned offsets. The target is scanned with a rolling hash of the same
//! 16 bytes; a hit is verified and extended forwards (and backwards over literal bytes not yet
//! emitted), and becomes a copy. One index serves every target the window search tries against
//! that base, and `max_size` abandons a delta as soon as it is larger than one already found.
//! Deviation: the rolling hash is a plain polynomial hash, not git's Rabin fingerprint; deltas are
//! equally valid, only their exact bytes differ.

/// Bytes per indexed block and per rolling-hash window.
const BLOCK: usize = 16;
/// Most entries kept per hash bucket: very repetitive bases (runs of one byte) would otherwise
/// make every lookup walk thousands of equal candidates (git's `HASH_LIMIT`).
const BUCKET_LIMIT: usize = 64;
/// Longest copy instruction emitted; git's encoder uses the same limit (length written as 0).
const MAX_COPY: usize = 0x10000;
/// Longest insert instruction (the opcode's low 7 bits).
const MAX_INSERT: usize = 127;
/// A match this long ends the search among candidates (git's "good enough").
const GOOD_ENOUGH: usize = 4096;
/// Matches shorter than this are checked for a longer one starting inside them.
const LAZY: usize = 64;
/// How much further a later match must reach to be preferred (about one copy instruction).
const LAZY_GAIN: usize = 8;
/// The shortest part of a short match still worth a copy instruction when a later match wins.
const MIN_SHORT_COPY: usize = 8;
/// Multiplier of the polynomial rolling hash (odd, so no information is shifted out).
const PRIME: u32 = 0x0100_0193;

/// `PRIME` to the power `BLOCK - 1`: the weight of the byte that leaves the rolling window.
const OUT_WEIGHT: u32 = WEIGHTS[0];

/// `PRIME` to the powers `BLOCK - 1` down to 0: the weight of each byte of a window.
const fn weights() -> [u32; BLOCK] {
    let mut w = [1u32; BLOCK];
    let mut i = BLOCK - 1;
    while i > 0 {
        w[i - 1] = w[i].wrapping_mul(PRIME);
        i -= 1;
    }
    w
}
const WEIGHTS: [u32; BLOCK] = weights();

/// Hash of one whole window: `sum(byte[i] * PRIME^(BLOCK-1-i))`, the same value as folding
/// `h * PRIME + byte` over it, but as independent products the CPU computes side by side (the
/// fold's chain of 16 dependent multiplies was most of indexing a base).
fn block_hash(block: &[u8]) -> u32 {
    block.iter().zip(WEIGHTS).fold(0u32, |h, (&b, w)| {
        h.wrapping_add(w.wrapping_mul(u32::from(b)))
    })
}

/// The hash of the window one byte on: `outgoing` leaves it, `incoming` enters.
fn roll(hash: u32, outgoing: u8, incoming: u8) -> u32 {
    hash.wrapping_sub(OUT_WEIGHT.wrapping_mul(u32::from(outgoing)))
        .wrapping_mul(PRIME)
        .wrapping_add(u32::from(incoming))
}

/// Spreads a hash over the table (the polynomial's low bits alone depend on few bytes).
fn bucket_of(hash: u32, shift: u32) -> usize {
    (hash.wrapping_mul(0x9E37_79B1) >> shift) as usize
}

/// A base prepared for delta creation: its 16-byte blocks by hash. Build it once per base and
/// try it against many targets.
///
/// The table is laid out bucket by bucket (a counting sort of the blocks): the entries of
/// bucket `b` are `entries[starts[b]..starts[b + 1]]`, lowest offset first, so a lookup reads
/// one contiguous run instead of chasing a linked list, and building it touches one table of
/// bucket heads rather than three (their zeroing was a tenth of a small fetch's CPU).
pub struct DeltaIndex {
    base: Vec<u8>,
    /// Where each bucket's entries start in `entries`; one more than the buckets.
    starts: Vec<u32>,
    /// Per entry: block offset in `base` and its full hash.
    entries: Vec<(u32, u32)>,
    shift: u32,
}

impl DeltaIndex {
    /// Indexes `base`. Bases of 4 GiB or more cannot be addressed by a copy instruction and get
    /// an empty index (every delta against them is all inserts, so none is ever chosen).
    pub fn new(base: Vec<u8>) -> Self {
        let blocks = if base.len() > u32::MAX as usize {
            0
        } else {
            base.len() / BLOCK
        };
        let bits = (blocks.max(1).next_power_of_two().trailing_zeros()).clamp(4, 31);
        let shift = 32 - bits;
        let buckets = 1usize << bits;
        // Every block but the repeats in a run of identical blocks (the first of a run is kept:
        // extending a match from it covers the rest).
        let mut all: Vec<(u32, u32)> = Vec::with_capacity(blocks);
        // First the count of blocks per bucket, at the bucket's index.
        let mut starts = vec![0u32; buckets + 1];
        let mut previous: Option<&[u8]> = None;
        for b in 0..blocks {
            let offset = b * BLOCK;
            let block = &base[offset..offset + BLOCK];
            if previous == Some(block) {
                continue;
            }
            previous = Some(block);
            let hash = block_hash(block);
            starts[bucket_of(hash, shift)] += 1;
            all.push((offset as u32, hash));
        }
        // Crowded buckets keep a uniform sample of `BUCKET_LIMIT` entries across the base (as
        // git's culling does), so a block repeated all over the file still has candidates near
        // every place: (blocks in the bucket, blocks of it seen so far from the end).
        let mut crowded: std::collections::HashMap<usize, (u64, u64)> = Default::default();
        // One bit per bucket, set for the crowded ones (made with the first): placing a block
        // asks the map only for those (hashing every block's bucket for the map was a sixth
        // of indexing the bases of tokio's 100-commit fetch).
        let mut crowded_bits: Vec<u64> = Vec::new();
        // Then the end of each bucket's run (a running sum of the entries kept).
        let mut end = 0u32;
        for (bucket, slot) in starts.iter_mut().enumerate().take(buckets) {
            let count = *slot;
            if count as usize > BUCKET_LIMIT {
                crowded.insert(bucket, (u64::from(count), 0));
                if crowded_bits.is_empty() {
                    crowded_bits = vec![0; buckets.div_ceil(64)];
                }
                if let Some(word) = crowded_bits.get_mut(bucket / 64) {
                    *word |= 1 << (bucket % 64);
                }
            }
            end += count.min(BUCKET_LIMIT as u32);
            *slot = end;
        }
        starts[buckets] = end;
        // Placed from the last block back, each at the end of its bucket's run moved down by
        // one: the run ends up in offset order and `starts[b]` at its first entry.
        let mut entries = vec![(0u32, 0u32); end as usize];
        for &(offset, hash) in all.iter().rev() {
            let bucket = bucket_of(hash, shift);
            let maybe_crowded = crowded_bits
                .get(bucket / 64)
                .is_some_and(|w| (w >> (bucket % 64)) & 1 == 1);
            if let Some((c, from_end)) = maybe_crowded.then(|| crowded.get_mut(&bucket)).flatten() {
                let n = *c - 1 - *from_end;
                *from_end += 1;
                let l = BUCKET_LIMIT as u64;
                if !(n == 0 || n * l / *c != (n - 1) * l / *c) {
                    continue;
                }
            }
            starts[bucket] -= 1;
            entries[starts[bucket] as usize] = (offset, hash);
        }
        DeltaIndex {
            base,
            starts,
            entries,
            shift,
        }
    }

    /// Bytes of memory the index holds, base included, for window accounting.
    pub fn memory(&self) -> usize {
        self.base.len() + self.starts.len() * 4 + self.entries.len() * 8
    }

    /// The base this index was made from.
    pub fn base(&self) -> &[u8] {
        &self.base
    }

    /// Longest match for `target[pos..]` among the base blocks hashing to `hash`: (base offset,
    /// length), length 0 when none verifies.
    fn longest_match(&self, hash: u32, target: &[u8], pos: usize) -> (usize, usize) {
        let mut best = (0, 0);
        let want = &target[pos..];
        let bucket = bucket_of(hash, self.shift);
        let (from, to) = (self.starts[bucket], self.starts[bucket + 1]);
        for &(offset, h) in self.entries.get(from as usize..to as usize).unwrap_or(&[]) {
            if h != hash {
                continue;
            }
            let offset = offset as usize;
            let have = &self.base[offset..];
            // Cannot beat the best so far unless it also matches at the best's length.
            if best.1 > 0 && (have.get(best.1).is_none() || have.get(best.1) != want.get(best.1)) {
                continue;
            }
            let limit = have.len().min(want.len());
            let len = common_prefix(have, want);
            if len > best.1 {
                best = (offset, len);
                if len == limit || len >= GOOD_ENOUGH {
                    break;
                }
            }
        }
        if best.1 < BLOCK {
            (0, 0)
        } else {
            best
        }
    }

    /// The longer of the hash table's best match at `pos` and the match at base offset
    /// `diagonal`: (base offset, length), length 0 for none.
    fn best_match(&self, hash: u32, target: &[u8], pos: usize, diagonal: usize) -> (usize, usize) {
        // Most positions differ at once: one byte compared spares the word loop.
        let n = match self.base.get(diagonal..) {
            Some(have) if have.first() == target.get(pos) => common_prefix(have, &target[pos..]),
            _ => 0,
        };
        // A long continuation is what the table would find too (and costs no lookup).
        if n >= LAZY {
            return (diagonal, n);
        }
        let (offset, len) = self.longest_match(hash, target, pos);
        if n >= BLOCK && n > len {
            (diagonal, n)
        } else {
            (offset, len)
        }
    }

    /// Moves a match at `pos` back over literal bytes (not before `floor`) the base also has;
    /// returns the new start.
    fn extend_back(
        &self,
        target: &[u8],
        floor: usize,
        mut pos: usize,
        offset: &mut usize,
        len: &mut usize,
    ) -> usize {
        while pos > floor && *offset > 0 && target[pos - 1] == self.base[*offset - 1] {
            pos -= 1;
            *offset -= 1;
            *len += 1;
        }
        pos
    }

    /// A match starting `k` bytes into the `len`-byte match at `pos` that reaches clearly further:
    /// (k, base offset, length).
    fn later_match(&self, target: &[u8], pos: usize, len: usize) -> Option<(usize, usize, usize)> {
        let end = pos + len;
        // The window's hash rolls from one start to the next (hashing each afresh was a fifth
        // of a thin fetch's CPU).
        let mut hash = block_hash(target.get(pos + 1..pos + 1 + BLOCK)?);
        for k in 1..=len {
            let at = pos + k;
            let (o, l) = self.longest_match(hash, target, at);
            if l > 0 && at + l > end + LAZY_GAIN {
                return Some((k, o, l));
            }
            let incoming = *target.get(at + BLOCK)?;
            hash = roll(hash, target[at], incoming);
        }
        None
    }

    /// A delta turning this index's base into `target`, or `None` once it would exceed
    /// `max_size` bytes (`0` = no limit).
    pub fn delta(&self, target: &[u8], max_size: usize) -> Option<Vec<u8>> {
        let mut out = Encoder {
            out: Vec::with_capacity(max_size.clamp(64, 1 << 16)),
            max_size: if max_size == 0 { usize::MAX } else { max_size },
        };
        write_varint(self.base.len() as u64, &mut out.out);
        write_varint(target.len() as u64, &mut out.out);
        let mut literal_start = 0;
        // Where the last copy ended in the base: the literal bytes since then most likely
        // replaced as many base bytes, so the base continues there (the diagonal). Trying it
        // first finds the right copy even when the hash table's sample missed that block.
        let mut copy_end = 0;
        let mut pos = 0;
        let mut hash = None;
        while pos + BLOCK <= target.len() {
            let h = match hash {
                Some(h) => h,
                None => block_hash(&target[pos..pos + BLOCK]),
            };
            let (mut offset, mut len) =
                self.best_match(h, target, pos, copy_end + (pos - literal_start));
            if len == 0 {
                // Roll the window one byte on.
                hash = target
                    .get(pos + BLOCK)
                    .map(|&incoming| roll(h, target[pos], incoming));
                pos += 1;
                continue;
            }
            let mut start = self.extend_back(target, literal_start, pos, &mut offset, &mut len);
            // A short match may hide a long one starting inside it (a line that repeats a common
            // prefix, then the real continuation): look ahead, as zlib's lazy matching does.
            if len < LAZY {
                if let Some((k, o2, l2)) = self.later_match(target, start, len) {
                    if k >= MIN_SHORT_COPY {
                        out.insert(&target[literal_start..start])?;
                        out.copy(offset, k)?;
                        literal_start = start + k;
                    }
                    (start, offset, len) = (start + k, o2, l2);
                    start = self.extend_back(target, literal_start, start, &mut offset, &mut len);
                }
            }
            out.insert(&target[literal_start..start])?;
            out.copy(offset, len)?;
            copy_end = offset + len;
            pos = start + len;
            literal_start = pos;
            hash = None;
        }
        out.insert(&target[literal_start..])?;
        Some(out.out)
    }
}

/// Length of the common prefix of `a` and `b`.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    // Eight bytes at a time; in the first word that differs, the lowest differing bit of the
    // little-endian XOR says which byte (most calls end in the first word).
    let mut done = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let (Ok(x), Ok(y)) = (<[u8; 8]>::try_from(x), <[u8; 8]>::try_from(y)) else {
            break;
        };
        let diff = u64::from_le_bytes(x) ^ u64::from_le_bytes(y);
        if diff != 0 {
            return done + (diff.trailing_zeros() / 8) as usize;
        }
        done += 8;
    }
    done + a[done..]
        .iter()
        .zip(&b[done..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// Instruction output with the size cut-off.
struct Encoder {
    out: Vec<u8>,
    max_size: usize,
}

impl Encoder {
    fn check(&self) -> Option<()> {
        (self.out.len() <= self.max_size).then_some(())
    }

    fn insert(&mut self, mut bytes: &[u8]) -> Option<()> {
        while !bytes.is_empty() {
            let n = bytes.len().min(MAX_INSERT);
            self.out.push(n as u8);
            self.out.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            self.check()?;
        }
        Some(())
    }

    fn copy(&mut self, mut offset: usize, mut len: usize) -> Option<()> {
        while len > 0 {
            let n = len.min(MAX_COPY);
            let at = self.out.len();
            self.out.push(0x80);
            let mut op = 0x80u8;
            for i in 0..4 {
                let b = (offset >> (8 * i)) as u8;
                if b != 0 {
                    op |= 1 << i;
                    self.out.push(b);
                }
            }
            // 0x10000 is written as no length bytes at all (a length of 0 means 0x10000).
            let size = if n == MAX_COPY { 0 } else { n };
            for i in 0..3 {
                let b = (size >> (8 * i)) as u8;
                if b != 0 {
                    op |= 0x10 << i;
                    self.out.push(b);
                }
            }
            self.out[at] = op;
            offset += n;
            len -= n;
            self.check()?;
        }
        Some(())
    }
}

/// Appends `v` as a little-endian base-128 varint (the delta header's size encoding).
pub(crate) fn write_varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// A delta from `base` to `target` with no size limit (for one-off use; the window search keeps
/// a [`DeltaIndex`] per base instead).
pub fn create(base: &[u8], target: &[u8]) -> Vec<u8> {
    // Without a limit the encoder never gives up.
    DeltaIndex::new(base.to_vec())
        .delta(target, 0)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::delta::apply;

    /// A small deterministic generator (xorshift), so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    fn text(rng: &mut Rng, lines: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..lines {
            v.extend_from_slice(format!("line {i}: value {}\n", rng.next() % 1000).as_bytes());
        }
        v
    }

    fn round_trip(base: &[u8], target: &[u8]) -> usize {
        let d = create(base, target);
        assert_eq!(apply(base, &d, u64::MAX).unwrap(), target);
        d.len()
    }

    #[test]
    fn random_edits_round_trip_and_stay_small() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for _ in 0..50 {
            let lines = 300 + rng.below(500);
            let base = text(&mut rng, lines);
            let mut target = base.clone();
            let mut changed = 0;
            for _ in 0..rng.below(10) + 1 {
                let at = rng.below(target.len());
                match rng.below(3) {
                    0 => {
                        let n = rng.below(200);
                        let ins = rng.bytes(n);
                        changed += ins.len();
                        target.splice(at..at, ins);
                    }
                    1 => {
                        let end = (at + rng.below(300)).min(target.len());
                        target.drain(at..end);
                    }
                    _ => {
                        let end = (at + rng.below(50)).min(target.len());
                        changed += end - at;
                        let repl = rng.bytes(end - at);
                        target.splice(at..end, repl);
                    }
                }
            }
            let size = round_trip(&base, &target);
            // Each edit costs its new bytes plus a few instructions and one lost block each side.
            assert!(
                size < changed + 12 * 80 + 16,
                "delta {size} for {changed} changed bytes"
            );
        }
    }

    #[test]
    fn block_hash_is_the_polynomial_and_rolls() {
        let data: Vec<u8> = (0u32..64).map(|i| (i * 37 % 251) as u8).collect();
        let folded = |w: &[u8]| {
            w.iter().fold(0u32, |h, &b| {
                h.wrapping_mul(PRIME).wrapping_add(u32::from(b))
            })
        };
        let mut h = block_hash(&data[..BLOCK]);
        for at in 0..data.len() - BLOCK {
            assert_eq!(h, folded(&data[at..at + BLOCK]));
            h = roll(h, data[at], data[at + BLOCK]);
        }
    }

    #[test]
    fn edge_cases_round_trip() {
        let mut rng = Rng(42);
        let a = rng.bytes(5000);
        let b = rng.bytes(3000);
        round_trip(b"", b"");
        round_trip(b"", &a);
        round_trip(&a, b"");
        round_trip(b"short", b"shorter");
        // Identical: a handful of bytes.
        assert!(round_trip(&a, &a) < 16);
        // Totally different: all inserts, one opcode per 127 bytes.
        assert!(round_trip(&a, &b) <= b.len() + b.len() / 127 + 1 + 8);
        // Repetitive data (bucket limit and block runs).
        round_trip(&vec![0u8; 100_000], &vec![0u8; 99_999]);
        let mut rep = b"abcdefgh".repeat(10_000);
        rep[40_000] = b'X';
        round_trip(&b"abcdefgh".repeat(10_000), &rep);
    }

    #[test]
    fn large_copies_use_0x10000_chunks() {
        let mut rng = Rng(7);
        let base = rng.bytes(300_000);
        let mut target = base[1000..].to_vec();
        target.extend_from_slice(b"tail");
        let d = create(&base, &target);
        assert_eq!(apply(&base, &d, u64::MAX).unwrap(), target);
        // 299,000 bytes in copies of at most 0x10000: five copies, a literal and the header.
        assert!(d.len() < 60, "{}", d.len());
        // Exactly one 0x10000 copy: no length bytes (op with only offset bits).
        let exact = base[..0x10000].to_vec();
        let d = create(&base, &exact);
        assert_eq!(apply(&base, &d, u64::MAX).unwrap(), exact);
        let (_, _, at) = crate::pack::delta::header(&d).unwrap();
        assert_eq!(
            d[at], 0x80,
            "copy at offset 0 with length 0x10000 has no operand bytes"
        );
    }

    #[test]
    fn max_size_abandons_losing_deltas() {
        let mut rng = Rng(9);
        let a = rng.bytes(10_000);
        let b = rng.bytes(10_000);
        assert!(DeltaIndex::new(a.clone()).delta(&b, 1000).is_none());
        let mut c = a.clone();
        c[5000] ^= 1;
        let index = DeltaIndex::new(a.clone());
        let d = index.delta(&c, 1000).expect("a small delta fits");
        assert_eq!(apply(&a, &d, u64::MAX).unwrap(), c);
        // The same index serves another target.
        assert!(index.delta(&a, 1000).is_some());
    }
}
