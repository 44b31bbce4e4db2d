//! upload-archive: `git archive --remote`, as C git's builtin/upload-archive.c and archive.c
//! serve it.
//!
//! The wire: the client sends `argument <arg>` pkt-lines (at most 64) and a flush; the server
//! answers `ACK` and a flush, then the archive on sideband 1, `-v` paths and the error text on
//! band 2 (`fatal: ...`), band 3 when the archiver failed, and a final flush on success. C git
//! runs the archiver as a child and would answer `NACK <reason>` only when it cannot start it;
//! Sluice runs it in process, so it always acknowledges and reports failures on the bands, which
//! the client shows the same way.
//!
//! ```text
//! client: argument --format=tar | argument --prefix=p/ | argument main | 0000
//! server: ACK | 0000 | \1<tar bytes>... | 0000
//! ```
//!
//! Settings read from the repository: `uploadArchive.allowUnreachable`, `tar.umask`,
//! `tar.tgz.remote` / `tar.tar.gz.remote`, `tar.<fmt>.command` (a command other than C git's
//! internal gzip is refused: Sluice runs no filter programs), `core.autocrlf` and
//! `filter.<name>.smudge` (content conversions are refused, never done differently).
//! The request sees refs through the service's [`RefsView`](crate::service::refs_view): the
//! namespace and `uploadpack.hideRefs` apply (Deviation: C git's upload-archive ignores both,
//! which would let a namespaced user archive other namespaces' branches).

pub mod args;
pub mod attributes;
pub mod entries;
pub mod tar;
pub mod treeish;
pub mod zip;

use std::cell::RefCell;
use std::io::{Read, Write};

use crate::backend::Repository;
use crate::limits::Limits;
use crate::protocol::pktline::{PacketLineRef, Reader, Writer};
use crate::protocol::sideband::{Channel, Mode, SidebandWriter};
use args::Format;

/// C git's `MAX_ARGS`: more argument lines than this is an error.
const MAX_ARGS: usize = 64;

/// What the archiver says when it fails, on band 3 (C git's `deadchild`).
const DIED: &str = "git upload-archive: archiver died with error";

