//! Fault injection for the ambiguous outcome of a ref transaction (system tests only, chosen
//! with `SLUICE_FAULT`): the first transaction of the process, which in a push is its ref
//! update, gets no answer, as when a timeout or a broken connection hides etcd's reply.
//!
//! - `txn-answer-lost`: the transaction reaches etcd and commits; its answer is dropped.
//! - `txn-lost`: the transaction never reaches etcd.
//!
//! Either way the caller sees [`Error::Ambiguous`] and must learn the outcome from the store
//! (see [`super::refstore`]'s settling), never guess it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::kv::{Entry, Error, Kv, Txn, TxnOutcome};

/// A [`Kv`] whose first transaction's answer is lost.
struct Lossy {
    inner: Arc<dyn Kv>,
    /// Whether the lost transaction is applied first (`txn-answer-lost`) or not at all.
    commit: bool,
    /// Set until the first transaction.
    armed: AtomicBool,
}

/// `inner`, losing its first transaction's answer when `fault` names one of this module's
/// points; else `inner` itself.
pub fn wrap(inner: Arc<dyn Kv>, fault: Option<&str>) -> Arc<dyn Kv> {
    let commit = match fault {
        Some("txn-answer-lost") => true,
        Some("txn-lost") => false,
        _ => return inner,
    };
    Arc::new(Lossy {
        inner,
        commit,
        armed: AtomicBool::new(true),
    })
}

impl Kv for Lossy {
    fn range(&self, prefix: &str) -> Result<Vec<Entry>, Error> {
        self.inner.range(prefix)
    }

    fn txn(&self, txn: &Txn) -> Result<TxnOutcome, Error> {
        if !self.armed.swap(false, Ordering::SeqCst) {
            return self.inner.txn(txn);
        }
        if self.commit {
            let outcome = self.inner.txn(txn);
            tracing::error!(
                ?outcome,
                "SLUICE_FAULT txn-answer-lost: dropping the answer"
            );
        } else {
            tracing::error!("SLUICE_FAULT txn-lost: not sending the transaction");
        }
        Err(Error::Ambiguous("SLUICE_FAULT: the answer was lost".into()))
    }

    fn acquire(&self, key: &str, holder: &str, ttl_secs: u64) -> Result<Option<i64>, Error> {
        self.inner.acquire(key, holder, ttl_secs)
    }

    fn refresh(&self, lease: i64) -> Result<(), Error> {
        self.inner.refresh(lease)
    }

    fn release(&self, lease: i64) -> Result<(), Error> {
        self.inner.release(lease)
    }
}
