use super::*;
use crate::odb::object_id;
use std::collections::HashMap;

fn tree(entries: &[(&str, &[u8])]) -> Vec<u8> {
    tree_to(entries, &ObjectId::from_bytes(&[0x11; 20]).unwrap())
}

fn tree_to(entries: &[(&str, &[u8])], id: &ObjectId) -> Vec<u8> {
    let mut v = Vec::new();
    for (mode, name) in entries {
        v.extend_from_slice(mode.as_bytes());
        v.push(b' ');
        v.extend_from_slice(name);
        v.push(0);
        v.extend_from_slice(id.as_bytes());
    }
    v
}

fn null() -> ObjectId {
    crate::hash::HashKind::Sha1.null()
}

/// The msg-id refusing `data` under receive-pack's defaults, or `None` if it passes.
fn refused(kind: Kind, data: &[u8]) -> Option<MsgId> {
    let opts = FsckOptions::strict();
    check_object(&opts, &null(), kind, data, &mut Found::default())
        .err()
        .and_then(|e| e.msg_id())
}

#[test]
fn tree_names() {
    assert_eq!(
        refused(
            Kind::Tree,
            &tree(&[("100644", b"a"), ("100644", b"b.c"), ("40000", b"b")])
        ),
        None
    );
    let bad: &[(&str, &[u8], MsgId)] = &[
        ("100644", b".git", MsgId::HasDotgit),
        ("40000", b".GIT", MsgId::HasDotgit),
        ("40000", b"git~1", MsgId::HasDotgit),
        ("40000", b".git. . ", MsgId::HasDotgit),
        ("40000", b".git::$INDEX_ALLOCATION", MsgId::HasDotgit),
        ("40000", ".g\u{200c}it".as_bytes(), MsgId::HasDotgit),
        ("40000", b"a\\.git", MsgId::HasDotgit),
        ("100644", b"..", MsgId::HasDotdot),
        ("100644", b".", MsgId::HasDot),
        ("100644", b"a/b", MsgId::FullPathname),
        ("", b"a", MsgId::BadTree),
        ("100644", b"", MsgId::BadTree),
        ("120000", b".gitmodules", MsgId::GitmodulesSymlink),
        ("120000", b"GITMOD~1", MsgId::GitmodulesSymlink),
        ("120000", b"a\\gi7eba~2", MsgId::GitmodulesSymlink),
        ("0100644", b"a", MsgId::ZeroPaddedFilemode),
        ("040000", b"a", MsgId::ZeroPaddedFilemode),
    ];
    for (mode, name, id) in bad {
        assert_eq!(
            refused(Kind::Tree, &tree(&[(mode, name)])),
            Some(*id),
            "{mode} {}",
            String::from_utf8_lossy(name)
        );
    }
    let long = vec![b'x'; 4097];
    assert_eq!(
        refused(Kind::Tree, &tree(&[("100644", &long)])),
        Some(MsgId::LargePathname)
    );
    assert_eq!(
        refused(Kind::Tree, &tree(&[("100644", b"b"), ("100644", b"a")])),
        Some(MsgId::TreeNotSorted)
    );
    assert_eq!(
        refused(Kind::Tree, &tree(&[("100644", b"a"), ("100644", b"a")])),
        Some(MsgId::DuplicateEntries)
    );
    // A file and a directory of the same name, with an entry sorting between them.
    assert_eq!(
        refused(
            Kind::Tree,
            &tree(&[("100644", b"a"), ("100644", b"a.c"), ("40000", b"a")])
        ),
        Some(MsgId::DuplicateEntries)
    );
    assert_eq!(
        refused(Kind::Tree, &tree(&[("100644", b"a.c"), ("40000", b"a")])),
        None
    );
    assert_eq!(
        refused(Kind::Tree, &tree(&[("100644", b"a"), ("100644", b"a.c")])),
        None
    );
    assert_eq!(
        refused(Kind::Tree, b"100644 a\0short"),
        Some(MsgId::BadTree)
    );
    let null_entry = tree_to(&[("100644", b"a")], &null());
    assert_eq!(refused(Kind::Tree, &null_entry), Some(MsgId::NullSha1));
}

