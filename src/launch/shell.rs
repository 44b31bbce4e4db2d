//! git-shell compatible login shell: `sluice shell -c "git-upload-pack 'repo.git'"`, also when
//! the executable is invoked as `sluice-shell` (a symlink set with `chsh`). Same command rules as
//! the ssh mode. Paths are relative to the login's working directory (its home), as with
//! git-shell, and confined under it; `SLUICE_ROOT` names another root and `SLUICE_ACCESS_HOOK`
//! an access hook (see [`super::access_hook`]).

use std::path::PathBuf;
use std::time::Duration;

use super::backend_choice::Store;
use super::{command, ssh, Error, Request};
use crate::env::Env;

/// What to do for `sluice shell -c COMMAND` (`command` None: interactive login); `store`: the
/// keyed backend the repositories are in (`SLUICE_BACKEND_CONFIG`), else under `root`.
#[allow(clippy::too_many_arguments)]
pub fn action(
    root: PathBuf,
    user: Option<String>,
    access_hook: Option<&std::path::Path>,
    command_line: Option<&str>,
    git_protocol: Option<&str>,
    timeout: Option<Duration>,
    env: &Env,
    store: Option<&Store>,
) -> Result<ssh::Action, Error> {
    let Some(cmd) = command_line.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(ssh::Action::Print(ssh::greeting(user.as_deref()), 128));
    };
    let parsed = command::parse(cmd).map_err(|e| Error::Refused(e.to_string()))?;
    let repos = super::resolve::Repos {
        root: &root,
        store: store.map(Store::backend),
    };
    let req: Request = ssh::authorize(
        "shell",
        repos,
        user.as_deref(),
        None,
        access_hook,
        parsed,
        git_protocol,
        timeout,
        env,
    )?;
    Ok(ssh::Action::Serve(req))
}
