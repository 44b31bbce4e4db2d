//! The dumb protocol's files, as `git http-backend` serves them to a client with
//! `GIT_SMART_HTTP=0` (or an old one): `HEAD` and `info/refs` computed from the refs (so they
//! are right even where `git update-server-info` never ran), `objects/info/packs` listed from
//! the pack directory, and the files themselves: alternates (no caching), loose objects, packs
//! and indexes (cached for a year: their names are their content's hash).
//!
//! The route has already restricted the file name to a fixed pattern of hex digits under
//! `objects/`, so nothing here can name a file outside the repository.

use std::io::{Read, Write};
use std::path::Path;

use super::cgi::Target;
use super::response::{Headers, Reject, Status};
use crate::backend::fs::FsRepository;
use crate::backend::Repository;

/// `HEAD`: `ref: <target>` or the id.
fn head_text(repo: &FsRepository) -> Result<String, Reject> {
    let head = repo.head().map_err(|e| Reject::internal(e.to_string()))?;
    Ok(match (head.symref_target, head.id) {
        (Some(target), _) => format!("ref: {target}\n"),
        (None, Some(id)) => format!("{id}\n"),
        (None, None) => String::new(),
    })
}

/// `info/refs` as `git update-server-info` writes it: `<id>\t<name>`, plus `<peeled>\t<name>^{}`
/// after an annotated tag.
fn info_refs_text(repo: &FsRepository) -> Result<String, Reject> {
    let mut out = String::new();
    for r in repo.refs().map_err(|e| Reject::internal(e.to_string()))? {
        out.push_str(&format!("{}\t{}\n", r.id, r.name));
        if let Some(p) = r.peeled {
            out.push_str(&format!("{p}\t{}^{{}}\n", r.name));
        }
    }
    Ok(out)
}

/// `objects/info/packs`: `P pack-<hash>.pack` for each local pack with an index, newest first
/// (the order git prefers them in), then a blank line.
fn info_packs_text(objects: &Path) -> String {
    let mut packs: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(objects.join("pack"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".pack")?;
            if !name.starts_with("pack-") || !objects.join(format!("pack/{stem}.idx")).is_file() {
                return None;
            }
            let mtime = e.metadata().and_then(|m| m.modified()).ok()?;
            Some((mtime, name))
        })
        .collect();
    packs.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut out: String = packs.iter().map(|(_, n)| format!("P {n}\n")).collect();
    out.push('\n');
    out
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Sends `text` as `content_type` after `headers`.
fn send_text(
    out: &mut dyn Write,
    mut headers: Headers,
    content_type: &str,
    text: &str,
) -> std::io::Result<()> {
    headers
        .add("Content-Length", &text.len().to_string())
        .add("Content-Type", content_type);
    out.write_all(&headers.finish())?;
    out.write_all(text.as_bytes())
}

/// Sends the file `rel` of the repository (its common dir: objects live there) with
/// `Last-Modified`, streaming it; a missing file is 404.
fn send_file(
    out: &mut dyn Write,
    repo: &FsRepository,
    mut headers: Headers,
    content_type: &str,
    rel: &str,
) -> Result<(), Reject> {
    let path = repo.common_dir().join(rel);
    let not_found = || Reject::new(Status::NotFound, format!("Cannot open '{rel}'"));
    let mut file = std::fs::File::open(&path).map_err(|_| not_found())?;
    let meta = file.metadata().map_err(|_| not_found())?;
    if !meta.is_file() {
        return Err(not_found());
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    headers
        .add("Content-Length", &meta.len().to_string())
        .add("Content-Type", content_type)
        .add("Last-Modified", &super::response::http_date(mtime));
    let sent = out
        .write_all(&headers.finish())
        .and_then(|()| std::io::copy(&mut (&mut file).take(meta.len()), out));
    // The status went out; a read error now can only cut the body short (logged by the caller).
    sent.map(|_| ())
        .map_err(|e| Reject::internal(e.to_string()))
}

/// Serves a dumb-protocol `target` of `repo` on `out`. `Err` before anything was written is a
/// refusal to send instead.
pub fn serve(out: &mut dyn Write, repo: &FsRepository, target: &Target) -> Result<(), Reject> {
    let io = |e: std::io::Error| Reject::internal(e.to_string());
    let objects = repo.common_dir().join("objects");
    match target {
        Target::Head => send_text(
            out,
            Headers::new(Status::Ok),
            "text/plain",
            &head_text(repo)?,
        )
        .map_err(io),
        Target::InfoRefs(None) => {
            let mut h = Headers::new(Status::Ok);
            h.nocache();
            send_text(out, h, "text/plain", &info_refs_text(repo)?).map_err(io)
        }
        Target::InfoPacks => {
            let mut h = Headers::new(Status::Ok);
            h.nocache();
            send_text(
                out,
                h,
                "text/plain; charset=utf-8",
                &info_packs_text(&objects),
            )
            .map_err(io)
        }
        Target::TextFile(rel) => {
            let mut h = Headers::new(Status::Ok);
            h.nocache();
            send_file(out, repo, h, "text/plain", rel)
        }
        Target::Loose(rel) | Target::Pack(rel) | Target::Idx(rel) => {
            let kind = match target {
                Target::Loose(_) => "application/x-git-loose-object",
                Target::Pack(_) => "application/x-git-packed-objects",
                _ => "application/x-git-packed-objects-toc",
            };
            let mut h = Headers::new(Status::Ok);
            h.cache_forever(now());
            send_file(out, repo, h, kind, rel)
        }
        Target::InfoRefs(Some(_)) | Target::Rpc(_) => {
            Err(Reject::internal("not a dumb-protocol route"))
        }
    }
}
