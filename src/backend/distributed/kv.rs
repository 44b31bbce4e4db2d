//! The key-value primitive the ref store needs: a linearizable prefix read and one multi-key
//! transaction with compares. etcd provides it ([`super::etcd`]); [`MemoryKv`] provides it for
//! unit tests, so the push logic is tested without daemons.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// A failed key-value request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request certainly did not take effect (refused, or no endpoint could be reached).
    #[error("ref store: {0}")]
    Failed(String),
    /// The request may or may not have taken effect (a timeout or a broken connection after it
    /// was sent): the caller must find out by reading, never guess.
    #[error("ref store: no answer, outcome unknown: {0}")]
    Ambiguous(String),
}

/// One stored key with its value and how many times it was written since created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Vec<u8>,
}

/// A condition of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compare {
    /// `key` exists with exactly `value`.
    ValueIs {
        /// The key.
        key: String,
        /// The value it must have.
        value: Vec<u8>,
    },
    /// `key` does not exist (etcd: `version == 0`).
    Absent {
        /// The key.
        key: String,
    },
}

/// A write of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: String,
    },
}

/// A transaction: if every compare holds, apply every op; otherwise nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    /// The conditions.
    pub compares: Vec<Compare>,
    /// The writes applied when all conditions hold.
    pub ops: Vec<Op>,
}

/// The answer to a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOutcome {
    /// Every compare held; every op was applied.
    Applied,
    /// A compare failed; nothing was applied. Carries the current values of the compared keys
    /// (absent keys are left out), read in the same transaction.
    Refused(Vec<Entry>),
}

/// A linearizable, transactional key-value store.
pub trait Kv: Send + Sync {
    /// Every key starting with `prefix`, sorted by key, read at one revision.
    fn range(&self, prefix: &str) -> Result<Vec<Entry>, Error>;

    /// Runs `txn` atomically.
    fn txn(&self, txn: &Txn) -> Result<TxnOutcome, Error>;

    /// Creates `key` = `holder` bound to a lease of `ttl_secs` (it vanishes when the lease
    /// expires, so a killed holder frees it) unless the key exists. Returns the lease to
    /// [`Kv::refresh`] and [`Kv::release`], or `None` when someone else holds the key.
    fn acquire(&self, key: &str, holder: &str, ttl_secs: u64) -> Result<Option<i64>, Error>;

    /// Keeps `lease` alive for another full term.
    fn refresh(&self, lease: i64) -> Result<(), Error>;

    /// Ends `lease`, removing the key it holds.
    fn release(&self, lease: i64) -> Result<(), Error>;
}

/// etcd's default `--max-txn-ops`: a transaction with more operations is refused.
pub const MAX_TXN_OPS: usize = 128;

/// Most operations a batched writer (import, sweep) puts in one transaction, under
/// [`MAX_TXN_OPS`] with room for its compares.
pub const BATCH_OPS: usize = 100;

/// A [`Kv`] in a mutex-guarded map, for tests. Leases never expire by time here; they end
/// with [`Kv::release`].
#[derive(Debug, Default)]
pub struct MemoryKv {
    map: Mutex<BTreeMap<String, Vec<u8>>>,
    /// The key each live lease holds, by lease id.
    leases: Mutex<BTreeMap<i64, String>>,
}

impl MemoryKv {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Kv for MemoryKv {
    fn range(&self, prefix: &str) -> Result<Vec<Entry>, Error> {
        Ok(self
            .lock()
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| Entry {
                key: k.clone(),
                value: v.clone(),
            })
            .collect())
    }

    fn txn(&self, txn: &Txn) -> Result<TxnOutcome, Error> {
        // etcd's default limit, so that unit tests catch a transaction etcd would refuse.
        if txn.ops.len() > MAX_TXN_OPS {
            return Err(Error::Failed("too many operations in txn request".into()));
        }
        let mut map = self.lock();
        let holds = txn.compares.iter().all(|c| match c {
            Compare::ValueIs { key, value } => map.get(key) == Some(value),
            Compare::Absent { key } => !map.contains_key(key),
        });
        if !holds {
            let current = txn
                .compares
                .iter()
                .filter_map(|c| {
                    let key = match c {
                        Compare::ValueIs { key, .. } | Compare::Absent { key } => key,
                    };
                    map.get(key).map(|v| Entry {
                        key: key.clone(),
                        value: v.clone(),
                    })
                })
                .collect();
            return Ok(TxnOutcome::Refused(current));
        }
        for op in &txn.ops {
            match op {
                Op::Put { key, value } => {
                    map.insert(key.clone(), value.clone());
                }
                Op::Delete { key } => {
                    map.remove(key);
                }
            }
        }
        Ok(TxnOutcome::Applied)
    }

    fn acquire(&self, key: &str, holder: &str, _ttl_secs: u64) -> Result<Option<i64>, Error> {
        let mut map = self.lock();
        if map.contains_key(key) {
            return Ok(None);
        }
        map.insert(key.to_string(), holder.as_bytes().to_vec());
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        let id = leases.keys().next_back().map_or(1, |n| n + 1);
        leases.insert(id, key.to_string());
        Ok(Some(id))
    }

    fn refresh(&self, lease: i64) -> Result<(), Error> {
        let leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        match leases.contains_key(&lease) {
            true => Ok(()),
            false => Err(Error::Failed(format!("lease {lease} not found"))),
        }
    }

    fn release(&self, lease: i64) -> Result<(), Error> {
        let key = self
            .leases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&lease);
        if let Some(key) = key {
            self.lock().remove(&key);
        }
        Ok(())
    }
}
