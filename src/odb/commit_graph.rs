//! The commit-graph file (`objects/info/commit-graph`, gitformat-commit-graph): every commit's
//! root tree, parents and committer date in fixed-size records, so a history walk need not
//! inflate and parse commit objects. Only what a walk needs is read (OIDF, OIDL, CDAT, EDGE);
//! generation numbers and Bloom filters are ignored. Validated when opened: a lookup afterwards
//! cannot index out of bounds, and a parent reference outside the graph is an error, not a guess.
//! Split commit-graph chains (`commit-graphs/`) are not read.
//!
//! [`encode`] writes the same format (OIDF, OIDL, CDAT, EDGE; topological levels as generation
//! numbers), so a repository that only ever saw Sluice gets a graph too.

use super::chunk_format::{be32, be64, fanout_count, find_id, ChunkTable};
use crate::hash::{HashKind, ObjectId};

/// Why a commit-graph is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Wrong magic, version, hash, or a chained graph.
    #[error("commit-graph header: {0}")]
    Header(String),
    /// A required chunk is missing, misplaced or of the wrong size.
    #[error("commit-graph chunk {0}: {1}")]
    Chunk(String, String),
    /// A record refers to something outside the graph.
    #[error("commit-graph record {0}: {1}")]
    Record(usize, String),
}

/// What the graph says about one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphCommit {
    /// Root tree.
    pub tree: ObjectId,
    /// Parents in order.
    pub parents: Vec<ObjectId>,
    /// Committer date (seconds since the epoch).
    pub time: i64,
}

const NO_PARENT: u32 = 0x7000_0000;
const EXTRA_EDGES: u32 = 0x8000_0000;
const LAST_EDGE: u32 = 0x8000_0000;
/// Octopus merges with more parents than this are refused as damage.
const MAX_PARENTS: usize = 100_000;

/// A validated commit-graph over bytes `D`.
#[derive(Debug)]
pub struct CommitGraph<D: AsRef<[u8]>> {
    data: D,
    count: usize,
    hash_len: usize,
    fanout_at: usize,
    ids_at: usize,
    cdat_at: usize,
    /// Start and entry count of the extra-edge list.
    edges_at: usize,
    edges: usize,
}

impl<D: AsRef<[u8]>> CommitGraph<D> {
    /// Validates `data` as a commit-graph of `kind` ids.
    pub fn new(data: D, kind: HashKind) -> Result<Self, Error> {
        let b = data.as_ref();
        let hash_len = kind.len_in_bytes();
        if b.len() < 8 + hash_len || &b[..4] != b"CGPH" {
            return Err(Error::Header("not a commit-graph".into()));
        }
        if b[4] != 1 {
            return Err(Error::Header(format!("version {}", b[4])));
        }
        if b[5] != kind.version_byte() {
            return Err(Error::Header(format!("hash version {}", b[5])));
        }
        let chunks = usize::from(b[6]);
        if b[7] != 0 {
            return Err(Error::Header("a split commit-graph layer".into()));
        }
        let body_end = b.len() - hash_len;
        let as_err = |(name, why): (String, String)| Error::Chunk(name, why);
        let table = ChunkTable::parse(b, 8, chunks, body_end).map_err(as_err)?;
        let chunk = |name: &[u8; 4]| table.require(name).map_err(as_err);
        let bad = |name: &str, why: &str| Error::Chunk(name.into(), why.into());
        let (fanout_at, fanout_len) = chunk(b"OIDF")?;
        let count = fanout_count(b, fanout_at, fanout_len).map_err(as_err)?;
        let (ids_at, ids_len) = chunk(b"OIDL")?;
        if ids_len != count * hash_len {
            return Err(bad("OIDL", "size does not match the fan-out"));
        }
        let (cdat_at, cdat_len) = chunk(b"CDAT")?;
        if cdat_len != count * (hash_len + 16) {
            return Err(bad("CDAT", "size does not match the fan-out"));
        }
        let (edges_at, edges) = match table.get(b"EDGE") {
            Some((at, len)) if len % 4 == 0 => (at, len / 4),
            Some(_) => return Err(bad("EDGE", "size is not a multiple of 4")),
            None => (0, 0),
        };
        let graph = CommitGraph {
            data,
            count,
            hash_len,
            fanout_at,
            ids_at,
            cdat_at,
            edges_at,
            edges,
        };
        // Every parent reference must land inside the graph.
        for i in 0..count {
            graph.parent_positions(i)?;
        }
        Ok(graph)
    }

