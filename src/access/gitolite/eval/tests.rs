//! Unit tests of the pieces of the decision; the documented examples run as tables against
//! gitolite itself in tests/gitolite_rules.rs.

use super::*;

#[test]
fn operations_map_to_permissions_as_in_gitolite() {
    for (perm, aa, want) in [
        ("RW", "W", true),
        ("RW", "+", false),
        ("RW+", "+", true),
        ("RW+", "C", false),
        ("RWC", "C", true),
        ("RW+CD", "D", true),
        ("RW+", "D", false),
        ("RW+M", "WM", true),
        ("RW+", "WM", false),
        ("RWCM", "CM", true),
        ("C", "^C", true),
        ("RW", "^C", false),
        ("R", "R", true),
        ("C", "R", false),
    ] {
        assert_eq!(perm_grants(perm, aa), want, "{perm} {aa}");
    }
}

struct Missing;

impl RepoState for Missing {
    fn exists(&self, _: &str) -> bool {
        false
    }
    fn creator(&self, _: &str) -> Option<String> {
        None
    }
    fn perms(&self, _: &str) -> Vec<String> {
        Vec::new()
    }
}

#[test]
fn generic_names_replace_whole_words_only() {
    assert_eq!(
        generic_name(&Missing, "u1/x", "u1").as_deref(),
        Some("CREATOR/x")
    );
    assert_eq!(generic_name(&Missing, "u10/x", "u1"), None);
    assert_eq!(
        generic_name(&Missing, "a/u1/u1", "u1").as_deref(),
        Some("a/CREATOR/u1")
    );
}
