//! EWAH-compressed bitmaps as git stores them in `.bitmap` files (gitformat-bitmap, Appendix A),
//! decoded into a plain [`Bitmap`]: one bit per pack entry is a few KiB even for large packs, and
//! the set operations the server needs (or, and-not, xor, iteration) are then simple word loops.

/// Why an EWAH bitmap could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The serialized bitmap ends early.
    #[error("EWAH bitmap is truncated")]
    Truncated,
    /// Runs and literals describe more bits than the header (or the pack) allows.
    #[error("EWAH bitmap describes more than {0} bits")]
    TooLong(u64),
}

/// A plain bitset.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Bitmap {
    words: Vec<u64>,
}

impl std::fmt::Debug for Bitmap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.ones()).finish()
    }
}

impl Bitmap {
    /// An empty bitmap with room for `bits` bits.
    pub fn with_len(bits: usize) -> Bitmap {
        Bitmap {
            words: vec![0; bits.div_ceil(64)],
        }
    }

    /// Whether bit `i` is set.
    pub fn get(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Sets bit `i` (growing as needed).
    pub fn set(&mut self, i: usize) {
        if i / 64 >= self.words.len() {
            self.words.resize(i / 64 + 1, 0);
        }
        self.words[i / 64] |= 1 << (i % 64);
    }

    /// `self |= other`.
    pub fn or(&mut self, other: &Bitmap) {
        if other.words.len() > self.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
    }

    /// `self ^= other`.
    pub fn xor(&mut self, other: &Bitmap) {
        if other.words.len() > self.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a ^= b;
        }
    }

    /// `self &= !other`.
    pub fn and_not(&mut self, other: &Bitmap) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= !b;
        }
    }

    /// `self &= other`.
    pub fn and(&mut self, other: &Bitmap) {
        for (i, a) in self.words.iter_mut().enumerate() {
            *a &= other.words.get(i).copied().unwrap_or(0);
        }
    }

    /// Number of set bits.
    pub fn count(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// Whether bits `0..n` are all set.
    pub fn all_below(&self, n: usize) -> bool {
        let full = n / 64;
        if self.words.len() < n.div_ceil(64) {
            return false;
        }
        if self.words[..full].iter().any(|&w| w != u64::MAX) {
            return false;
        }
        let rest = n % 64;
        rest == 0 || self.words[full] & ((1u64 << rest) - 1) == (1u64 << rest) - 1
    }

    /// The set bits, ascending.
    pub fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + b)
            })
        })
    }
}

