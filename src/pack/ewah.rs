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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Serializes `words` as literal chunks with runs for all-zero/all-one words (a simple
    /// encoder for tests).
    pub(crate) fn encode(bits: usize, words: &[u64]) -> Vec<u8> {
        let mut out_words: Vec<u64> = Vec::new();
        let mut i = 0;
        while i < words.len() {
            let fill = words[i];
            let mut run = 0u64;
            if fill == 0 || fill == u64::MAX {
                while i < words.len() && words[i] == fill {
                    run += 1;
                    i += 1;
                }
            }
            let mut lits = Vec::new();
            while i < words.len() && words[i] != 0 && words[i] != u64::MAX {
                lits.push(words[i]);
                i += 1;
            }
            let bit = u64::from(fill == u64::MAX && run > 0);
            out_words.push(bit | (run << 1) | ((lits.len() as u64) << 33));
            out_words.extend(lits);
        }
        let mut out = (bits as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&(out_words.len() as u32).to_be_bytes());
        for w in &out_words {
            out.extend_from_slice(&w.to_be_bytes());
        }
        out.extend_from_slice(&0u32.to_be_bytes());
        out
    }

    #[test]
    fn roundtrip_runs_and_literals() {
        let words = [0, 0, 0b1011, u64::MAX, u64::MAX, 5, 0, 1 << 63];
        let bytes = encode(64 * words.len(), &words);
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
        let bytes = encode(640, &[7; 10]);
        assert_eq!(decode(&bytes, 100), Err(Error::TooLong(100)));
        assert!(
            decode(&bytes, 600).is_ok(),
            "bit counts are rounded to words"
        );
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], 1000).is_err());
        }
        // A run longer than the declared bit count.
        let mut lie = encode(64, &[0; 1]);
        lie[8..16].copy_from_slice(&((1000u64) << 1).to_be_bytes());
        assert!(decode(&lie, 100_000).is_err());
    }
}
