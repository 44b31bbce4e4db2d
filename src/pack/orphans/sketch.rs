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
    /// Every distinct window hash at or below `cut` is in `hashes`, none above.
    cut: u32,
}

/// Hashes a sketch expects to meet below its first threshold: twice `K`, so that a sketch falls
/// short of `K` only rarely, and few enough that keeping them all and sorting once costs less
/// than keeping `K` sorted as they come (the insertions cost 2.5 ns a byte on tokio's blobs).
const EXPECTED: u64 = 2 * K as u64;

/// Hashes kept before they are sorted and cut to `K` (a text of one repeated window sends the
/// same hash each byte).
const SPILL: usize = 8 * K;

impl Sketch {
    /// The sketch of `data` (empty when shorter than one window). Threshold sampling: a window
    /// hash is kept when below a threshold that leaves about [`EXPECTED`] of the object's
    /// windows, then the smallest `K` distinct ones are the sketch. Per byte one shift, add
    /// and compare, the shifts of two bytes at once (the gear's dependency chain is the cost):
    /// the sketch must cost far less than the delta it saves trying.
    pub fn of(data: &[u8]) -> Self {
        let windows = data.len().saturating_sub(WINDOW - 1) as u64;
        if windows == 0 {
            return Sketch {
                hashes: Vec::new(),
                cut: u32::MAX,
            };
        }
        let range = u64::from(u32::MAX) + 1;
        let sketch = Self::below(data, range.saturating_mul(EXPECTED) / windows);
        if sketch.hashes.len() >= K / 2 || sketch.cut == u32::MAX {
            return sketch;
        }
        // Few distinct windows (a text repeating itself): the threshold assumed every window
        // was new. Sampled below no threshold, the sketch holds the `K` smallest there are.
        Self::below(data, range)
    }

    /// The sketch of `data` (at least one window long) from the distinct window hashes below
    /// `below` (at most `u32::MAX + 1`), cut to the smallest `K`.
    fn below(data: &[u8], below: u64) -> Self {
        let mut sampler = Sampler {
            hashes: Vec::with_capacity(EXPECTED as usize + EXPECTED as usize / 2),
            below,
            last: None,
        };
        let (head, rest) = data.split_at(WINDOW - 1);
        let mut h = head.iter().fold(0u64, |h, &b| {
            (h << SHIFT).wrapping_add(GEAR[usize::from(b)])
        });
        let mut pairs = rest.chunks_exact(2);
        for pair in &mut pairs {
            let (g0, g1) = (GEAR[usize::from(pair[0])], GEAR[usize::from(pair[1])]);
            let first = (h << SHIFT).wrapping_add(g0);
            h = (h << (2 * SHIFT)).wrapping_add((g0 << SHIFT).wrapping_add(g1));
            sampler.offer(first);
            sampler.offer(h);
        }
        for &b in pairs.remainder() {
            h = (h << SHIFT).wrapping_add(GEAR[usize::from(b)]);
            sampler.offer(h);
        }
        let Sampler {
            mut hashes, below, ..
        } = sampler;
        hashes.sort_unstable();
        hashes.dedup();
        let cut = if hashes.len() > K {
            hashes.truncate(K);
            hashes[K - 1]
        } else {
            // Everything below the threshold is kept (at most u32::MAX + 1, so this fits).
            u32::try_from(below.saturating_sub(1)).unwrap_or(u32::MAX)
        };
        Sketch { hashes, cut }
    }

    /// The estimated share (0 to 1) of the windows of the target sketched as `self` that
    /// `base` also holds. Both samples are cut at the smaller of the two sketches' cuts, so
    /// each is a uniform sample of the same hash range.
    pub fn contained_in(&self, base: &Sketch) -> f64 {
        let limit = self.cut.min(base.cut);
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

/// The window hashes of one object kept so far, and the threshold they must be below.
struct Sampler {
    hashes: Vec<u32>,
    below: u64,
    /// The hash kept last: a run of one repeated byte offers it once per byte.
    last: Option<u32>,
}

impl Sampler {
    /// Offers the gear hash `h` of one window: its high half, the bits every byte of the window
    /// has reached, is the window's hash.
    #[inline(always)]
    fn offer(&mut self, h: u64) {
        let x = h >> 32;
        // `x` came from the high 32 bits.
        if x < self.below && self.last != Some(x as u32) {
            self.last = Some(x as u32);
            self.hashes.push(x as u32);
            if self.hashes.len() == SPILL {
                self.hashes.sort_unstable();
                self.hashes.dedup();
                if self.hashes.len() >= K {
                    self.hashes.truncate(K);
                    self.below = u64::from(self.hashes[K - 1]) + 1;
                }
            }
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

    /// Every distinct window hash of `data`, ascending, each window hashed on its own.
    fn all_window_hashes(data: &[u8]) -> Vec<u32> {
        let mut all: Vec<u32> = data
            .windows(WINDOW)
            .map(|w| {
                let h = w.iter().fold(0u64, |h, &b| {
                    (h << SHIFT).wrapping_add(GEAR[usize::from(b)])
                });
                (h >> 32) as u32
            })
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    #[test]
    fn a_sketch_is_the_smallest_window_hashes() {
        // Large (sampled below a threshold, then cut to K), odd and even lengths (the rolling
        // hash takes two bytes a step).
        for data in [text(5, 0..2000), text(5, 0..2001)[1..].to_vec()] {
            let s = Sketch::of(&data);
            let all = all_window_hashes(&data);
            assert_eq!(s.hashes, all[..K]);
            assert_eq!(s.cut, all[K - 1]);
        }
        // Small: every window is kept and the cut is the whole range.
        let small = text(6, 0..3);
        let s = Sketch::of(&small);
        assert_eq!(s.hashes, all_window_hashes(&small));
        assert!(s.hashes.len() < K);
        assert_eq!(s.cut, u32::MAX);
    }

    #[test]
    fn a_repeated_window_is_kept_once() {
        // Every window of the text is the same: the kept hashes are sorted and deduplicated as
        // they pile up, not held once per byte.
        let s = Sketch::of(&[b'x'; 1 << 20]);
        assert_eq!(s.hashes.len(), 1);
        assert_eq!(s.contained_in(&s), 1.0);
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
