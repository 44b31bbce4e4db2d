//! A ref store in a sorted map, for unit tests of the services and of the ref-store contract
//! ([`RefStore`]): the same compare-and-swap and all-or-nothing rules as the files store.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use crate::odb::store::Error;
use crate::refs::store::{RawVisitor, RefStore, RefUpdate, UpdateResult};
use crate::refs::RawRef;

/// Refs (including `HEAD`) by full name.
#[derive(Debug, Default)]
pub struct MemoryRefStore {
    refs: Mutex<BTreeMap<String, RawRef>>,
}

impl Clone for MemoryRefStore {
    fn clone(&self) -> Self {
        MemoryRefStore {
            refs: Mutex::new(self.lock().clone()),
        }
    }
}

impl MemoryRefStore {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, RawRef>> {
        self.refs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets ref `name` to `value`, unconditionally (test setup).
    pub fn set(&self, name: &str, value: RawRef) {
        self.lock().insert(name.to_string(), value);
    }

    /// Removes ref `name`, unconditionally (test setup).
    pub fn remove(&self, name: &str) {
        self.lock().remove(name);
    }
}

impl RefStore for MemoryRefStore {
    fn read_raw(&self, name: &str) -> Result<Option<RawRef>, Error> {
        Ok(self.lock().get(name).cloned())
    }

    /// Visits a snapshot of the range (the lock is not held while `visit` runs).
    fn for_each_raw(&self, prefix: &str, visit: &mut RawVisitor<'_>) -> Result<(), Error> {
        let range: Vec<(String, RawRef)> = self
            .lock()
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(n, _)| n.starts_with(prefix))
            .filter(|(n, _)| n.starts_with("refs/"))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        for (name, value) in range {
            if visit(&name, value)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    fn update(&self, updates: &[RefUpdate], atomic: bool) -> Result<Vec<UpdateResult>, Error> {
        let mut refs = self.lock();
        let mut results = Vec::with_capacity(updates.len());
        for u in updates {
            let current = match refs.get(u.name.as_str()) {
                Some(RawRef::Direct { id, .. }) => *id,
                Some(RawRef::Symbolic(_)) => {
                    results.push(Err(format!("cannot lock ref '{}': symbolic", u.name)));
                    continue;
                }
                None => u.old.kind().null(),
            };
            results.push(if current == u.old {
                Ok(())
            } else {
                Err(format!(
                    "cannot lock ref '{}': is at {current} but expected {}",
                    u.name, u.old
                ))
            });
        }
        if atomic && results.iter().any(Result::is_err) {
            return Ok(results
                .into_iter()
                .map(|r| r.and(Err("atomic transaction failed".to_string())))
                .collect());
        }
        for (u, _) in updates.iter().zip(&results).filter(|(_, r)| r.is_ok()) {
            if u.new.is_null() {
                refs.remove(u.name.as_str());
            } else {
                let value = RawRef::Direct {
                    id: u.new,
                    peeled: None,
                };
                refs.insert(u.name.to_string(), value);
            }
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::ObjectId;
    use crate::refs::name::RefName;
    use std::ops::ControlFlow;

    fn id(n: u8) -> ObjectId {
        let mut hex = format!("{n:02x}");
        hex.push_str(&"0".repeat(38));
        ObjectId::from_hex(hex.as_bytes()).unwrap()
    }

    fn up(name: &str, old: ObjectId, new: ObjectId) -> RefUpdate {
        RefUpdate {
            name: RefName::new(name).unwrap(),
            old,
            new,
        }
    }

    #[test]
    fn cas_atomic_and_prefix_order() {
        let s = MemoryRefStore::default();
        let null = id(1).kind().null();
        let r = s
            .update(
                &[
                    up("refs/heads/b", null, id(1)),
                    up("refs/tags/t", null, id(2)),
                ],
                false,
            )
            .unwrap();
        assert!(r.iter().all(Result::is_ok));
        // A stale old value fails alone; with atomic it takes the other down too.
        let r = s
            .update(
                &[
                    up("refs/heads/b", id(2), id(3)),
                    up("refs/heads/a", null, id(3)),
                ],
                false,
            )
            .unwrap();
        assert!(r[0].is_err() && r[1].is_ok());
        let r = s
            .update(
                &[
                    up("refs/heads/b", id(2), id(3)),
                    up("refs/heads/c", null, id(3)),
                ],
                true,
            )
            .unwrap();
        assert_eq!(r[1], Err("atomic transaction failed".to_string()));
        assert_eq!(s.read_raw("refs/heads/c").unwrap(), None);
        let mut seen = Vec::new();
        s.for_each_raw("refs/heads/", &mut |n, _| {
            seen.push(n.to_string());
            Ok(ControlFlow::Continue(()))
        })
        .unwrap();
        assert_eq!(seen, ["refs/heads/a", "refs/heads/b"]);
        let r = s.update(&[up("refs/heads/a", id(3), null)], false).unwrap();
        assert!(r[0].is_ok());
        assert_eq!(s.read_raw("refs/heads/a").unwrap(), None);
    }
}
