//! The refs a service may show and touch: `GIT_NAMESPACE` and `*.hideRefs`, as one view over a
//! repository.
//!
//! Both are C git's (gitnamespaces(7), `transfer.hideRefs` in git-config(1)); both change only
//! which refs exist and under which names, so they are implemented once here as a
//! [`Repository`] wrapper instead of in every caller. The services see a repository whose
//! `refs()` and `head()` are the namespace's, stripped of its prefix and without hidden refs,
//! whose `update_refs` writes inside the namespace, and whose hooks get `GIT_NAMESPACE`.
//!
//! - **Namespace** `a/b` is the ref prefix `refs/namespaces/a/refs/namespaces/b/`; HEAD is
//!   `<prefix>HEAD`. Refs outside it are invisible to upload-pack; receive-pack advertises their
//!   tips as `.have` (C git's `show_ref_cb`), so a push into a fresh namespace of a shared
//!   history sends only what is new.
//! - **Hidden refs**: the `transfer.hideRefs` and `uploadpack.hideRefs` (or `receive.hideRefs`)
//!   values in config order; the last pattern that matches wins. A pattern matches a ref that
//!   equals it or starts with it followed by `/`; `!` negates; `^` matches the full name, before
//!   the namespace is stripped (C git's `ref_is_hidden`).

use std::borrow::Cow;
use std::ops::ControlFlow;

use crate::backend::{
    Error, Head, PackStore, Quarantine, Ref, RefUpdate, RefVisitor, Repository, UpdateResult,
};
use crate::git_config::GitConfig;
use crate::hash::ObjectId;
use crate::pack::stored::ForwardObjects;
use crate::refs::name::RefName;

/// A `GIT_NAMESPACE` value that is not a valid ref path.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad git namespace path \"{0}\"")]
pub struct BadNamespace(pub String);

/// A namespace as the ref prefix it stands for (empty: none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespace {
    raw: String,
    prefix: String,
}

impl Namespace {
    /// Parses a `GIT_NAMESPACE` value `raw`: each `/`-separated component `c` becomes
    /// `refs/namespaces/c/` (doubled and leading `/` are skipped); the result must be a valid
    /// ref name, so `..`, `:`, a trailing `/` and a lone `/` are refused, as C git refuses them
    /// ("bad git namespace path").
    pub fn parse(raw: &str) -> Result<Namespace, BadNamespace> {
        if raw.is_empty() {
            return Ok(Namespace::default());
        }
        // C git's `expand_namespace`: split after each `/`, keeping it; every piece but a lone
        // `/` becomes `refs/namespaces/<piece>`. So `a//b` and `/a` are fine, while `a/` (and
        // `/`) leave a name ending in `/` (or nothing), which the ref-name check refuses.
        let mut check = String::new();
        for piece in raw.split_inclusive('/').filter(|p| *p != "/") {
            check.push_str("refs/namespaces/");
            check.push_str(piece);
        }
        if crate::refs::name::RefName::new(&check).is_err() {
            return Err(BadNamespace(raw.chars().take(200).collect()));
        }
        let prefix = format!("{check}/");
        Ok(Namespace {
            raw: raw.to_string(),
            prefix,
        })
    }

    /// The ref prefix (`refs/namespaces/a/`), empty without a namespace.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `full` without the prefix, `None` when it lies outside the namespace (C git's
    /// `strip_namespace`).
    pub fn strip<'n>(&self, full: &'n str) -> Option<&'n str> {
        full.strip_prefix(self.prefix.as_str())
    }

    /// The full name of `name` inside the namespace.
    pub fn full<'n>(&self, name: &'n str) -> Cow<'n, str> {
        if self.prefix.is_empty() {
            Cow::Borrowed(name)
        } else {
            Cow::Owned(format!("{}{name}", self.prefix))
        }
    }
}

/// Which service's `hideRefs` apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// upload-pack: `transfer.hideRefs` and `uploadpack.hideRefs`.
    Upload,
    /// receive-pack: `transfer.hideRefs` and `receive.hideRefs`.
    Receive,
}

