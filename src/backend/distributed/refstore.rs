//! Refs, HEAD, the pack list and the push log of one repository, kept in a [`Kv`].
//!
//! Keys, under `<prefix>/<repo>/` (the repository name with `%` and `/` percent-encoded, so one
//! repository's prefix never contains another's keys):
//!
//! | key | value |
//! |---|---|
//! | `HEAD` | `ref: refs/heads/main` (the repository exists iff this key does) |
//! | `refs/...` | the hex object id, or `ref: <target>` for a symbolic ref |
//! | `pack/<pack-name>` | the pack's size in bytes (listed packs are the repository's objects) |
//! | `push/<push-id>/<n>` | `<old> <new> <ref>`: one record per ref a push moved |
//! | `garbage/<pack-name>` | unix seconds it was written: a listed pack of unreachable objects, kept until it expires |
//! | `dead/<pack-name>` | unix seconds it was unlisted: its files are deleted once the grace period is over |
//! | `bitmap/<pack-name>` | `1`: the listed pack has a `.bitmap` in the store |
//! | `config` | the repository's git config text (`receive.*`, `uploadpack.*`, ...) |
//! | `repack-owner` | the running repack's holder, under an etcd lease |
//!
//! A push is one transaction per ref (or one for all with `--atomic`) that compares each ref
//! with the value the client saw, puts the new values, lists the push's pack and writes the
//! push-log record. A transaction with no answer is resolved by reading the push-log record
//! back: present means it committed.

use std::collections::BTreeMap;

use super::kv::{self, Compare, Entry, Kv, Op, Txn, TxnOutcome};
use crate::backend::{Error, RefUpdate};
use crate::hash::ObjectId;

/// Most refs one repository may have in the store (a read is refused above it).
pub const MAX_REFS: usize = 1_000_000;

/// A stored ref value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefValue {
    /// Points at an object.
    Direct(ObjectId),
    /// Points at another ref.
    Symbolic(String),
}

/// One repository's refs and pack list, read at one revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// HEAD's value; `None` when the repository does not exist.
    pub head: Option<RefValue>,
    /// Every ref under `refs/`, by name.
    pub refs: BTreeMap<String, RefValue>,
    /// Names of the listed packs (`pack-<hex>`), with their sizes.
    pub packs: BTreeMap<String, u64>,
    /// Listed packs of unreachable objects, with the unix time they were written.
    pub garbage: BTreeMap<String, u64>,
    /// Unlisted packs whose files still exist, with the unix time they were unlisted.
    pub dead: BTreeMap<String, u64>,
    /// Listed packs that have a `.bitmap` in the store.
    pub bitmaps: std::collections::BTreeSet<String>,
    /// The repository's git config text, if one was set.
    pub config: Option<Vec<u8>>,
}

/// A number stored as decimal text under `key`.
fn parse_number(key: &str, value: &[u8]) -> Result<u64, Error> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::corrupt(key.to_string(), "value is not a number"))
}

/// Encodes a repository name as one key component.
pub fn repo_key(prefix: &str, repo: &str) -> String {
    let enc = repo.replace('%', "%25").replace('/', "%2F");
    format!("{prefix}/{enc}/")
}

fn parse_value(key: &str, value: &[u8]) -> Result<RefValue, Error> {
    let text = std::str::from_utf8(value)
        .map_err(|_| Error::corrupt(key.to_string(), "value is not UTF-8"))?;
    if let Some(target) = text.strip_prefix("ref: ") {
        return Ok(RefValue::Symbolic(target.to_string()));
    }
    ObjectId::from_hex(text.as_bytes())
        .map(RefValue::Direct)
        .map_err(|_| Error::corrupt(key.to_string(), format!("not an object id: {text:?}")))
}

fn kv_error(e: kv::Error) -> Error {
    Error::io("ref store", std::io::Error::other(e.to_string()))
}

