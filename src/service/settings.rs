//! Typed settings, read once per request from the repository's git configuration
//! ([`Repository::config`](crate::backend::Repository::config)), one struct per service. The
//! services read fields, never keys: a key is spelled once, here, with C git's default next to
//! it, and a deviation from C git is documented on its field.
//!
//! An invalid value (a `receive.denyDeletes = maybe`) is an error naming the key and the value;
//! the service refuses the request with that one line, to the client and in the log, as C git
//! dies on a bad boolean.

use std::time::Duration;

use crate::git_config::{Error, GitConfig};

/// Typed lookups with defaults over one configuration.
struct Keys<'c>(&'c GitConfig);

impl Keys<'_> {
    fn bool(&self, key: &str, default: bool) -> Result<bool, Error> {
        Ok(self.0.get_bool(key)?.unwrap_or(default))
    }

    /// A keepalive interval in seconds: unset is `default`, 0 and negative values disable it
    /// (`None`), as C git's `uploadpack.keepAlive` and `receive.keepAlive` read them (an `int`:
    /// a value out of its range is refused, as there).
    fn keepalive(&self, key: &str, default: u64) -> Result<Option<Duration>, Error> {
        let secs = match self.0.get_i64(key)? {
            None => i64::try_from(default).unwrap_or(0),
            Some(n) if i32::try_from(n).is_err() => {
                return Err(Error::Value {
                    key: key.to_string(),
                    value: n.to_string(),
                    expected: "number of seconds (out of range)",
                })
            }
            Some(n) => n,
        };
        Ok(u64::try_from(secs)
            .ok()
            .filter(|&s| s > 0)
            .map(Duration::from_secs))
    }

    /// A size or count where 0 and negative values mean "no limit" (as git's own do).
    fn size(&self, key: &str) -> Result<u64, Error> {
        Ok(self
            .0
            .get_i64(key)?
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0))
    }
}

/// C git's default for `uploadpack.keepAlive` and `receive.keepAlive`, in seconds.
const DEFAULT_KEEPALIVE_SECS: u64 = 5;

/// upload-pack's settings (`uploadpack.*`, `pack.useBitmaps`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPackSettings {
    /// `uploadpack.allowFilter`: serve partial-clone filters. C git: false. Deviation: Sluice
    /// defaults to true (it serves filters fully and partial clones are common).
    pub allow_filter: bool,
    /// `uploadpack.allowTipSHA1InWant` (C git: false): hidden refs' tips may be wanted.
    pub allow_tip_sha1_in_want: bool,
    /// `uploadpack.allowReachableSHA1InWant` as set (C git default: false). Deviation: when it is
    /// not set, [`allow_reachable`](Self::allow_reachable) follows `allow_filter`, since
    /// partial clones fetch missing blobs by id.
    pub allow_reachable_sha1_in_want: Option<bool>,
    /// `uploadpack.allowAnySHA1InWant` (C git: false).
    pub allow_any_sha1_in_want: bool,
    /// `uploadpack.allowRefInWant` (C git: false): v2 `want-ref`.
    pub allow_ref_in_want: bool,
    /// `uploadpack.allowSidebandAll` (C git: false): v2 `sideband-all`.
    pub allow_sideband_all: bool,
    /// `pack.useBitmaps` (C git: true): answer clones from a bitmapped pack.
    pub use_bitmaps: bool,
    /// `uploadpack.blobPackfileUri` (multi-valued; C git: none): objects a v2 client that sent
    /// `packfile-uris` may download from a URI instead of the pack.
    pub blob_packfile_uris: Vec<BlobPackfileUri>,
    /// `lsrefs.unborn` (C git: `advertise`): whether v2 `ls-refs` offers and honours `unborn`.
    pub lsrefs_unborn: LsRefsUnborn,
    /// `uploadpack.keepAlive` in seconds (C git: 5; `None`: 0 or negative, disabled): while the
    /// pack is prepared and nothing was sent for this long, an empty band-1 packet is.
    pub keepalive: Option<Duration>,
}

/// The values of `lsrefs.unborn` (C git's `unborn_config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LsRefsUnborn {
    /// `advertise` (the default): `ls-refs=unborn` is advertised and the argument honoured.
    Advertise,
    /// `allow`: not advertised, but honoured when a client sends it anyway.
    Allow,
    /// `ignore`: neither; an unborn HEAD is never sent.
    Ignore,
}

