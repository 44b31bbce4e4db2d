//! Direct launch: `sluice upload-pack DIR` as git runs it for `--upload-pack=`, for `ext::sluice
//! %S DIR` (as `sluice git-upload-pack DIR`), or behind a smart-HTTP front end
//! (`--stateless-rpc`, `--advertise-refs`). The protocol version comes from `GIT_PROTOCOL`.
//! The caller's own permissions on DIR are the access control, as with git's own commands.

use std::path::PathBuf;
use std::time::Duration;

use super::{Error, Request};
use crate::limits::Limits;
use crate::protocol::version_from_git_protocol;
use crate::service::Service;

/// Builds the request for `service` on `dir`; `git_protocol` is the `GIT_PROTOCOL` value.
pub fn request(
    service: Service,
    dir: &PathBuf,
    stateless_rpc: bool,
    advertise_refs: bool,
    timeout: Option<Duration>,
    git_protocol: Option<&str>,
) -> Result<Request, Error> {
    let location = dir
        .to_str()
        .ok_or_else(|| Error::Refused(format!("repository path is not valid UTF-8: {dir:?}")))?
        .to_string();
    Ok(Request {
        mode: "direct",
        service,
        location,
        user: None,
        version: version_from_git_protocol(git_protocol),
        stateless_rpc,
        advertise_refs,
        timeout,
        limits: Limits::default(),
        authorize: None,
        namespace: None,
        validate: None,
        after_push: None,
    })
}
