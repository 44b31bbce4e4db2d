//! Parsing the command an ssh client asks for (`SSH_ORIGINAL_COMMAND`, git-shell's `-c`):
//! exactly the git service commands, with one single-quoted path argument, as git-shell accepts
//! them. Everything else is refused; nothing here ever reaches a shell.

use crate::launch::sq::sq_dequote;
use crate::service::Service;

/// A parsed service command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitCommand {
    /// Which service.
    pub service: Service,
    /// The repository path as the client wrote it (dequoted, not yet confined).
    pub path: String,
}

/// Why a command was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Not a git service command.
    #[error("unrecognized command '{0}'")]
    Unknown(String),
    /// The argument is not one single-quoted word, or has characters we refuse.
    #[error("bad argument to {0}")]
    BadArgument(&'static str),
}

/// The service commands, git-shell's table (`"git foo"` is accepted as `"git-foo"`).
const COMMANDS: &[(&str, Service)] = &[
    ("git-upload-pack", Service::UploadPack),
    ("git-receive-pack", Service::ReceivePack),
    ("git-upload-archive", Service::UploadArchive),
];

/// Parses `cmd`. The argument must be one single-quoted word (git's `sq_quote` form); an
/// unquoted word is accepted only if it is made of `[A-Za-z0-9._/~+-]` (what `ssh host repo`
/// typed by hand looks like). A path starting with `-` is refused (it could pass as an option).
pub fn parse(cmd: &str) -> Result<GitCommand, Error> {
    let unknown = || Error::Unknown(cmd.chars().take(80).collect());
    if cmd.contains(['\n', '\r', '\0']) {
        return Err(unknown());
    }
    let (verb, arg) = cmd.split_once(' ').ok_or_else(unknown)?;
    let (verb, arg) = if verb == "git" {
        let (sub, arg) = arg.split_once(' ').ok_or_else(unknown)?;
        (format!("git-{sub}"), arg)
    } else {
        (verb.to_string(), arg)
    };
    let (name, service) = COMMANDS
        .iter()
        .find(|(n, _)| *n == verb)
        .ok_or_else(unknown)?;
    let path = match sq_dequote(arg) {
        Some(p) => p,
        None if !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._/~+-".contains(c)) =>
        {
            arg.to_string()
        }
        None => return Err(Error::BadArgument(name)),
    };
    if path.is_empty() || path.starts_with('-') || path.contains(['\0', '\n']) {
        return Err(Error::BadArgument(name));
    }
    Ok(GitCommand {
        service: *service,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_git_forms() {
        let ok = |c: &str, s: Service, p: &str| {
            assert_eq!(
                parse(c).unwrap(),
                GitCommand {
                    service: s,
                    path: p.into()
                },
                "{c}"
            );
        };
        ok(
            "git-upload-pack 'repo.git'",
            Service::UploadPack,
            "repo.git",
        );
        ok(
            "git-receive-pack '/srv/x.git'",
            Service::ReceivePack,
            "/srv/x.git",
        );
        ok("git upload-pack '~/r.git'", Service::UploadPack, "~/r.git");
        ok("git-upload-pack 'it'\\''s'", Service::UploadPack, "it's");
        ok("git-upload-pack repo", Service::UploadPack, "repo");
        ok("git-upload-archive 'r'", Service::UploadArchive, "r");
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "rm -rf /",
            "git-upload-pack 'a'; id",
            "git-upload-pack 'a' 'b'",
            "git-upload-pack `id`",
            "git-upload-pack $(id)",
            "git-upload-pack a;id",
            "git-upload-pack '-x'",
            "git-upload-pack -x",
            "git-upload-pack ''",
            "git-upload-pack 'a\nb'",
            "git-upload-pack",
            "git-upload-archive--writer 'a'",
            "git frobnicate 'a'",
            "bash -c 'git-upload-pack a'",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
