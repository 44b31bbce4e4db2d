//! A push creating many refs at once (a mirror push into an empty repository), which Sluice
//! writes into `packed-refs` rather than one loose file per ref: the refs, their peeled tags and
//! the refusals of names that conflict as file and directory are what C git's receive-pack
//! makes of the same push into a twin repository; two such pushes at once each keep their
//! compare-and-swap.
//! See: #13

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// `git push --porcelain` from `work` to the bare repository `dst` through `receive_pack`.
fn push(work: &Path, dst: &Path, receive_pack: &str, refspecs: &[String]) -> (bool, String) {
    let out = push_cmd(work, dst, receive_pack, refspecs)
        .output()
        .expect("run git push");
    (out.status.success(), porcelain(&out.stdout))
}

fn push_cmd(
    work: &Path,
    dst: &Path,
    receive_pack: &str,
    refspecs: &[String],
) -> std::process::Command {
    let mut c = git_cmd(work);
    c.args([
        "push",
        "--porcelain",
        &format!("--receive-pack={receive_pack}"),
    ])
    .arg(file_url(dst))
    .args(refspecs)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    c
}

/// The per-ref lines of a porcelain push report (flag, refspec, summary), sorted: the order
/// and the summary of a rejection by the server are what is compared.
fn porcelain(stdout: &[u8]) -> String {
    let mut lines: Vec<&str> = std::str::from_utf8(stdout)
        .unwrap()
        .lines()
        .filter(|l| l.contains('\t'))
        .collect();
    lines.sort_unstable();
    lines.join("\n")
}

fn sluice_receive_pack() -> String {
    match against_git() {
        true => "git-receive-pack".into(),
        false => format!("{} receive-pack", sluice()),
    }
}

/// A work repository with 40 branches (some nested), 30 `refs/pull/<n>/head`, annotated tags
/// (one of a tag) and a lightweight one; returns it and its refspecs, every ref to itself.
fn many_refs(dir: &Path) -> (PathBuf, Vec<String>) {
    let work = dir.join("work");
    git_ok(dir, &["init", "-q", "-b", "main", work.to_str().unwrap()]);
    let first = commit_line(&work, "one");
    let second = commit_line(&work, "two");
    for i in 0..40 {
        let name = match i % 3 {
            0 => format!("refs/heads/b{i}"),
            1 => format!("refs/heads/team/t{i}/work"),
            _ => format!("refs/heads/n{i}/x"),
        };
        let at = if i % 2 == 0 { &first } else { &second };
        git_ok(&work, &["update-ref", &name, at]);
    }
    for n in 1..=30 {
        git_ok(
            &work,
            &["update-ref", &format!("refs/pull/{n}/head"), &first],
        );
    }
    git_ok(&work, &["tag", "-a", "-m", "v1", "v1", &first]);
    git_ok(&work, &["tag", "-a", "-m", "of a tag", "v1-signed", "v1"]);
    git_ok(&work, &["tag", "light", &second]);
    let names = git_ok(&work, &["for-each-ref", "--format=%(refname)"]);
    let specs = names.lines().map(|n| format!("{n}:{n}")).collect();
    (work, specs)
}

fn bare(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    git_ok(
        dir,
        &["init", "-q", "--bare", "-b", "main", p.to_str().unwrap()],
    );
    p
}

/// Loose ref files under `repo/refs`.
fn loose_refs(repo: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![repo.join("refs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            match e.path().is_dir() {
                true => stack.push(e.path()),
                false => out.push(e.path()),
            }
        }
    }
    out
}

