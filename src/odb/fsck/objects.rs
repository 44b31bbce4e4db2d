//! The commit, tag and tree checks, after C git 2.47's `fsck_commit`, `fsck_tag_standalone`,
//! `fsck_ident` and `fsck_tree`: same message ids, same order, same points where a problem
//! stops the check of its object. What trees say about `.gitmodules` / `.gitattributes` blobs,
//! subtrees and tag targets is handed back in [`Found`] for the checks that need other objects.

use super::names;
use super::{FsckError, MsgId, Reporter};
use crate::hash::{HashKind, ObjectId};
use crate::odb::{Kind, TreeIter};

/// What checking one object found out about others.
#[derive(Debug, Default)]
pub struct Found {
    /// Blobs named `.gitmodules` (in any spelling) by this tree.
    pub gitmodules: Vec<ObjectId>,
    /// Blobs named `.gitattributes` by this tree.
    pub gitattributes: Vec<ObjectId>,
    /// Subtrees of this tree.
    pub subtrees: Vec<ObjectId>,
    /// A tag's target and the kind its `type` line claims.
    pub tagged: Option<(ObjectId, Kind)>,
    /// What a commit or tree links to, and the kind the link says it is (a commit's tree and
    /// parents; a tree's entries by mode, gitlinks left out).
    pub links: Vec<(ObjectId, Kind)>,
    /// Some link of this object was not read: a problem the settings let through stopped the
    /// parse or dropped an id, so `links` (or `tagged`) is not all it links to.
    pub links_cut: bool,
    /// A tree entry whose mode is no kind of object at all (name, mode): git's walk refuses it.
    pub bad_entry_mode: Option<(Vec<u8>, u32)>,
}

/// Longest tree entry name before `largePathname` (git's `max_tree_entry_len`).
pub const MAX_TREE_ENTRY_LEN: usize = 4096;

/// Runs the checks for `kind` on `data`, reporting through `r`.
pub(super) fn check(
    kind: Kind,
    data: &[u8],
    hash: HashKind,
    r: &mut Reporter<'_>,
    found: &mut Found,
) -> Result<(), FsckError> {
    match kind {
        Kind::Commit => check_commit(data, hash, r, found),
        Kind::Tag => check_tag(data, hash, r, found),
        Kind::Tree => check_tree(data, hash, r, found),
        // Blobs are judged by the names trees give them, once those trees are known.
        Kind::Blob => Ok(()),
    }
}

/// The header must end in an empty line or at least a newline, with no NUL before
/// (`verify_headers`); both are fatal: the rest of the object cannot be scanned safely.
fn verify_headers(data: &[u8], r: &mut Reporter<'_>) -> Result<bool, FsckError> {
    for (i, &b) in data.iter().enumerate() {
        match b {
            0 => {
                r.report(
                    MsgId::NulInHeader,
                    format!("unterminated header: NUL at offset {i}"),
                )?;
                return Ok(false);
            }
            b'\n' if data.get(i + 1) == Some(&b'\n') => return Ok(true),
            _ => {}
        }
    }
    if data.last() == Some(&b'\n') {
        return Ok(true);
    }
    r.report(MsgId::UnterminatedHeader, "unterminated header")?;
    Ok(false)
}

/// The next header line (without its newline) and the rest; `None` at the end of the data.
fn line(data: &[u8]) -> Option<(&[u8], &[u8])> {
    if data.is_empty() {
        return None;
    }
    let nl = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    Some((&data[..nl], data.get(nl + 1..).unwrap_or(b"")))
}

/// `line` is exactly a hex object id of `hash`'s width (either case, as git's `parse_oid_hex`).
fn is_hex_id(line: &[u8], hash: HashKind) -> bool {
    line.len() == hash.len_in_hex() && line.iter().all(u8::is_ascii_hexdigit)
}

fn parse_id(line: &[u8], hash: HashKind) -> Option<ObjectId> {
    is_hex_id(line, hash)
        .then(|| ObjectId::from_hex(&line.to_ascii_lowercase()).ok())
        .flatten()
}

