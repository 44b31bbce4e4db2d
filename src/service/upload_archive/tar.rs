//! The tar format exactly as C git's archive-tar.c writes it, so that `git archive --remote`
//! against Sluice and against C git give the same bytes: a pax global header whose `comment` is
//! the commit id, ustar headers (uid/gid 0, `root`/`root`, mode after `tar.umask`, mtime the
//! commit time, the checksum as `%07o`), long paths split into prefix/name or moved into a pax
//! `path` record, long link targets into `linkpath`, all written in 10240-byte blocks and ended
//! with at least two zero records. The header fields are encoded with the `tar` crate; the
//! blocking, the checksum form and the pax records are git's and written here.

use std::io::Write;

use super::entries::{Sink, MODE_DIR, MODE_GITLINK, MODE_SYMLINK};
use super::Error;
use crate::hash::ObjectId;

const RECORD: usize = 512;
const BLOCK: usize = RECORD * 20;
/// The largest size and mtime a ustar octal field holds.
const USTAR_MAX: u64 = 0o77777777777;

/// Writes git's tar stream to `W`.
pub struct TarSink<W: Write> {
    out: W,
    block: Vec<u8>,
    umask: u32,
    mtime: u64,
}

/// One pax extended header record, `"<len> <keyword>=<value>\n"` where `<len>` counts itself.
fn pax_record(out: &mut Vec<u8>, keyword: &str, value: &[u8]) {
    let mut len = 1 + 1 + keyword.len() + 1 + value.len() + 1;
    let mut tmp = 1;
    while len / 10 >= tmp {
        len += 1;
        tmp *= 10;
    }
    out.extend_from_slice(format!("{len} {keyword}=").as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Where to split a long `path` into ustar prefix and name (archive-tar.c `get_path_prefix`).
fn path_prefix_len(path: &[u8], maxlen: usize) -> usize {
    let mut i = path.len();
    if i > 1 && path[i - 1] == b'/' {
        i -= 1;
    }
    i = i.min(maxlen);
    loop {
        i = i.saturating_sub(1);
        if i == 0 || path.get(i) == Some(&b'/') {
            return i;
        }
    }
}

impl<W: Write> TarSink<W> {
    /// A tar writer on `out`: `umask` is `tar.umask` (git's default 002), `mtime` the archive
    /// time, `commit` the id for the pax global header.
    pub fn new(out: W, umask: u32, mtime: i64, commit: Option<&ObjectId>) -> Result<Self, Error> {
        let mut sink = TarSink {
            out,
            block: Vec::with_capacity(BLOCK),
            umask,
            mtime: u64::try_from(mtime).unwrap_or(0),
        };
        let mut ext = Vec::new();
        if let Some(c) = commit {
            pax_record(&mut ext, "comment", c.to_hex().as_bytes());
        }
        if sink.mtime > USTAR_MAX {
            pax_record(&mut ext, "mtime", sink.mtime.to_string().as_bytes());
            sink.mtime = USTAR_MAX;
        }
        if !ext.is_empty() {
            let h = sink.header(
                b"pax_global_header",
                b"",
                b'g',
                0o100666,
                ext.len() as u64,
                b"",
            )?;
            sink.write_blocked(&h)?;
            sink.write_blocked(&ext)?;
        }
        Ok(sink)
    }

    /// Appends `data` padded to whole records, writing out each full block.
    fn write_blocked(&mut self, data: &[u8]) -> Result<(), Error> {
        for chunk in data.chunks(BLOCK) {
            self.block.extend_from_slice(chunk);
            if self.block.len() >= BLOCK {
                let rest = self.block.split_off(BLOCK);
                self.out.write_all(&self.block)?;
                self.block = rest;
            }
        }
        let tail = self.block.len() % RECORD;
        if tail != 0 {
            self.block.resize(self.block.len() + RECORD - tail, 0);
        }
        if self.block.len() >= BLOCK {
            self.out.write_all(&self.block)?;
            self.block.clear();
        }
        Ok(())
    }

    /// One 512-byte ustar header as git fills it.
    fn header(
        &self,
        name: &[u8],
        prefix: &[u8],
        typeflag: u8,
        mode: u32,
        size: u64,
        linkname: &[u8],
    ) -> Result<[u8; RECORD], Error> {
        let mut h = tar::Header::new_ustar();
        h.set_mode(mode & 0o7777);
        h.set_size(size);
        h.set_mtime(self.mtime);
        h.set_uid(0);
        h.set_gid(0);
        h.set_username("root")?;
        h.set_groupname("root")?;
        h.set_device_major(0)?;
        h.set_device_minor(0)?;
        h.set_entry_type(tar::EntryType::new(typeflag));
        if let Some(u) = h.as_ustar_mut() {
            u.name[..name.len()].copy_from_slice(name);
            u.prefix[..prefix.len()].copy_from_slice(prefix);
            u.linkname[..linkname.len()].copy_from_slice(linkname);
        }
        let mut bytes = [0u8; RECORD];
        bytes.copy_from_slice(h.as_bytes());
        bytes[148..156].fill(b' ');
        let sum: u32 = bytes.iter().map(|&b| u32::from(b)).sum();
        bytes[148..156].copy_from_slice(format!("{sum:07o}\0").as_bytes());
        Ok(bytes)
    }

    /// Ends the archive: the current block zero-filled, plus one more block when fewer than two
    /// zero records fit (archive-tar.c `write_trailer`); returns the writer.
    pub fn finish(mut self) -> Result<W, Error> {
        let tail = BLOCK - self.block.len();
        self.block.resize(BLOCK, 0);
        self.out.write_all(&self.block)?;
        if tail < 2 * RECORD {
            self.out.write_all(&[0u8; BLOCK])?;
        }
        Ok(self.out)
    }
}

impl<W: Write> Sink for TarSink<W> {
    fn entry(
        &mut self,
        path: &[u8],
        mode: u32,
        id: &ObjectId,
        content: &[u8],
    ) -> Result<(), Error> {
        let (typeflag, mode) = match mode & 0o170000 {
            MODE_DIR | MODE_GITLINK => (b'5', (mode | 0o777) & !self.umask),
            MODE_SYMLINK => (b'2', mode | 0o777),
            0o100000 if mode & 0o100 != 0 => (b'0', (mode | 0o777) & !self.umask),
            0o100000 => (b'0', (mode | 0o666) & !self.umask),
            _ => {
                return Err(Error::Usage(format!(
                    "unsupported file mode: 0{mode:o} (SHA1: {id})"
                )))
            }
        };
        let mut ext = Vec::new();
        let (mut name, mut prefix): (Vec<u8>, &[u8]) = (path.to_vec(), b"");
        if path.len() > 100 {
            let plen = path_prefix_len(path, 155);
            let rest = path.len() - plen - 1;
            if plen > 0 && rest <= 100 {
                prefix = &path[..plen];
                name = path[plen + 1..].to_vec();
            } else {
                name = format!("{id}.data").into_bytes();
                pax_record(&mut ext, "path", path);
            }
        }
        let mut link: &[u8] = b"";
        let see;
        if typeflag == b'2' {
            if content.len() > 100 {
                see = format!("see {id}.paxheader").into_bytes();
                link = &see;
                pax_record(&mut ext, "linkpath", content);
            } else {
                link = content;
            }
        }
        let size = if typeflag == b'0' {
            content.len() as u64
        } else {
            0
        };
        if size > USTAR_MAX {
            return Err(Error::TooLarge(format!(
                "{id} is larger than a ustar entry holds"
            )));
        }
        if !ext.is_empty() {
            let pax_name = format!("{id}.paxheader");
            let h = self.header(
                pax_name.as_bytes(),
                b"",
                b'x',
                0o100666,
                ext.len() as u64,
                b"",
            )?;
            self.write_blocked(&h)?;
            self.write_blocked(&ext)?;
        }
        let h = self.header(&name, prefix, typeflag, mode, size, link)?;
        self.write_blocked(&h)?;
        if size > 0 {
            self.write_blocked(content)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_counts_its_own_length() {
        let mut v = Vec::new();
        pax_record(&mut v, "comment", &[b'a'; 40]);
        assert_eq!(&v[..11], b"52 comment=");
        assert_eq!(v.len(), 52);
        let mut v = Vec::new();
        pax_record(&mut v, "k", &[b'x'; 3]);
        assert_eq!(v, b"8 k=xxx\n");
    }

    #[test]
    fn archive_is_whole_blocks_with_two_zero_records() {
        let id = ObjectId::from_hex(&[b'1'; 40]).unwrap();
        let mut t = TarSink::new(Vec::new(), 0o002, 1_700_000_000, Some(&id)).unwrap();
        t.entry(b"a.txt", 0o100644, &id, b"hello\n").unwrap();
        let out = t.finish().unwrap();
        assert_eq!(out.len() % BLOCK, 0);
        assert_eq!(&out[257..263], b"ustar\0");
        assert_eq!(out[156], b'g');
        let file = &out[2 * RECORD..3 * RECORD];
        assert_eq!(&file[..5], b"a.txt");
        assert_eq!(&file[100..108], b"0000664\0");
        assert!(out[4 * RECORD..].iter().all(|&b| b == 0));
    }
}
