//! v2 `packfile-uris` (`uploadpack.blobPackfileUri`): a big blob is served from a pack on a
//! local HTTP server (python3's http.server, started by the test) instead of the pack the
//! server sends, as C git's t5702 does. Every case runs against sluice and C git's upload-pack
//! in the same test: same refs, same packs received, `git fsck --strict` clean.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::*;

/// The `--upload-pack` values of the two servers: sluice and C git.
fn servers() -> [String; 2] {
    [
        format!("--upload-pack={} upload-pack", sluice()),
        "--upload-pack=git-upload-pack".to_string(),
    ]
}

/// A python3 http.server over a directory, killed on drop; its request log is kept.
struct HttpServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl HttpServer {
    fn start(root: &Path, log: PathBuf) -> HttpServer {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(root)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("python3 -m http.server");
        wait_for_port(port);
        HttpServer { child, port, log }
    }

    /// How many GET requests for `path` the server logged.
    fn gets(&self, path: &str) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap();
        log.matches(&format!("\"GET {path} ")).count()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A served bare repository with a big blob `big` (1 MiB, incompressible) and a small one, the
/// big one packed alone under `www/`; returns (dir, repo, big blob id, pack hash).
fn served() -> (tempfile::TempDir, PathBuf, String, String) {
    let dir = scratch();
    let work = dir.path().join("w");
    git_ok(dir.path(), &["init", "-q", "-b", "main", "w"]);
    let mut big = Vec::with_capacity(1 << 20);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while big.len() < 1 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        big.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(work.join("big"), &big).unwrap();
    std::fs::write(work.join("small"), "small\n").unwrap();
    git_ok(&work, &["add", "big", "small"]);
    git_ok(&work, &["commit", "-q", "-m", "x"]);
    let repo = dir.path().join("srv.git");
    git_ok(dir.path(), &["clone", "-q", "--bare", "w", "srv.git"]);
    let blob = git_ok(&repo, &["rev-parse", "main:big"]).trim().to_string();
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    let mut pack = git_cmd(&repo)
        .args(["pack-objects", "-q"])
        .arg(www.join("big"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(pack.stdin.take().unwrap(), "{blob}").unwrap();
    let out = pack.wait_with_output().unwrap();
    assert!(out.status.success());
    let pack_hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    (dir, repo, blob, pack_hash)
}

/// Sets the entry for `blob` (pack `pack_hash` under `port`) and `allowSidebandAll`.
fn configure(repo: &Path, blob: &str, pack_hash: &str, port: u16, sideband_all: bool) {
    let uri = format!("http://127.0.0.1:{port}/big-{pack_hash}.pack");
    git_ok(
        repo,
        &[
            "config",
            "uploadpack.blobPackfileUri",
            &format!("{blob} {pack_hash} {uri}"),
        ],
    );
    let all = if sideband_all { "true" } else { "false" };
    git_ok(repo, &["config", "uploadpack.allowSidebandAll", all]);
}

/// Clones `repo` through `up` with `fetch.uriprotocols` = `protocols` (none when empty);
/// returns the clone and the names of its packs with the number of objects in each.
fn clone_through(
    dir: &Path,
    repo: &Path,
    up: &str,
    protocols: &str,
    name: &str,
) -> (PathBuf, Vec<(String, usize)>) {
    let dst = dir.join(name);
    let mut args = vec!["-c", "protocol.version=2"];
    let uri_protocols = format!("fetch.uriprotocols={protocols}");
    if !protocols.is_empty() {
        args.extend(["-c", &uri_protocols]);
    }
    let url = file_url(repo);
    args.extend(["clone", "-q", "--no-local", up, &url, dst.to_str().unwrap()]);
    let out = git(dir, &args);
    assert_success(&out, up);
    fsck(&dst);
    let mut packs = Vec::new();
    for e in std::fs::read_dir(dst.join(".git/objects/pack")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "idx") {
            let listing = git_ok(&dst, &["verify-pack", "-v", p.to_str().unwrap()]);
            let objects = listing
                .lines()
                .filter(|l| l.len() > 40 && l.as_bytes()[40] == b' ')
                .count();
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            packs.push((stem, objects));
        }
    }
    packs.sort();
    (dst, packs)
}

#[test]
fn big_blob_comes_from_the_uri() {
    let (dir, repo, blob, pack_hash) = served();
    let http = HttpServer::start(&dir.path().join("www"), dir.path().join("http.log"));
    configure(&repo, &blob, &pack_hash, http.port, true);
    let uri_pack = format!("pack-{pack_hash}");
    let mut results = Vec::new();
    for (i, up) in servers().iter().enumerate() {
        let before = http.gets(&format!("/big-{pack_hash}.pack"));
        let (dst, packs) = clone_through(dir.path(), &repo, up, "http", &format!("c{i}"));
        assert_eq!(
            http.gets(&format!("/big-{pack_hash}.pack")),
            before + 1,
            "{up}: the pack was downloaded once"
        );
        // The URI's pack (the big blob alone) and the server's pack (commit, tree, small blob).
        assert_eq!(packs.len(), 2, "{up}: {packs:?}");
        let from_uri = packs.iter().find(|(n, _)| *n == uri_pack);
        assert_eq!(from_uri.map(|p| p.1), Some(1), "{up}: {packs:?}");
        assert!(
            packs.iter().any(|(n, count)| *n != uri_pack && *count == 3),
            "{up}: the server's pack lacks the big blob: {packs:?}"
        );
        assert_eq!(git_ok(&dst, &["cat-file", "-s", &blob]).trim(), "1048576");
        results.push(refs(&dst));
    }
    assert_eq!(results[0], results[1], "same refs as C git");
}

#[test]
fn without_the_clients_protocol_the_blob_is_in_the_pack() {
    let (dir, repo, blob, pack_hash) = served();
    let http = HttpServer::start(&dir.path().join("www"), dir.path().join("http.log"));
    configure(&repo, &blob, &pack_hash, http.port, true);
    // No fetch.uriprotocols; "https" does not match an http:// URI; without sideband-all C git
    // never sends the section.
    let cases = [("", true), ("https", true), ("http", false)];
    for (n, (protocols, sideband_all)) in cases.into_iter().enumerate() {
        configure_sideband_all(&repo, sideband_all);
        for (i, up) in servers().iter().enumerate() {
            let name = format!("c{n}-{i}");
            let (_dst, packs) = clone_through(dir.path(), &repo, up, protocols, &name);
            assert_eq!(packs.len(), 1, "{up} {protocols:?}: {packs:?}");
            assert_eq!(packs[0].1, 4, "{up} {protocols:?}: {packs:?}");
        }
    }
    assert_eq!(http.gets(&format!("/big-{pack_hash}.pack")), 0);
}

fn configure_sideband_all(repo: &Path, on: bool) {
    let v = if on { "true" } else { "false" };
    git_ok(repo, &["config", "uploadpack.allowSidebandAll", v]);
}

/// The `fetch=` line of `program`'s v2 advertisement for `repo`.
fn fetch_features(program: &[&str], repo: &Path) -> String {
    raw_v2(program, repo, "0000")
        .into_iter()
        .find(|l| l.starts_with("fetch="))
        .unwrap_or_default()
}

#[test]
fn advertised_only_when_configured() {
    let (_dir, repo, blob, pack_hash) = served();
    for configured in [false, true] {
        if configured {
            configure(&repo, &blob, &pack_hash, 1, false);
        }
        let ours = fetch_features(&[sluice(), "upload-pack"], &repo);
        let theirs = fetch_features(&["git", "upload-pack"], &repo);
        assert_eq!(ours.contains("packfile-uris"), configured, "{ours}");
        assert_eq!(theirs.contains("packfile-uris"), configured, "{theirs}");
    }
}

#[test]
fn a_malformed_entry_is_refused_with_one_line() {
    let (dir, repo, _blob, _pack_hash) = served();
    git_ok(
        &repo,
        &["config", "uploadpack.blobPackfileUri", "not-a-hash x y"],
    );
    let out = git(
        dir.path(),
        &[
            "-c",
            "protocol.version=2",
            "-c",
            "fetch.uriprotocols=http",
            "clone",
            "-q",
            "--no-local",
            &servers()[0],
            &file_url(&repo),
            "bad",
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        stderr.contains("uploadpack.blobpackfileuri") && stderr.contains("not-a-hash"),
        "{stderr}"
    );
}