fn check_commit(
    data: &[u8],
    hash: HashKind,
    r: &mut Reporter<'_>,
    found: &mut Found,
) -> Result<(), FsckError> {
    if !verify_headers(data, r)? {
        found.links_cut = true;
        return Ok(());
    }
    let mut rest = data;
    match line(rest) {
        Some((l, next)) if l.starts_with(b"tree ") => {
            match parse_id(&l[5..], hash) {
                Some(tree) => found.links.push((tree, Kind::Tree)),
                None => {
                    found.links_cut = true;
                    r.report(MsgId::BadTreeSha1, "invalid 'tree' line format - bad sha1")?
                }
            }
            rest = next;
        }
        _ => {
            found.links_cut = true;
            return r.report(MsgId::MissingTree, "invalid format - expected 'tree' line");
        }
    }
    while let Some((l, next)) = line(rest).filter(|(l, _)| l.starts_with(b"parent ")) {
        match parse_id(&l[7..], hash) {
            Some(parent) => found.links.push((parent, Kind::Commit)),
            None => {
                found.links_cut = true;
                r.report(
                    MsgId::BadParentSha1,
                    "invalid 'parent' line format - bad sha1",
                )?
            }
        }
        rest = next;
    }
    let mut authors = 0;
    while let Some((l, next)) = line(rest).filter(|(l, _)| l.starts_with(b"author ")) {
        authors += 1;
        rest = next;
        check_ident(&l[7..], r)?;
    }
    if authors == 0 {
        r.report(
            MsgId::MissingAuthor,
            "invalid format - expected 'author' line",
        )?;
    } else if authors > 1 {
        r.report(
            MsgId::MultipleAuthors,
            "invalid format - multiple 'author' lines",
        )?;
    }
    match line(rest) {
        Some((l, _)) if l.starts_with(b"committer ") => check_ident(&l[10..], r)?,
        _ => {
            return r.report(
                MsgId::MissingCommitter,
                "invalid format - expected 'committer' line",
            )
        }
    }
    if data.contains(&0) {
        r.report(MsgId::NulInCommit, "NUL byte in the commit object body")?;
    }
    Ok(())
}

fn check_tag(
    data: &[u8],
    hash: HashKind,
    r: &mut Reporter<'_>,
    found: &mut Found,
) -> Result<(), FsckError> {
    // Cleared once the target and its type are read.
    found.links_cut = true;
    if !verify_headers(data, r)? {
        return Ok(());
    }
    let Some((l, rest)) = line(data).filter(|(l, _)| l.starts_with(b"object ")) else {
        return r.report(
            MsgId::MissingObject,
            "invalid format - expected 'object' line",
        );
    };
    let target = parse_id(&l[7..], hash);
    if target.is_none() {
        r.report(
            MsgId::BadObjectSha1,
            "invalid 'object' line format - bad sha1",
        )?;
    }
    const TYPE: TagLine = TagLine {
        key: b"type ",
        missing: (
            MsgId::MissingTypeEntry,
            "invalid format - expected 'type' line",
        ),
        unterminated: (
            MsgId::MissingType,
            "invalid format - unexpected end after 'type' line",
        ),
    };
    let (type_name, rest) = match TYPE.split(rest, r)? {
        Some(found) => found,
        None => return Ok(()),
    };
    match Kind::from_name(type_name) {
        Some(kind) => {
            found.tagged = target.map(|t| (t, kind));
            found.links_cut = target.is_none();
        }
        None => r.report(MsgId::BadType, "invalid 'type' value")?,
    }
    // C git reports a missing end of the 'tag' line with the 'type' line's words.
    const TAG: TagLine = TagLine {
        key: b"tag ",
        missing: (
            MsgId::MissingTagEntry,
            "invalid format - expected 'tag' line",
        ),
        unterminated: (
            MsgId::MissingTag,
            "invalid format - unexpected end after 'type' line",
        ),
    };
    let (name, after_name) = match TAG.split(rest, r)? {
        Some(found) => found,
        None => return Ok(()),
    };
    if !valid_tag_name(name) {
        r.report(
            MsgId::BadTagName,
            format!("invalid 'tag' name: {}", name.escape_ascii()),
        )?;
    }
    let mut rest = after_name;
    match line(rest).filter(|(l, _)| l.starts_with(b"tagger ")) {
        Some((l, next)) => {
            rest = next;
            check_ident(&l[7..], r)?;
        }
        None => r.report(
            MsgId::MissingTaggerEntry,
            "invalid format - expected 'tagger' line",
        )?,
    }
    if !rest.is_empty() && !rest.starts_with(b"\n") {
        r.report(
            MsgId::ExtraHeaderEntry,
            "invalid format - extra header(s) after 'tagger'",
        )?;
    }
    Ok(())
}

