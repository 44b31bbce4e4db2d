use super::*;
use crate::backend::StoredForm;
use crate::pack::delta;
use crate::pack::reader::inflate_exact;
use std::process::Command;

use crate::test_support::git;

/// A repository with a file edited over many commits, so repack makes delta chains.
fn history(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main", "."]);
    let mut text = String::new();
    for i in 0..60 {
        text.push_str(&format!("line {i} {}\n", "x".repeat(i % 7)));
        std::fs::write(dir.join("f.txt"), &text).unwrap();
        std::fs::write(dir.join(format!("g{}.txt", i % 3)), format!("{i}\n{text}")).unwrap();
        git(dir, &["add", "."]);
        git(dir, &["commit", "-q", "-m", &format!("c{i}")]);
    }
}

fn check_all(dir: &Path) {
    let store = FsObjectStore::open(&dir.join(".git/objects"), HashKind::Sha1).unwrap();
    let list = git(dir, &["cat-file", "--batch-all-objects", "--batch-check"]);
    let mut n = 0;
    for line in list.lines() {
        let mut parts = line.split(' ');
        let id = ObjectId::from_hex(parts.next().unwrap().as_bytes()).unwrap();
        let kind = parts.next().unwrap();
        let size: u64 = parts.next().unwrap().parse().unwrap();
        let (k, s) = store.header(&id).unwrap().unwrap();
        assert_eq!((k.as_str(), s), (kind, size), "{id}");
        let obj = store.read(&id).unwrap().unwrap();
        assert_eq!(obj.data.len() as u64, size);
        assert_eq!(
            crate::odb::object_id(HashKind::Sha1, obj.kind, &obj.data).unwrap(),
            id
        );
        if let Some(raw) = store.raw_entry(&id).unwrap() {
            let inflated = inflate_exact(&raw.compressed, raw.inflated_size as usize).unwrap();
            if let StoredForm::Delta { base } = raw.form {
                let b = store.read(&base).unwrap().unwrap();
                assert_eq!(
                    delta::apply(&b.data, &inflated, u64::MAX).unwrap(),
                    obj.data
                );
            } else {
                assert_eq!(inflated, obj.data);
            }
        }
        n += 1;
    }
    assert!(n > 100);
}

#[test]
fn loose_and_packed_agree_with_git() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path());
    check_all(dir.path());
    git(
        dir.path(),
        &["repack", "-a", "-d", "-q", "--window=50", "--depth=50"],
    );
    check_all(dir.path());
    git(
        dir.path(),
        &[
            "-c",
            "pack.indexVersion=1",
            "repack",
            "-a",
            "-d",
            "-f",
            "-q",
        ],
    );
    check_all(dir.path());
}

#[test]
fn large_offset_table_and_ref_deltas() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path());
    // REF_DELTA entries (no --delta-base-offset), indexed with every offset in the 64-bit table.
    let revs = git(dir.path(), &["rev-list", "--objects", "--all"]);
    let ids: String = revs.lines().map(|l| format!("{}\n", &l[..40])).collect();
    let mut child = Command::new("git")
        .args(["pack-objects", "-q", "--window=10", ".git/objects/pack/tmp"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ids.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let pack = format!(".git/objects/pack/tmp-{hash}.pack");
    std::fs::remove_file(dir.path().join(format!(".git/objects/pack/tmp-{hash}.idx"))).unwrap();
    git(dir.path(), &["index-pack", "--index-version=2,0", &pack]);
    git(dir.path(), &["prune-packed"]);
    check_all(dir.path());
}

#[test]
fn reverse_index_file_matches_sorting() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path());
    git(
        dir.path(),
        &[
            "-c",
            "pack.writeReverseIndex=true",
            "repack",
            "-a",
            "-d",
            "-q",
        ],
    );
    let store = FsObjectStore::open(&dir.path().join(".git/objects"), HashKind::Sha1).unwrap();
    let pack = &store.packs.packs[0];
    assert!(pack.rev_path.exists());
    let (mapped, from_file, _) = pack.rev_snapshot();
    assert!(mapped, "the .rev is used");
    let mut sorted: Vec<(u64, u32)> = (0..pack.index.len())
        .map(|i| (pack.index.offset_at(i).unwrap(), i as u32))
        .collect();
    sorted.sort_unstable();
    assert_eq!(from_file, sorted);
    let path = pack.rev_path.clone();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    let good = std::fs::read(&path).unwrap();
    // Entries out of order: a lookup finds its own entry or nothing, never another one.
    let mut bytes = good.clone();
    bytes.swap(12, 16);
    bytes.swap(13, 17);
    bytes.swap(14, 18);
    bytes.swap(15, 19);
    std::fs::write(&path, &bytes).unwrap();
    let (_, _, found) = pack.rev_snapshot();
    for (i, f) in found.iter().enumerate() {
        if let Some((offset, at)) = f {
            assert_eq!(
                (*offset, *at as usize),
                (pack.index.offset_at(i).unwrap(), i)
            );
        }
    }
    // Another pack's file (a wrong pack checksum) is ignored: the order is sorted afresh.
    let mut bytes = good;
    let sum_at = 12 + 4 * pack.index.len();
    bytes[sum_at] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let (mapped, order, _) = pack.rev_snapshot();
    assert!(!mapped);
    assert_eq!(order, sorted);
    check_all(dir.path());
}

