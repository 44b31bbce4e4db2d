//! Maintenance, import and export over in-memory engines (object_store's `InMemory`, the
//! in-memory [`Kv`](super::super::kv::Kv)): no daemons needed. Fixtures are built with real git.

use std::path::Path;
use std::process::Command;

use super::super::kv::{Op, Txn};
use super::super::{refstore, settings, transfer, Stores};
use super::{repack, Options};
use crate::progress::Discard;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "A")
        .env("GIT_AUTHOR_EMAIL", "a@example.com")
        .env("GIT_COMMITTER_NAME", "A")
        .env("GIT_COMMITTER_EMAIL", "a@example.com")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A repository with `n` commits on main, a branch `side` with one more commit, a tag.
fn fixture(dir: &Path, n: usize) -> std::path::PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    git(&src, &["init", "-q", "-b", "main"]);
    for i in 0..n {
        std::fs::write(src.join("f"), format!("line {i}\n").repeat(i + 1)).unwrap();
        git(&src, &["add", "f"]);
        git(&src, &["commit", "-q", "-m", &format!("c{i}")]);
    }
    git(&src, &["tag", "-a", "-m", "v1", "v1"]);
    git(&src, &["checkout", "-q", "-b", "side"]);
    std::fs::write(src.join("g"), "side only\n").unwrap();
    git(&src, &["add", "g"]);
    git(&src, &["commit", "-q", "-m", "side"]);
    git(&src, &["checkout", "-q", "main"]);
    src
}

fn opts(full: bool, grace: u64, garbage_ttl: u64) -> Options {
    Options {
        full,
        grace,
        garbage_ttl,
        ..Options::full_now()
    }
}

