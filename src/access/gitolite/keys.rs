//! `keydir/` → the `authorized_keys` block: one line per public key file, forcing
//! `sluice ssh --user NAME` (the name from the file: `keydir/alice.pub`,
//! `keydir/laptop/alice@home.pub`), with sshd's `restrict`. The block sits between gitolite's
//! own markers, so switching a site replaces gitolite's block and leaves every other line
//! alone; the file is replaced atomically, and not at all if it changed while being written.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use super::lines::Files;
use super::names::is_user_name;
use super::Error;

/// First line of the managed block (gitolite's marker).
pub const START: &str = "# gitolite start";
/// Last line of the managed block.
pub const END: &str = "# gitolite end";

/// Key types sshd accepts in authorized_keys.
const KEY_TYPES: [&str; 8] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// One user's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The user it authenticates.
    pub user: String,
    /// The key line (`TYPE BASE64 [comment]`).
    pub line: String,
    /// Where it came from.
    pub file: String,
}

/// The user a key file names, as gitolite derives it: the file name without `.pub` and
/// without an `@host` suffix that has no dot (`alice@laptop.pub` → `alice`, but
/// `alice@example.com.pub` → `alice@example.com`).
pub fn user_of(path: &str) -> Option<String> {
    let base = path.rsplit('/').next()?.strip_suffix(".pub")?;
    let user = match base.rfind('@') {
        Some(at) if !base[at + 1..].contains('.') && at > 0 => &base[..at],
        _ => base,
    };
    Some(user.to_string())
}

/// Every key in `keydir/`, sorted by path; a file that is not exactly one valid public key line
/// is an error (an option prefix such as `command=` in a key file would otherwise reach sshd).
pub fn from_files(files: &Files) -> Result<Vec<Key>, Error> {
    let mut keys = Vec::new();
    let mut seen = HashSet::new();
    for (path, data) in files.range("keydir/".to_string()..) {
        if !path.starts_with("keydir/") {
            break;
        }
        if !path.ends_with(".pub") {
            continue;
        }
        let user = user_of(path)
            .filter(|u| is_user_name(u))
            .ok_or_else(|| Error::Key(format!("{path}: not a valid user name")))?;
        let text = String::from_utf8_lossy(data);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let [line] = lines[..] else {
            return Err(Error::Key(format!(
                "{path}: must contain exactly one key line"
            )));
        };
        let line = line.trim();
        let mut words = line.split_whitespace();
        let (Some(kind), Some(blob)) = (words.next(), words.next()) else {
            return Err(Error::Key(format!("{path}: not a public key")));
        };
        let base64 = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        };
        if !KEY_TYPES.contains(&kind) || !base64(blob) || line.contains('"') {
            return Err(Error::Key(format!("{path}: not a public key ({kind})")));
        }
        if !seen.insert(blob.to_string()) {
            tracing::warn!(file = %path, "duplicate key, sshd would ignore it; skipped");
            continue;
        }
        keys.push(Key {
            user,
            line: line.to_string(),
            file: path.clone(),
        });
    }
    Ok(keys)
}

/// The block for `keys`; `command` is the forced command before `--user NAME`.
pub fn block(keys: &[Key], command: &str) -> String {
    let mut out = format!("{START}\n");
    for k in keys {
        out.push_str(&format!(
            "command=\"{command} --user {}\",restrict {}\n",
            k.user, k.line
        ));
    }
    out.push_str(END);
    out.push('\n');
    out
}

/// `existing` with its managed block replaced by `block` (appended when there is none).
pub fn splice(existing: &str, block: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in existing.lines() {
        if line.starts_with("# gito") && line.ends_with("start") {
            inside = true;
            continue;
        }
        if inside {
            inside = !(line.starts_with("# gito") && line.ends_with("end"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(block);
    out
}

/// Rewrites `authorized_keys` with the block for `files`' keys, atomically (a temporary file
/// in the same directory, fsynced, renamed over), mode 0600.
pub fn sync(authorized_keys: &Path, files: &Files, command: &str) -> Result<usize, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let keys = from_files(files)?;
    let io = |what: &str, e| Error::io(format!("{what} {}", authorized_keys.display()), e);
    let dir = authorized_keys.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io("creating the directory of", e))?;
    let before = match std::fs::read_to_string(authorized_keys) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io("reading", e)),
    };
    let text = splice(&before, &block(&keys, command));
    let tmp = dir.join(format!(".authorized_keys.sluice-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io("writing next to", e))?;
    let written = f.write_all(text.as_bytes()).and_then(|()| f.sync_all());
    let now = std::fs::read_to_string(authorized_keys).unwrap_or_default();
    if written.is_err() || now != before {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Key(format!(
            "{} changed while it was being written, or could not be written; nothing changed",
            authorized_keys.display()
        )));
    }
    std::fs::rename(&tmp, authorized_keys).map_err(|e| io("replacing", e))?;
    Ok(keys.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk alice@laptop";

    #[test]
    fn user_names_from_paths() {
        assert_eq!(user_of("keydir/alice.pub").as_deref(), Some("alice"));
        assert_eq!(user_of("keydir/x/alice@home.pub").as_deref(), Some("alice"));
        assert_eq!(
            user_of("keydir/alice@example.com.pub").as_deref(),
            Some("alice@example.com")
        );
        assert_eq!(user_of("keydir/alice"), None);
    }

    #[test]
    fn keys_are_checked_and_block_spliced() {
        let files: Files = [
            (
                "keydir/alice.pub".to_string(),
                format!("{ED}\n").into_bytes(),
            ),
            (
                "keydir/bob@home.pub".to_string(),
                b"ssh-rsa AAAAB3Nza bob\n".to_vec(),
            ),
            ("keydir/README".to_string(), b"x".to_vec()),
        ]
        .into();
        let keys = from_files(&files).unwrap();
        assert_eq!(
            keys.iter().map(|k| k.user.as_str()).collect::<Vec<_>>(),
            ["alice", "bob"]
        );
        let b = block(&keys, "/usr/bin/sluice ssh --root /srv");
        assert!(b.contains(
            "command=\"/usr/bin/sluice ssh --root /srv --user alice\",restrict ssh-ed25519"
        ));
        let old =
            "ssh-rsa KEEP me\n# gitolite start\nold line\n# gitolite end\nssh-rsa ALSO keep\n";
        let new = splice(old, &b);
        assert!(new.starts_with("ssh-rsa KEEP me\nssh-rsa ALSO keep\n# gitolite start\n"));
        assert!(!new.contains("old line"));
        for bad in [
            "command=\"x\" ssh-rsa AAAA",
            "ssh-rsa AAAA\nssh-rsa BBBB",
            "nonsense",
        ] {
            let f: Files = [("keydir/eve.pub".to_string(), bad.as_bytes().to_vec())].into();
            assert!(from_files(&f).is_err(), "{bad}");
        }
    }
}