#[test]
fn bad_modes_are_info() {
    let opts = FsckOptions::strict();
    for mode in ["100600", "100664", "160644"] {
        let w = check_object(
            &opts,
            &null(),
            Kind::Tree,
            &tree(&[(mode, b"a")]),
            &mut Found::default(),
        )
        .unwrap();
        assert_eq!(w.len(), 1, "{mode}");
        assert!(w[0].contains("badFilemode"), "{w:?}");
    }
}

#[test]
fn trees_record_special_blobs_and_subtrees() {
    let opts = FsckOptions::strict();
    let mut found = Found::default();
    let data = tree(&[
        ("100644", b".GITATTRIBUTES"),
        ("100644", b".gitmodu\xe2\x80\x8cles"),
        ("40000", b"d"),
    ]);
    check_object(&opts, &null(), Kind::Tree, &data, &mut found).unwrap();
    assert_eq!(found.gitmodules.len(), 1);
    assert_eq!(found.gitattributes.len(), 1);
    assert_eq!(found.subtrees.len(), 1);
}

#[test]
fn commits_and_tags() {
    let t = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
    let good = format!("tree {t}\nauthor A <a@b> 1 +0000\ncommitter C <c@d> 2 -0130\n\nmsg\n");
    assert_eq!(refused(Kind::Commit, good.as_bytes()), None);
    let c = |s: &str| refused(Kind::Commit, s.as_bytes());
    let ok_ident = "A <a@b> 1 +0000";
    let with_author = |a: &str| format!("tree {t}\nauthor {a}\ncommitter {ok_ident}\n\nm");
    assert_eq!(
        c(&format!("author {ok_ident}\n\nm")),
        Some(MsgId::MissingTree)
    );
    assert_eq!(
        c(&format!("tree {t}\ncommitter {ok_ident}\n\nm")),
        Some(MsgId::MissingAuthor)
    );
    assert_eq!(
        c(&format!(
            "tree {t}\nauthor {ok_ident}\nauthor {ok_ident}\ncommitter {ok_ident}\n\nm"
        )),
        Some(MsgId::MultipleAuthors)
    );
    assert_eq!(
        c(&format!("tree {t}\nauthor {ok_ident}\n\nm")),
        Some(MsgId::MissingCommitter)
    );
    assert_eq!(c(&with_author("A a@b 1 +0000")), Some(MsgId::MissingEmail));
    assert_eq!(
        c(&with_author("<a@b> 1 +0000")),
        Some(MsgId::MissingNameBeforeEmail)
    );
    assert_eq!(
        c(&with_author("A<a@b> 1 +0000")),
        Some(MsgId::MissingSpaceBeforeEmail)
    );
    assert_eq!(c(&with_author("A> <a@b> 1 +0000")), Some(MsgId::BadName));
    assert_eq!(c(&with_author("A <a<b> 1 +0000")), Some(MsgId::BadEmail));
    assert_eq!(
        c(&with_author("A <a@b>1 +0000")),
        Some(MsgId::MissingSpaceBeforeDate)
    );
    assert_eq!(c(&with_author("A <a@b> x +0000")), Some(MsgId::BadDate));
    assert_eq!(
        c(&with_author("A <a@b> 01 +0000")),
        Some(MsgId::ZeroPaddedDate)
    );
    assert_eq!(c(&with_author("A <a@b> 0 +0000")), None);
    assert_eq!(c(&with_author("A <a@b>  \t1 +0000")), None);
    assert_eq!(
        c(&with_author("A <a@b> 99999999999999999999 +0000")),
        Some(MsgId::BadDateOverflow)
    );
    assert_eq!(c(&with_author("A <a@b> 1 0000")), Some(MsgId::BadTimezone));
    assert_eq!(c(&with_author("A <a@b> 1 +000")), Some(MsgId::BadTimezone));
    assert_eq!(c(&with_author("A <a@b> 1x +0000")), Some(MsgId::BadDate));
    assert_eq!(
        c(&format!(
            "tree {t}\nauthor {ok_ident}\ncommitter {ok_ident}\0\n\nm"
        )),
        Some(MsgId::NulInHeader)
    );
    assert_eq!(
        c(&format!(
            "tree {t}\nauthor {ok_ident}\ncommitter {ok_ident}"
        )),
        Some(MsgId::UnterminatedHeader)
    );
    assert_eq!(
        c(&format!(
            "tree {t}\nauthor {ok_ident}\ncommitter {ok_ident}\n\nm\0"
        )),
        Some(MsgId::NulInCommit)
    );
    assert_eq!(
        c(&with_author(ok_ident).replacen(t, &t[..39], 1)),
        Some(MsgId::BadTreeSha1)
    );

    let tag = |s: &str| refused(Kind::Tag, s.as_bytes());
    let good = format!("object {t}\ntype tree\ntag v1\ntagger T <t@t> 3 +0000\n\nmsg\n");
    assert_eq!(tag(&good), None);
    assert_eq!(
        tag(&format!("object {t}\ntype bogus\ntag v1\n\nm")),
        Some(MsgId::BadType)
    );
    assert_eq!(tag("type tree\ntag v1\n\nm"), Some(MsgId::MissingObject));
    assert_eq!(
        tag(&format!("object {t}\ntag v1\n\nm")),
        Some(MsgId::MissingTypeEntry)
    );
    assert_eq!(
        tag(&format!("object {t}\ntype tree\n\nm")),
        Some(MsgId::MissingTagEntry)
    );
    assert_eq!(
        tag(&format!(
            "object {t}\ntype tree\ntag v1\ntagger T 3 +0000\n\nm"
        )),
        Some(MsgId::MissingEmail)
    );
    // Infos (no tagger, odd tag name) and ignored ids only warn.
    assert_eq!(tag(&format!("object {t}\ntype tree\ntag v1\n\nm")), None);
    assert_eq!(tag(&format!("object {t}\ntype tree\ntag a..b\n\nm")), None);
    assert_eq!(
        tag(&format!(
            "object {t}\ntype tree\ntag v\ntagger T <t> 1 +0000\nx y\n\nm"
        )),
        None
    );
}

