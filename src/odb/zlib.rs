//! zlib encoders sized to what they compress.
//!
//! A deflate state zeroes its window, hash chains and hash heads when created: with zlib's
//! largest window (32 KiB, what `ZlibEncoder::new` asks for) 256 KiB, even for a 300-byte
//! object; the heads (128 KiB in zlib-rs) do not depend on the window, the rest does. A small
//! push compressed every loose object and thin-pack base with a state of its own, on top of
//! all the push held at that point, and those pages were part of its peak RSS. So: a window no
//! wider than the input needs (the smallest that still reaches back over the whole input finds
//! the same matches, and the stream's header names its window, which every inflater, git's
//! included, reads), and one state for a run of streams ([`Deflater`]), as states created one
//! after another land at new places of a heap that the allocations between them fragment.

use flate2::write::ZlibEncoder;
use flate2::{Compress, Compression};

/// How far short of its window zlib's farthest match stops (`MIN_LOOKAHEAD` in zlib).
const MIN_LOOKAHEAD: usize = 262;
/// zlib's smallest and largest windows (log2 bytes).
const WINDOW_BITS: std::ops::RangeInclusive<u8> = 9..=15;

/// The smallest window (log2 bytes) whose matches reach back over an input of `len` bytes;
/// the largest window for longer inputs.
pub fn window_bits_for(len: usize) -> u8 {
    WINDOW_BITS
        .clone()
        .find(|&bits| (1usize << bits) - MIN_LOOKAHEAD >= len)
        .unwrap_or(*WINDOW_BITS.end())
}

/// A zlib encoder at `level` (0-9, higher is clamped) appending to `out`, with a window of
/// `window_bits` (from [`window_bits_for`] or [`RUN_WINDOW_BITS`]: within zlib's range).
fn encoder(out: Vec<u8>, level: u32, window_bits: u8) -> ZlibEncoder<Vec<u8>> {
    let compress =
        Compress::new_with_window_bits(Compression::new(level.min(9)), true, window_bits);
    ZlibEncoder::new_with_compress(out, compress)
}

/// The narrowest window of a [`Deflater`]: 4 KiB, so that a run of small objects (commits,
/// trees and blobs of a few hundred bytes to a few KiB) shares one state instead of widening
/// it object after object; zeroing the wider window costs 12 KiB more than the narrowest.
const RUN_WINDOW_BITS: u8 = 12;

/// One deflate state for a run of zlib streams (a push's loose objects, a thin pack's bases),
/// reset between them, replaced by a larger one when a stream needs a wider window.
pub struct Deflater {
    level: u32,
    /// The state and its window (log2 bytes); none before the first stream, or after an error.
    current: Option<(u8, ZlibEncoder<Vec<u8>>)>,
}

impl Deflater {
    /// A deflater at `level` (0-9, higher is clamped).
    pub fn new(level: u32) -> Self {
        Deflater {
            level,
            current: None,
        }
    }

    /// Appends to `out` one zlib stream of `parts`, concatenated.
    pub fn compress(&mut self, out: Vec<u8>, parts: &[&[u8]]) -> std::io::Result<Vec<u8>> {
        use std::io::Write;
        let len = parts.iter().map(|p| p.len()).sum();
        let bits = window_bits_for(len).max(RUN_WINDOW_BITS);
        if self.current.as_ref().is_some_and(|(have, _)| *have < bits) {
            // Freed before the wider one is allocated.
            self.current = None;
        }
        let level = self.level;
        let (_, z) = self
            .current
            .get_or_insert_with(|| (bits, encoder(Vec::new(), level, bits)));
        // The state holds a fresh stream and an empty output: nothing written yet is lost.
        *z.get_mut() = out;
        let mut stream = || -> std::io::Result<Vec<u8>> {
            for part in parts {
                z.write_all(part)?;
            }
            // Finishes this stream, hands its output back and starts the next one.
            z.reset(Vec::new())
        };
        let done = stream();
        // A state that failed mid-stream is not reused.
        if done.is_err() {
            self.current = None;
        }
        done
    }
}

