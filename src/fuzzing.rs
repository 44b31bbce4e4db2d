//! Entry points for fuzzing: one function per parser that sees bytes from the network (or from
//! disk), shared by the cargo-fuzz targets in `fuzz/` and by `tests/fuzzed.rs`, which replays
//! the committed corpora on every `cargo test`. Each must return normally for any input; a panic,
//! a hang or an unbounded allocation is a bug.

use std::io::Read;

use crate::backend::memory::MemoryRepository;
use crate::odb::Kind;

/// The fuzz targets by name (the `fuzz/fuzz_targets/<name>.rs` files and corpus directories).
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("pktline", pktline),
    ("v0_lines", v0_lines),
    ("v2_request", v2_request),
    ("daemon_request", daemon_request),
    ("ssh_command", ssh_command),
    ("cgi_request", cgi_request),
    ("ref_name", ref_name),
    ("pack_stream", pack_stream),
    ("delta_apply", delta_apply),
    ("objects", objects),
    ("idx", idx),
    ("upload_pack", upload_pack),
    ("receive_commands", receive_commands),
    ("config_files", config_files),
    ("special_blobs", special_blobs),
    ("index_file", index_file),
    ("push_cert", push_cert),
    ("proc_receive", proc_receive),
    ("reftable", reftable),
];

/// A reftable file: header, footer, every ref from a few prefixes and every log record.
pub fn reftable(data: &[u8]) {
    let Ok(table) = crate::refs::reftable::table::Table::parse("fuzz".into(), data.to_vec()) else {
        return;
    };
    for prefix in ["", "refs/heads/", "refs/tags/v", "~"] {
        if let Ok(refs) = table.refs(prefix) {
            refs.take(100_000).take_while(Result::is_ok).for_each(drop);
        }
    }
    table
        .logs()
        .take(100_000)
        .take_while(Result::is_ok)
        .for_each(drop);
}

/// pkt-line decoding, streaming and through the reader.
pub fn pktline(data: &[u8]) {
    let _ = crate::protocol::pktline::decode::streaming(data);
    let mut r = crate::protocol::pktline::Reader::new(data);
    for _ in 0..10_000 {
        match r.read_line() {
            Ok(Some(l)) => {
                let _ = l.as_text();
            }
            _ => break,
        }
    }
}

/// v0 want-block and negotiation lines, and capability lists.
pub fn v0_lines(data: &[u8]) {
    for line in data.split(|&b| b == b'\n') {
        let _ = crate::protocol::v0::parse_want_line(line, crate::hash::HashKind::Sha1);
        let _ = crate::protocol::v0::parse_negotiation_line(line, crate::hash::HashKind::Sha1);
        let _ = crate::protocol::capabilities::Requested::parse(
            line,
            &[("agent", None), ("ofs-delta", None)],
        );
        if let Ok(s) = std::str::from_utf8(line) {
            let _ = crate::filter::Filter::parse(s);
        }
    }
}

/// v2 request framing.
pub fn v2_request(data: &[u8]) {
    let mut r = crate::protocol::pktline::Reader::new(data);
    for _ in 0..100 {
        match crate::protocol::v2::read_request(&mut r, 1000) {
            Ok(Some(_)) => {}
            _ => break,
        }
    }
}

/// The git:// request line.
pub fn daemon_request(data: &[u8]) {
    let _ = crate::launch::daemon_request::parse(data);
}

/// `SSH_ORIGINAL_COMMAND` / git-shell `-c` parsing and path confinement.
pub fn ssh_command(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(cmd) = crate::launch::command::parse(s) {
            let _ = crate::access::confine(&cmd.path);
        }
        let _ = crate::launch::sq::sq_dequote(s);
        let _ = crate::access::confine(s);
    }
}

/// The CGI request of `sluice http-backend`: the first lines of `data` are REQUEST_METHOD,
/// PATH_INFO, QUERY_STRING, CONTENT_TYPE, CONTENT_LENGTH, HTTP_CONTENT_ENCODING,
/// HTTP_GIT_PROTOCOL and REMOTE_USER (the parts a client controls through the web server),
/// the rest is the body, read through the framing/gzip reader with a 1 MiB limit.
pub fn cgi_request(data: &[u8]) {
    use crate::launch::http::{body, cgi};
    let mut parts = data.splitn(9, |b| *b == b'\n');
    let mut field = || {
        parts
            .next()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    };
    let mut env = cgi::CgiEnv {
        project_root: Some("/srv/git".into()),
        ..Default::default()
    };
    env.method = field();
    env.path_info = field();
    env.query = field();
    env.content_type = field();
    env.content_length = field();
    env.content_encoding = field();
    env.git_protocol = field();
    env.remote_user = field();
    let rest = parts.next().unwrap_or_default().to_vec();
    if let Ok(req) = cgi::parse(&env) {
        let _ = crate::access::confine(&req.repo);
        if let cgi::Target::InfoRefs(Some(s)) = &req.target {
            let _ = cgi::select_service(s);
        }
        let mut out = Vec::new();
        let _ = body::reader(std::io::Cursor::new(rest), &req.body, 1 << 20)
            .take(4 << 20)
            .read_to_end(&mut out);
    }
}

