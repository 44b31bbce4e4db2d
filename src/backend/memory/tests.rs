//! receive-pack against a [`MemoryRepository`]: the whole write path (pack checked and staged,
//! published, refs updated by compare-and-swap) with no directory and no child process.

use std::ops::ControlFlow;

use super::MemoryRepository;
use crate::backend::{ObjectStore, Repository};
use crate::hash::ObjectId;
use crate::odb::memory::MemoryObjects;
use crate::odb::Kind;
use crate::progress::Discard;
use crate::service::receive_pack;

/// A client's history of two commits, and the pack of everything up to `tip`.
fn client_pack() -> (MemoryObjects, ObjectId, ObjectId, Vec<u8>) {
    let mut c = MemoryObjects::new();
    let blob = c.add(Kind::Blob, "hello\n");
    let tree = c.tree(&[("a", blob, false)]);
    let c1 = c.commit(tree, &[], 1);
    let c2 = c.commit(tree, &[c1], 2);
    let walk =
        crate::walk::objects_for_pack(&c, &[c2], &[], &Default::default(), &mut Discard).unwrap();
    let mut pack = Vec::new();
    crate::pack::write::write_pack(
        &c,
        &walk.objects.to_vec(),
        &Default::default(),
        &[],
        &Default::default(),
        &mut pack,
        &mut Discard,
    )
    .unwrap();
    (c, c1, c2, pack)
}

fn pkt(s: &str) -> Vec<u8> {
    format!("{:04x}{s}", s.len() + 4).into_bytes()
}

/// Pushes `commands` (old, new, name) with `caps`, then `pack`; returns the report's lines.
fn push(
    repo: &MemoryRepository,
    commands: &[(ObjectId, ObjectId, &str)],
    caps: &str,
    pack: &[u8],
) -> String {
    let mut input = Vec::new();
    for (i, (old, new, name)) in commands.iter().enumerate() {
        let caps = if i == 0 {
            format!("\0{caps}")
        } else {
            String::new()
        };
        input.extend(pkt(&format!("{old} {new} {name}{caps}\n")));
    }
    input.extend(b"0000");
    input.extend_from_slice(pack);
    let opts = receive_pack::Options {
        version: crate::protocol::Version::V0,
        stateless_rpc: true,
        advertise_refs: false,
        limits: Default::default(),
        authorize: None,
        hooks: None,
        validate: None,
    };
    let mut out = Vec::new();
    let _ = receive_pack::serve(repo, &opts, &input[..], &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn refs(repo: &MemoryRepository) -> Vec<(String, ObjectId)> {
    let mut out = Vec::new();
    repo.for_each_ref("refs/", &mut |r| {
        out.push((r.name, r.id));
        Ok(ControlFlow::Continue(()))
    })
    .unwrap();
    out
}

#[test]
fn push_stages_publishes_and_updates_refs() {
    let repo = MemoryRepository::new();
    let (client, _, c2, pack) = client_pack();
    let null = c2.kind().null();
    let report = push(
        &repo,
        &[(null, c2, "refs/heads/main")],
        "report-status",
        &pack,
    );
    assert!(report.contains("unpack ok"), "{report}");
    assert!(report.contains("ok refs/heads/main"), "{report}");
    assert_eq!(refs(&repo), [("refs/heads/main".to_string(), c2)]);
    assert_eq!(repo.head().unwrap().id, Some(c2));
    let walk =
        crate::walk::objects_for_pack(&client, &[c2], &[], &Default::default(), &mut Discard)
            .unwrap();
    for o in walk.objects.iter() {
        assert!(repo.has_object(&o.id), "{} not published", o.id);
    }
}

#[test]
fn stale_old_values_fail_and_atomic_fails_all() {
    let repo = MemoryRepository::new();
    let (_, c1, c2, pack) = client_pack();
    let null = c2.kind().null();
    let report = push(
        &repo,
        &[(null, c1, "refs/heads/main")],
        "report-status",
        &pack,
    );
    assert!(report.contains("ok refs/heads/main"), "{report}");
    // A create of an existing ref: refused; with atomic the good one fails too.
    let report = push(
        &repo,
        &[
            (null, c2, "refs/heads/main"),
            (null, c2, "refs/heads/other"),
        ],
        "report-status atomic",
        &pack,
    );
    assert!(report.contains("ng refs/heads/main"), "{report}");
    assert!(report.contains("ng refs/heads/other"), "{report}");
    assert_eq!(refs(&repo), [("refs/heads/main".to_string(), c1)]);
    // Without atomic the good one applies alone.
    let report = push(
        &repo,
        &[(c1, c2, "refs/heads/main"), (null, c2, "refs/heads/other")],
        "report-status",
        &pack,
    );
    assert!(report.contains("ok refs/heads/main"), "{report}");
    assert!(report.contains("ok refs/heads/other"), "{report}");
    assert_eq!(
        refs(&repo),
        [
            ("refs/heads/main".to_string(), c2),
            ("refs/heads/other".to_string(), c2)
        ]
    );
}

#[test]
fn a_bad_pack_publishes_nothing() {
    let repo = MemoryRepository::new();
    let (_, _, c2, pack) = client_pack();
    let null = c2.kind().null();
    let mut damaged = pack.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    let report = push(
        &repo,
        &[(null, c2, "refs/heads/main")],
        "report-status",
        &damaged,
    );
    assert!(!report.contains("unpack ok"), "{report}");
    assert!(refs(&repo).is_empty());
    assert!(!repo.has_object(&c2));
    assert!(repo.object_header(&c2).unwrap().is_none());
}
