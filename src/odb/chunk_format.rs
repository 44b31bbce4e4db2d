//! git's chunk-file layout (gitformat-chunk), shared by the commit-graph and the
//! multi-pack-index: after a file-specific header, a table of (4-byte id, 8-byte offset) rows
//! ended by a zero id and the end offset, then the chunk bodies in table order.

/// Appends the chunk table and the bodies of `chunks` to `out`, which holds the header.
pub fn append_chunks(out: &mut Vec<u8>, chunks: &[(&[u8; 4], Vec<u8>)]) {
    let mut at = (out.len() + (chunks.len() + 1) * 12) as u64;
    for (id, body) in chunks {
        out.extend_from_slice(*id);
        out.extend_from_slice(&at.to_be_bytes());
        at += body.len() as u64;
    }
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&at.to_be_bytes());
    for (_, body) in chunks {
        out.extend_from_slice(body);
    }
}
