//! A distributed repository's git config, kept as text under `<prefix>/<repo>/config` in the
//! ref store (a front end has no repository directory to keep it in). Every request's view
//! reads it (see [`super::view`]), so `receive.*` and `uploadpack.*` settings work as they do
//! on disk. Only the [`STORED_SECTIONS`] may be set: the rest of a git config describes a
//! directory the store does not have.

use super::kv::{Compare, Op, Txn, TxnOutcome};
use super::refstore;
use super::Stores;
use crate::backend::fs::config_write;
use crate::backend::Error;

/// Config sections a repository keeps in the store.
pub const STORED_SECTIONS: &[&str] =
    &["receive", "uploadpack", "transfer", "pack", "uploadarchive"];

/// Most attempts of a config change that loses its compare-and-swap to a concurrent one.
const ATTEMPTS: usize = 5;

fn kv_error(e: super::kv::Error) -> Error {
    Error::io("ref store", std::io::Error::other(e.to_string()))
}

/// Whether `key` (`section.[sub.]name`) is in a stored section.
pub fn storable(key: &str) -> bool {
    key.split_once('.').is_some_and(|(section, _)| {
        STORED_SECTIONS
            .iter()
            .any(|s| s.eq_ignore_ascii_case(section))
    })
}

/// The config text of repository `name` (empty when none was set).
pub fn get(stores: &Stores, name: &str) -> Result<String, Error> {
    let snap = refstore::load(stores.kv.as_ref(), &stores.base(name)?)?;
    if snap.head.is_none() {
        return Err(Error::NotFound(name.to_string()));
    }
    Ok(String::from_utf8_lossy(&snap.config.unwrap_or_default()).into_owned())
}

/// Sets `key` of repository `name` to `value` (`None`: removes it), as `git config` would in a
/// file; a concurrent change is retried from the new text.
pub fn set(stores: &Stores, name: &str, key: &str, value: Option<&str>) -> Result<(), Error> {
    if !storable(key) {
        return Err(Error::corrupt(
            "config key",
            format!(
                "{key}: only {} settings are kept for a distributed repository",
                STORED_SECTIONS.join(", ")
            ),
        ));
    }
    let base = stores.base(name)?;
    let config_key = format!("{base}config");
    for _ in 0..ATTEMPTS {
        let snap = refstore::load(stores.kv.as_ref(), &base)?;
        if snap.head.is_none() {
            return Err(Error::NotFound(name.to_string()));
        }
        let old = snap.config.clone();
        let text = String::from_utf8_lossy(old.as_deref().unwrap_or_default()).into_owned();
        let new = config_write::set_in_text(&text, key, value)?;
        crate::git_config::GitConfig::parse(new.as_bytes(), "stored config")
            .map_err(|e| Error::corrupt("config", e.to_string()))?;
        let compare = match old {
            Some(value) => Compare::ValueIs {
                key: config_key.clone(),
                value,
            },
            None => Compare::Absent {
                key: config_key.clone(),
            },
        };
        let txn = Txn {
            compares: vec![compare],
            ops: vec![Op::Put {
                key: config_key.clone(),
                value: new.into_bytes(),
            }],
        };
        if stores.kv.txn(&txn).map_err(kv_error)? == TxnOutcome::Applied {
            return Ok(());
        }
    }
    Err(Error::io(
        config_key,
        std::io::Error::other("changed concurrently too often; try again"),
    ))
}