impl LsRefsUnborn {
    /// Reads `lsrefs.unborn` from `config`; unset or valueless is `advertise` (as in C git,
    /// which compares the value case-sensitively and dies on anything else).
    fn from_config(config: &GitConfig) -> Result<Self, Error> {
        match config.get("lsrefs.unborn") {
            None | Some(None) | Some(Some("advertise")) => Ok(LsRefsUnborn::Advertise),
            Some(Some("allow")) => Ok(LsRefsUnborn::Allow),
            Some(Some("ignore")) => Ok(LsRefsUnborn::Ignore),
            Some(Some(other)) => Err(Error::Value {
                key: "lsrefs.unborn".to_string(),
                value: other.to_string(),
                expected: "value (advertise, allow or ignore)",
            }),
        }
    }
}

/// One `uploadpack.blobPackfileUri = <object-hash> <pack-hash> <uri>` entry: the object is
/// left out of the pack and the client told to fetch the pack `<pack-hash>` from `<uri>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobPackfileUri {
    /// The object the URI's pack provides.
    pub object: crate::hash::ObjectId,
    /// The hash of the pack at `uri` (its name, as `git pack-objects` prints it), in hex.
    pub pack_hash: String,
    /// Where the client downloads the pack from.
    pub uri: String,
}

impl BlobPackfileUri {
    /// All entries of `config`, checked as C git's pack-objects checks them (it dies on a
    /// malformed value or an object listed twice; so does this, with its words).
    fn all_from_config(config: &GitConfig) -> Result<Vec<Self>, Error> {
        let key = "uploadpack.blobPackfileUri";
        let bad = |value: &str, expected| Error::Value {
            key: key.to_string(),
            value: value.to_string(),
            expected,
        };
        let mut all: Vec<Self> = Vec::new();
        for value in config.get_all(key) {
            let mut parts = value.splitn(3, ' ');
            let (Some(object), Some(pack), Some(uri)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(bad(value, "'<object-hash> <pack-hash> <uri>'"));
            };
            let (Ok(object), Ok(_)) = (
                crate::hash::ObjectId::from_hex(object.as_bytes()),
                crate::hash::ObjectId::from_hex(pack.as_bytes()),
            ) else {
                return Err(bad(value, "'<object-hash> <pack-hash> <uri>'"));
            };
            if all.iter().any(|e| e.object == object) {
                return Err(bad(
                    value,
                    "entry (object already configured in another uploadpack.blobpackfileuri)",
                ));
            }
            all.push(BlobPackfileUri {
                object,
                pack_hash: pack.to_string(),
                uri: uri.to_string(),
            });
        }
        Ok(all)
    }
}

impl UploadPackSettings {
    /// Reads the settings from `config`.
    pub fn from_config(config: &GitConfig) -> Result<Self, Error> {
        let k = Keys(config);
        Ok(UploadPackSettings {
            allow_filter: k.bool("uploadpack.allowFilter", true)?,
            allow_tip_sha1_in_want: k.bool("uploadpack.allowTipSHA1InWant", false)?,
            allow_reachable_sha1_in_want: config.get_bool("uploadpack.allowReachableSHA1InWant")?,
            allow_any_sha1_in_want: k.bool("uploadpack.allowAnySHA1InWant", false)?,
            allow_ref_in_want: k.bool("uploadpack.allowRefInWant", false)?,
            allow_sideband_all: k.bool("uploadpack.allowSidebandAll", false)?,
            use_bitmaps: k.bool("pack.useBitmaps", true)?,
            blob_packfile_uris: BlobPackfileUri::all_from_config(config)?,
            lsrefs_unborn: LsRefsUnborn::from_config(config)?,
            keepalive: k.keepalive("uploadpack.keepAlive", DEFAULT_KEEPALIVE_SECS)?,
        })
    }

    /// Whether objects reachable from the refs may be wanted by id (explicitly, through
    /// `allowAnySHA1InWant`, or by default when filters are served).
    pub fn allow_reachable(&self) -> bool {
        self.allow_any_sha1_in_want
            || self
                .allow_reachable_sha1_in_want
                .unwrap_or(self.allow_filter)
    }