/// A required `<key><value>\n` line of a tag header, with the problems C git reports when
/// it is missing or not terminated.
struct TagLine {
    key: &'static [u8],
    missing: (MsgId, &'static str),
    unterminated: (MsgId, &'static str),
}

impl TagLine {
    /// `Some((value, rest))`, or `None` when the line is missing or unterminated and the
    /// check stops there (the problem reported, and not fatal at its configured severity).
    fn split<'a>(
        &self,
        data: &'a [u8],
        r: &mut Reporter<'_>,
    ) -> Result<Option<(&'a [u8], &'a [u8])>, FsckError> {
        let Some(after) = data.strip_prefix(self.key) else {
            r.report(self.missing.0, self.missing.1)?;
            return Ok(None);
        };
        let Some(nl) = after.iter().position(|&b| b == b'\n') else {
            r.report(self.unterminated.0, self.unterminated.1)?;
            return Ok(None);
        };
        Ok(Some((&after[..nl], &after[nl + 1..])))
    }
}

/// `refs/tags/<name>` passes check-ref-format.
fn valid_tag_name(name: &[u8]) -> bool {
    std::str::from_utf8(name)
        .map(|n| crate::ref_name::RefName::new(&format!("refs/tags/{n}")).is_ok())
        // Bytes that are not UTF-8 are not what check-ref-format refuses.
        .unwrap_or(true)
}

/// `Name <email> <seconds> <+-hhmm>` (`fsck_ident`): the first problem ends the check of the
/// line (a demoted one lets the rest of the object be checked).
fn check_ident(ident: &[u8], r: &mut Reporter<'_>) -> Result<(), FsckError> {
    let fail = |r: &mut Reporter<'_>, id, what: &str| {
        r.report(id, format!("invalid author/committer line - {what}"))
    };
    if ident.first() == Some(&b'<') {
        return fail(
            r,
            MsgId::MissingNameBeforeEmail,
            "missing space before email",
        );
    }
    let lt = match ident.iter().position(|&b| b == b'<' || b == b'>') {
        Some(i) if ident[i] == b'<' => i,
        Some(_) => return fail(r, MsgId::BadName, "bad name"),
        None => return fail(r, MsgId::MissingEmail, "missing email"),
    };
    if lt == 0 || ident[lt - 1] != b' ' {
        return fail(
            r,
            MsgId::MissingSpaceBeforeEmail,
            "missing space before email",
        );
    }
    let email = &ident[lt + 1..];
    let gt = match email.iter().position(|&b| b == b'<' || b == b'>') {
        Some(i) if email[i] == b'>' => i,
        _ => return fail(r, MsgId::BadEmail, "bad email"),
    };
    let Some(mut p) = email[gt + 1..].strip_prefix(b" ") else {
        return fail(
            r,
            MsgId::MissingSpaceBeforeDate,
            "missing space before date",
        );
    };
    while let Some(rest) = p.strip_prefix(b" ").or_else(|| p.strip_prefix(b"\t")) {
        p = rest;
    }
    if !p.first().is_some_and(u8::is_ascii_digit) {
        return fail(r, MsgId::BadDate, "bad date");
    }
    if p.first() == Some(&b'0') && p.get(1) != Some(&b' ') {
        return fail(r, MsgId::ZeroPaddedDate, "zero-padded date");
    }
    let digits = p.iter().take_while(|c| c.is_ascii_digit()).count();
    // git's `date_overflows`: the value must fit a signed 64-bit time.
    let fits = std::str::from_utf8(&p[..digits])
        .ok()
        .and_then(|d| d.parse::<i64>().ok())
        .is_some();
    if !fits {
        return fail(r, MsgId::BadDateOverflow, "date causes integer overflow");
    }
    let Some(tz) = p[digits..].strip_prefix(b" ") else {
        return fail(r, MsgId::BadDate, "bad date");
    };
    let tz_ok =
        tz.len() == 5 && matches!(tz[0], b'+' | b'-') && tz[1..].iter().all(u8::is_ascii_digit);
    if !tz_ok {
        return fail(r, MsgId::BadTimezone, "bad time zone");
    }
    Ok(())
}