/// Ref-name validation.
pub fn ref_name(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = crate::refs::name::RefName::new(s);
    }
}

/// An anonymous read/write file (created and unlinked at once).
fn spool_file() -> Option<std::fs::File> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("sluice-fuzz-{}-{n}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .ok()?;
    let _ = std::fs::remove_file(&path);
    Some(f)
}

struct NoBases;
impl crate::pack::ingest::BaseLookup for NoBases {
    fn hash_kind(&self) -> crate::hash::HashKind {
        crate::hash::HashKind::Sha1
    }

    fn base(
        &self,
        _: &crate::hash::ObjectId,
    ) -> Result<Option<crate::odb::Object>, crate::pack::ingest::Error> {
        Ok(None)
    }
}

/// The push pack reader and indexer, with small limits.
pub fn pack_stream(data: &[u8]) {
    let Some(mut spool) = spool_file() else {
        return;
    };
    let limits = crate::limits::Limits {
        max_pack_bytes: 1 << 20,
        max_object_bytes: 1 << 20,
        max_objects: 10_000,
        max_delta_depth: 100,
        ..crate::limits::Limits::default()
    };
    let tuning = crate::pack::ingest::Tuning {
        max_threads: 2,
        parallel_min_deltas: 0,
        hash_thread_min_objects: 0,
        delta_cache_bytes: 1 << 16,
    };
    let _ = crate::pack::ingest::index_pack(
        &mut &data[..],
        &mut spool,
        &NoBases,
        &limits,
        &tuning,
        &crate::pack::ingest::no_check,
        &mut crate::progress::Discard,
    );
}

/// Delta application: the first byte splits base from delta.
pub fn delta_apply(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = usize::from(split).min(rest.len());
    let (base, delta) = rest.split_at(at);
    let _ = crate::pack::delta::apply(base, delta, 1 << 20);
    let _ = crate::pack::entry::decode_header(data);
    let _ = crate::pack::entry::decode_ofs_distance(data);
}

/// Commit, tag and tree parsers and the fsck checks, and loose-object headers.
pub fn objects(data: &[u8]) {
    let _ = crate::odb::CommitRef::parse(data);
    let _ = crate::odb::TagRef::parse(data);
    for e in crate::odb::TreeIter::new(data, crate::hash::HashKind::Sha1).take(10_000) {
        if e.is_err() {
            break;
        }
    }
    let opts = crate::odb::fsck::FsckOptions::strict();
    let id = crate::hash::HashKind::Sha1.null();
    for kind in [Kind::Commit, Kind::Tag, Kind::Tree, Kind::Blob] {
        let mut found = crate::odb::fsck::Found::default();
        let _ = crate::odb::fsck::check_object(&opts, &id, kind, data, &mut found);
    }
    let _ = crate::odb::loose::parse_header(data);
    let _ = crate::odb::loose::read(data, 1 << 20);
}

/// Pack index and multi-pack-index parsing and lookups.
pub fn idx(data: &[u8]) {
    if let Ok(idx) = crate::pack::index::PackIndex::new(data, crate::hash::HashKind::Sha1) {
        for i in 0..idx.len().min(1000) {
            if let Some(id) = idx.id_at(i) {
                let _ = idx.find(&id);
            }
            let _ = idx.offset_at(i);
            let _ = idx.crc32_at(i);
        }
        let _ = idx.pack_checksum();
    }
    // The same bytes as a multi-pack-index.
    if let Ok(m) = crate::pack::midx::MultiPackIndex::new(data, crate::hash::HashKind::Sha1) {
        for i in 0..m.len().min(1000) {
            if let Some(id) = m.id_at(i) {
                let _ = m.find(&id);
            }
            let _ = m.location_at(i);
        }
    }
}

fn small_repo() -> MemoryRepository {
    let mut r = MemoryRepository::new();
    let blob = r.add(Kind::Blob, "hello\n");
    let mut tree = b"100644 a\0".to_vec();
    tree.extend_from_slice(blob.as_bytes());
    let tree = r.add(Kind::Tree, tree);
    let c1 = r.add(
        Kind::Commit,
        format!("tree {tree}\nauthor a <a> 1 +0000\ncommitter a <a> 1 +0000\n\none\n"),
    );
    let c2 = r.add(
        Kind::Commit,
        format!("tree {tree}\nparent {c1}\nauthor a <a> 2 +0000\ncommitter a <a> 2 +0000\n\ntwo\n"),
    );
    r.set_ref("refs/heads/main", c2);
    r.set_ref("refs/tags/one", c1);
    r
}

