//! Ingestion tests against packs made by C git, compared with `git index-pack`.

use super::*;
use crate::progress::Discard;
use std::path::Path;
use std::process::{Command, Stdio};

fn git(dir: &Path, args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
    let mut c = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "A")
        .env("GIT_AUTHOR_EMAIL", "a@x")
        .env("GIT_COMMITTER_NAME", "C")
        .env("GIT_COMMITTER_EMAIL", "c@x")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let data = input.map(<[u8]>::to_vec);
    let t = std::thread::spawn(move || {
        if let Some(d) = data {
            let _ = stdin.write_all(&d);
        }
    });
    let out = c.wait_with_output().unwrap();
    t.join().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn history(dir: &Path, n: usize) {
    git(dir, &["init", "-q", "-b", "main", "."], None);
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!("line {i}\n"));
        std::fs::write(dir.join("f.txt"), &text).unwrap();
        git(dir, &["add", "."], None);
        git(dir, &["commit", "-q", "-m", &format!("c{i}")], None);
    }
}

struct NoBases;
impl BaseLookup for NoBases {
    fn hash_kind(&self) -> crate::hash::HashKind {
        crate::hash::HashKind::Sha1
    }
    fn base(&self, _: &ObjectId) -> Result<Option<Object>, Error> {
        Ok(None)
    }
}

/// Bases from a real repository via `git cat-file`.
struct GitBases<'a>(&'a Path);
impl BaseLookup for GitBases<'_> {
    fn hash_kind(&self) -> crate::hash::HashKind {
        crate::hash::HashKind::Sha1
    }
    fn base(&self, id: &ObjectId) -> Result<Option<Object>, Error> {
        let kind = String::from_utf8(git(self.0, &["cat-file", "-t", &id.to_hex()], None)).unwrap();
        let kind = Kind::from_name(kind.trim().as_bytes()).unwrap();
        let data = git(self.0, &["cat-file", kind.as_str(), &id.to_hex()], None);
        Ok(Some(Object { kind, data }))
    }
}

fn pack_of(dir: &Path, revs: &str, extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["pack-objects", "--stdout", "-q", "--revs"];
    args.extend_from_slice(extra);
    git(dir, &args, Some(revs.as_bytes()))
}

fn ingest(
    pack: &[u8],
    bases: &dyn BaseLookup,
) -> (Result<Indexed, Error>, tempfile::NamedTempFile) {
    ingest_with(
        pack,
        bases,
        &Limits::default(),
        &Tuning::default(),
        &no_check,
    )
}

/// Ingests `pack` into a fresh spool with `limits` and `check`.
fn ingest_with(
    pack: &[u8],
    bases: &dyn BaseLookup,
    limits: &Limits,
    tuning: &Tuning,
    check: ObjectCheck<'_>,
) -> (Result<Indexed, Error>, tempfile::NamedTempFile) {
    let mut spool = tempfile::NamedTempFile::new().unwrap();
    let r = index_pack(
        &mut &pack[..],
        spool.as_file_mut(),
        bases,
        limits,
        tuning,
        check,
        &mut Discard,
    );
    (r, spool)
}

#[test]
fn idx_identical_to_git_index_pack() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path(), 40);
    for extra in [&["--delta-base-offset"][..], &[][..]] {
        let pack = pack_of(dir.path(), "main\n", extra);
        let (r, spool) = ingest(&pack, &NoBases);
        let mut indexed = r.unwrap();
        assert_eq!(std::fs::read(spool.path()).unwrap(), pack);
        let mut ours = Vec::new();
        crate::pack::idx_write::write_idx_v2(
            &mut indexed.entries,
            &indexed.pack_checksum,
            &mut ours,
        )
        .unwrap();
        let p = dir.path().join("x.pack");
        std::fs::write(&p, &pack).unwrap();
        git(dir.path(), &["index-pack", "-o", "x.idx", "x.pack"], None);
        assert_eq!(std::fs::read(dir.path().join("x.idx")).unwrap(), ours);
    }
}

#[test]
fn thin_pack_is_completed() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path(), 30);
    let pack = pack_of(
        dir.path(),
        "main\n^main~5\n",
        &["--thin", "--delta-base-offset"],
    );
    assert!(matches!(
        ingest(&pack, &NoBases).0,
        Err(Error::MissingBase(_))
    ));
    let (r, spool) = ingest(&pack, &GitBases(dir.path()));
    let mut indexed = r.unwrap();
    assert!(indexed.appended_bases > 0);
    let completed = std::fs::read(spool.path()).unwrap();
    let other = tempfile::tempdir().unwrap();
    git(other.path(), &["init", "-q", "--bare", "."], None);
    std::fs::write(other.path().join("y.pack"), &completed).unwrap();
    git(other.path(), &["index-pack", "-o", "y.idx", "y.pack"], None);
    let mut ours = Vec::new();
    crate::pack::idx_write::write_idx_v2(&mut indexed.entries, &indexed.pack_checksum, &mut ours)
        .unwrap();
    assert_eq!(std::fs::read(other.path().join("y.idx")).unwrap(), ours);
}

