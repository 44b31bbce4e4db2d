//! Inflating entry data: zlib streams that must inflate to exactly their declared size.
//!
//! A whole entry goes through libdeflate in one call into a buffer of its declared size (the
//! stream's end is found by the inflater, and whatever follows it in `input` is not read);
//! a commit's head, inflated only in part, through zlib-rs, which can stop anywhere.

use flate2::{Decompress, FlushDecompress, Status};
use libdeflater::{DecompressionError, Decompressor};

thread_local! {
    /// One whole-stream inflater per thread (libdeflate allocates its tables once).
    static WHOLE: std::cell::RefCell<Option<Decompressor>> = const { std::cell::RefCell::new(None) };
    /// One inflater per thread, reset between objects: creating one per object (state and
    /// window allocation, zeroing) showed up as several percent of a clone's time.
    static INFLATER: std::cell::RefCell<Option<Decompress>> = const { std::cell::RefCell::new(None) };
}

/// Inflates zlib `input` into exactly `size` bytes (more or less is an error). The stream's
/// Adler-32 is checked; bytes after its end are ignored.
pub fn inflate_exact(input: &[u8], size: usize) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; size];
    let written = WHOLE.with(|cell| {
        let mut slot = cell.borrow_mut();
        slot.get_or_insert_with(Decompressor::new)
            .zlib_decompress(input, &mut out)
    });
    match written {
        Ok(n) if n == size => Ok(out),
        Ok(n) => Err(format!("entry inflates to {n} bytes, declared {size}")),
        Err(DecompressionError::InsufficientSpace) => Err(format!(
            "entry inflates to more than its declared {size} bytes"
        )),
        Err(DecompressionError::BadData) => {
            Err("zlib: corrupt, truncated or failing its checksum".into())
        }
    }
}

/// Output room [`inflate_head`] starts with, doubled while the head is not complete: a commit's
/// head (tree, parents, author, committer) is about 250 bytes.
const HEAD_STEP: usize = 512;

/// Inflates zlib `input`, an entry of `size` bytes, only until `head_len` finds the end of the
/// part wanted in what is inflated so far; returns the bytes up to that end. The rest of the
/// stream is neither inflated nor checked. An entry in which `head_len` finds no end is
/// returned whole, checked as [`inflate_exact`] checks it.
pub fn inflate_head(
    input: &[u8],
    size: usize,
    head_len: impl Fn(&[u8]) -> Option<usize>,
) -> Result<Vec<u8>, String> {
    with_inflater(|z| {
        let mut out = Vec::with_capacity(size.min(HEAD_STEP));
        loop {
            let (before_in, before_out) = (z.total_in(), z.total_out());
            let status = z
                .decompress_vec(unread(z, input), &mut out, FlushDecompress::None)
                .map_err(zlib)?;
            if let Some(end) = head_len(&out) {
                out.truncate(end);
                return Ok(out);
            }
            if status == Status::StreamEnd {
                break;
            }
            if out.len() >= size {
                // All the declared bytes and no head: whole, if only the end marker is left.
                ends_here(z, input, out.len(), size)?;
                break;
            }
            if out.len() == out.capacity() {
                out.reserve_exact(out.len().min(size - out.len()));
            } else if z.total_in() == before_in && z.total_out() == before_out {
                return Err("truncated zlib stream".into());
            }
        }
        if out.len() != size {
            return Err(format!(
                "entry inflates to {} bytes, declared {size}",
                out.len()
            ));
        }
        Ok(out)
    })
}

/// Inflates the start of zlib `input` into `out`; the bytes written (fewer when the stream is
/// shorter or damaged). Reading a delta's result size this way took a new inflater per delta,
/// a tenth of the size probes' cost.
pub(super) fn inflate_prefix(input: &[u8], out: &mut [u8]) -> usize {
    with_inflater(|z| {
        let _ = z.decompress(input, out, FlushDecompress::None);
        (z.total_out() as usize).min(out.len())
    })
}