/// Reads repository `base` (from [`repo_key`]) with one linearizable range read.
pub fn load(kv: &dyn Kv, base: &str) -> Result<Snapshot, Error> {
    let entries = kv.range(base).map_err(kv_error)?;
    if entries.len() > MAX_REFS {
        return Err(Error::Limit(format!("more than {MAX_REFS} keys in {base}")));
    }
    let mut snap = Snapshot::default();
    for Entry { key, value } in entries {
        let Some(rel) = key.strip_prefix(base) else {
            continue;
        };
        if rel == "HEAD" {
            snap.head = Some(parse_value(&key, &value)?);
        } else if rel.starts_with("refs/") {
            snap.refs
                .insert(rel.to_string(), parse_value(&key, &value)?);
        } else if let Some(name) = rel.strip_prefix("pack/") {
            snap.packs
                .insert(name.to_string(), parse_number(&key, &value)?);
        } else if let Some(name) = rel.strip_prefix("garbage/") {
            snap.garbage
                .insert(name.to_string(), parse_number(&key, &value)?);
        } else if let Some(name) = rel.strip_prefix("dead/") {
            snap.dead
                .insert(name.to_string(), parse_number(&key, &value)?);
        } else if let Some(name) = rel.strip_prefix("bitmap/") {
            snap.bitmaps.insert(name.to_string());
        } else if rel == "config" {
            snap.config = Some(value);
        }
    }
    Ok(snap)
}

/// Whether repository `base` exists (its `HEAD` key does), with one linearizable read.
pub fn exists(kv: &dyn Kv, base: &str) -> Result<bool, Error> {
    let key = format!("{base}HEAD");
    let found = kv.range(&key).map_err(kv_error)?;
    Ok(found.iter().any(|e| e.key == key))
}

/// Creates repository `base` with HEAD pointing at `head_target`, failing if it exists.
pub fn create(kv: &dyn Kv, base: &str, head_target: &str) -> Result<bool, Error> {
    let key = format!("{base}HEAD");
    let txn = Txn {
        compares: vec![Compare::Absent { key: key.clone() }],
        ops: vec![Op::Put {
            key,
            value: format!("ref: {head_target}").into_bytes(),
        }],
    };
    Ok(kv.txn(&txn).map_err(kv_error)? == TxnOutcome::Applied)
}

/// What a push adds besides its ref moves: the packs it uploaded and its unique id.
#[derive(Debug, Clone)]
pub struct PushRecord<'a> {
    /// Packs (`pack-<hex>`, size) uploaded by this push, listed by its first transaction.
    pub packs: &'a [(String, u64)],
    /// Unique id of this push (names its push-log records).
    pub push_id: &'a str,
}

/// The compare, ref op and push-log op for update number `n`.
fn update_parts(base: &str, u: &RefUpdate, n: usize, push_id: &str) -> (Compare, Vec<Op>) {
    let log_key = format!("{base}push/{push_id}/{n}");
    let key = format!("{base}{}", u.name);
    let compare = if u.old.is_null() {
        Compare::Absent { key: key.clone() }
    } else {
        Compare::ValueIs {
            key: key.clone(),
            value: u.old.to_string().into_bytes(),
        }
    };
    let write = if u.new.is_null() {
        Op::Delete { key }
    } else {
        Op::Put {
            key,
            value: u.new.to_string().into_bytes(),
        }
    };
    let log = Op::Put {
        key: log_key,
        value: format!("{} {} {}", u.old, u.new, u.name).into_bytes(),
    };
    (compare, vec![write, log])
}

/// C git's wording for a ref that moved meanwhile.
fn stale(base: &str, u: &RefUpdate, current: &[Entry]) -> String {
    let key = format!("{base}{}", u.name);
    let now = current
        .iter()
        .find(|e| e.key == key)
        .map(|e| String::from_utf8_lossy(&e.value).into_owned())
        .unwrap_or_else(|| u.old.kind().null().to_string());
    format!(
        "cannot lock ref '{}': is at {now} but expected {}",
        u.name, u.old
    )
}

/// What a push-log key holds when [`settle`] fenced a transaction off: never a record (those
/// are `<old> <new> <ref>`).
pub const FENCED: &[u8] = b"fenced";

/// The `ng` reason of a transaction that got no answer and, as [`settle`] then established,
/// did not apply: nothing moved and the push may be retried.
pub const NOT_APPLIED: &str = "ref store gave no answer; the update did not apply";