    /// Whether hidden refs' tips count as ours (C git's `is_our_ref`): only when one of the
    /// settings that allow them is set explicitly, not through Sluice's filter default.
    pub fn hidden_tips_are_ours(&self) -> bool {
        self.allow_any_sha1_in_want
            || self.allow_tip_sha1_in_want
            || self.allow_reachable_sha1_in_want == Some(true)
    }
}

/// receive-pack's settings (`receive.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceivePackSettings {
    /// `receive.advertiseAtomic` (C git: true).
    pub advertise_atomic: bool,
    /// `receive.advertisePushOptions`. C git: false. Deviation: Sluice defaults to true (push
    /// options reach the hooks as `GIT_PUSH_OPTION_*`, and nothing else reads them).
    pub advertise_push_options: bool,
    /// `receive.denyNonFastForwards` (C git: false).
    pub deny_non_fast_forwards: bool,
    /// `receive.denyDeletes` (C git: false).
    pub deny_deletes: bool,
    /// `receive.denyCurrentBranch` refuses (C git: `refuse`; `false`, `ignore` and `warn` allow;
    /// `updateInstead` updates the work tree instead, see [`update_instead`](Self::update_instead)).
    /// Only non-bare repositories have a current branch to protect: see
    /// [`deny_current_branch`](Self::deny_current_branch).
    pub deny_current_branch_set: bool,
    /// `receive.denyCurrentBranch = updateInstead`: a push to the checked-out branch updates
    /// the index and work tree (or runs `push-to-checkout`).
    pub update_instead_set: bool,
    /// `receive.denyDeleteCurrent` refuses deleting the branch HEAD points at, bare repository
    /// or not (C git: unset refuses, as `refuse` and `updateInstead` do; `ignore`, `warn` and
    /// `false` allow).
    pub deny_delete_current: bool,
    /// `receive.maxInputSize` in bytes (C git: 0, unlimited).
    pub max_input_size: u64,
    /// `receive.shallowUpdate` (C git: false): a push may extend the shallow boundary.
    pub shallow_update: bool,
    /// `receive.keepAlive` in seconds (C git: 5; `None`: 0 or negative, disabled): once the pack
    /// is read, while it is indexed and checked, connectivity is checked and the hooks run, an
    /// empty band-1 packet goes out after this long without output (C git sends them during
    /// those steps; Sluice also in the short gaps between them, up to the final flush).
    pub keepalive: Option<Duration>,
}

impl ReceivePackSettings {
    /// Reads the settings from `config`.
    pub fn from_config(config: &GitConfig) -> Result<Self, Error> {
        let k = Keys(config);
        Ok(ReceivePackSettings {
            advertise_atomic: k.bool("receive.advertiseAtomic", true)?,
            advertise_push_options: k.bool("receive.advertisePushOptions", true)?,
            deny_non_fast_forwards: k.bool("receive.denyNonFastForwards", false)?,
            deny_deletes: k.bool("receive.denyDeletes", false)?,
            deny_current_branch_set: deny_action(config, "receive.denyCurrentBranch")?,
            update_instead_set: matches!(
                config.get("receive.denyCurrentBranch"),
                Some(Some(v)) if v.eq_ignore_ascii_case("updateinstead")
            ),
            deny_delete_current: deny_action(config, "receive.denyDeleteCurrent")?,
            max_input_size: k.size("receive.maxInputSize")?,
            shallow_update: k.bool("receive.shallowUpdate", false)?,
            keepalive: k.keepalive("receive.keepAlive", DEFAULT_KEEPALIVE_SECS)?,
        })
    }

    /// Whether pushing to the checked-out branch of a repository is refused (`bare`: it has
    /// none).
    pub fn deny_current_branch(&self, bare: bool) -> bool {
        self.deny_current_branch_set && !self.update_instead_set && !bare
    }

    /// Whether a push to the checked-out branch updates the work tree (`bare`: there is none).
    pub fn update_instead(&self, bare: bool) -> bool {
        self.update_instead_set && !bare
    }
}