/// The `hideRefs` patterns in effect, in config order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HideRules {
    patterns: Vec<String>,
}

impl HideRules {
    /// Reads `transfer.hideRefs` and the side's own key, interleaved in file order, with
    /// trailing `/` dropped (C git's `parse_hide_refs_config`). Valueless keys are skipped.
    pub fn from_config(config: &GitConfig, side: Side) -> HideRules {
        let own = match side {
            Side::Upload => "uploadpack.hiderefs",
            Side::Receive => "receive.hiderefs",
        };
        let patterns = config
            .entries_with_prefix("")
            .filter(|(k, _)| *k == "transfer.hiderefs" || *k == own)
            .filter_map(|(_, v)| v)
            .map(|v| v.trim_end_matches('/').to_string())
            .collect();
        HideRules { patterns }
    }

    /// Rules from explicit patterns (tests).
    pub fn new<S: Into<String>>(patterns: impl IntoIterator<Item = S>) -> HideRules {
        HideRules {
            patterns: patterns.into_iter().map(Into::into).collect(),
        }
    }

    /// Whether the ref is hidden: `stripped` is its name inside the namespace (`None` when it
    /// lies outside), `full` its full name. The last matching pattern decides.
    pub fn is_hidden(&self, stripped: Option<&str>, full: &str) -> bool {
        for pattern in self.patterns.iter().rev() {
            let (neg, p) = match pattern.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, pattern.as_str()),
            };
            let (subject, p) = match p.strip_prefix('^') {
                Some(rest) => (Some(full), rest),
                None => (stripped, p),
            };
            let hit = subject
                .and_then(|s| s.strip_prefix(p))
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
            if hit {
                return !neg;
            }
        }
        false
    }

    /// Whether no pattern is set.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// A repository seen through a namespace and hide rules (see the module docs).
pub struct RefsView<'a> {
    inner: &'a dyn Repository,
    namespace: Namespace,
    rules: HideRules,
    side: Side,
}