/// What one pass over a tree's entries saw (`fsck_tree`'s flags), reported in git's order.
#[derive(Default)]
struct TreeFlags {
    null_sha1: bool,
    full_path: bool,
    dot: bool,
    dotdot: bool,
    dotgit: bool,
    zero_pad: bool,
    bad_modes: bool,
    dup_entries: bool,
    not_sorted: bool,
    large_name: bool,
}

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;
const S_IFREG: u32 = 0o100000;
const S_IFGITLINK: u32 = 0o160000;

fn check_tree(
    data: &[u8],
    hash: HashKind,
    r: &mut Reporter<'_>,
    found: &mut Found,
) -> Result<(), FsckError> {
    let mut f = TreeFlags::default();
    let mut prev: Option<(u32, &[u8])> = None;
    let mut candidates: Vec<&[u8]> = Vec::new();
    let mut pos = 0usize;
    for entry in TreeIter::new(data, hash) {
        let e = match entry {
            Ok(e) if !e.name.is_empty() => e,
            _ => {
                found.links_cut = true;
                r.report(MsgId::BadTree, "cannot be parsed as a tree")?;
                break;
            }
        };
        // git keeps modes in 16 bits.
        let mode = e.mode & 0xffff;
        let (name, id) = (e.name, e.id);
        let raw = data.get(pos..).unwrap_or(b"");
        f.zero_pad |= raw.first() == Some(&b'0');
        pos += mode_len(raw) + 1 + name.len() + 1 + id.as_bytes().len();
        f.null_sha1 |= id.is_null();
        f.full_path |= name.contains(&b'/');
        f.dot |= name == b".";
        f.dotdot |= name == b"..";
        f.dotgit |= names::is_hfs_dotgit(name) || names::is_ntfs_dotgit(name);
        // After a backslash (a separator on Windows) as well.
        f.dotgit |= (0..name.len())
            .filter(|&i| name[i] == b'\\')
            .any(|i| names::is_ntfs_dotgit(&name[i + 1..]));
        f.large_name |= name.len() > MAX_TREE_ENTRY_LEN;
        special_names(name, mode, &id, r, found)?;
        match mode & S_IFMT {
            S_IFDIR => {
                found.subtrees.push(id);
                found.links.push((id, Kind::Tree));
            }
            S_IFREG | S_IFLNK => found.links.push((id, Kind::Blob)),
            S_IFGITLINK => {}
            _ => {
                found
                    .bad_entry_mode
                    .get_or_insert_with(|| (name.to_vec(), mode));
            }
        }
        f.bad_modes |= !matches!(mode, 0o100755 | 0o100644 | S_IFLNK | S_IFDIR | 0o160000);
        if let Some((pmode, pname)) = prev {
            match verify_ordered(pmode, pname, mode, name, &mut candidates) {
                Order::Unordered => f.not_sorted = true,
                Order::Dups => f.dup_entries = true,
                Order::Ok => {}
            }
        }
        prev = Some((mode, name));
    }
    report_tree_flags(&f, r)
}

/// Length of the mode at the start of a raw tree entry.
fn mode_len(entry: &[u8]) -> usize {
    entry.iter().position(|&b| b == b' ').unwrap_or(entry.len())
}