/// Runs `f` with this thread's inflater, reset for a new stream.
fn with_inflater<T>(f: impl FnOnce(&mut Decompress) -> T) -> T {
    let mut z = INFLATER
        .with(|c| c.borrow_mut().take())
        .map(|mut z| {
            z.reset(true);
            z
        })
        .unwrap_or_else(|| Decompress::new(true));
    let result = f(&mut z);
    INFLATER.with(|c| *c.borrow_mut() = Some(z));
    result
}

/// `Ok` when the stream in `z` ends after the `written` bytes already inflated (only its end
/// marker was left); otherwise the entry is larger than its declared `size`.
fn ends_here(z: &mut Decompress, input: &[u8], written: usize, size: usize) -> Result<(), String> {
    let mut probe = [0u8; 1];
    let status = z
        .decompress(unread(z, input), &mut probe, FlushDecompress::Finish)
        .map_err(zlib)?;
    if status == Status::StreamEnd && z.total_out() == written as u64 {
        return Ok(());
    }
    Err(format!(
        "entry inflates to more than its declared {size} bytes"
    ))
}

/// What `z` has not consumed of `input` yet.
fn unread<'a>(z: &Decompress, input: &'a [u8]) -> &'a [u8] {
    input.get(z.total_in() as usize..).unwrap_or(&[])
}

fn zlib(e: flate2::DecompressError) -> String {
    format!("zlib: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odb::commit_head_len;
    use std::io::Write;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    }

    #[test]
    fn whole_entries_inflate_to_exactly_their_size() {
        let data = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n".repeat(50);
        let mut z = deflate(&data);
        assert_eq!(inflate_exact(&z, data.len()).unwrap(), data);
        // The next entry's bytes after the stream are not read.
        let mut followed = z.clone();
        followed.extend_from_slice(b"next entry");
        assert_eq!(inflate_exact(&followed, data.len()).unwrap(), data);
        // More or fewer bytes than declared, a cut stream, a wrong checksum: errors.
        let more = inflate_exact(&z, data.len() - 1).unwrap_err();
        assert!(more.contains("more than its declared"), "{more}");
        let fewer = inflate_exact(&z, data.len() + 1).unwrap_err();
        assert!(
            fewer.contains(&format!("inflates to {} bytes", data.len())),
            "{fewer}"
        );
        assert!(inflate_exact(&z[..z.len() - 6], data.len()).is_err());
        let last = z.len() - 1;
        z[last] ^= 1;
        assert!(inflate_exact(&z, data.len()).is_err());
        assert_eq!(inflate_exact(&deflate(b""), 0).unwrap(), b"");
    }

    #[test]
    fn head_is_inflated_to_its_end_only() {
        let tree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
        let mut commit = format!("tree {tree}\n");
        // Heads both shorter and longer than the first room given.
        for parents in [1, 40] {
            commit.truncate(46);
            for _ in 0..parents {
                commit.push_str(&format!("parent {tree}\n"));
            }
            commit.push_str("author a <a> 1 +0000\ncommitter c <c> 2 +0000\n\n");
            commit.push_str(&"message\n".repeat(1000));
            let data = commit.as_bytes();
            let z = deflate(data);
            let end = commit_head_len(data).unwrap();
            let head = inflate_head(&z, data.len(), commit_head_len).unwrap();
            assert_eq!(head, &data[..end]);
            // A stream that stops before the head's end is damage, not a head.
            assert!(inflate_head(&z[..12], data.len(), commit_head_len).is_err());
        }
        // No head in it: the whole entry, held to its declared size.
        let z = deflate(b"no line at all");
        assert_eq!(
            inflate_head(&z, 14, commit_head_len).unwrap(),
            b"no line at all"
        );
        assert!(inflate_head(&z, 15, commit_head_len).is_err());
        assert!(inflate_head(&z, 13, commit_head_len).is_err());
    }
}