#[test]
fn corrupt_packs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path(), 10);
    let pack = pack_of(dir.path(), "main\n", &["--delta-base-offset"]);
    // Truncations at every length are errors, never panics.
    for cut in (0..pack.len()).step_by(7) {
        assert!(ingest(&pack[..cut], &NoBases).0.is_err(), "cut {cut}");
    }
    // Bad trailer.
    let mut bad = pack.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert!(matches!(ingest(&bad, &NoBases).0, Err(Error::Checksum)));
    // Flipped bytes anywhere: an error or (if the flip hit something unchecked) a checksum error.
    for at in (12..pack.len() - 20).step_by(11) {
        let mut bad = pack.clone();
        bad[at] ^= 0x40;
        assert!(ingest(&bad, &NoBases).0.is_err(), "flip at {at}");
    }
    // Count larger than the entries present.
    let mut bad = pack.clone();
    bad[11] = bad[11].wrapping_add(1);
    assert!(ingest(&bad, &NoBases).0.is_err());
    // A huge declared size is refused before allocating.
    let mut huge = b"PACK\0\0\0\x02\0\0\0\x01".to_vec();
    crate::pack::entry::encode_header(EntryType::Blob, 1 << 50, &mut huge);
    assert!(matches!(
        ingest(&huge, &NoBases).0,
        Err(Error::Limit { .. })
    ));
    assert!(ingest(b"JUNK\0\0\0\x02\0\0\0\0", &NoBases).0.is_err());
}

#[test]
fn size_limit() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path(), 5);
    let pack = pack_of(dir.path(), "main\n", &[]);
    let limits = Limits {
        max_pack_bytes: 100,
        ..Limits::default()
    };
    let (r, _spool) = ingest_with(&pack, &NoBases, &limits, &Tuning::default(), &no_check);
    assert!(matches!(
        r,
        Err(Error::Limit {
            what: "pack size",
            ..
        })
    ));
}

#[test]
fn threads_and_delta_cache_do_not_change_the_index() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path(), 60);
    let pack = pack_of(dir.path(), "main\n", &["--delta-base-offset"]);
    let run = |threads: usize, cache: usize, hash_thread_min_objects: u32| {
        let tuning = Tuning {
            max_threads: threads,
            parallel_min_deltas: 0,
            hash_thread_min_objects,
            delta_cache_bytes: cache,
        };
        let limits = Limits::default();
        let mut indexed = ingest_with(&pack, &NoBases, &limits, &tuning, &no_check)
            .0
            .unwrap();
        let mut idx = Vec::new();
        crate::pack::idx_write::write_idx_v2(
            &mut indexed.entries,
            &indexed.pack_checksum,
            &mut idx,
        )
        .unwrap();
        idx
    };
    let one = run(1, 0, 0);
    // Deltas re-read from the spool, all kept in memory, or some of each; one thread or four;
    // whole objects hashed on a thread of their own or on the reading one.
    assert_eq!(run(4, 0, 0), one);
    assert_eq!(run(4, 32 << 20, 0), one);
    assert_eq!(run(3, 600, 0), one);
    assert_eq!(run(1, 32 << 20, 0), one);
    assert_eq!(run(4, 0, u32::MAX), one);
    assert_eq!(run(2, 600, u32::MAX), one);
}

#[test]
fn a_check_failing_on_a_resolving_thread_refuses_the_pack() {
    let dir = tempfile::tempdir().unwrap();
    // Trees of 40 entries changing one at a time: git stores most of them as deltas.
    git(dir.path(), &["init", "-q", "-b", "main", "."], None);
    for i in 0..40 {
        std::fs::write(dir.path().join(format!("f{i:02}")), format!("{i}\n")).unwrap();
    }
    for i in 0..20 {
        std::fs::write(dir.path().join(format!("f{i:02}")), format!("v{i}\n")).unwrap();
        git(dir.path(), &["add", "."], None);
        git(dir.path(), &["commit", "-q", "-m", &format!("c{i}")], None);
    }
    let pack = pack_of(dir.path(), "main\n", &["--delta-base-offset"]);
    // Pass 1 checks on this thread; objects resolved from deltas are checked on the others.
    let this = std::thread::current().id();
    let check = |_: &ObjectId, _: Kind, _: &[u8]| -> Result<(), String> {
        if std::thread::current().id() != this {
            Err("refused by check".into())
        } else {
            Ok(())
        }
    };
    let tuning = Tuning {
        max_threads: 4,
        parallel_min_deltas: 0,
        hash_thread_min_objects: u32::MAX,
        ..Tuning::default()
    };
    let (r, _spool) = ingest_with(&pack, &NoBases, &Limits::default(), &tuning, &check);
    assert!(
        matches!(r, Err(Error::Fsck(ref m)) if m == "refused by check"),
        "{r:?}"
    );
}

#[test]
fn a_small_pack_is_hashed_on_the_calling_thread() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path(), 20);
    let pack = pack_of(dir.path(), "main\n", &["--delta-base-offset"]);
    // Whether any object was checked on another thread than this one.
    let elsewhere = |tuning: &Tuning| {
        let this = std::thread::current().id();
        let other = std::sync::atomic::AtomicBool::new(false);
        let check = |_: &ObjectId, _: Kind, _: &[u8]| -> Result<(), String> {
            if std::thread::current().id() != this {
                other.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        };
        let (r, _spool) = ingest_with(&pack, &NoBases, &Limits::default(), tuning, &check);
        r.unwrap();
        other.load(std::sync::atomic::Ordering::Relaxed)
    };
    // Deltas on this thread too, so that only pass 1's hashing decides.
    let small = Tuning {
        max_threads: 4,
        parallel_min_deltas: u64::MAX,
        ..Tuning::default()
    };
    assert!(!elsewhere(&small));
    let threaded = Tuning {
        hash_thread_min_objects: 0,
        ..small
    };
    assert!(elsewhere(&threaded));
}
