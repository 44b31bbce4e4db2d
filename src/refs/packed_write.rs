//! Writing `packed-refs` whole, as C git's packed backend does (`write_with_updates`): the
//! header promising every peeled value and sorted names, then each ref's `<id> <name>` line and,
//! when it names an annotated tag, the `^<peeled id>` line. A transaction that creates many
//! refs ([`crate::refs::transaction`]) puts them here rather than in thousands of loose files:
//! one file written, fsynced and renamed instead of one lock file, fsync and rename per ref
//! (and one directory per `refs/pull/<n>/`).

use std::collections::BTreeMap;

use crate::hash::ObjectId;
use crate::odb::store::Error;
use crate::refs::RawRef;

/// The header C git 2.47 writes (`PACKED_REFS_HEADER`): every ref's peeled value is recorded
/// (no `^` line: not a tag), and the names are sorted.
pub const HEADER: &str = "# pack-refs with: peeled fully-peeled sorted \n";

/// Peels the objects `ids` names, in order: for each, the first non-tag object its chain of
/// annotated tags reaches, `None` when it is not a tag (or cannot be read: C git writes no `^`
/// line then). Given by the backend, which knows where the objects are.
pub type BatchPeeler = dyn Fn(&[ObjectId]) -> Result<Vec<Option<ObjectId>>, Error> + Send + Sync;

/// The text of a `packed-refs` holding `refs` (sorted by name, as a `BTreeMap` is), their
/// unknown peeled values looked up with `peel` so that the [`HEADER`]'s promise holds.
pub fn text(refs: &BTreeMap<String, RawRef>, peel: &BatchPeeler) -> Result<Vec<u8>, Error> {
    let unknown: Vec<ObjectId> = refs
        .values()
        .filter_map(|r| match r {
            RawRef::Direct { id, peeled: None } => Some(*id),
            _ => None,
        })
        .collect();
    let looked_up = peel(&unknown)?;
    if looked_up.len() != unknown.len() {
        return Err(Error::corrupt(
            "packed-refs",
            "peeler returned a wrong count",
        ));
    }
    let mut looked_up = looked_up.into_iter();
    let width = refs.keys().map(|n| n.len() + 2 * 66).sum::<usize>();
    let mut out = Vec::with_capacity(HEADER.len() + width);
    out.extend_from_slice(HEADER.as_bytes());
    for (name, value) in refs {
        // A packed ref is never symbolic; the parser makes none.
        let RawRef::Direct { id, peeled } = value else {
            continue;
        };
        let peeled = match peeled {
            Some(p) => *p,
            None => looked_up.next().flatten(),
        };
        out.extend_from_slice(format!("{id} {name}\n").as_bytes());
        if let Some(p) = peeled {
            out.extend_from_slice(format!("^{p}\n").as_bytes());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashKind;

    const A: &str = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";
    const B: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

    #[test]
    fn unknown_peels_are_looked_up_and_known_ones_kept() {
        let a = ObjectId::from_hex(A.as_bytes()).unwrap();
        let b = ObjectId::from_hex(B.as_bytes()).unwrap();
        let refs: BTreeMap<String, RawRef> = [
            (
                "refs/tags/new".to_string(),
                RawRef::Direct {
                    id: a,
                    peeled: None,
                },
            ),
            (
                "refs/heads/m".to_string(),
                RawRef::Direct {
                    id: b,
                    peeled: None,
                },
            ),
            (
                "refs/tags/old".to_string(),
                RawRef::Direct {
                    id: a,
                    peeled: Some(Some(b)),
                },
            ),
            (
                "refs/heads/n".to_string(),
                RawRef::Direct {
                    id: a,
                    peeled: Some(None),
                },
            ),
        ]
        .into();
        let peel = move |ids: &[ObjectId]| -> Result<Vec<Option<ObjectId>>, Error> {
            Ok(ids.iter().map(|id| (*id == a).then_some(b)).collect())
        };
        let text = String::from_utf8(text(&refs, &peel).unwrap()).unwrap();
        assert_eq!(
            text,
            format!(
                "{HEADER}{B} refs/heads/m\n{A} refs/heads/n\n{A} refs/tags/new\n^{B}\n{A} refs/tags/old\n^{B}\n"
            )
        );
        let mut back = BTreeMap::new();
        crate::refs::parse_packed(HashKind::Sha1, text.as_bytes(), &mut back).unwrap();
        assert!(matches!(
            back["refs/heads/m"],
            RawRef::Direct {
                peeled: Some(None),
                ..
            }
        ));
        let short = |_: &[ObjectId]| -> Result<Vec<Option<ObjectId>>, Error> { Ok(Vec::new()) };
        assert!(super::text(&refs, &short).is_err());
    }
}