#[test]
fn initial_push_of_many_refs_matches_git_receive_pack() {
    let dir = scratch();
    let (work, mut specs) = many_refs(dir.path());
    // Two pairs that conflict as file and directory, each in both orders: C git's receive-pack
    // (one transaction per command, in order) keeps the first and refuses the second.
    for s in [
        "HEAD:refs/heads/dup",
        "HEAD:refs/heads/dup/x",
        "HEAD:refs/heads/q/r",
        "HEAD:refs/heads/q",
        // Under a ref the work repository has, created by this very push.
        "HEAD:refs/heads/b0/sub",
    ] {
        specs.push(s.to_string());
    }
    let ours = bare(dir.path(), "ours.git");
    let theirs = bare(dir.path(), "theirs.git");
    let (ok_ours, report_ours) = push(&work, &ours, &sluice_receive_pack(), &specs);
    let (ok_theirs, report_theirs) = push(&work, &theirs, "git-receive-pack", &specs);
    assert!(
        !ok_ours && !ok_theirs,
        "the conflicting names must be refused"
    );
    assert_eq!(report_ours, report_theirs);
    assert!(
        report_ours.contains("!\tHEAD:refs/heads/dup/x\t[remote rejected] (failed to update ref)"),
        "{report_ours}"
    );
    assert!(
        report_ours.contains("*\tHEAD:refs/heads/q/r\t"),
        "{report_ours}"
    );
    assert_eq!(refs(&ours), refs(&theirs));
    let peeled = [
        "for-each-ref",
        "--format=%(refname) %(*objectname)",
        "refs/tags/",
    ];
    assert_eq!(git_ok(&ours, &peeled), git_ok(&theirs, &peeled));
    assert!(refs(&ours).lines().count() > 70);
    fsck(&ours);
    if !against_git() {
        // The refs went into packed-refs, peeled, and left no file or directory per ref.
        assert_eq!(loose_refs(&ours), Vec::<PathBuf>::new());
        assert!(!ours.join("refs/pull").exists());
        let packed = std::fs::read_to_string(ours.join("packed-refs")).unwrap();
        assert!(packed.starts_with("# pack-refs with: peeled fully-peeled sorted \n"));
        // C git writes the same file from the same refs.
        let repacked = dir.path().join("repacked.git");
        copy_repo(&ours, &repacked);
        git_ok(&repacked, &["pack-refs", "--all"]);
        let again = std::fs::read_to_string(repacked.join("packed-refs")).unwrap();
        assert_eq!(packed, again);
    }
    // A later push moves, deletes and adds refs over the packed ones, as C git would.
    let update = |work: &Path| {
        let tip = commit_line(work, "three");
        git_ok(work, &["update-ref", "refs/heads/b0", &tip]);
    };
    update(&work);
    let later: Vec<String> = [
        "refs/heads/b0:refs/heads/b0",
        ":refs/heads/team/t1/work",
        ":refs/pull/7/head",
        "HEAD:refs/heads/team/t1/work/deeper",
        "HEAD:refs/pull/7",
    ]
    .map(String::from)
    .to_vec();
    let (ok_ours, report_ours) = push(&work, &ours, &sluice_receive_pack(), &later);
    let (ok_theirs, report_theirs) = push(&work, &theirs, "git-receive-pack", &later);
    assert_eq!((ok_ours, &report_ours), (ok_theirs, &report_theirs));
    assert_eq!(refs(&ours), refs(&theirs));
    fsck(&ours);
}