/// A `receive.deny*` action (C git's `parse_deny_action`): `ignore`/`warn` allow, `refuse`
/// refuses (`updateInstead` too, as a plain deny action; the current-branch check reads it
/// separately), otherwise a boolean; unset refuses.
fn deny_action(config: &GitConfig, key: &str) -> Result<bool, Error> {
    match config.get(key) {
        Some(Some(v)) => match v.to_ascii_lowercase().as_str() {
            "ignore" | "warn" => Ok(false),
            "refuse" | "updateinstead" => Ok(true),
            _ => Ok(config.get_bool(key)?.unwrap_or(true)),
        },
        _ => Ok(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> GitConfig {
        GitConfig::parse(text.as_bytes(), "test").unwrap()
    }

    #[test]
    fn upload_pack_defaults_and_reachability() {
        let d = UploadPackSettings::from_config(&GitConfig::default()).unwrap();
        assert!(d.allow_filter && d.use_bitmaps && !d.allow_ref_in_want);
        assert!(d.allow_reachable() && !d.hidden_tips_are_ours());
        let no_filter =
            UploadPackSettings::from_config(&config("[uploadpack]\nallowFilter = no\n")).unwrap();
        assert!(!no_filter.allow_reachable());
        let tip =
            UploadPackSettings::from_config(&config("[uploadpack]\nallowTipSHA1InWant\n")).unwrap();
        assert!(tip.hidden_tips_are_ours());
        let any = config("[uploadpack]\nallowAnySHA1InWant = 1\nallowFilter = false\n");
        let any = UploadPackSettings::from_config(&any).unwrap();
        assert!(any.allow_reachable() && any.hidden_tips_are_ours());
    }

    #[test]
    fn receive_pack_defaults_and_deny_actions() {
        let d = ReceivePackSettings::from_config(&GitConfig::default()).unwrap();
        assert!(d.advertise_atomic && d.advertise_push_options && !d.deny_deletes);
        assert!(d.deny_current_branch(false) && !d.deny_current_branch(true));
        assert!(d.deny_delete_current);
        assert_eq!(d.max_input_size, 0);
        for (value, denies) in [
            ("ignore", false),
            ("warn", false),
            ("false", false),
            ("refuse", true),
            ("updateInstead", false),
            ("true", true),
        ] {
            let c = config(&format!("[receive]\ndenyCurrentBranch = {value}\n"));
            let s = ReceivePackSettings::from_config(&c).unwrap();
            assert_eq!(s.deny_current_branch(false), denies, "{value}");
        }
        let c = config("[receive]\nmaxInputSize = 2k\ndenyDeletes\n");
        let s = ReceivePackSettings::from_config(&c).unwrap();
        assert_eq!((s.max_input_size, s.deny_deletes), (2048, true));
    }

    #[test]
    fn keepalive_defaults_disabling_and_refusals() {
        let secs = |n| Some(Duration::from_secs(n));
        let d = GitConfig::default();
        assert_eq!(
            UploadPackSettings::from_config(&d).unwrap().keepalive,
            secs(5)
        );
        assert_eq!(
            ReceivePackSettings::from_config(&d).unwrap().keepalive,
            secs(5)
        );
        for (value, expect) in [
            ("1", secs(1)),
            ("0", None),
            ("-1", None),
            ("1k", secs(1024)),
        ] {
            let c = config(&format!(
                "[uploadpack]\nkeepAlive = {value}\n[receive]\nkeepalive = {value}\n"
            ));
            assert_eq!(
                UploadPackSettings::from_config(&c).unwrap().keepalive,
                expect
            );
            assert_eq!(
                ReceivePackSettings::from_config(&c).unwrap().keepalive,
                expect
            );
        }
        for value in ["abc", "3000000000", ""] {
            let c = config(&format!("[receive]\nkeepAlive = {value}\n"));
            let e = ReceivePackSettings::from_config(&c)
                .unwrap_err()
                .to_string();
            assert!(e.contains("receive.keepAlive"), "{e}");
            let c = config(&format!("[uploadpack]\nkeepAlive = {value}\n"));
            let e = UploadPackSettings::from_config(&c).unwrap_err().to_string();
            assert!(e.contains("uploadpack.keepAlive"), "{e}");
        }
    }

    #[test]
    fn invalid_values_name_key_and_value() {
        for text in [
            "[receive]\ndenyDeletes = maybe\n",
            "[receive]\ndenyCurrentBranch = sometimes\n",
            "[receive]\nmaxInputSize = lots\n",
        ] {
            let e = ReceivePackSettings::from_config(&config(text)).unwrap_err();
            assert!(e.to_string().contains("receive."), "{e}");
        }
        let e = UploadPackSettings::from_config(&config("[uploadpack]\nallowFilter = perhaps\n"))
            .unwrap_err();
        assert!(e.to_string().contains("perhaps"), "{e}");
    }
}
