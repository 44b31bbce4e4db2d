//! The reftable ref store against C git as the oracle: tables C git wrote read the same as
//! `git for-each-ref` / `git show-ref -d` / `git symbolic-ref` say; tables Sluice writes read
//! the same in C git (`for-each-ref`, `reflog`, `fsck --strict`, `refs verify`); C git and
//! Sluice writing one repository at once lose no update; damaged tables are errors, not panics.

mod common;

use std::path::Path;

use common::*;
use sluice::refs::reftable::{RefValue, Stack};

/// `<id> <name>` lines for every ref as `git show-ref -d` prints them (symrefs resolved, tags
/// followed by their fully peeled `^{}` line), from the stack in `repo`.
fn show_ref_from_stack(repo: &Path, prefix: &str) -> String {
    let stack = Stack::open(&repo.join("reftable")).expect("open stack");
    let mut out = String::new();
    for rec in stack.refs(prefix).expect("iterate") {
        let rec = rec.expect("record");
        let mut value = rec.value.clone();
        for _ in 0..5 {
            let RefValue::Symbolic(target) = &value else { break };
            match stack.lookup(target).expect("lookup") {
                Some(v) => value = v,
                None => break,
            }
        }
        match value {
            RefValue::Direct(id) => out.push_str(&format!("{id} {}\n", rec.name)),
            RefValue::Peeled { id, peeled } => {
                out.push_str(&format!("{id} {}\n{peeled} {}^{{}}\n", rec.name, rec.name))
            }
            other => panic!("{}: unresolved {other:?}", rec.name),
        }
    }
    out
}

/// Asserts `ours == theirs` line by line, reporting the first difference only (10,000 lines).
fn same_lines(ours: &str, theirs: &str, what: &str) {
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), theirs.lines().collect());
    if let Some(i) = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)) {
        panic!(
            "{what}: line {i}: ours {:?}, C git {:?} ({} vs {} lines)",
            a.get(i),
            b.get(i),
            a.len(),
            b.len()
        );
    }
}

#[test]
fn tables_written_by_c_git_read_like_c_git_reads_them() {
    for args in [&[][..], &["packed"][..]] {
        let repo = fixture_with_args("reftable", args);
        let tables = std::fs::read_to_string(repo.join("reftable/tables.list")).unwrap();
        if args.is_empty() {
            assert!(tables.lines().count() > 1, "want a stack of tables: {tables}");
        }
        let expected = git_ok(&repo, &["show-ref", "-d"]);
        assert!(expected.lines().count() > 10_000);
        assert!(expected.contains("refs/heads/alias") && expected.contains("^{}"));
        assert!(!expected.contains("refs/pulls/00042/") && !expected.contains("refs/tags/v1\n"));
        same_lines(&show_ref_from_stack(&repo, "refs/"), &expected, &format!("{args:?}"));
        // A prefix streams just its names.
        let tags = git_ok(&repo, &["show-ref", "-d", "--tags"]);
        same_lines(&show_ref_from_stack(&repo, "refs/tags/"), &tags, "tags");
        let stack = Stack::open(&repo.join("reftable")).unwrap();
        let head = git_ok(&repo, &["symbolic-ref", "HEAD"]);
        assert_eq!(
            stack.lookup("HEAD").unwrap(),
            Some(RefValue::Symbolic(head.trim().to_string()))
        );
        for name in ["refs/pulls/00007/head", "refs/pulls/09999/head", "refs/heads/side"] {
            let id = git_ok(&repo, &["rev-parse", name]);
            assert_eq!(
                stack.lookup(name).unwrap(),
                Some(RefValue::Direct(sluice::hash::ObjectId::from_hex(id.trim().as_bytes()).unwrap())),
                "{name}"
            );
        }
        for gone in ["refs/pulls/00042/head", "refs/tags/v1", "refs/heads/zz", "refs/nope"] {
            assert_eq!(stack.lookup(gone).unwrap(), None, "{gone}");
        }
    }
}