#[test]
fn two_pushers_at_once_each_keep_compare_and_swap() {
    let dir = scratch();
    let dst = bare(dir.path(), "dst.git");
    // Two unrelated histories: a name both create can only be one of them.
    let pusher = |name: &str| -> (PathBuf, Vec<String>, String) {
        let work = dir.path().join(name);
        git_ok(
            dir.path(),
            &["init", "-q", "-b", "main", work.to_str().unwrap()],
        );
        let tip = commit_line(&work, name);
        let mut specs: Vec<String> = (0..40)
            .map(|i| format!("HEAD:refs/heads/{name}/{i}"))
            .collect();
        specs.extend((0..20).map(|i| format!("HEAD:refs/heads/shared/{i}")));
        (work, specs, tip)
    };
    let (work_a, specs_a, tip_a) = pusher("a");
    let (work_b, specs_b, tip_b) = pusher("b");
    let rp = sluice_receive_pack();
    for round in 0..3 {
        if round > 0 {
            // Again into an empty repository.
            std::fs::remove_dir_all(&dst).unwrap();
            bare(dir.path(), "dst.git");
        }
        let started = [
            push_cmd(&work_a, &dst, &rp, &specs_a).spawn(),
            push_cmd(&work_b, &dst, &rp, &specs_b).spawn(),
        ];
        let [a_report, b_report] = started.map(|c| {
            let out = c.expect("spawn git push").wait_with_output().expect("wait");
            porcelain(&out.stdout)
        });
        let final_refs = refs(&dst);
        for i in 0..40 {
            for (name, tip) in [("a", &tip_a), ("b", &tip_b)] {
                let line = format!("{tip} refs/heads/{name}/{i}");
                assert!(final_refs.contains(&line), "{line} missing:\n{final_refs}");
            }
        }
        for i in 0..20 {
            let name = format!("refs/heads/shared/{i}");
            let winner = git_ok(&dst, &["rev-parse", &name]).trim().to_string();
            let a_won = a_report.contains(&format!("*\tHEAD:{name}\t"));
            let b_won = b_report.contains(&format!("*\tHEAD:{name}\t"));
            assert!(
                a_won != b_won,
                "{name}: exactly one creates it\n{a_report}\n{b_report}"
            );
            assert_eq!(&winner, if a_won { &tip_a } else { &tip_b }, "{name}");
        }
        fsck(&dst);
        assert!(
            !loose_refs(&dst)
                .iter()
                .any(|p| p.to_string_lossy().ends_with(".lock")),
            "lock files left"
        );
    }
}

/// One push that deletes the loose ref `a` and creates `a/b` (a branch renamed into a
/// directory of that name): C git's receive-pack applies it, one command after the other;
/// with `--atomic` it refuses both. Sluice does the same, and leaves no lock file behind.
#[test]
fn deleting_a_ref_and_creating_one_under_its_name_matches_git_receive_pack() {
    let dir = scratch();
    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &["init", "-q", "-b", "main", work.to_str().unwrap()],
    );
    commit_line(&work, "one");
    let setup = [
        "main:refs/heads/main",
        "main:refs/heads/a",
        "main:refs/heads/keep/x",
    ]
    .map(String::from)
    .to_vec();
    git_ok(&work, &["branch", "a/b"]);
    git_ok(&work, &["branch", "keep"]);
    let specs = [
        ":refs/heads/a",
        "a/b:refs/heads/a/b",
        ":refs/heads/keep/x",
        "keep:refs/heads/keep",
    ];
    for atomic in [false, true] {
        let ours = bare(dir.path(), &format!("ours-{atomic}.git"));
        let theirs = bare(dir.path(), &format!("theirs-{atomic}.git"));
        // The refs to delete are loose files on both sides (written by C git's receive-pack).
        for repo in [&ours, &theirs] {
            assert!(push(&work, repo, "git-receive-pack", &setup).0);
            assert!(repo.join("refs/heads/a").is_file());
        }
        let mut args: Vec<String> = specs.map(String::from).to_vec();
        if atomic {
            args.insert(0, "--atomic".to_string());
        }
        let (ok_ours, report_ours) = push(&work, &ours, &sluice_receive_pack(), &args);
        let (ok_theirs, report_theirs) = push(&work, &theirs, "git-receive-pack", &args);
        assert_eq!(ok_ours, ok_theirs, "{report_ours}\n--\n{report_theirs}");
        assert_eq!(ok_ours, !atomic, "{report_ours}");
        if !atomic {
            assert_eq!(report_ours, report_theirs);
        }
        assert_eq!(refs(&ours), refs(&theirs));
        let locks: Vec<PathBuf> = loose_refs(&ours)
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".lock"))
            .collect();
        assert_eq!(locks, Vec::<PathBuf>::new());
        fsck(&ours);
    }
}