/// Objects in memory, for [`Checker::finish`].
struct Mem(HashMap<ObjectId, (Kind, Vec<u8>)>);

impl ObjectSource for Mem {
    fn header(&self, id: &ObjectId) -> Result<Option<(Kind, u64)>, String> {
        Ok(self.0.get(id).map(|(k, d)| (*k, d.len() as u64)))
    }
    fn read(&self, id: &ObjectId) -> Result<Option<Vec<u8>>, String> {
        Ok(self.0.get(id).map(|(_, d)| d.clone()))
    }
}

fn add(mem: &mut Mem, kind: Kind, data: Vec<u8>) -> ObjectId {
    let id = object_id(crate::hash::HashKind::Sha1, kind, &data).unwrap();
    mem.0.insert(id, (kind, data));
    id
}

/// Checks every object of `mem` as a push would, then finishes.
fn push(mem: &Mem, opts: &FsckOptions) -> Result<Vec<String>, FsckError> {
    let checker = Checker::new(opts.clone());
    let mut received = Vec::new();
    for (id, (kind, data)) in &mem.0 {
        checker.check(id, *kind, data)?;
        received.push((*id, *kind));
    }
    checker.finish(mem, &received)?;
    Ok(checker.take_warnings())
}

#[test]
fn gitmodules_blobs_are_checked_wherever_they_are() {
    let mut mem = Mem(HashMap::new());
    let blob = add(
        &mut mem,
        Kind::Blob,
        b"[submodule \"x\"]\n\turl = --upload-pack=x\n".to_vec(),
    );
    add(
        &mut mem,
        Kind::Tree,
        tree_to(&[("100644", b"GITMOD~1")], &blob),
    );
    let opts = FsckOptions::strict();
    let err = push(&mem, &opts).unwrap_err();
    assert_eq!(err.msg_id(), Some(MsgId::GitmodulesUrl));
    assert!(err.to_string().contains(&blob.to_hex()), "{err}");
    let mut ignoring = FsckOptions::strict();
    ignoring.set(MsgId::GitmodulesUrl, Severity::Warn);
    let w = push(&mem, &ignoring).unwrap();
    assert!(w.iter().any(|w| w.contains("gitmodulesUrl")), "{w:?}");
    let mut skipping = FsckOptions::strict();
    skipping.skip(blob);
    assert_eq!(push(&mem, &skipping).unwrap(), Vec::<String>::new());

    // Named .gitmodules but missing, or a tree.
    let mut mem = Mem(HashMap::new());
    let gone = ObjectId::from_bytes(&[7; 20]).unwrap();
    add(
        &mut mem,
        Kind::Tree,
        tree_to(&[("100644", b".gitmodules")], &gone),
    );
    assert_eq!(
        push(&mem, &opts).unwrap_err().msg_id(),
        Some(MsgId::GitmodulesMissing)
    );
    let sub = add(&mut mem, Kind::Tree, Vec::new());
    // A gitlink: no link kind to contradict, so the blob check itself finds the tree.
    add(
        &mut mem,
        Kind::Tree,
        tree_to(&[("160000", b".gitattributes")], &sub),
    );
    mem.0.retain(|_, (_, d)| !d.ends_with(gone.as_bytes()));
    assert_eq!(
        push(&mem, &opts).unwrap_err().msg_id(),
        Some(MsgId::GitattributesBlob)
    );
    // Too large to parse.
    let mut mem = Mem(HashMap::new());
    let big = add(&mut mem, Kind::Blob, vec![b'#'; 100]);
    add(
        &mut mem,
        Kind::Tree,
        tree_to(&[("100644", b".gitmodules")], &big),
    );
    let mut small = FsckOptions::strict();
    small.big_file_threshold = 99;
    assert_eq!(
        push(&mem, &small).unwrap_err().msg_id(),
        Some(MsgId::GitmodulesLarge)
    );
}