    /// Number of commits in the graph.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn id_bytes(&self, i: usize) -> &[u8] {
        let at = self.ids_at + i * self.hash_len;
        &self.data.as_ref()[at..at + self.hash_len]
    }

    fn find(&self, id: &ObjectId) -> Option<usize> {
        let b = self.data.as_ref();
        find_id(
            b,
            self.fanout_at,
            self.ids_at,
            self.hash_len,
            self.count,
            id.as_bytes(),
        )
    }

    fn parent_positions(&self, i: usize) -> Result<Vec<usize>, Error> {
        let b = self.data.as_ref();
        let rec = self.cdat_at + i * (self.hash_len + 16) + self.hash_len;
        let (p1, p2) = (be32(b, rec), be32(b, rec + 4));
        let mut out = Vec::with_capacity(2);
        let check = |p: u32| -> Result<usize, Error> {
            let p = p as usize;
            if p < self.count {
                Ok(p)
            } else {
                Err(Error::Record(i, format!("parent {p} outside the graph")))
            }
        };
        if p1 == NO_PARENT {
            return Ok(out);
        }
        out.push(check(p1)?);
        if p2 == NO_PARENT {
            return Ok(out);
        }
        if p2 & EXTRA_EDGES == 0 {
            out.push(check(p2)?);
            return Ok(out);
        }
        let mut e = (p2 & !EXTRA_EDGES) as usize;
        loop {
            if e >= self.edges || out.len() > MAX_PARENTS {
                return Err(Error::Record(i, "extra edge list out of range".into()));
            }
            let v = be32(b, self.edges_at + e * 4);
            out.push(check(v & !LAST_EDGE)?);
            if v & LAST_EDGE != 0 {
                return Ok(out);
            }
            e += 1;
        }
    }

    /// Tree, parents and date of commit `id`, if the graph has it.
    pub fn lookup(&self, id: &ObjectId) -> Option<GraphCommit> {
        let i = self.find(id)?;
        let b = self.data.as_ref();
        let rec = self.cdat_at + i * (self.hash_len + 16);
        let tree = ObjectId::from_bytes(&b[rec..rec + self.hash_len]).ok()?;
        let parents = self
            .parent_positions(i)
            .ok()?
            .into_iter()
            .map(|p| ObjectId::from_bytes(self.id_bytes(p)).ok())
            .collect::<Option<Vec<_>>>()?;
        let time = (be64(b, rec + self.hash_len + 8) & ((1 << 34) - 1)) as i64;
        Some(GraphCommit {
            tree,
            parents,
            time,
        })
    }
}