/// How a push transaction ended.
enum Ended {
    /// Committed (answered, or found committed after no answer).
    Applied,
    /// A compare failed; the current values of the compared keys.
    Refused(Vec<Entry>),
    /// No answer, and [`settle`] fenced it off: it did not and never will apply.
    NotApplied,
}

/// Runs `txn` (which compares push-log key `log_key` absent and writes it); when the store
/// gives no answer, [`settle`]s the outcome.
fn run_resolved(kv: &dyn Kv, txn: &Txn, log_key: &str) -> Result<Ended, Error> {
    match kv.txn(txn) {
        Ok(TxnOutcome::Applied) => Ok(Ended::Applied),
        Ok(TxnOutcome::Refused(current)) => Ok(Ended::Refused(current)),
        Err(kv::Error::Ambiguous(why)) => {
            tracing::warn!(%why, log_key, "ref transaction outcome unknown; settling it");
            let ended = settle(kv, log_key)?;
            tracing::info!(
                log_key,
                applied = matches!(ended, Ended::Applied),
                "ref transaction outcome settled"
            );
            Ok(ended)
        }
        Err(e) => Err(kv_error(e)),
    }
}

/// Attempts to settle an unanswered transaction before giving up.
const SETTLE_ATTEMPTS: usize = 3;