#[test]
fn multi_pack_index() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path());
    // Three packs, a MIDX over them, then a fourth pack the MIDX does not cover.
    for _ in 0..3 {
        git(dir.path(), &["commit", "-q", "--allow-empty", "-m", "x"]);
        git(dir.path(), &["repack", "-q", "-d"]);
    }
    git(dir.path(), &["multi-pack-index", "write"]);
    git(
        dir.path(),
        &["commit", "-q", "--allow-empty", "-m", "after midx"],
    );
    git(
        dir.path(),
        &["repack", "-q", "-d", "--no-write-bitmap-index"],
    );
    let store = FsObjectStore::open(&dir.path().join(".git/objects"), HashKind::Sha1).unwrap();
    assert!(store.uses_midx());
    assert!(
        store.packs.packs.len() >= 4 && store.packs.uncovered.len() == 1,
        "{store:?}"
    );
    check_all(dir.path());
    // A damaged MIDX is ignored, not fatal.
    let midx = dir.path().join(".git/objects/pack/multi-pack-index");
    let mut bytes = std::fs::read(&midx).unwrap();
    bytes.truncate(100);
    std::fs::write(&midx, bytes).unwrap();
    assert!(
        !FsObjectStore::open(&dir.path().join(".git/objects"), HashKind::Sha1)
            .unwrap()
            .uses_midx()
    );
    check_all(dir.path());
}

#[test]
fn alternates() {
    let base = tempfile::tempdir().unwrap();
    history(base.path());
    git(base.path(), &["repack", "-a", "-d", "-q"]);
    let child = tempfile::tempdir().unwrap();
    git(
        child.path(),
        &[
            "clone",
            "-q",
            "--shared",
            base.path().to_str().unwrap(),
            ".",
        ],
    );
    std::fs::write(child.path().join("new.txt"), "new\n").unwrap();
    git(child.path(), &["add", "."]);
    git(child.path(), &["commit", "-q", "-m", "new"]);
    check_all(child.path());
}

#[test]
fn corrupt_pack_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path());
    git(dir.path(), &["repack", "-a", "-d", "-q"]);
    let list = git(dir.path(), &["rev-list", "--objects", "--all"]);
    let pack_dir = dir.path().join(".git/objects/pack");
    let pack = std::fs::read_dir(&pack_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "pack"))
        .unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    for i in (12..bytes.len() - 20).step_by(97) {
        bytes[i] ^= 0x5a;
    }
    std::fs::write(&pack, &bytes).unwrap();
    let store = FsObjectStore::open(&dir.path().join(".git/objects"), HashKind::Sha1).unwrap();
    let mut errors = 0;
    for line in list.lines() {
        let id = ObjectId::from_hex(&line.as_bytes()[..40]).unwrap();
        match store.read(&id) {
            Ok(Some(o))
                if crate::odb::object_id(HashKind::Sha1, o.kind, &o.data).unwrap() == id => {}
            _ => errors += 1,
        }
        let _ = store.header(&id);
        let _ = store.raw_entry(&id);
    }
    assert!(errors > 0);
}
