//! Refs on disk: validated names, loose ref files, `packed-refs`, and lock-file transactions.
//!
//! Reading gives raw values ([`RawRef`]); resolving symbolic refs and peeling tags is the
//! repository's job, since peeling needs objects.

pub mod name;
pub mod transaction;

use std::collections::BTreeMap;
use std::path::Path;

use crate::backend::Error;
use crate::hash::ObjectId;

/// A ref value as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawRef {
    /// An object id (with its peeled value when `packed-refs` recorded one).
    Direct {
        /// The id.
        id: ObjectId,
        /// From a `^<id>` line in a fully-peeled `packed-refs`: `Some(Some(p))` peeled value,
        /// `Some(None)` known not to be a tag, `None` unknown.
        peeled: Option<Option<ObjectId>>,
    },
    /// `ref: <target>`.
    Symbolic(String),
}

/// Parses the content of a loose ref file (`text`) named `name`.
pub fn parse_loose(name: &str, text: &[u8]) -> Result<RawRef, Error> {
    let line = text.strip_suffix(b"\n").unwrap_or(text);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if let Some(target) = line.strip_prefix(b"ref:") {
        let target = std::str::from_utf8(target)
            .map_err(|_| Error::corrupt(name, "symbolic ref target is not UTF-8"))?
            .trim();
        if target.is_empty() {
            return Err(Error::corrupt(name, "empty symbolic ref"));
        }
        return Ok(RawRef::Symbolic(target.to_string()));
    }
    let hex = line
        .get(..40)
        .ok_or_else(|| Error::corrupt(name, "too short for an object id"))?;
    let id = ObjectId::from_hex(hex).map_err(|e| Error::corrupt(name, e.to_string()))?;
    Ok(RawRef::Direct { id, peeled: None })
}

/// Reads every loose ref under `<dir>/refs` into `out` (name → value); unreadable files are
/// skipped with a log line, as git skips broken refs in advertisements.
pub fn read_loose(dir: &Path, out: &mut BTreeMap<String, RawRef>) -> Result<(), Error> {
    let mut stack = vec![("refs".to_string(), dir.join("refs"))];
    while let Some((prefix, path)) = stack.pop() {
        let entries = match std::fs::read_dir(&path) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(path.display().to_string(), e)),
        };
        for entry in entries.flatten() {
            let Some(fname) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if fname.ends_with(".lock") || fname.starts_with('.') {
                continue;
            }
            let name = format!("{prefix}/{fname}");
            let ft = match entry.file_type() {
                Ok(t) => t,
                Err(_) => continue,
            };
            if ft.is_dir() {
                stack.push((name, entry.path()));
            } else if let Ok(text) = std::fs::read(entry.path()) {
                match parse_loose(&name, &text) {
                    Ok(v) => {
                        out.insert(name, v);
                    }
                    Err(e) => tracing::warn!(refname = %name, error = %e, "skipping broken ref"),
                }
            }
        }
    }
    Ok(())
}

/// Parses `packed-refs` content `text` into `out`. Peeled (`^`) values are trusted only as git
/// trusts them: all of them with the `fully-peeled` trait, tags' with `peeled`.
pub fn parse_packed(text: &[u8], out: &mut BTreeMap<String, RawRef>) -> Result<(), Error> {
    let mut fully_peeled = false;
    let mut peeled_tags = false;
    // Collected in file order (git writes it sorted), then built into the map in one go: bulk
    // construction from sorted input is linear, where 10,000 single inserts were most of an
    // ls-remote's time.
    let mut entries: Vec<(String, RawRef)> = Vec::new();
    let mut last_is_ref = false;
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let bad =
            |what: &str| Error::corrupt(format!("packed-refs line {}", i + 1), what.to_string());
        if line.is_empty() {
            continue;
        }
        if let Some(traits) = line.strip_prefix(b"# pack-refs with:") {
            let traits = String::from_utf8_lossy(traits);
            fully_peeled = traits.split_whitespace().any(|t| t == "fully-peeled");
            peeled_tags = traits.split_whitespace().any(|t| t == "peeled");
            continue;
        }
        if line.starts_with(b"#") {
            continue;
        }
        if let Some(hex) = line.strip_prefix(b"^") {
            let peeled = ObjectId::from_hex(hex).map_err(|_| bad("bad peeled id"))?;
            if !std::mem::take(&mut last_is_ref) {
                return Err(bad("peeled line without a ref"));
            }
            if let Some((_, RawRef::Direct { peeled: p, .. })) = entries.last_mut() {
                *p = Some(Some(peeled));
            }
            continue;
        }
        let hex = line.get(..40).ok_or_else(|| bad("too short"))?;
        let id = ObjectId::from_hex(hex).map_err(|_| bad("bad object id"))?;
        let name = line
            .get(41..)
            .filter(|_| line.get(40) == Some(&b' '))
            .and_then(|n| std::str::from_utf8(n).ok())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad("bad ref name"))?
            .to_string();
        let trusted = fully_peeled || (peeled_tags && name.starts_with("refs/tags/"));
        entries.push((
            name,
            RawRef::Direct {
                id,
                peeled: trusted.then_some(None),
            },
        ));
        last_is_ref = true;
    }
    if out.is_empty() {
        *out = entries.into_iter().collect();
    } else {
        out.extend(entries);
    }
    Ok(())
}

/// The packed ref `name` from packed-refs `text`, found by scanning lines (no map is built):
/// resolving one ref, such as HEAD's target, need not parse every ref. Peeled values are not
/// returned (`peeled: None`).
pub fn find_packed(text: &[u8], name: &str) -> Option<RawRef> {
    text.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find(|l| l.len() == 41 + name.len() && l[40] == b' ' && &l[41..] == name.as_bytes())
        .and_then(|l| ObjectId::from_hex(&l[..40]).ok())
        .map(|id| RawRef::Direct { id, peeled: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";
    const B: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

    #[test]
    fn packed() {
        let text = format!("# pack-refs with: peeled fully-peeled sorted \n{A} refs/heads/m\n{A} refs/tags/t\n^{B}\n");
        let mut m = BTreeMap::new();
        parse_packed(text.as_bytes(), &mut m).unwrap();
        let b = ObjectId::from_hex(B.as_bytes()).unwrap();
        assert!(matches!(
            &m["refs/heads/m"],
            RawRef::Direct {
                peeled: Some(None),
                ..
            }
        ));
        assert!(
            matches!(&m["refs/tags/t"], RawRef::Direct { peeled: Some(Some(p)), .. } if *p == b)
        );
        let mut m = BTreeMap::new();
        parse_packed(format!("{A} refs/heads/m\n").as_bytes(), &mut m).unwrap();
        assert!(matches!(
            &m["refs/heads/m"],
            RawRef::Direct { peeled: None, .. }
        ));
        for bad in [
            format!("^{A}\n"),
            "xyz refs/x\n".into(),
            format!("{A}refs/x\n"),
            format!("{A} \n"),
        ] {
            assert!(
                parse_packed(bad.as_bytes(), &mut BTreeMap::new()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn loose() {
        assert_eq!(
            parse_loose("HEAD", b"ref: refs/heads/x\n").unwrap(),
            RawRef::Symbolic("refs/heads/x".into())
        );
        assert!(matches!(
            parse_loose("r", format!("{A}\n").as_bytes()).unwrap(),
            RawRef::Direct { .. }
        ));
        assert!(parse_loose("r", b"abc\n").is_err());
        assert!(parse_loose("r", b"ref: \n").is_err());
    }
}