/// `input` as one zlib stream at `level` (0-9; higher is clamped), compressed whole by
/// libdeflate: a fifth faster than zlib at the same level and within a tenth of a percent of
/// its size (tokio's blobs at level 6), for data already in memory (a delta, an object sent
/// whole). Each thread keeps one compressor per level it last used.
pub fn deflate_whole(input: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    use libdeflater::{CompressionLvl, Compressor};
    thread_local! {
        /// The compressor and its output room, sized to the largest bound met so far.
        static WHOLE: std::cell::RefCell<Option<(u32, Compressor, Vec<u8>)>> =
            const { std::cell::RefCell::new(None) };
    }
    let level = level.min(9);
    WHOLE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_some_and(|(l, _, _)| *l != level) {
            *slot = None;
        }
        let (_, c, room) = slot.get_or_insert_with(|| {
            // 0..=9 is within libdeflate's 0..=12.
            let lvl = CompressionLvl::new(level as i32).unwrap_or_default();
            (level, Compressor::new(lvl), Vec::new())
        });
        let bound = c.zlib_compress_bound(input.len());
        if room.len() < bound {
            room.resize(bound, 0);
        }
        let n = c
            .zlib_compress(input, room)
            .map_err(|e| std::io::Error::other(format!("deflate: {e}")))?;
        // Copied out at its own length: callers keep many (a search's cached deltas), and the
        // room is the input's size, several times the output's.
        let out = room[..n].to_vec();
        if room.len() > ROOM_KEPT {
            *room = Vec::new();
        }
        Ok(out)
    })
}

/// Output room [`deflate_whole`] keeps between calls; a larger one (a big object's) is freed.
const ROOM_KEPT: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn whole_streams_inflate_back_at_every_level() {
        let data: Vec<u8> = (0..50_000u32)
            .flat_map(|i| (i % 977).to_le_bytes())
            .collect();
        for level in [0, 1, 6, 9, 12] {
            let z = deflate_whole(&data, level).unwrap();
            assert!(!z.is_empty());
            let mut back = Vec::new();
            flate2::read::ZlibDecoder::new(&z[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "level {level}");
        }
        let mut back = Vec::new();
        flate2::read::ZlibDecoder::new(&deflate_whole(b"", 6).unwrap()[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back.is_empty());
    }

    #[test]
    fn windows_cover_the_input_and_stay_in_zlib_range() {
        assert_eq!(window_bits_for(0), 9);
        assert_eq!(window_bits_for(512 - 262), 9);
        assert_eq!(window_bits_for(512 - 261), 10);
        assert_eq!(window_bits_for((1 << 14) - 262), 14);
        assert_eq!(window_bits_for((1 << 15) - 262), 15);
        assert_eq!(window_bits_for(1 << 15), 15);
        assert_eq!(window_bits_for(usize::MAX), 15);
    }

    #[test]
    fn streams_name_their_window_and_inflate_with_the_default_one() {
        for len in [0usize, 1, 250, 251, 300, 5_000, 32_506, 32_507, 200_000] {
            let data: Vec<u8> = (0..len)
                .map(|i| (i * 7 % 251) as u8 ^ (i / 300) as u8)
                .collect();
            let mut z = encoder(b"prefix".to_vec(), 6, window_bits_for(len));
            z.write_all(&data).unwrap();
            let out = z.finish().unwrap();
            assert_eq!(&out[..6], b"prefix");
            // CMF: CINFO (window bits - 8) in the high nibble, deflate (8) in the low one.
            let cmf = out[6];
            assert_eq!((cmf >> 4) + 8, window_bits_for(len), "len {len}");
            assert_eq!(cmf & 0x0f, 8);
            let mut back = Vec::new();
            flate2::read::ZlibDecoder::new(&out[6..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "len {len}");
        }
    }

    #[test]
    fn a_deflater_reused_across_sizes_gives_streams_that_inflate() {
        let mut d = Deflater::new(1);
        for (i, len) in [300usize, 10, 40_000, 200, 0, 5_000]
            .into_iter()
            .enumerate()
        {
            let data: Vec<u8> = (0..len).map(|k| (k % 97) as u8).collect();
            let out = d.compress(vec![i as u8], &[b"head ", &data]).unwrap();
            assert_eq!(out[0], i as u8);
            // At least the run's narrowest window; after the 40,000-byte stream the state
            // keeps its widest one.
            let expected = if i >= 2 { 15 } else { RUN_WINDOW_BITS };
            assert_eq!((out[1] >> 4) + 8, expected, "stream {i}");
            let mut back = Vec::new();
            flate2::read::ZlibDecoder::new(&out[1..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(&back[..5], b"head ");
            assert_eq!(&back[5..], &data[..], "stream {i}");
        }
    }

    #[test]
    fn a_sized_window_compresses_as_well_as_the_largest() {
        // 12,000 bytes: a 16 KiB window instead of 32 KiB.
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("line {} of a file\n", i % 700).into_bytes())
            .take(12_000)
            .collect();
        let sized = {
            let mut z = encoder(Vec::new(), 1, window_bits_for(text.len()));
            z.write_all(&text).unwrap();
            z.finish().unwrap()
        };
        let largest = {
            let mut z = ZlibEncoder::new(Vec::new(), Compression::new(1));
            z.write_all(&text).unwrap();
            z.finish().unwrap()
        };
        assert_eq!(sized.len(), largest.len());
    }
}