/// Every file name under `<base>pack/` in the in-memory bucket.
fn bucket(stores: &Stores, base: &str) -> Vec<String> {
    let prefix = object_store::path::Path::from(format!("{base}pack"));
    let mut names: Vec<String> = stores
        .rt
        .block_on(stores.store.list_with_delimiter(Some(&prefix)))
        .unwrap()
        .objects
        .into_iter()
        .map(|m| m.location.filename().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// The files the listed packs of `base` must have (and nothing else with grace 0).
fn listed_files(stores: &Stores, base: &str) -> Vec<String> {
    let snap = refstore::load(stores.kv.as_ref(), base).unwrap();
    let mut want = Vec::new();
    for p in snap.packs.keys() {
        want.push(format!("{p}.idx"));
        want.push(format!("{p}.pack"));
        if snap.bitmaps.contains(p) {
            want.push(format!("{p}.bitmap"));
        }
    }
    want.sort();
    want
}

#[test]
fn import_export_round_trip_keeps_refs_head_and_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture(tmp.path(), 4);
    let stores = Stores::in_memory(tmp.path().join("cache")).unwrap();
    // More refs than one etcd transaction may write.
    let refs: String = (0..300)
        .map(|i| format!("create refs/tags/t{i} HEAD\n"))
        .collect();
    let mut c = Command::new("git")
        .arg("-C")
        .arg(&src)
        .args(["update-ref", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    c.stdin.take().unwrap().write_all(refs.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success());
    let moved = transfer::import(&stores, &src, "a/r.git", &mut Discard).unwrap();
    assert_eq!((moved.refs, moved.packs), (303, 1));
    let again = transfer::import(&stores, &src, "a/r.git", &mut Discard);
    assert!(again.is_err(), "never over an existing repository");
    let out = tmp.path().join("out.git");
    transfer::export(&stores, "a/r.git", &out, &mut Discard).unwrap();
    assert_eq!(git(&out, &["for-each-ref"]), git(&src, &["for-each-ref"]));
    assert_eq!(
        git(&out, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/main"
    );
    git(&out, &["fsck", "--strict"]);
}

#[test]
fn a_full_repack_keeps_unreachable_objects_in_a_garbage_pack_until_it_expires() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture(tmp.path(), 3);
    let stores = Stores::in_memory(tmp.path().join("cache")).unwrap();
    transfer::import(&stores, &src, "r", &mut Discard).unwrap();
    let base = stores.base("r").unwrap();
    // Deleting `side` makes its commit, tree and blob unreachable.
    stores
        .kv
        .txn(&Txn {
            compares: Vec::new(),
            ops: vec![Op::Delete {
                key: format!("{base}refs/heads/side"),
            }],
        })
        .unwrap();
    let s = repack(&stores, "r", &opts(true, 0, 86_400), &mut Discard).unwrap();
    assert_eq!((s.replaced, s.garbage), (1, 3), "{s:?}");
    assert!(s.bitmaps > 0);
    let snap = refstore::load(stores.kv.as_ref(), &base).unwrap();
    assert_eq!(snap.packs.len(), 2);
    assert_eq!(snap.garbage.len(), 1);
    assert_eq!(
        bucket(&stores, &base),
        listed_files(&stores, &base),
        "old pack swept (grace 0)"
    );

    // Within its lifetime the garbage pack stays as it is, and a repack has nothing to do.
    let s = repack(&stores, "r", &opts(true, 0, 86_400), &mut Discard).unwrap();
    assert_eq!(s.replaced, 0, "{s:?}");
    // Expired, it is dropped with what is still unreachable in it.
    let s = repack(&stores, "r", &opts(true, 0, 0), &mut Discard).unwrap();
    assert_eq!((s.expired, s.garbage), (1, 0), "{s:?}");
    let snap = refstore::load(stores.kv.as_ref(), &base).unwrap();
    assert_eq!((snap.packs.len(), snap.garbage.len()), (1, 0));
    assert_eq!(bucket(&stores, &base), listed_files(&stores, &base));
    let out = tmp.path().join("out.git");
    transfer::export(&stores, "r", &out, &mut Discard).unwrap();
    git(&out, &["fsck", "--strict"]);
}

#[test]
fn orphans_are_swept_only_after_the_grace_period() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture(tmp.path(), 2);
    let stores = Stores::in_memory(tmp.path().join("cache")).unwrap();
    transfer::import(&stores, &src, "r", &mut Discard).unwrap();
    let base = stores.base("r").unwrap();
    let orphan = tmp.path().join("orphan");
    std::fs::write(&orphan, b"never listed").unwrap();
    let name = format!("{base}pack/pack-{}.pack", "ab".repeat(20));
    stores.blobs.put_once(&name, &orphan).unwrap();
    let s = repack(&stores, "r", &opts(true, 3600, 86_400), &mut Discard).unwrap();
    assert_eq!(s.swept.orphan_files, 0);
    assert_eq!(
        bucket(&stores, &base).len(),
        listed_files(&stores, &base).len() + 1
    );
    let s = repack(&stores, "r", &opts(false, 0, 86_400), &mut Discard).unwrap();
    assert_eq!(s.swept.orphan_files, 1, "{s:?}");
    assert_eq!(bucket(&stores, &base), listed_files(&stores, &base));
}

#[test]
fn a_second_runner_does_nothing_while_the_first_holds_the_lease() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture(tmp.path(), 2);
    let stores = Stores::in_memory(tmp.path().join("cache")).unwrap();
    transfer::import(&stores, &src, "r", &mut Discard).unwrap();
    let key = format!("{}repack-owner", stores.base("r").unwrap());
    let held = super::lock::Lease::take(stores.kv.as_ref(), &key, "other").unwrap();
    let s = repack(&stores, "r", &opts(true, 0, 0), &mut Discard).unwrap();
    assert!(s.busy);
    drop(held);
    assert!(
        !repack(&stores, "r", &opts(true, 0, 0), &mut Discard)
            .unwrap()
            .busy
    );
}

#[test]
fn compaction_merges_the_small_packs_and_keeps_the_largest() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture(tmp.path(), 6);
    let stores = Stores::in_memory(tmp.path().join("cache")).unwrap();
    // Three repositories' packs listed in one: the largest stays, the two others merge.
    transfer::import(&stores, &src, "r", &mut Discard).unwrap();
    let base = stores.base("r").unwrap();
    for (i, rev) in ["main~4", "main~2"].iter().enumerate() {
        let part = tmp.path().join(format!("part{i}"));
        git(
            tmp.path(),
            &[
                "clone",
                "-q",
                "--bare",
                "--no-local",
                "-b",
                "main",
                src.to_str().unwrap(),
                part.to_str().unwrap(),
            ],
        );
        git(&part, &["update-ref", "refs/heads/main", rev]);
        git(&part, &["update-ref", "-d", "refs/tags/v1"]);
        git(&part, &["update-ref", "-d", "refs/heads/side"]);
        git(&part, &["repack", "-adq"]);
        transfer::import(&stores, &part, &format!("part{i}"), &mut Discard).unwrap();
        let pb = stores.base(&format!("part{i}")).unwrap();
        let snap = refstore::load(stores.kv.as_ref(), &pb).unwrap();
        for (pack, size) in &snap.packs {
            for ext in ["pack", "idx"] {
                let local = stores.cache_dir.join(format!("{pack}.{ext}"));
                let data = stores.rt.block_on(async {
                    use object_store::ObjectStore as _;
                    stores
                        .store
                        .get(&object_store::path::Path::from(
                            super::super::view::pack_key(&pb, pack, ext),
                        ))
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .unwrap()
                });
                std::fs::write(&local, &data).unwrap();
                stores
                    .blobs
                    .put_once(&super::super::view::pack_key(&base, pack, ext), &local)
                    .unwrap();
            }
            stores
                .kv
                .txn(&Txn {
                    compares: Vec::new(),
                    ops: vec![Op::Put {
                        key: format!("{base}pack/{pack}"),
                        value: size.to_string().into_bytes(),
                    }],
                })
                .unwrap();
        }
    }
    let s = repack(&stores, "r", &opts(false, 0, 86_400), &mut Discard).unwrap();
    assert_eq!((s.packs_before, s.replaced, s.bitmaps), (3, 2, 0), "{s:?}");
    let snap = refstore::load(stores.kv.as_ref(), &base).unwrap();
    assert_eq!(snap.packs.len(), 2);
    assert_eq!(bucket(&stores, &base), listed_files(&stores, &base));
    let out = tmp.path().join("out.git");
    transfer::export(&stores, "r", &out, &mut Discard).unwrap();
    git(&out, &["fsck", "--strict"]);
}

#[test]
fn stored_config_takes_only_the_served_sections() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture(tmp.path(), 1);
    git(&src, &["config", "receive.denyDeletes", "true"]);
    git(&src, &["config", "core.logAllRefUpdates", "true"]);
    let stores = Stores::in_memory(tmp.path().join("cache")).unwrap();
    transfer::import(&stores, &src, "r", &mut Discard).unwrap();
    let text = settings::get(&stores, "r").unwrap();
    assert!(
        text.contains("denyDeletes") || text.contains("denydeletes"),
        "{text}"
    );
    assert!(
        !text.to_ascii_lowercase().contains("logallrefupdates"),
        "{text}"
    );
    settings::set(&stores, "r", "uploadpack.allowFilter", Some("true")).unwrap();
    assert!(settings::set(&stores, "r", "core.bare", Some("false")).is_err());
    assert!(settings::get(&stores, "missing").is_err());
    let repo = stores.backend().open_dist("r").unwrap();
    use crate::backend::Repository;
    assert_eq!(
        repo.config().get_bool("uploadpack.allowfilter").unwrap(),
        Some(true)
    );
    assert_eq!(
        repo.config().get_bool("receive.denydeletes").unwrap(),
        Some(true)
    );
}