/// Learns, for certain, whether the unanswered transaction writing `log_key` applied. Reading
/// the key is not enough: a transaction still in flight could commit after the read. So this
/// writes [`FENCED`] to `log_key` if it is absent, in one transaction: if that applies, the
/// original (which compares `log_key` absent) can never apply; if it is refused, the key is
/// there, holding either the push's record (applied) or an earlier fence of ours whose answer
/// was lost too. With no answer [`SETTLE_ATTEMPTS`] times, the push fails with an error that
/// says the outcome is unknown, never a guess.
fn settle(kv: &dyn Kv, log_key: &str) -> Result<Ended, Error> {
    let fence = Txn {
        compares: vec![Compare::Absent {
            key: log_key.to_string(),
        }],
        ops: vec![Op::Put {
            key: log_key.to_string(),
            value: FENCED.to_vec(),
        }],
    };
    let mut last = String::new();
    for _ in 0..SETTLE_ATTEMPTS {
        match kv.txn(&fence) {
            Ok(TxnOutcome::Applied) => return Ok(Ended::NotApplied),
            Ok(TxnOutcome::Refused(current)) => {
                let value = current.iter().find(|e| e.key == log_key).map(|e| &e.value);
                return Ok(match value {
                    Some(v) if v.as_slice() == FENCED => Ended::NotApplied,
                    _ => Ended::Applied,
                });
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(kv_error(kv::Error::Ambiguous(format!(
        "{log_key}: outcome still unknown after {SETTLE_ATTEMPTS} attempts ({last})"
    ))))
}

/// Applies `updates` to repository `base`: with `atomic` in one transaction, else one per ref.
/// Returns one result per update (the `Err` text is the `ng` reason).
pub fn push(
    kv: &dyn Kv,
    base: &str,
    updates: &[RefUpdate],
    atomic: bool,
    record: &PushRecord<'_>,
) -> Result<Vec<Result<(), String>>, Error> {
    let pack_ops: Vec<Op> = record
        .packs
        .iter()
        .map(|(name, size)| Op::Put {
            key: format!("{base}pack/{name}"),
            value: size.to_string().into_bytes(),
        })
        .collect();
    if atomic {
        let mut txn = Txn {
            compares: Vec::new(),
            ops: pack_ops,
        };
        for (n, u) in updates.iter().enumerate() {
            let (c, ops) = update_parts(base, u, n, record.push_id);
            txn.compares.push(c);
            txn.ops.extend(ops);
        }
        let log_key = format!("{base}push/{}/0", record.push_id);
        txn.compares.push(Compare::Absent {
            key: log_key.clone(),
        });
        return Ok(match run_resolved(kv, &txn, &log_key)? {
            Ended::Applied => updates.iter().map(|_| Ok(())).collect(),
            Ended::NotApplied => updates.iter().map(|_| Err(NOT_APPLIED.into())).collect(),
            Ended::Refused(current) => updates
                .iter()
                .map(|u| {
                    let key = format!("{base}{}", u.name);
                    let moved = current
                        .iter()
                        .find(|e| e.key == key)
                        .map(|e| e.value.as_slice())
                        != (!u.old.is_null())
                            .then(|| u.old.to_string().into_bytes())
                            .as_deref();
                    Err(if moved {
                        stale(base, u, &current)
                    } else {
                        "atomic transaction failed".to_string()
                    })
                })
                .collect(),
        });
    }
    let mut results = Vec::with_capacity(updates.len());
    for (n, u) in updates.iter().enumerate() {
        let (c, mut ops) = update_parts(base, u, n, record.push_id);
        // Every transaction lists the packs: listing is idempotent, and whichever ref wins
        // first makes the objects it needs visible with it.
        ops.extend(pack_ops.iter().cloned());
        let log_key = format!("{base}push/{}/{n}", record.push_id);
        let txn = Txn {
            compares: vec![
                c,
                Compare::Absent {
                    key: log_key.clone(),
                },
            ],
            ops,
        };
        results.push(match run_resolved(kv, &txn, &log_key)? {
            Ended::Applied => Ok(()),
            Ended::NotApplied => Err(NOT_APPLIED.into()),
            Ended::Refused(current) => Err(stale(base, u, &current)),
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::distributed::kv::MemoryKv;
    use crate::hash::HashKind;
    use crate::refs::name::RefName;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_hex(format!("{n:02x}").repeat(20).as_bytes()).unwrap()
    }

    fn upd(name: &str, old: ObjectId, new: ObjectId) -> RefUpdate {
        RefUpdate {
            name: RefName::new(name).unwrap(),
            old,
            new,
        }
    }

    #[test]
    fn a_push_creates_moves_and_lists_its_pack_and_log() {
        let kv = MemoryKv::default();
        let base = repo_key("p", "a/b.git");
        assert_eq!(base, "p/a%2Fb.git/");
        assert!(create(&kv, &base, "refs/heads/main").unwrap());
        assert!(
            !create(&kv, &base, "refs/heads/main").unwrap(),
            "exists already"
        );
        let null = HashKind::Sha1.null();
        let packs = [("pack-aa".to_string(), 99)];
        let rec = PushRecord {
            packs: &packs,
            push_id: "x1",
        };
        let r = push(
            &kv,
            &base,
            &[upd("refs/heads/main", null, id(1))],
            false,
            &rec,
        )
        .unwrap();
        assert_eq!(r, [Ok(())]);
        let snap = load(&kv, &base).unwrap();
        assert_eq!(
            snap.head,
            Some(RefValue::Symbolic("refs/heads/main".into()))
        );
        assert_eq!(snap.refs["refs/heads/main"], RefValue::Direct(id(1)));
        assert_eq!(snap.packs["pack-aa"], 99);
        assert_eq!(kv.range(&format!("{base}push/x1/")).unwrap().len(), 1);
    }

    #[test]
    fn a_stale_old_value_gets_c_gits_wording_and_moves_nothing() {
        let kv = MemoryKv::default();
        let base = repo_key("p", "r");
        create(&kv, &base, "refs/heads/main").unwrap();
        let null = HashKind::Sha1.null();
        let rec = PushRecord {
            packs: &[],
            push_id: "a",
        };
        push(
            &kv,
            &base,
            &[upd("refs/heads/main", null, id(1))],
            false,
            &rec,
        )
        .unwrap();
        let rec = PushRecord {
            packs: &[],
            push_id: "b",
        };
        let r = push(
            &kv,
            &base,
            &[upd("refs/heads/main", id(2), id(3))],
            false,
            &rec,
        )
        .unwrap();
        let want = format!(
            "cannot lock ref 'refs/heads/main': is at {} but expected {}",
            id(1),
            id(2)
        );
        assert_eq!(r, [Err(want)]);
        assert_eq!(
            load(&kv, &base).unwrap().refs["refs/heads/main"],
            RefValue::Direct(id(1))
        );
        assert!(kv.range(&format!("{base}push/b/")).unwrap().is_empty());
    }

    /// A store that holds back its first transaction (in flight: neither applied nor
    /// answered) and answers nothing for it, as a timeout would.
    #[derive(Default)]
    struct InFlight {
        kv: MemoryKv,
        held: std::sync::Mutex<Option<Txn>>,
    }

    impl Kv for InFlight {
        fn range(&self, prefix: &str) -> Result<Vec<Entry>, kv::Error> {
            self.kv.range(prefix)
        }
        fn txn(&self, txn: &Txn) -> Result<TxnOutcome, kv::Error> {
            let mut held = self.held.lock().unwrap();
            if held.is_none() {
                *held = Some(txn.clone());
                return Err(kv::Error::Ambiguous("held in flight".into()));
            }
            self.kv.txn(txn)
        }
        fn acquire(&self, key: &str, holder: &str, ttl: u64) -> Result<Option<i64>, kv::Error> {
            self.kv.acquire(key, holder, ttl)
        }
        fn refresh(&self, lease: i64) -> Result<(), kv::Error> {
            self.kv.refresh(lease)
        }
        fn release(&self, lease: i64) -> Result<(), kv::Error> {
            self.kv.release(lease)
        }
    }

    #[test]
    fn a_committed_push_whose_answer_was_lost_is_reported_applied() {
        let mem: std::sync::Arc<dyn Kv> = std::sync::Arc::new(MemoryKv::default());
        let base = repo_key("p", "r");
        create(mem.as_ref(), &base, "refs/heads/main").unwrap();
        let null = HashKind::Sha1.null();
        for atomic in [false, true] {
            let kv = super::super::lossy::wrap(mem.clone(), Some("txn-answer-lost"));
            let push_id = format!("lost-{atomic}");
            let rec = PushRecord {
                packs: &[],
                push_id: &push_id,
            };
            let name = format!("refs/heads/{atomic}");
            let r = push(kv.as_ref(), &base, &[upd(&name, null, id(1))], atomic, &rec);
            assert_eq!(r.unwrap(), [Ok(())], "atomic: {atomic}");
            assert_eq!(
                load(mem.as_ref(), &base).unwrap().refs[&name],
                RefValue::Direct(id(1))
            );
        }
    }

    #[test]
    fn an_unanswered_push_is_fenced_and_can_never_apply_later() {
        let kv = InFlight::default();
        let base = repo_key("p", "r");
        create(&kv.kv, &base, "refs/heads/main").unwrap();
        let null = HashKind::Sha1.null();
        let rec = PushRecord {
            packs: &[("pack-cc".to_string(), 7)],
            push_id: "inflight",
        };
        let r = push(
            &kv,
            &base,
            &[upd("refs/heads/main", null, id(1))],
            false,
            &rec,
        )
        .unwrap();
        assert_eq!(r, [Err(NOT_APPLIED.to_string())]);
        // The held transaction arrives after the answer: the fence refuses it.
        let late = kv.held.lock().unwrap().take().unwrap();
        assert!(matches!(kv.kv.txn(&late).unwrap(), TxnOutcome::Refused(_)));
        let snap = load(&kv.kv, &base).unwrap();
        assert!(snap.refs.is_empty(), "nothing moved: {snap:?}");
        assert!(snap.packs.is_empty());
        let log = kv.kv.range(&format!("{base}push/inflight/")).unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].value, FENCED);
    }

    #[test]
    fn an_atomic_push_is_all_or_nothing() {
        let kv = MemoryKv::default();
        let base = repo_key("p", "r");
        create(&kv, &base, "refs/heads/main").unwrap();
        let null = HashKind::Sha1.null();
        let rec = PushRecord {
            packs: &[],
            push_id: "a",
        };
        push(&kv, &base, &[upd("refs/heads/b", null, id(1))], false, &rec).unwrap();
        let packs = [("pack-bb".to_string(), 1)];
        let rec = PushRecord {
            packs: &packs,
            push_id: "b",
        };
        let both = [
            upd("refs/heads/a", null, id(5)),
            upd("refs/heads/b", id(2), id(5)),
        ];
        let r = push(&kv, &base, &both, true, &rec).unwrap();
        assert_eq!(r[0], Err("atomic transaction failed".into()));
        assert!(r[1].as_ref().unwrap_err().contains("is at"));
        let snap = load(&kv, &base).unwrap();
        assert!(!snap.refs.contains_key("refs/heads/a"));
        assert!(snap.packs.is_empty(), "a refused push lists no pack");
    }
}