/// The names that matter beyond the tree: `.gitmodules` / `.gitattributes` blobs to check
/// later (or symlinks to refuse now), `.gitignore` / `.mailmap` symlinks, and `.git` /
/// `.gitmodules` behind a backslash (a path separator on Windows).
fn special_names(
    name: &[u8],
    mode: u32,
    id: &ObjectId,
    r: &mut Reporter<'_>,
    found: &mut Found,
) -> Result<(), FsckError> {
    let link = mode & S_IFMT == S_IFLNK;
    let gitmodules = |r: &mut Reporter<'_>, found: &mut Found| {
        if link {
            r.report(MsgId::GitmodulesSymlink, ".gitmodules is a symbolic link")
        } else {
            found.gitmodules.push(*id);
            Ok(())
        }
    };
    if names::is_dotgitmodules(name) {
        gitmodules(r, found)?;
    }
    if names::is_dotgitattributes(name) {
        if link {
            r.report(MsgId::GitattributesSymlink, ".gitattributes is a symlink")?;
        } else {
            found.gitattributes.push(*id);
        }
    }
    if link && names::is_dotgitignore(name) {
        r.report(MsgId::GitignoreSymlink, ".gitignore is a symlink")?;
    }
    if link && names::is_dotmailmap(name) {
        r.report(MsgId::MailmapSymlink, ".mailmap is a symlink")?;
    }
    for (i, _) in name.iter().enumerate().filter(|(_, &c)| c == b'\\') {
        let after = &name[i + 1..];
        if names::is_ntfs_dotgitmodules(after) {
            gitmodules(r, found)?;
        }
    }
    Ok(())
}

fn report_tree_flags(f: &TreeFlags, r: &mut Reporter<'_>) -> Result<(), FsckError> {
    let rows = [
        (
            f.null_sha1,
            MsgId::NullSha1,
            "contains entries pointing to null sha1",
        ),
        (f.full_path, MsgId::FullPathname, "contains full pathnames"),
        (f.dot, MsgId::HasDot, "contains '.'"),
        (f.dotdot, MsgId::HasDotdot, "contains '..'"),
        (f.dotgit, MsgId::HasDotgit, "contains '.git'"),
        (
            f.zero_pad,
            MsgId::ZeroPaddedFilemode,
            "contains zero-padded file modes",
        ),
        (f.bad_modes, MsgId::BadFilemode, "contains bad file modes"),
        (
            f.dup_entries,
            MsgId::DuplicateEntries,
            "contains duplicate file entries",
        ),
        (f.not_sorted, MsgId::TreeNotSorted, "not properly sorted"),
        (
            f.large_name,
            MsgId::LargePathname,
            "contains excessively large pathname",
        ),
    ];
    for (set, id, what) in rows {
        if set {
            r.report(id, what)?;
        }
    }
    Ok(())
}

enum Order {
    Ok,
    Unordered,
    Dups,
}

/// `'\0' < c < '/'`: characters that sort between a name and the same name as a directory.
fn less_than_slash(c: u8) -> bool {
    c != 0 && c < b'/'
}

/// git's `verify_ordered`: entries sort by name, a directory as if its name ended in `/`; a
/// file and a directory of the same name are duplicates even when entries sort between them
/// (`foo`, `foo.bar`, `foo/`), which the `candidates` stack of file names catches.
fn verify_ordered<'a>(
    mode1: u32,
    name1: &'a [u8],
    mode2: u32,
    name2: &'a [u8],
    candidates: &mut Vec<&'a [u8]>,
) -> Order {
    let len = name1.len().min(name2.len());
    match name1[..len].cmp(&name2[..len]) {
        std::cmp::Ordering::Less => return Order::Ok,
        std::cmp::Ordering::Greater => return Order::Unordered,
        std::cmp::Ordering::Equal => {}
    }
    let mut c1 = name1.get(len).copied().unwrap_or(0);
    let mut c2 = name2.get(len).copied().unwrap_or(0);
    if c1 == 0 && c2 == 0 {
        return Order::Dups;
    }
    if c1 == 0 && mode1 & S_IFMT == S_IFDIR {
        c1 = b'/';
    }
    if c2 == 0 && mode2 & S_IFMT == S_IFDIR {
        c2 = b'/';
    }
    if c1 == 0 && less_than_slash(c2) {
        candidates.push(name1);
    } else if c2 == b'/' && less_than_slash(c1) {
        while let Some(f) = candidates.pop() {
            let Some(p) = name2.strip_prefix(f) else {
                continue;
            };
            match p.first() {
                None => return Order::Dups,
                Some(&c) if less_than_slash(c) => {
                    candidates.push(f);
                    break;
                }
                _ => {}
            }
        }
    }
    if c1 < c2 {
        Order::Ok
    } else {
        Order::Unordered
    }
}