#[test]
fn tag_types_must_match() {
    let mut mem = Mem(HashMap::new());
    let blob = add(&mut mem, Kind::Blob, b"x".to_vec());
    add(
        &mut mem,
        Kind::Tag,
        format!("object {blob}\ntype commit\ntag t\ntagger T <t> 1 +0000\n\nm\n").into_bytes(),
    );
    let err = push(&mem, &FsckOptions::strict()).unwrap_err();
    assert!(err.to_string().contains("is a blob, not a commit"), "{err}");
}

#[test]
fn tree_depth_without_recursion() {
    let mut mem = Mem(HashMap::new());
    let mut below = add(&mut mem, Kind::Tree, Vec::new());
    for _ in 0..100_000 {
        below = add(&mut mem, Kind::Tree, tree_to(&[("40000", b"d")], &below));
    }
    let err = push(&mem, &FsckOptions::strict()).unwrap_err();
    assert!(
        matches!(err, FsckError::TreeDepth { limit: 2048, .. }),
        "{err}"
    );
    let mut opts = FsckOptions::strict();
    opts.max_tree_depth = 100_000;
    assert!(push(&mem, &opts).is_ok());
    opts.max_tree_depth = 99_999;
    assert!(push(&mem, &opts).is_err());
}

#[test]
fn gitattributes_line_length_boundary() {
    let opts = FsckOptions::strict();
    let line = |n: usize| format!("{} text\n", "a".repeat(n - 5)).into_bytes();
    assert!(check_special_blob(&opts, &null(), true, &line(2047)).is_ok());
    let err = check_special_blob(&opts, &null(), true, &line(2048)).unwrap_err();
    assert_eq!(err.msg_id(), Some(MsgId::GitattributesLineLength));
    // git stops reading at a NUL.
    let mut hidden = b"x\0".to_vec();
    hidden.extend(line(3000));
    assert!(check_special_blob(&opts, &null(), true, &hidden).is_ok());
}