/// A whole upload-pack session (v0, v1 or v2 by the first byte) against a small repository.
pub fn upload_pack(data: &[u8]) {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let repo = small_repo();
    let opts = crate::service::upload_pack::Options {
        version: match mode % 3 {
            0 => crate::protocol::Version::V0,
            1 => crate::protocol::Version::V1,
            _ => crate::protocol::Version::V2,
        },
        stateless_rpc: mode & 4 != 0,
        advertise_refs: false,
        limits: crate::limits::Limits {
            max_wants: 100,
            max_haves: 1000,
            max_rounds: 100,
            ..crate::limits::Limits::default()
        },
    };
    let mut out = Vec::new();
    let _ = crate::service::upload_pack::serve(&repo, &opts, input, &mut out);
}

/// receive-pack command lines.
pub fn receive_commands(data: &[u8]) {
    for line in data.split(|&b| b == b'\n') {
        let _ = crate::service::receive_pack::commands::parse_command(
            line,
            crate::hash::HashKind::Sha1,
        );
    }
}

/// git-config files and access files.
pub fn config_files(data: &[u8]) {
    let _ = crate::git_config::GitConfig::parse(data, "fuzz");
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(p) = crate::access::Policy::parse(s) {
            let _ = p.repo_right("a/b.git", Some("alice"));
            let _ = p.allows_ref("a", None, "refs/heads/x", crate::access::Right::Force);
        }
    }
    let mut sink = Vec::new();
    let _ = (&data[..data.len().min(64)]).read_to_end(&mut sink);
}

/// The blob checks for files trees name `.gitmodules` and `.gitattributes`: git's config syntax,
/// submodule names and URLs (with URL normalization), attribute line lengths; and the names
/// themselves (which spellings count as those files).
pub fn special_blobs(data: &[u8]) {
    let opts = crate::odb::fsck::FsckOptions::strict();
    let id = crate::hash::HashKind::Sha1.null();
    let _ = crate::odb::fsck::check_special_blob(&opts, &id, false, data);
    let _ = crate::odb::fsck::check_special_blob(&opts, &id, true, data);
    let _ = crate::git_config::syntax::parse_config(data, &mut |_, _, _| true);
    for line in data.split(|&b| b == b'\n').take(1000) {
        let _ = crate::odb::fsck::check_submodule_url(line);
        let _ = crate::odb::fsck::check_submodule_name(line);
        let _ = crate::odb::fsck::names::is_dotgitmodules(line);
        let _ = crate::odb::fsck::names::is_dotgitattributes(line);
        let _ = crate::odb::fsck::names::is_ntfs_dotgit(line);
        let _ = crate::odb::fsck::names::is_hfs_dotgit(line);
    }
}

/// The index file a non-bare repository's working tree is described by (updateInstead).
pub fn index_file(data: &[u8]) {
    if let Ok(index) = crate::backend::fs::index::Index::decode(data, crate::hash::HashKind::Sha1) {
        let _ = index.encode_v2(crate::hash::HashKind::Sha1);
    }
}

/// A push certificate: split, commands, push options, nonce check, gpg status lines.
pub fn push_cert(data: &[u8]) {
    use crate::service::receive_pack::push_cert as pc;
    let config = pc::NonceConfig {
        seed: "seed".into(),
        path: "/r".into(),
        slop_limit: 5,
    };
    let kind = crate::hash::HashKind::Sha1;
    let _ = pc::check_nonce(kind, data, Some("1-x"), true, Some(&config));
    let _ = pc::parse_status(&String::from_utf8_lossy(data));
    if let Ok(cert) = pc::Certificate::parse(data.to_vec()) {
        let _ = cert.commands(kind);
        let _ = cert.push_options_match(&["a".to_string()]);
    }
}

/// What a `proc-receive` hook writes back (version, reports, options).
pub fn proc_receive(data: &[u8]) {
    use crate::service::receive_pack::{commands::Command, proc_receive as pr};
    let null = crate::hash::HashKind::Sha1.null();
    let cmd = Command {
        old: null,
        new: null,
        name: "refs/for/main".into(),
    };
    let mut data = data;
    let ex = pr::converse(
        &mut std::io::sink(),
        &mut data,
        crate::hash::HashKind::Sha1,
        &[&cmd],
        &[],
        false,
        true,
    );
    for o in &ex.outcomes {
        let _ = pr::report_v2_lines(&cmd.name, &o.reports);
        let _ = pr::hook_lines(&cmd, &o.reports);
    }
}
