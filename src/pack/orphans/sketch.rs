//! Resemblance sketches: a few hundred bytes per object that estimate, without building a delta
//! index, how much of one object's text another holds. The orphan search ([`super::search`])
//! tries a delta only where the estimate promises one: on a `--depth=1` clone nearly every entry
//! is an orphan whose only possible bases are other files, and most such pairs share nothing.
//!
//! A sketch is the `K` smallest distinct hashes of an object's 16-byte windows (git's delta
//! index hashes 16-byte blocks too: a window both objects hold is text a delta can copy). Two
//! sketches compared below the smaller of their largest hashes are uniform samples of both sets
//! ("bottom-k" sketches), so the share of the target's samples found in the base's estimates the
//! share of the target a delta against that base could copy.

/// Hashes kept per object: the estimate's error is about `1 / sqrt(K)` of the share.
const K: usize = 128;

/// Bytes hashed together, as git's delta index blocks: a gear hash shifts each byte's value
/// `64 / WINDOW` bits per byte, so a byte leaves the 64-bit hash after `WINDOW` bytes.
const WINDOW: usize = 16;

/// Bits each byte moves the gear hash by.
const SHIFT: u32 = (64 / WINDOW) as u32;

/// Random values per byte for the gear hash (splitmix64 of the byte), made at compile time.
const GEAR: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut z = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        t[i] = z ^ (z >> 31);
        i += 1;
    }
    t
};

/// The bottom-`K` hashes of an object's 16-byte windows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sketch {
    /// Ascending, distinct, at most `K`.
    hashes: Vec<u32>,
}

impl Sketch {
    /// The sketch of `data` (empty when shorter than one window). One shift, add and multiply
    /// per byte: the sketch must cost far less than the delta it saves trying.
    pub fn of(data: &[u8]) -> Self {
        let mut hashes: Vec<u32> = Vec::with_capacity(K + 1);
        // Below `max` a hash may join the sketch (u32::MAX + 1 until the sketch is full).
        let mut max = u64::from(u32::MAX) + 1;
        let mut h = 0u64;
        for (i, &b) in data.iter().enumerate() {
            h = (h << SHIFT).wrapping_add(GEAR[usize::from(b)]);
            if i + 1 < WINDOW {
                continue;
            }
            // The high bits of a product depend on all of `h`'s bits.
            let x = h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
            if x >= max {
                continue;
            }
            let x = x as u32;
            if let Err(at) = hashes.binary_search(&x) {
                hashes.insert(at, x);
                if hashes.len() > K {
                    hashes.truncate(K);
                }
                if hashes.len() == K {
                    max = hashes.last().map_or(max, |&m| u64::from(m));
                }
            }
        }
        Sketch { hashes }
    }

    /// The estimated share (0 to 1) of the windows of the target sketched as `self` that
    /// `base` also holds. Both samples are cut at the smaller of the two sketches' largest
    /// hashes when full, so each is a uniform sample of the same hash range.
    pub fn contained_in(&self, base: &Sketch) -> f64 {
        let cut = |s: &Sketch| {
            if s.hashes.len() < K {
                u32::MAX
            } else {
                s.hashes.last().copied().unwrap_or(u32::MAX)
            }
        };
        let limit = cut(self).min(cut(base));
        let mut sampled = 0u32;
        let mut common = 0u32;
        let mut theirs = base.hashes.iter().peekable();
        for &x in self.hashes.iter().take_while(|&&x| x <= limit) {
            sampled += 1;
            while theirs.next_if(|&&y| y < x).is_some() {}
            if theirs.peek() == Some(&&x) {
                common += 1;
            }
        }
        if sampled == 0 {
            0.0
        } else {
            f64::from(common) / f64::from(sampled)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic text of `n` lines, line `i` saying `i` in words of `seed`.
    fn text(seed: u32, lines: std::ops::Range<u32>) -> Vec<u8> {
        lines
            .map(|i| {
                format!(
                    "line {i} of file {seed}: {}\n",
                    i.wrapping_mul(2_654_435_761) ^ seed
                )
            })
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn identical_objects_contain_each_other() {
        let a = Sketch::of(&text(1, 0..500));
        assert_eq!(a.hashes.len(), K);
        assert_eq!(a.contained_in(&a), 1.0);
    }

    #[test]
    fn unrelated_objects_share_nothing() {
        let a = Sketch::of(&text(1, 0..500));
        let b = Sketch::of(&text(2, 0..500));
        // Their lines' words ("line 12 of file ") are common to both: 8 % of the windows.
        assert!(a.contained_in(&b) < 0.15, "{}", a.contained_in(&b));
    }

    #[test]
    fn half_of_a_target_is_found_in_its_base() {
        // The target: the base's first half, then text of its own.
        let base = text(3, 0..1000);
        let mut target = text(3, 0..500);
        target.extend(text(4, 0..500));
        let share = Sketch::of(&target).contained_in(&Sketch::of(&base));
        assert!((0.35..0.65).contains(&share), "{share}");
        // A small target inside a large base (the base's sample is cut at its own range).
        let small = text(3, 100..200);
        let share = Sketch::of(&small).contained_in(&Sketch::of(&base));
        assert!(share > 0.8, "{share}");
    }

    #[test]
    fn short_objects_have_empty_sketches() {
        assert!(Sketch::of(b"short").hashes.is_empty());
        assert_eq!(
            Sketch::of(b"short").contained_in(&Sketch::of(b"short")),
            0.0
        );
        assert_eq!(Sketch::of(&[7u8; 16]).hashes.len(), 1);
    }
}
