//! [`RefStore`] over etcd: reads answer from the snapshot one linearizable range read took when
//! the request began (so an advertisement and the checks after it see one state), and
//! [`RefStore::update`] is [`refstore::push`]: compare-and-swap transactions that also list the
//! packs this request uploaded and write the push log.

use std::sync::{Arc, Mutex};

use super::kv::Kv;
use super::refstore::{self, PushRecord, RefValue, Snapshot};
use crate::backend::Error;
use crate::refs::store::{RawVisitor, RefStore, RefUpdate, UpdateResult};
use crate::refs::RawRef;

/// One repository's refs in etcd, as one request sees them.
pub struct EtcdRefs {
    kv: Arc<dyn Kv>,
    base: String,
    snapshot: Snapshot,
    /// Packs this request uploaded, listed by its ref transactions.
    uploaded: Mutex<Vec<(String, u64)>>,
    push_id: String,
}

impl std::fmt::Debug for EtcdRefs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EtcdRefs({}, {} refs)",
            self.base,
            self.snapshot.refs.len()
        )
    }
}

fn raw(value: &RefValue) -> RawRef {
    match value {
        RefValue::Direct(id) => RawRef::Direct {
            id: *id,
            peeled: None,
        },
        RefValue::Symbolic(target) => RawRef::Symbolic(target.clone()),
    }
}

impl EtcdRefs {
    /// The refs of repository `base` as read in `snapshot`; updates go to `kv` under push id
    /// `push_id`.
    pub fn new(kv: Arc<dyn Kv>, base: String, snapshot: Snapshot, push_id: String) -> Self {
        EtcdRefs {
            kv,
            base,
            snapshot,
            uploaded: Mutex::new(Vec::new()),
            push_id,
        }
    }

    /// The snapshot the reads answer from.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The push id that names this request's push-log records.
    pub fn push_id(&self) -> &str {
        &self.push_id
    }

    /// [`RefStore::update`] with push-log records named `push_id` (a push's hook publishes its
    /// refs under an id of its own, so that the push's own records never collide with them).
    pub fn update_as(
        &self,
        push_id: &str,
        updates: &[RefUpdate],
        atomic: bool,
    ) -> Result<Vec<UpdateResult>, Error> {
        let packs = self
            .uploaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let record = PushRecord {
            packs: &packs,
            push_id,
        };
        refstore::push(self.kv.as_ref(), &self.base, updates, atomic, &record)
    }

    /// Records that this request uploaded pack `name` of `size` bytes, to be listed by the
    /// next transaction.
    pub fn add_uploaded(&self, name: String, size: u64) {
        self.uploaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((name, size));
    }
}

impl RefStore for EtcdRefs {
    fn read_raw(&self, name: &str) -> Result<Option<RawRef>, Error> {
        Ok(if name == "HEAD" {
            self.snapshot.head.as_ref().map(raw)
        } else {
            self.snapshot.refs.get(name).map(raw)
        })
    }

    fn for_each_raw(&self, prefix: &str, visit: &mut RawVisitor<'_>) -> Result<(), Error> {
        let refs = self.snapshot.refs.range(prefix.to_string()..);
        for (name, value) in refs.take_while(|(n, _)| n.starts_with(prefix)) {
            if visit(name, raw(value))?.is_break() {
                break;
            }
        }
        Ok(())
    }

    fn update(&self, updates: &[RefUpdate], atomic: bool) -> Result<Vec<UpdateResult>, Error> {
        self.update_as(&self.push_id, updates, atomic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::distributed::kv::MemoryKv;
    use crate::hash::HashKind;
    use crate::refs::name::RefName;
    use std::ops::ControlFlow;

    #[test]
    fn reads_come_from_the_snapshot_in_name_order_and_updates_go_to_the_store() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::default());
        let base = refstore::repo_key("p", "r");
        refstore::create(kv.as_ref(), &base, "refs/heads/main").unwrap();
        let id = |n: u8| {
            crate::hash::ObjectId::from_hex(format!("{n:02x}").repeat(20).as_bytes()).unwrap()
        };
        let null = HashKind::Sha1.null();
        let upd = |name: &str, old, new| RefUpdate {
            name: RefName::new(name).unwrap(),
            old,
            new,
        };
        let first = EtcdRefs::new(
            kv.clone(),
            base.clone(),
            refstore::load(kv.as_ref(), &base).unwrap(),
            "a".into(),
        );
        first.add_uploaded("pack-aa".into(), 7);
        let r = first
            .update(
                &[
                    upd("refs/heads/main", null, id(1)),
                    upd("refs/tags/t", null, id(2)),
                ],
                true,
            )
            .unwrap();
        assert_eq!(r, [Ok(()), Ok(())]);
        assert!(
            first.read_raw("refs/heads/main").unwrap().is_none(),
            "reads stay on the snapshot"
        );

        let second = EtcdRefs::new(
            kv.clone(),
            base.clone(),
            refstore::load(kv.as_ref(), &base).unwrap(),
            "b".into(),
        );
        assert_eq!(second.snapshot().packs.get("pack-aa"), Some(&7));
        let mut seen = Vec::new();
        second
            .for_each_raw("refs/", &mut |name, _| {
                seen.push(name.to_string());
                Ok(ControlFlow::Continue(()))
            })
            .unwrap();
        assert_eq!(seen, ["refs/heads/main", "refs/tags/t"]);
        let head = crate::refs::resolve::head(&second).unwrap();
        assert_eq!(
            (head.symref_target.as_deref(), head.id),
            (Some("refs/heads/main"), Some(id(1)))
        );
    }
}
