//! v2 `packfile-uris` (technical/packfile-uri): objects listed in `uploadpack.blobPackfileUri`
//! are left out of the pack when the client can download them itself, and the client is told
//! where from in a `packfile-uris` section sent right before the `packfile` section, so the
//! large blobs of a repository can be served by a CDN.
//!
//! C git's semantics, read from upload-pack.c and pack-objects.c: `packfile-uris` is advertised
//! in `fetch=` only when an entry is configured; the client's `packfile-uris <proto>,<proto>`
//! argument may come once; it counts only with `sideband-all` (the section lines travel in band
//! 1, as every line of such a response does); an object is left out only when it would be sent
//! and its URI starts with one of the client's protocols followed by `:`. Each object left out
//! gives one `<pack-hash> <uri>` line.

use std::io::Write;

use crate::hash::ObjectId;
use crate::protocol::sideband::{Channel, SidebandWriter};
use crate::service::settings::BlobPackfileUri;
use crate::walk::PackList;

/// What the client accepts and what the repository offers, for one fetch.
pub(super) struct UriRequest<'a> {
    /// The repository's `uploadpack.blobPackfileUri` entries.
    pub entries: &'a [BlobPackfileUri],
    /// The client's protocols (`http`, `https`), as sent.
    pub protocols: &'a [String],
}

impl UriRequest<'_> {
    /// The entry that replaces object `id` for this client, if any.
    fn replacement(&self, id: &ObjectId) -> Option<&BlobPackfileUri> {
        let e = self.entries.iter().find(|e| e.object == *id)?;
        let offered = self.protocols.iter().any(|p| {
            e.uri
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.starts_with(':'))
        });
        offered.then_some(e)
    }

    /// Removes from `objects` those this client downloads from a URI, and returns their
    /// entries in the order the objects had.
    pub fn exclude(&self, objects: &mut PackList) -> Vec<&BlobPackfileUri> {
        let mut excluded = Vec::new();
        objects.retain(|o| match self.replacement(&o.id) {
            Some(e) => {
                excluded.push(e);
                false
            }
            None => true,
        });
        excluded
    }
}

/// Parses the client's `packfile-uris <protocols>` argument value `list` (comma-separated, as C
/// git's `string_list_split`).
pub(super) fn parse_protocols(list: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(list)
        .split(',')
        .map(str::to_string)
        .collect()
}

/// Writes the `packfile-uris` section for `excluded` (when not empty) and the `packfile` header
/// on band 1 of `band`, as C git's `relay_pack_data` does: the sections' lines are band-1
/// packets, the section ends with a delimiter packet.
pub(super) fn write_sections<W: Write>(
    band: &mut SidebandWriter<W>,
    excluded: &[&BlobPackfileUri],
) -> std::io::Result<()> {
    if !excluded.is_empty() {
        band.send(Channel::Data, b"packfile-uris\n")?;
        for e in excluded {
            tracing::info!(object = %e.object, uri = %e.uri, "packfile-uris: sent as a URI");
            band.send(
                Channel::Data,
                format!("{} {}\n", e.pack_hash, e.uri).as_bytes(),
            )?;
        }
        crate::protocol::pktline::Writer::new(band.get_mut()).delim()?;
    }
    band.send(Channel::Data, b"packfile\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8, uri: &str) -> BlobPackfileUri {
        BlobPackfileUri {
            object: ObjectId::from_hex(format!("{n:02x}").repeat(20).as_bytes()).unwrap(),
            pack_hash: "ab".repeat(20),
            uri: uri.to_string(),
        }
    }

    #[test]
    fn only_matching_schemes_are_excluded() {
        let entries = [entry(1, "http://h/p.pack"), entry(2, "https://h/q.pack")];
        let protocols = parse_protocols(b"http");
        let req = UriRequest {
            entries: &entries,
            protocols: &protocols,
        };
        let mut objects = PackList::new(crate::hash::HashKind::Sha1);
        for n in [1u8, 2, 3] {
            let id = ObjectId::from_hex(format!("{n:02x}").repeat(20).as_bytes()).unwrap();
            objects
                .push(crate::walk::PackObject::unnamed(id, crate::odb::Kind::Blob))
                .unwrap();
        }
        let excluded = req.exclude(&mut objects);
        assert_eq!(excluded, vec![&entries[0]]);
        assert_eq!(objects.len(), 2);
        // "http" is not a prefix match for "https:", and "htt" is not a scheme.
        let protocols = parse_protocols(b"htt,ftp");
        let req = UriRequest {
            entries: &entries,
            protocols: &protocols,
        };
        assert!(req.exclude(&mut objects).is_empty());
    }
}
