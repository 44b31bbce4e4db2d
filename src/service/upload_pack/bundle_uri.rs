//! The v2 `bundle-uri` command (gitprotocol-v2, technical/bundle-uri): with
//! `uploadpack.advertiseBundleURIs` set, the server advertises `bundle-uri` and answers the
//! command with every `bundle.*` setting of the repository as a `key=value` line, then a flush,
//! exactly as C git's `bundle_uri_command` (keys in git's canonical form, in config order). The
//! client then downloads the listed bundles itself (`transfer.bundleURI`) and fetches only what
//! they lack, so clones of a large repository can come from a CDN.

use std::io::Write;

use super::Error;
use crate::backend::{self, Repository};
use crate::protocol::pktline::Writer;

/// Whether `bundle-uri` is advertised (and so accepted): `uploadpack.advertiseBundleURIs`.
pub(super) fn advertised(repo: &dyn Repository) -> Result<bool, Error> {
    Ok(repo
        .config()
        .get_bool("uploadpack.advertisebundleuris")
        .map_err(backend::Error::from)?
        .unwrap_or(false))
}

/// Answers one `bundle-uri` request with arguments `args` (there must be none) on `writer`.
pub(super) fn respond<W: Write>(
    repo: &dyn Repository,
    args: &[Vec<u8>],
    writer: &mut Writer<W>,
) -> Result<(), Error> {
    if let Some(arg) = args.first() {
        return Err(Error::Line(crate::protocol::v0::Error::Unexpected {
            expected: "no bundle-uri arguments",
            line: String::from_utf8_lossy(arg).into_owned(),
        }));
    }
    for (key, value) in repo.config().entries_with_prefix("bundle.") {
        match value {
            Some(v) => writer.text(&format!("{key}={v}"))?,
            // C git would print "(null)"; a key without a value means nothing to a client.
            None => tracing::warn!(key, "bundle-uri: config key without a value not sent"),
        }
    }
    writer.flush_pkt()?;
    Ok(())
}
