//! Which files in a git directory's `hooks/` are hooks git would run. The hooks themselves
//! are run by the launcher's process runner (`launch::runner`), given where they live by
//! [`crate::backend::Repository::hook_site`].

use std::path::Path;

/// Whether `path` is a hook git would run: a regular file with an execute bit.
#[cfg(unix)]
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Whether `path` is a hook git would run (no execute bits here: any regular file).
#[cfg(not(unix))]
pub fn is_executable(path: &Path) -> bool {
    path.is_file()
}