/// Encodes a commit-graph of `commits` (every parent must be among them) of a repository hashing
/// with `hash`. Returns `None` if a parent is missing or there are too many commits or parents
/// for the format.
pub fn encode(commits: &[(ObjectId, GraphCommit)], hash: HashKind) -> Option<Vec<u8>> {
    let mut sorted: Vec<&(ObjectId, GraphCommit)> = commits.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted.dedup_by(|a, b| a.0 == b.0);
    let n = sorted.len();
    if n >= NO_PARENT as usize {
        return None;
    }
    let pos = |id: &ObjectId| sorted.binary_search_by(|c| c.0.cmp(id)).ok();
    let parents: Vec<Vec<usize>> = sorted
        .iter()
        .map(|(_, c)| c.parents.iter().map(pos).collect::<Option<Vec<_>>>())
        .collect::<Option<_>>()?;
    // Topological levels: 1 for roots, else one more than the highest parent (iteratively,
    // histories are deep).
    let mut level = vec![0u32; n];
    // The stack holds, per node of the current path, its unresolved parents: never more than
    // every edge plus every node, unless the "history" has a cycle.
    let bound = parents.iter().map(Vec::len).sum::<usize>() + n + 1;
    for start in 0..n {
        let mut stack = vec![start];
        while let Some(&c) = stack.last() {
            if level[c] != 0 {
                stack.pop();
                continue;
            }
            let pending: Vec<usize> = parents[c]
                .iter()
                .copied()
                .filter(|&p| level[p] == 0)
                .collect();
            if pending.is_empty() {
                let max = parents[c].iter().map(|&p| level[p]).max().unwrap_or(0);
                level[c] = (max + 1).min((1 << 30) - 1);
                stack.pop();
            } else {
                if stack.len() > bound {
                    return None; // a cycle: not a history
                }
                stack.extend(pending);
            }
        }
    }
    let mut fanout = Vec::with_capacity(1024);
    for b in 0..256usize {
        let count = sorted.partition_point(|c| usize::from(c.0.as_bytes()[0]) <= b);
        fanout.extend_from_slice(&(count as u32).to_be_bytes());
    }
    let width = hash.len_in_bytes();
    let mut oidl = Vec::with_capacity(n * width);
    let mut cdat = Vec::with_capacity(n * (width + 16));
    let mut edges: Vec<u8> = Vec::new();
    for (i, (id, c)) in sorted.iter().enumerate() {
        oidl.extend_from_slice(id.as_bytes());
        cdat.extend_from_slice(c.tree.as_bytes());
        let ps = &parents[i];
        let p1 = ps.first().map_or(NO_PARENT, |&p| p as u32);
        let p2 = match ps.len() {
            0 | 1 => NO_PARENT,
            2 => ps[1] as u32,
            _ => {
                let at = u32::try_from(edges.len() / 4).ok()?;
                for (k, &p) in ps[1..].iter().enumerate() {
                    let last = if k == ps.len() - 2 { LAST_EDGE } else { 0 };
                    edges.extend_from_slice(&(p as u32 | last).to_be_bytes());
                }
                at | EXTRA_EDGES
            }
        };
        cdat.extend_from_slice(&p1.to_be_bytes());
        cdat.extend_from_slice(&p2.to_be_bytes());
        let time = (c.time.max(0) as u64) & ((1 << 34) - 1);
        cdat.extend_from_slice(&((u64::from(level[i]) << 34) | time).to_be_bytes());
    }
    let mut chunks: Vec<(&[u8; 4], Vec<u8>)> =
        vec![(b"OIDF", fanout), (b"OIDL", oidl), (b"CDAT", cdat)];
    if !edges.is_empty() {
        chunks.push((b"EDGE", edges));
    }
    let mut out = b"CGPH\x01".to_vec();
    out.push(hash.version_byte());
    out.push(chunks.len() as u8);
    out.push(0);
    super::chunk_format::append_chunks(&mut out, &chunks);
    let mut h = crate::hash::Hasher::trailer_only(hash);
    h.update(&out);
    out.extend_from_slice(h.finish().ok()?.as_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::git;

    #[test]
    fn agrees_with_the_commits_including_octopus_merges() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main", "."]);
        git(d, &["commit", "-q", "--allow-empty", "-m", "root"]);
        for b in ["a", "b", "c"] {
            git(d, &["checkout", "-q", "-b", b, "main"]);
            std::fs::write(d.join(b), b).unwrap();
            git(d, &["add", "."]);
            git(d, &["commit", "-q", "-m", b]);
        }
        git(d, &["checkout", "-q", "main"]);
        git(d, &["merge", "-q", "-m", "octopus", "a", "b", "c"]);
        git(d, &["commit-graph", "write", "--reachable"]);
        let bytes = std::fs::read(d.join(".git/objects/info/commit-graph")).unwrap();
        let graph = CommitGraph::new(bytes.clone(), HashKind::Sha1).unwrap();
        let all = git(d, &["rev-list", "--all", "--format=%T %ct %P"]);
        let mut n = 0;
        let mut lines = all.lines();
        while let (Some(header), Some(fields)) = (lines.next(), lines.next()) {
            let id = ObjectId::from_hex(header.trim_start_matches("commit ").as_bytes()).unwrap();
            let mut f = fields.split(' ');
            let tree = ObjectId::from_hex(f.next().unwrap().as_bytes()).unwrap();
            let time: i64 = f.next().unwrap().parse().unwrap();
            let parents: Vec<ObjectId> = f
                .filter(|p| !p.is_empty())
                .map(|p| ObjectId::from_hex(p.as_bytes()).unwrap())
                .collect();
            assert_eq!(
                graph.lookup(&id),
                Some(GraphCommit {
                    tree,
                    parents,
                    time
                })
            );
            n += 1;
        }
        assert_eq!(n, 5);
        assert_eq!(graph.len(), 5);
        assert!(graph.lookup(&tree_of(&graph)).is_none());
        // Damage never panics.
        for cut in 0..bytes.len() {
            let _ = CommitGraph::new(&bytes[..cut], HashKind::Sha1);
        }
        for i in 0..bytes.len() {
            let mut v = bytes.clone();
            v[i] ^= 0x41;
            if let Ok(g) = CommitGraph::new(v, HashKind::Sha1) {
                for k in 0..g.len() {
                    let _ = g.lookup(&ObjectId::from_bytes(g.id_bytes(k)).unwrap());
                }
            }
        }
    }

    /// Some id that is not a commit (a tree).
    fn tree_of<D: AsRef<[u8]>>(g: &CommitGraph<D>) -> ObjectId {
        let first = ObjectId::from_bytes(g.id_bytes(0)).unwrap();
        g.lookup(&first).unwrap().tree
    }
}
