//! The zip format, written with the `zip` crate. Same entries, modes and comment (the commit id)
//! as C git's archive-zip.c: directories as entries of their own, regular files deflated (stored
//! at `-0`), symbolic links stored with their link mode; extracted, the files get the modes
//! C git's give (0644 / 0755, directories 0755).
//!
//! The archive is assembled in memory, bounded, and then sent: the crate's streaming writer
//! marks directory entries as followed by a data descriptor it never writes, which `unzip -t`
//! rejects ("overlapped components").
//!
//! Deviation: the entries' DOS times are the archive time in UTC; C git converts it to the
//! server's local time zone. The bytes differ from C git's; the extracted contents do not.

use std::io::Write;

use std::io::Cursor;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::entries::{Sink, MODE_DIR, MODE_GITLINK, MODE_SYMLINK};
use super::Error;
use crate::hash::ObjectId;

/// Writes a zip stream to `W`.
pub struct ZipSink<W: Write> {
    out: W,
    zip: ZipWriter<Bounded>,
    options: SimpleFileOptions,
}

/// The in-memory archive, refusing to grow past its bound.
struct Bounded {
    buf: Cursor<Vec<u8>>,
    max: u64,
}

impl Write for Bounded {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let end = self.buf.position().saturating_add(data.len() as u64);
        if end > self.max {
            return Err(std::io::Error::other(format!(
                "zip archive larger than the limit of {} bytes",
                self.max
            )));
        }
        self.buf.write(data)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::io::Seek for Bounded {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.buf.seek(pos)
    }
}

/// Converts `secs` since the epoch (UTC) to a zip `DateTime` (clamped to 1980..2107).
fn dos_time(secs: i64) -> DateTime {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let clamped = year.clamp(1980, 2107);
    let (month, day, rem) = if clamped == year {
        (month, day, rem)
    } else {
        (1, 1, 0)
    };
    DateTime::from_date_and_time(
        clamped as u16,
        month as u8,
        day as u8,
        (rem / 3600) as u8,
        (rem % 3600 / 60) as u8,
        (rem % 60) as u8,
    )
    .unwrap_or_default()
}

impl<W: Write> ZipSink<W> {
    /// A zip writer on `out`: `level` 0..9 (`None`: zlib's default), `mtime` the archive time,
    /// `commit` the comment, `max` the largest archive held.
    pub fn new(
        out: W,
        level: Option<u32>,
        mtime: i64,
        commit: Option<&ObjectId>,
        max: u64,
    ) -> Self {
        let method = if level == Some(0) {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .compression_level(level.filter(|&l| l > 0).map(i64::from))
            .last_modified_time(dos_time(mtime));
        let mut zip = ZipWriter::new(Bounded {
            buf: Cursor::new(Vec::new()),
            max,
        });
        if let Some(c) = commit {
            zip.set_comment(c.to_hex());
        }
        ZipSink { out, zip, options }
    }

    /// Writes the central directory and sends the archive.
    pub fn finish(mut self) -> Result<(), Error> {
        let done = self.zip.finish()?;
        self.out.write_all(done.buf.get_ref())?;
        Ok(())
    }
}

impl<W: Write> Sink for ZipSink<W> {
    fn entry(
        &mut self,
        path: &[u8],
        mode: u32,
        id: &ObjectId,
        content: &[u8],
    ) -> Result<(), Error> {
        let name = std::str::from_utf8(path)
            .map_err(|_| Error::Usage(format!("path of {id} is not UTF-8")))?;
        match mode & 0o170000 {
            MODE_DIR | MODE_GITLINK => {
                let opts = self.options.unix_permissions(0o755);
                self.zip.add_directory(name, opts)?;
            }
            MODE_SYMLINK => {
                let target = std::str::from_utf8(content)
                    .map_err(|_| Error::Usage(format!("link target of {name} is not UTF-8")))?;
                self.zip
                    .add_symlink(name, target, self.options.unix_permissions(0o777))?;
            }
            _ => {
                let perm = if mode & 0o100 != 0 { 0o755 } else { 0o644 };
                let opts = self
                    .options
                    .unix_permissions(perm)
                    .large_file(content.len() as u64 >= u64::from(u32::MAX));
                self.zip.start_file(name, opts)?;
                self.zip.write_all(content)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_time_from_epoch() {
        let t = dos_time(1_112_911_993); // 2005-04-07 22:13:13 UTC
        assert_eq!((t.year(), t.month(), t.day()), (2005, 4, 7));
        assert_eq!((t.hour(), t.minute(), t.second()), (22, 13, 12)); // DOS: 2-second steps
        assert_eq!(dos_time(0).year(), 1980);
    }
}
