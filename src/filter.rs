//! Partial-clone object filters (`--filter=<spec>`, git-rev-list(1) "--filter"): which trees and
//! blobs a fetch leaves out. Objects a client names directly in a `want` are always sent.

use crate::odb::Kind;

/// A parsed filter spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `blob:none`: no blobs.
    BlobNone,
    /// `blob:limit=<n>[kmg]`: only blobs smaller than n bytes.
    BlobLimit(u64),
    /// `tree:<depth>`: no trees or blobs at depth >= `depth` (the root tree is depth 0).
    TreeDepth(u64),
    /// `object:type=<type>`: only objects of that kind.
    ObjectType(Kind),
    /// `combine:<a>+<b>...`: an object is kept only if every part keeps it.
    Combine(Vec<Filter>),
}

/// Why a spec was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid filter-spec '{0}'")]
pub struct Error(pub String);

fn parse_size(s: &str) -> Option<u64> {
    let (digits, mult) = match s.chars().last()?.to_ascii_lowercase() {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

/// Decodes the `%XX` escapes git uses inside `combine:` parts.
fn url_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Filter {
    /// Parses `spec`.
    pub fn parse(spec: &str) -> Result<Filter, Error> {
        Self::parse_depth(spec, 0)
    }

    fn parse_depth(spec: &str, depth: u32) -> Result<Filter, Error> {
        let bad = || Error(spec.chars().take(200).collect());
        if spec == "blob:none" {
            return Ok(Filter::BlobNone);
        }
        if let Some(n) = spec.strip_prefix("blob:limit=") {
            return parse_size(n).map(Filter::BlobLimit).ok_or_else(bad);
        }
        if let Some(n) = spec.strip_prefix("tree:") {
            return n.parse::<u64>().map(Filter::TreeDepth).map_err(|_| bad());
        }
        if let Some(t) = spec.strip_prefix("object:type=") {
            return Kind::from_name(t.as_bytes())
                .map(Filter::ObjectType)
                .ok_or_else(bad);
        }
        if let Some(parts) = spec.strip_prefix("combine:") {
            if depth > 0 {
                return Err(bad());
            }
            let filters = parts
                .split('+')
                .map(|p| {
                    url_decode(p)
                        .ok_or_else(bad)
                        .and_then(|d| Self::parse_depth(&d, depth + 1))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if filters.len() < 2 {
                return Err(bad());
            }
            return Ok(Filter::Combine(filters));
        }
        Err(bad())
    }

    /// Whether an object of `kind` at tree depth `depth` (root tree 0, its entries 1, ...; None
    /// for commits and tags) with size `size` (fetched lazily, blobs only) is kept.
    pub fn keeps(&self, kind: Kind, depth: Option<u64>, size: &mut dyn FnMut() -> u64) -> bool {
        match self {
            Filter::BlobNone => kind != Kind::Blob,
            Filter::BlobLimit(n) => kind != Kind::Blob || size() < *n,
            Filter::TreeDepth(max) => match (kind, depth) {
                (Kind::Tree | Kind::Blob, Some(d)) => d < *max,
                _ => true,
            },
            Filter::ObjectType(k) => kind == *k,
            Filter::Combine(parts) => parts.iter().all(|f| f.keeps(kind, depth, size)),
        }
    }

    /// Whether the walk must look inside trees at all (`tree:0` and `object:type=commit` need
    /// not).
    pub fn descends(&self, depth: u64) -> bool {
        match self {
            Filter::TreeDepth(max) => depth < *max,
            Filter::Combine(parts) => parts.iter().all(|f| f.descends(depth)),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(Filter::parse("blob:none").unwrap(), Filter::BlobNone);
        assert_eq!(
            Filter::parse("blob:limit=1k").unwrap(),
            Filter::BlobLimit(1024)
        );
        assert_eq!(Filter::parse("tree:0").unwrap(), Filter::TreeDepth(0));
        assert_eq!(
            Filter::parse("object:type=blob").unwrap(),
            Filter::ObjectType(Kind::Blob)
        );
        assert_eq!(
            Filter::parse("combine:blob:none+tree:3").unwrap(),
            Filter::Combine(vec![Filter::BlobNone, Filter::TreeDepth(3)])
        );
        assert_eq!(
            Filter::parse("combine:blob%3Alimit%3D10+tree:1").unwrap(),
            Filter::Combine(vec![Filter::BlobLimit(10), Filter::TreeDepth(1)])
        );
        for bad in [
            "",
            "blob:some",
            "blob:limit=x",
            "tree:-1",
            "object:type=x",
            "combine:blob:none",
            "sparse:oid=x",
            "combine:combine:a+b+c",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keeping() {
        let mut size = || 2000;
        assert!(!Filter::BlobNone.keeps(Kind::Blob, Some(1), &mut size));
        assert!(!Filter::BlobLimit(1024).keeps(Kind::Blob, Some(1), &mut size));
        assert!(Filter::BlobLimit(4096).keeps(Kind::Blob, Some(1), &mut size));
        assert!(!Filter::TreeDepth(0).keeps(Kind::Tree, Some(0), &mut size));
        assert!(Filter::TreeDepth(1).keeps(Kind::Tree, Some(0), &mut size));
        assert!(!Filter::TreeDepth(1).keeps(Kind::Blob, Some(1), &mut size));
        assert!(Filter::TreeDepth(0).keeps(Kind::Commit, None, &mut size));
    }
}