fn be32(b: &[u8], at: usize) -> Result<u32, Error> {
    let s = b.get(at..at + 4).ok_or(Error::Truncated)?;
    Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Length in bytes of the serialized EWAH bitmap at the start of `data`.
pub fn serialized_len(data: &[u8]) -> Result<usize, Error> {
    let words = be32(data, 4)? as usize;
    let len = 8usize
        .checked_add(words.checked_mul(8).ok_or(Error::Truncated)?)
        .and_then(|n| n.checked_add(4))
        .ok_or(Error::Truncated)?;
    if len > data.len() {
        return Err(Error::Truncated);
    }
    Ok(len)
}

/// Decodes the serialized EWAH bitmap at the start of `data`; it may describe at most
/// `max_bits` bits (the pack's object count), so a damaged file cannot make us allocate more.
pub fn decode(data: &[u8], max_bits: usize) -> Result<Bitmap, Error> {
    let bits = be32(data, 0)? as usize;
    // git rounds the bit count of commit bitmaps up to whole words.
    if bits.div_ceil(64) > max_bits.div_ceil(64) {
        return Err(Error::TooLong(max_bits as u64));
    }
    let len = serialized_len(data)?;
    let words: Vec<u64> = data[8..len - 4]
        .chunks_exact(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    let max_words = bits.div_ceil(64);
    let mut out = Bitmap {
        words: Vec::with_capacity(max_words),
    };
    let mut i = 0;
    while i < words.len() {
        let rlw = words[i];
        i += 1;
        let run_bit = rlw & 1;
        let run_len = ((rlw >> 1) & 0xffff_ffff) as usize;
        let literals = (rlw >> 33) as usize;
        if out.words.len() + run_len > max_words {
            return Err(Error::TooLong(bits as u64));
        }
        let fill = if run_bit == 1 { u64::MAX } else { 0 };
        out.words.resize(out.words.len() + run_len, fill);
        let lit = words.get(i..i + literals).ok_or(Error::Truncated)?;
        if out.words.len() + literals > max_words {
            return Err(Error::TooLong(bits as u64));
        }
        out.words.extend_from_slice(lit);
        i += literals;
    }
    Ok(out)
}

/// Longest run one marker word can describe (32 bits of run length).
const MAX_RUN: u64 = (1 << 32) - 1;
/// Most literal words one marker word can announce (31 bits of literal count).
const MAX_LITERALS: usize = (1 << 31) - 1;

/// Serializes `bitmap` in git's EWAH form for a bitmap of `bits` bits (the pack's object count):
/// words that are all zeros or all ones become runs in a marker word, the others follow it as
/// literals. Words past the last set bit, up to `bits`, are a zero run, so every bitmap of a
/// file covers the same range, as git's do. The inverse of [`decode`].
pub fn encode(bitmap: &Bitmap, bits: usize) -> Vec<u8> {
    let n_words = bits.div_ceil(64).max(bitmap.words.len());
    let word = |i: usize| bitmap.words.get(i).copied().unwrap_or(0);
    let mut out_words: Vec<u64> = Vec::new();
    // Index of the last marker word: git stores it after the words (`rlw` position).
    let mut last_marker = 0usize;
    let mut i = 0;
    while i < n_words || out_words.is_empty() {
        let fill = word(i);
        let mut run = 0u64;
        if fill == 0 || fill == u64::MAX {
            while i < n_words && word(i) == fill && run < MAX_RUN {
                run += 1;
                i += 1;
            }
        }
        let start = i;
        while i < n_words && i - start < MAX_LITERALS && word(i) != 0 && word(i) != u64::MAX {
            i += 1;
        }
        let literals = i - start;
        let run_bit = u64::from(run > 0 && fill == u64::MAX);
        last_marker = out_words.len();
        out_words.push(run_bit | (run << 1) | ((literals as u64) << 33));
        out_words.extend((start..i).map(word));
    }
    let mut out = Vec::with_capacity(12 + out_words.len() * 8);
    out.extend_from_slice(&(bits as u32).to_be_bytes());
    out.extend_from_slice(&(out_words.len() as u32).to_be_bytes());
    for w in &out_words {
        out.extend_from_slice(&w.to_be_bytes());
    }
    out.extend_from_slice(&(last_marker as u32).to_be_bytes());
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// [`encode`] of the plain `words` (for tests that write bitmap files by hand).
    pub(crate) fn encode_words(bits: usize, words: &[u64]) -> Vec<u8> {
        encode(
            &Bitmap {
                words: words.to_vec(),
            },
            bits,
        )
    }

    #[test]
    fn encode_roundtrips() {
        let cases: Vec<Vec<u64>> = vec![
            vec![],
            vec![0],
            vec![u64::MAX; 5],
            vec![1, 2, 3],
            vec![0, 0, 7, u64::MAX, 0, 9, 9, 0],
            (0..1000u64)
                .map(|i| if i % 3 == 0 { 0 } else { i * 0x9e37 })
                .collect(),
        ];
        for words in cases {
            let bits = words.len() * 64 + 10;
            let b = Bitmap {
                words: words.clone(),
            };
            let bytes = encode(&b, bits);
            assert_eq!(serialized_len(&bytes).unwrap(), bytes.len());
            let back = decode(&bytes, bits).unwrap();
            assert_eq!(
                back.ones().collect::<Vec<_>>(),
                b.ones().collect::<Vec<_>>()
            );
            assert_eq!(
                back.words.len(),
                bits.div_ceil(64),
                "padded to the bit count"
            );
            // The marker position points at a marker inside the words.
            let count = u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as usize;
            let marker = u32::from_be_bytes(bytes[bytes.len() - 4..].try_into().unwrap());
            assert!((marker as usize) < count.max(1));
        }
        // Runs compress: a million set bits are one marker word.
        let mut full = Bitmap::with_len(1 << 20);
        (0..1 << 20).for_each(|i| full.set(i));
        assert_eq!(encode(&full, 1 << 20).len(), 8 + 8 + 4);
    }

    #[test]
    fn roundtrip_runs_and_literals() {
        let words = [0, 0, 0b1011, u64::MAX, u64::MAX, 5, 0, 1 << 63];
        let bytes = encode_words(64 * words.len(), &words);
        let b = decode(&bytes, 10_000).unwrap();
        assert_eq!(b.words, words);
        assert!(b.get(128) && !b.get(130) && b.get(131) && b.get(511));
        assert_eq!(b.count(), 3 + 128 + 2 + 1);
        assert_eq!(serialized_len(&bytes).unwrap(), bytes.len());
        let ones: Vec<usize> = b.ones().take(3).collect();
        assert_eq!(ones, [128, 129, 131]);
    }

    #[test]
    fn set_operations() {
        let mut a = Bitmap::with_len(200);
        for i in [1, 64, 150] {
            a.set(i);
        }
        let mut b = Bitmap::with_len(10);
        b.set(64);
        b.set(199);
        let mut x = a.clone();
        x.or(&b);
        assert_eq!(x.ones().collect::<Vec<_>>(), [1, 64, 150, 199]);
        x.and_not(&b);
        assert_eq!(x.ones().collect::<Vec<_>>(), [1, 150]);
        x.xor(&a);
        assert_eq!(x.ones().collect::<Vec<_>>(), [64]);
        let mut full = Bitmap::with_len(70);
        (0..70).for_each(|i| full.set(i));
        assert!(full.all_below(70) && !a.all_below(2));
    }

    #[test]
    fn damage_is_an_error() {
        let bytes = encode_words(640, &[7; 10]);
        assert_eq!(decode(&bytes, 100), Err(Error::TooLong(100)));
        assert!(
            decode(&bytes, 600).is_ok(),
            "bit counts are rounded to words"
        );
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], 1000).is_err());
        }
        // A run longer than the declared bit count.
        let mut lie = encode_words(64, &[0; 1]);
        lie[8..16].copy_from_slice(&((1000u64) << 1).to_be_bytes());
        assert!(decode(&lie, 100_000).is_err());
    }
}