/// Why an archive was not sent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request or repository condition C git also dies on, or one Sluice refuses; the text is
    /// what the client sees after `fatal: `.
    #[error("{0}")]
    Usage(String),
    /// The archive or one of its blobs is over a limit.
    #[error("archive too large: {0}")]
    TooLarge(String),
    /// The request lines were malformed.
    #[error("reading the request: {0}")]
    Protocol(#[from] crate::protocol::pktline::Error),
    /// The repository failed.
    #[error(transparent)]
    Backend(#[from] crate::backend::Error),
    /// An object did not parse.
    #[error(transparent)]
    Object(#[from] crate::odb::Error),
    /// The zip writer failed.
    #[error("zip: {0}")]
    Zip(#[from] ::zip::result::ZipError),
    /// Writing to the client failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// How the service runs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Limits: `max_object_bytes` bounds each blob, `max_pack_bytes` (when not 0) the archive.
    pub limits: Limits,
}

/// Reads the `argument` lines up to the flush.
fn read_arguments<R: Read>(reader: &mut Reader<R>) -> Result<Vec<String>, Error> {
    let mut argv = Vec::new();
    loop {
        let line = match reader.read_line()? {
            None => return Err(Error::Usage("the client hung up before the flush".into())),
            Some(PacketLineRef::Flush) => return Ok(argv),
            Some(line) => line,
        };
        let text = line.as_text().unwrap_or_default();
        if argv.len() >= MAX_ARGS {
            return Err(Error::Usage(format!(
                "Too many options (>{})",
                MAX_ARGS - 1
            )));
        }
        let Some(arg) = text.strip_prefix(b"argument ") else {
            return Err(Error::Usage("'argument' token or flush expected".into()));
        };
        let arg = std::str::from_utf8(arg)
            .map_err(|_| Error::Usage("an argument is not UTF-8".into()))?;
        argv.push(arg.to_string());
    }
}

/// Serves one `git archive --remote` request on `input`/`output` from `repo`.
pub fn serve<R: Read, W: Write>(
    repo: &dyn Repository,
    opts: &Options,
    input: R,
    mut output: W,
) -> Result<(), Error> {
    let mut reader = Reader::new(input);
    let argv = read_arguments(&mut reader);
    let mut w = Writer::new(&mut output);
    w.text("ACK")?;
    w.flush_pkt()?;
    let bands = RefCell::new(SidebandWriter::new(&mut output, Mode::SideBand64k));
    let result = argv.and_then(|argv| archive(repo, opts, &argv, &bands));
    let mut bands = bands.into_inner();
    match &result {
        Ok(()) => {
            bands.flush()?;
            Writer::new(bands.into_inner()).flush_pkt()?;
        }
        Err(e) => {
            tracing::warn!(error = %e, "upload-archive refused");
            bands.flush()?;
            let _ = bands.send(Channel::Progress, format!("fatal: {e}\n").as_bytes());
            let _ = bands.send(Channel::Error, DIED.as_bytes());
        }
    }
    output.flush()?;
    result
}

/// Band 1 as a [`Write`], counting against the archive bound.
struct DataBand<'a, W: Write> {
    bands: &'a RefCell<SidebandWriter<W>>,
    written: u64,
    max: u64,
}

impl<W: Write> Write for DataBand<'_, W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.written = self.written.saturating_add(data.len() as u64);
        if self.max != 0 && self.written > self.max {
            return Err(std::io::Error::other(format!(
                "archive larger than the limit of {} bytes",
                self.max
            )));
        }
        self.bands.borrow_mut().write_all(data)?;
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The repository settings that shape an archive.
struct Settings {
    allow_unreachable: bool,
    umask: u32,
    gz_remote: bool,
}

/// Reads [`Settings`] from `repo`'s config, refusing what Sluice would do differently.
fn settings(repo: &dyn Repository, format_name: &str) -> Result<Settings, Error> {
    let cfg = repo.config();
    let bad = |k: &str| Error::Usage(format!("bad config value for '{k}'"));
    let bool_of = |k: &str, default: bool| -> Result<bool, Error> {
        Ok(cfg.get_bool(k).map_err(|_| bad(k))?.unwrap_or(default))
    };
    let umask = match cfg.get("tar.umask").flatten() {
        None => 0o002,
        Some("user") => {
            return Err(Error::Usage(
                "tar.umask=user is not supported by sluice".into(),
            ))
        }
        Some(v) => parse_c_int(v).ok_or_else(|| bad("tar.umask"))?,
    };
    if cfg.get_bool("core.autocrlf").ok().flatten() == Some(true) {
        return Err(Error::Usage(
            "core.autocrlf=true converts content; sluice upload-archive does not".into(),
        ));
    }
    let command = cfg.get(&format!("tar.{format_name}.command")).flatten();
    let internal = matches!(format_name, "tgz" | "tar.gz");
    match command {
        Some("git archive gzip") | None if internal => {}
        Some(c) if bool_of(&format!("tar.{format_name}.remote"), internal)? => {
            return Err(Error::Usage(format!(
                "archive format '{format_name}' runs '{c}'; sluice runs no archive filter commands"
            )))
        }
        _ => {}
    }
    Ok(Settings {
        allow_unreachable: bool_of("uploadarchive.allowunreachable", false)?,
        umask,
        gz_remote: !internal || bool_of(&format!("tar.{format_name}.remote"), true)?,
    })
}

/// `strtol(v, 0)`-style integer: `0x` hex, leading `0` octal, else decimal.
fn parse_c_int(v: &str) -> Option<u32> {
    let v = v.trim();
    if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()
    } else if v.len() > 1 && v.starts_with('0') {
        u32::from_str_radix(&v[1..], 8).ok()
    } else {
        v.parse().ok()
    }
}

/// Parses `argv`, resolves the tree and writes the archive onto band 1 of `bands`.
fn archive<W: Write>(
    repo: &dyn Repository,
    opts: &Options,
    argv: &[String],
    bands: &RefCell<SidebandWriter<W>>,
) -> Result<(), Error> {
    let a = args::parse(argv)?;
    let settings = settings(repo, &a.format_name)?;
    let mut out = std::io::BufWriter::with_capacity(
        64 * 1024,
        DataBand {
            bands,
            written: 0,
            max: opts.limits.max_pack_bytes,
        },
    );
    if a.list {
        let mut names = vec!["tar"];
        if settings.gz_remote {
            names.extend(["tgz", "tar.gz"]);
        }
        names.push("zip");
        for n in names {
            writeln!(out, "{n}")?;
        }
        out.flush()?;
        return Ok(());
    }
    let format = a.format(settings.gz_remote)?;
    let treeish = a.treeish.as_deref().unwrap_or_default();
    let target = treeish::resolve(repo, treeish, settings.allow_unreachable)?;
    let paths = entries::check_paths(repo, target.tree, &a.paths)?;
    tracing::info!(format = %a.format_name, treeish, tree = %target.tree, "upload-archive");
    let time = target.time.unwrap_or_else(now);
    let cfg = repo.config();
    let has_smudge = |name: &str| {
        cfg.get(&format!("filter.{name}.smudge"))
            .flatten()
            .is_some()
    };
    let mut walk = entries::Walk::new(
        repo,
        &a.prefix,
        paths,
        opts.limits.max_object_bytes,
        &has_smudge,
    );
    walk.attrs.info = info_attributes(repo)?;
    let mut report = |p: &[u8]| {
        let mut line = p.to_vec();
        line.push(b'\n');
        let _ = bands.borrow_mut().send(Channel::Progress, &line);
    };
    if a.verbose {
        walk.verbose = Some(&mut report);
    }
    let commit = target.commit.as_ref();
    match format {
        Format::Tar => {
            let mut sink = tar::TarSink::new(&mut out, settings.umask, time, commit)?;
            walk.run(target.tree, &mut sink)?;
            sink.finish()?;
        }
        Format::TarGz => {
            let level = flate2::Compression::new(a.level.unwrap_or(6));
            let gz = flate2::GzBuilder::new()
                .operating_system(3)
                .write(&mut out, level);
            let mut sink = tar::TarSink::new(gz, settings.umask, time, commit)?;
            walk.run(target.tree, &mut sink)?;
            sink.finish()?.finish()?;
        }
        Format::Zip => {
            let max = match opts.limits.max_pack_bytes {
                0 => opts.limits.max_object_bytes,
                n => n,
            };
            let mut sink = zip::ZipSink::new(&mut out, a.level, time, commit, max);
            walk.run(target.tree, &mut sink)?;
            sink.finish()?;
        }
    }
    out.flush()?;
    Ok(())
}

/// `$GIT_DIR/info/attributes`, which C git applies above the tree's own files.
fn info_attributes(repo: &dyn Repository) -> Result<Option<attributes::File>, Error> {
    let Some(dir) = repo.config_dir() else {
        return Ok(None);
    };
    match std::fs::read(dir.join("info/attributes")) {
        Ok(text) => attributes::parse(&text, "").map(Some).map_err(|p| {
            Error::Usage(format!(
                "attribute pattern too complex in info/attributes: {p}"
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Seconds since the epoch (the mtime of an archive of a bare tree, as C git's `time(NULL)`).
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