impl<'a> RefsView<'a> {
    /// The view of `inner` for `side`, reading its hide rules from `inner`'s config.
    pub fn new(inner: &'a dyn Repository, namespace: Namespace, side: Side) -> RefsView<'a> {
        let rules = HideRules::from_config(inner.config(), side);
        RefsView {
            inner,
            namespace,
            rules,
            side,
        }
    }

    /// Whether nothing is hidden or renamed (the view then passes straight through).
    fn transparent(&self) -> bool {
        self.namespace.prefix.is_empty() && self.rules.is_empty()
    }

    /// Streams the inner refs inside the namespace whose stripped names start with `prefix`,
    /// stripped, to `visit` with whether they are hidden. The namespace's own `HEAD` is never
    /// among them.
    fn visit_inside(
        &self,
        prefix: &str,
        visit: &mut dyn FnMut(Ref, bool) -> Result<ControlFlow<()>, Error>,
    ) -> Result<(), Error> {
        let full_prefix = self.namespace.full(prefix);
        self.inner.for_each_ref(&full_prefix, &mut |mut r| {
            let Some(stripped) = self.namespace.strip(&r.name) else {
                return Ok(ControlFlow::Continue(()));
            };
            if !stripped.starts_with("refs/") {
                return Ok(ControlFlow::Continue(()));
            }
            let is_hidden = self.rules.is_hidden(Some(stripped), &r.name);
            r.name = stripped.to_string();
            if let Some(t) = &r.symref_target {
                if let Some(s) = self.namespace.strip(t) {
                    r.symref_target = Some(s.to_string());
                }
            }
            visit(r, is_hidden)
        })
    }

    /// HEAD inside the namespace: the inner ref `<prefix>HEAD`, its target stripped. For
    /// receive-pack, which advertises no HEAD and asks only which branch is checked out, the
    /// repository's own HEAD, unchanged: C git 2.47 compares the name the client sent with the
    /// working tree's branch, so `main` pushed into any namespace counts as checked out.
    fn namespaced_head(&self) -> Result<Head, Error> {
        if self.namespace.prefix.is_empty() || self.side == Side::Receive {
            return self.inner.head();
        }
        let name = self.namespace.full("HEAD");
        let mut found = None;
        self.inner.for_each_ref(&name, &mut |r| {
            if r.name == name {
                found = Some(r);
                return Ok(ControlFlow::Break(()));
            }
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(match found {
            // Unborn: the target is still worth telling (v2 `unborn`, C git's
            // `send_possibly_unborn_head`), when it lies inside the namespace.
            None => Head {
                symref_target: self
                    .inner
                    .symref_target(&name)?
                    .and_then(|t| self.namespace.strip(&t).map(str::to_string)),
                id: None,
            },
            Some(r) => Head {
                symref_target: r
                    .symref_target
                    .map(|t| self.namespace.strip(&t).map_or(t.clone(), str::to_string)),
                id: Some(r.id),
            },
        })
    }
}

impl Repository for RefsView<'_> {
    fn config(&self) -> &GitConfig {
        self.inner.config()
    }
    fn is_bare(&self) -> bool {
        self.inner.is_bare()
    }

    /// Unchanged: C git compares the name the client sent (in a namespace too) with the
    /// branches of the other worktrees.
    fn branches_checked_out_elsewhere(&self) -> Result<Vec<String>, Error> {
        self.inner.branches_checked_out_elsewhere()
    }

    /// HEAD of the namespace; for upload-pack none at all when `HEAD` is hidden (C git checks
    /// HEAD against the rules like any ref it advertises).
    fn head(&self) -> Result<Head, Error> {
        if self.transparent() {
            return self.inner.head();
        }
        if self.side == Side::Upload
            && self
                .rules
                .is_hidden(Some("HEAD"), &self.namespace.full("HEAD"))
        {
            return Ok(Head {
                symref_target: None,
                id: None,
            });
        }
        self.namespaced_head()
    }

    fn for_each_ref(&self, prefix: &str, visit: &mut RefVisitor<'_>) -> Result<(), Error> {
        if self.transparent() {
            return self.inner.for_each_ref(prefix, visit);
        }
        self.visit_inside(prefix, &mut |r, hidden| {
            if hidden {
                return Ok(ControlFlow::Continue(()));
            }
            visit(r)
        })
    }

    fn ref_is_hidden(&self, name: &str) -> bool {
        self.rules.is_hidden(Some(name), &self.namespace.full(name))
    }

    fn hidden_tips(&self) -> Result<Vec<ObjectId>, Error> {
        if self.rules.is_empty() {
            return Ok(Vec::new());
        }
        let mut tips = Vec::new();
        self.visit_inside("refs/", &mut |r, hidden| {
            if hidden {
                tips.extend([Some(r.id), r.peeled].into_iter().flatten());
            }
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(tips)
    }

    /// Alternates' tips, and for receive-pack the tips of refs outside the namespace that no
    /// `^` pattern hides: C git advertises both as `.have`.
    fn alternate_tips(&self) -> Result<Vec<ObjectId>, Error> {
        let mut tips = self.inner.alternate_tips()?;
        if self.side == Side::Receive && !self.namespace.prefix.is_empty() {
            self.inner.for_each_ref("refs/", &mut |r| {
                if self.namespace.strip(&r.name).is_none() && !self.rules.is_hidden(None, &r.name) {
                    tips.push(r.id);
                }
                Ok(ControlFlow::Continue(()))
            })?;
        }
        Ok(tips)
    }

    fn publish_hook_refs(&self) -> Result<Vec<String>, Error> {
        self.inner.publish_hook_refs()
    }

    fn update_refs(&self, updates: &[RefUpdate], atomic: bool) -> Result<Vec<UpdateResult>, Error> {
        if self.namespace.prefix.is_empty() {
            return self.inner.update_refs(updates, atomic);
        }
        let inside = updates
            .iter()
            .map(|u| {
                // A valid name under a valid namespace prefix is valid; checked all the same.
                let full = self.namespace.full(u.name.as_str());
                let name = RefName::new(&full)
                    .map_err(|e| Error::corrupt("namespaced ref name", e.to_string()))?;
                Ok(RefUpdate { name, ..u.clone() })
            })
            .collect::<Result<Vec<RefUpdate>, Error>>()?;
        self.inner.update_refs(&inside, atomic)
    }

    /// Hooks see the names the client sent (stripped) and `GIT_NAMESPACE`, as under C git.
    fn hook_site(&self) -> Option<crate::backend::HookSite> {
        let mut site = self.inner.hook_site()?;
        if !self.namespace.prefix.is_empty() {
            site.env
                .push(("GIT_NAMESPACE".into(), self.namespace.raw.clone()));
        }
        Some(site)
    }

    fn write_blob(&self, data: &[u8]) -> Result<ObjectId, Error> {
        self.inner.write_blob(data)
    }
    fn work_tree(&self) -> Option<std::path::PathBuf> {
        self.inner.work_tree()
    }
    fn update_work_tree(&self, new: &ObjectId) -> Result<(), crate::backend::WorkTreeRefusal> {
        self.inner.update_work_tree(new)
    }
    fn config_dir(&self) -> Option<&std::path::Path> {
        self.inner.config_dir()
    }
    fn add_shallow_roots(&self, ids: &[ObjectId]) -> Result<(), Error> {
        self.inner.add_shallow_roots(ids)
    }
    fn begin_quarantine(&self) -> Result<Box<dyn Quarantine + '_>, Error> {
        self.inner.begin_quarantine()
    }
}

/// Objects are the inner repository's: a view changes only which refs exist.
impl ForwardObjects for RefsView<'_> {
    fn objects(&self) -> &dyn PackStore {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_nest_and_refuse_bad_names() {
        assert_eq!(Namespace::parse("").unwrap().prefix(), "");
        assert_eq!(
            Namespace::parse("a").unwrap().prefix(),
            "refs/namespaces/a/"
        );
        assert_eq!(
            Namespace::parse("a//b").unwrap().prefix(),
            "refs/namespaces/a/refs/namespaces/b/"
        );
        assert_eq!(
            Namespace::parse("/a").unwrap().prefix(),
            "refs/namespaces/a/"
        );
        assert_eq!(Namespace::parse("").unwrap().prefix(), "");
        assert!(Namespace::parse("a/").is_err());
        assert!(Namespace::parse("/").is_err());
        assert!(Namespace::parse("a/b/").is_err());
        assert!(Namespace::parse("a/..").is_err());
        assert!(Namespace::parse("a:b").is_err());
        let ns = Namespace::parse("a").unwrap();
        assert_eq!(
            ns.strip("refs/namespaces/a/refs/heads/x"),
            Some("refs/heads/x")
        );
        assert_eq!(ns.strip("refs/heads/x"), None);
    }

    #[test]
    fn hide_rules_as_ref_is_hidden() {
        let r = HideRules::new(["refs/hidden", "!refs/hidden/shown", "^refs/namespaces/b"]);
        let hidden = |s: Option<&str>, f: &str| r.is_hidden(s, f);
        assert!(hidden(Some("refs/hidden"), "refs/hidden"));
        assert!(hidden(Some("refs/hidden/x"), "refs/hidden/x"));
        assert!(!hidden(Some("refs/hiddenx"), "refs/hiddenx"));
        assert!(!hidden(Some("refs/hidden/shown/y"), "refs/hidden/shown/y"));
        assert!(hidden(None, "refs/namespaces/b/refs/heads/m"));
        assert!(!hidden(None, "refs/namespaces/bb/refs/heads/m"));
        // A non-`^` pattern never matches a ref outside the namespace.
        assert!(!HideRules::new(["refs"]).is_hidden(None, "refs/heads/m"));
    }
}