#[test]
fn links_must_name_the_right_kind() {
    let mut mem = Mem(HashMap::new());
    let sub = add(&mut mem, Kind::Tree, Vec::new());
    add(&mut mem, Kind::Tree, tree_to(&[("100644", b"f")], &sub));
    let err = push(&mem, &FsckOptions::strict()).unwrap_err();
    assert!(err.to_string().contains("is a tree, not a blob"), "{err}");
    // Two links disagreeing about an object not in the push.
    let mut mem = Mem(HashMap::new());
    let gone = ObjectId::from_bytes(&[9; 20]).unwrap();
    add(
        &mut mem,
        Kind::Tree,
        tree_to(&[("100644", b"f"), ("40000", b"g")], &gone),
    );
    assert!(matches!(
        push(&mem, &FsckOptions::strict()),
        Err(FsckError::LinkKind { .. })
    ));
    let mut mem = Mem(HashMap::new());
    add(&mut mem, Kind::Tree, tree_to(&[("170000", b"f")], &gone));
    assert!(matches!(
        push(&mem, &FsckOptions::strict()),
        Err(FsckError::EntryMode { .. })
    ));
}

/// The links the checks collect decide whether a pack is self-contained: all inside `sent`,
/// each read. A link left outside, or one a demoted problem kept from being read, says no.
#[test]
fn links_within_the_pack() {
    let checked = |mem: &Mem, opts: &FsckOptions| {
        let checker = Checker::new(opts.clone());
        for (id, (kind, data)) in &mem.0 {
            checker.check(id, *kind, data).unwrap();
        }
        let sent: PackedIdSet = mem.0.keys().copied().collect();
        checker.links_within(&sent)
    };
    let mut mem = Mem(HashMap::new());
    let blob = add(&mut mem, Kind::Blob, b"a\n".to_vec());
    let tree = add(&mut mem, Kind::Tree, tree_to(&[("100644", b"a")], &blob));
    let commit = add(
        &mut mem,
        Kind::Commit,
        format!("tree {tree}\nauthor A <a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n\nm\n")
            .into_bytes(),
    );
    let tag = format!("object {commit}\ntype commit\ntag v1\ntagger A <a@b> 1 +0000\n\nt\n");
    add(&mut mem, Kind::Tag, tag.into_bytes());
    let strict = FsckOptions::strict();
    assert!(checked(&mem, &strict));

    // A parent outside the pack.
    let outside = ObjectId::from_bytes(&[9; 20]).unwrap();
    let mut with_parent = Mem(mem.0.clone());
    add(
        &mut with_parent,
        Kind::Commit,
        format!("tree {tree}\nparent {outside}\nauthor A <a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n\nm\n")
            .into_bytes(),
    );
    assert!(!checked(&with_parent, &strict));

    // A tag whose target is outside.
    let mut with_tag = Mem(mem.0.clone());
    let tag = format!("object {outside}\ntype commit\ntag v2\ntagger A <a@b> 1 +0000\n\nt\n");
    add(&mut with_tag, Kind::Tag, tag.into_bytes());
    assert!(!checked(&with_tag, &strict));

    // A parent line the settings let through unread: not provably inside.
    let mut lenient = strict.clone();
    lenient.set(MsgId::BadParentSha1, Severity::Ignore);
    let mut bad_parent = Mem(mem.0.clone());
    add(
        &mut bad_parent,
        Kind::Commit,
        format!(
            "tree {tree}\nparent nothex\nauthor A <a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n\nm\n"
        )
        .into_bytes(),
    );
    assert!(!checked(&bad_parent, &lenient));
}
