//! `sluice init`: creates a repository C git accepts, without needing git: the same layout and
//! config `git init` writes (minus sample hooks and the description file).

use std::path::Path;

use crate::backend::Error;
use crate::hash::HashKind;
use crate::refs::name::RefName;

/// Creates a repository at `dir` (bare: `dir` is the git dir; else `dir/.git`) whose HEAD points
/// at `branch` and whose objects are named by `hash` (SHA-256 needs format version 1 and
/// `extensions.objectFormat`, as `git init --object-format=sha256` writes). Refuses to touch an
/// existing repository.
pub fn init(dir: &Path, bare: bool, branch: &str, hash: HashKind) -> Result<(), Error> {
    let head_ref = format!("refs/heads/{branch}");
    RefName::new(&head_ref).map_err(|e| Error::corrupt("initial branch", e.to_string()))?;
    let git_dir = if bare {
        dir.to_path_buf()
    } else {
        dir.join(".git")
    };
    if git_dir.join("HEAD").exists() {
        return Err(Error::NotARepository {
            location: git_dir.display().to_string(),
            why: "a repository already exists there".into(),
        });
    }
    let io = |p: &Path, e| Error::io(p.display().to_string(), e);
    for sub in [
        "objects/info",
        "objects/pack",
        "refs/heads",
        "refs/tags",
        "hooks",
        "info",
    ] {
        let p = git_dir.join(sub);
        std::fs::create_dir_all(&p).map_err(|e| io(&p, e))?;
    }
    let (version, extensions) = match hash {
        HashKind::Sha1 => (0, String::new()),
        other => (
            1,
            format!("[extensions]\n\tobjectformat = {}\n", other.name()),
        ),
    };
    let config = format!(
        "[core]\n\trepositoryformatversion = {version}\n\tfilemode = true\n\tbare = {bare}\n{}{extensions}",
        if bare {
            ""
        } else {
            "\tlogallrefupdates = true\n"
        }
    );
    let write = |name: &str, text: &str| {
        let p = git_dir.join(name);
        std::fs::write(&p, text).map_err(|e| io(&p, e))
    };
    write("config", &config)?;
    write(
        "info/exclude",
        "# git ls-files --others --exclude-from=.git/info/exclude\n",
    )?;
    // HEAD last: a directory with HEAD is what makes it a repository.
    write("HEAD", &format!("ref: {head_ref}\n"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_repositories_are_what_git_init_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.git");
        init(&path, true, "main", HashKind::Sha256).unwrap();
        let out = std::process::Command::new("git")
            .args(["rev-parse", "--show-object-format"])
            .current_dir(&path)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "sha256\n");
    }

    #[test]
    fn git_accepts_it() {
        let dir = tempfile::tempdir().unwrap();
        for (bare, path) in [
            (true, dir.path().join("b.git")),
            (false, dir.path().join("w")),
        ] {
            init(&path, bare, "main", HashKind::Sha1).unwrap();
            let out = std::process::Command::new("git")
                .args(["fsck", "--strict"])
                .current_dir(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let out = std::process::Command::new("git")
                .args([
                    "rev-parse",
                    "--is-bare-repository",
                    "--symbolic-full-name",
                    "HEAD",
                ])
                .current_dir(&path)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.starts_with(&format!("{bare}\n")), "{text}");
            assert!(init(&path, bare, "main", HashKind::Sha1).is_err());
        }
        assert!(init(&dir.path().join("x"), true, "bad..name", HashKind::Sha1).is_err());
    }
}
