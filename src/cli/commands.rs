//! The subcommands: each turns its arguments and the process environment into a launch
//! configuration, runs it on stdin/stdout, and gives the exit code. Nothing here parses the
//! protocol or touches a repository's files itself.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use super::args::{self, Command};
use super::{secs, Invocation, SharedEnv};
use crate::access::Policy;
use crate::backend::fs::FsBackend;
use crate::env::Env;
use crate::launch::{self, dist_admin, gitolite, inetd, shell, ssh};
use crate::limits::Limits;
use crate::service::Service;
use crate::Error;

/// Runs `inv` in the process environment `env`: `Ok` with the exit code.
pub fn run(inv: Invocation, env: Env) -> Result<u8, Error> {
    let env: SharedEnv = Arc::new(env);
    let limits = inv.limits;
    // Stdout itself, not its lock: the lock cannot move to another thread, and a side-band
    // keepalive writes from a timer thread (the launchers buffer, so each write still locks
    // once per 64 KiB).
    let (stdin, stdout) = (std::io::stdin().lock(), std::io::stdout());
    match inv.command {
        Command::UploadPack(a) => direct(Service::UploadPack, &a, limits, &env, stdin, stdout),
        Command::ReceivePack(a) => direct(Service::ReceivePack, &a, limits, &env, stdin, stdout),
        Command::UploadArchive(a) => {
            direct(Service::UploadArchive, &a, limits, &env, stdin, stdout)
        }
        Command::Ssh(a) if a.gitolite.is_some() && a.backend_config.is_some() => Err(Error::Usage(
            "--gitolite serves repositories on disk, not --backend-config".into(),
        )),
        Command::Ssh(a) if a.gitolite.is_some() => {
            let cfg = gitolite_config(a, &env)?;
            let action = gitolite::action(&cfg, original_command(&env), proto(&env))?;
            serve_action(action, limits, &env, None, stdin, stdout)
        }
        Command::Ssh(a) => {
            let cfg = ssh_config(a, &env)?;
            let action = ssh::action(&cfg, original_command(&env), proto(&env))?;
            serve_action(action, limits, &env, cfg.store.as_ref(), stdin, stdout)
        }
        Command::Shell(a) => {
            let config = env
                .get_os("SLUICE_BACKEND_CONFIG")
                .map(std::path::PathBuf::from);
            let store = launch::backend_choice::store(config.as_deref(), &env)?;
            let action = shell_action(a.command.as_deref(), &env, store.as_ref())?;
            serve_action(action, limits, &env, store.as_ref(), stdin, stdout)
        }
        Command::Keys(args::KeysArgs {
            action: args::KeysAction::Sync(a),
        }) => keys_sync(&a, &env),
        Command::Inetd(a) => {
            let cfg = inetd_config(a, limits, &env)?;
            match &cfg.store {
                Some(store) => inetd::run(&cfg, store.backend(), stdin, stdout)?,
                None => inetd::run(&cfg, &fs_backend(&env), stdin, stdout)?,
            }
            Ok(0)
        }
        Command::HttpBackend(a) => http_backend(a, limits, &env, stdin, stdout),
        Command::WriteCommitGraph(a) => write_commit_graph(&a, &env),
        Command::Repack(args::RepackArgs {
            backend_config: Some(config),
            progress,
            compact,
            grace,
            garbage_ttl,
            dir,
        }) => {
            let what = dist_admin::Admin::Repack {
                name: &dir.to_string_lossy(),
                compact,
                grace,
                garbage_ttl,
            };
            admin(&config, &progress, &what, &env)
        }
        Command::Repack(a) => repack(&a, &env),
        Command::Import(a) => {
            let what = dist_admin::Admin::Import {
                dir: &a.dir,
                name: &a.name,
            };
            admin(&a.backend_config, &a.progress, &what, &env)
        }
        Command::Export(a) => {
            let what = dist_admin::Admin::Export {
                name: &a.name,
                dir: &a.dir,
            };
            admin(&a.backend_config, &a.progress, &what, &env)
        }
        Command::Config(a) => {
            let quiet = args::ProgressArgs {
                quiet: true,
                progress: false,
            };
            let what = dist_admin::Admin::Config {
                name: &a.name,
                key: a.key.as_deref(),
                value: a.value.as_deref(),
                unset: a.unset,
            };
            admin(&a.backend_config, &quiet, &what, &env)
        }
        Command::Completions(a) => {
            use clap::CommandFactory;
            let mut stdout = stdout;
            clap_complete::generate(a.shell, &mut args::Cli::command(), "sluice", &mut stdout);
            Ok(0)
        }
        Command::Init(a) => init(&a, &env),
    }
}

/// Runs a distributed-backend administration command; its summary goes to stderr (unless
/// `--quiet`), what it reads to stdout.
fn admin(
    config: &Path,
    progress: &args::ProgressArgs,
    what: &dist_admin::Admin<'_>,
    env: &Env,
) -> Result<u8, Error> {
    let (text, summary) = with_progress(progress, |p| dist_admin::run(config, what, env, p))?;
    match summary {
        true if !progress.quiet => eprintln!("{text}"),
        true => {}
        false => print!("{text}"),
    }
    Ok(0)
}

/// `GIT_PROTOCOL`: the protocol version the client asks for.
fn proto(env: &Env) -> Option<&str> {
    env.get_os("GIT_PROTOCOL").and_then(|v| v.to_str())
}

/// The command sshd was asked to run (`SSH_ORIGINAL_COMMAND`; none: an interactive login).
fn original_command(env: &Env) -> Option<&str> {
    env.get_os("SSH_ORIGINAL_COMMAND").and_then(|v| v.to_str())
}

/// The on-disk backend in the process environment `env`.
fn fs_backend(env: &SharedEnv) -> FsBackend {
    FsBackend {
        strict: false,
        env: env.clone(),
    }
}

/// `sluice upload-pack|receive-pack|upload-archive DIR`.
fn direct(
    service: Service,
    a: &args::ServiceArgs,
    limits: Limits,
    env: &SharedEnv,
    stdin: impl Read,
    stdout: impl Write + Send,
) -> Result<u8, Error> {
    let mut req = launch::direct::request(
        service,
        &a.dir,
        a.stateless_rpc,
        a.advertise_refs,
        secs(a.timeout),
        proto(env),
    )?;
    req.limits = limits;
    req.namespace = env.git_namespace();
    let backend = launch::backend_choice::choose(a.backend_config.as_deref(), a.strict, env)?;
    launch::serve(&req, backend.as_ref(), stdin, stdout)?;
    Ok(0)
}

/// Serves what an ssh or shell session asked for (from `store` when the repositories are in
/// one, else from disk), or prints its answer.
fn serve_action(
    action: ssh::Action,
    limits: Limits,
    env: &SharedEnv,
    store: Option<&launch::backend_choice::Store>,
    stdin: impl Read,
    stdout: impl Write + Send,
) -> Result<u8, Error> {
    match action {
        ssh::Action::Serve(mut req) => {
            req.limits = limits;
            match store {
                Some(store) => launch::serve(&req, store.backend(), stdin, stdout)?,
                None => launch::serve(&req, &fs_backend(env), stdin, stdout)?,
            }
            Ok(0)
        }
        ssh::Action::Print(text, 0) => {
            print!("{text}");
            Ok(0)
        }
        ssh::Action::Print(text, code) => {
            eprint!("{text}");
            Ok(code)
        }
    }
}

/// The access file at `path`, parsed (none: no policy).
fn policy(path: Option<&Path>) -> Result<Option<Arc<Policy>>, Error> {
    let Some(path) = path else { return Ok(None) };
    let text = std::fs::read_to_string(path)?;
    Policy::parse(&text)
        .map(|p| Some(Arc::new(p)))
        .map_err(|source| Error::Policy {
            path: path.display().to_string(),
            source,
        })
}

/// `sluice ssh` without `--gitolite`.
fn ssh_config(a: args::SshArgs, env: &SharedEnv) -> Result<ssh::SshConfig, Error> {
    Ok(ssh::SshConfig {
        policy: policy(a.access.as_deref())?,
        root: a.root,
        user: a.user,
        access_hook: a.access_hook,
        timeout: secs(a.timeout),
        env: env.clone(),
        store: launch::backend_choice::store(a.backend_config.as_deref(), env)?,
    })
}

/// `sluice shell -c COMMAND`: repositories under `SLUICE_ROOT` (default: the working
/// directory, the login's home), the user `USER`, the access hook `SLUICE_ACCESS_HOOK`; or the
/// repositories of `store` (`SLUICE_BACKEND_CONFIG`).
fn shell_action(
    command: Option<&str>,
    env: &Env,
    store: Option<&launch::backend_choice::Store>,
) -> Result<ssh::Action, Error> {
    let root = match env.get_os("SLUICE_ROOT") {
        Some(r) => r.into(),
        None => std::env::current_dir()?,
    };
    let hook = env
        .get_os("SLUICE_ACCESS_HOOK")
        .map(std::path::PathBuf::from);
    let action = shell::action(
        root,
        env.get("USER"),
        hook.as_deref(),
        command,
        proto(env),
        None,
        env,
        store,
    )?;
    Ok(action)
}

/// `sluice inetd`.
fn inetd_config(
    a: args::InetdArgs,
    limits: Limits,
    env: &SharedEnv,
) -> Result<inetd::InetdConfig, Error> {
    Ok(inetd::InetdConfig {
        enable_receive_pack: a.enable.iter().any(|s| s == "receive-pack"),
        enable_upload_archive: a.enable.iter().any(|s| s == "upload-archive"),
        policy: policy(a.access.as_deref())?,
        base_path: a.base_path,
        interpolated_path: a.interpolated_path,
        export_all: a.export_all,
        timeout: secs(a.timeout),
        init_timeout: secs(a.init_timeout),
        access_hook: a.access_hook,
        limits,
        env: env.clone(),
        store: launch::backend_choice::store(a.backend_config.as_deref(), env)?,
    })
}

/// `sluice http-backend`: one CGI request, described by the environment.
fn http_backend(
    a: args::HttpBackendArgs,
    limits: Limits,
    env: &SharedEnv,
    stdin: impl Read + 'static,
    stdout: impl Write + Send,
) -> Result<u8, Error> {
    let cfg = launch::http::HttpConfig {
        policy: policy(a.access.as_deref())?,
        access_hook: a.access_hook,
        timeout: secs(a.timeout),
        limits,
        store: launch::backend_choice::store(a.backend_config.as_deref(), env)?,
        ..Default::default()
    }
    .with_env(env.clone());
    let cgi = launch::http::cgi::CgiEnv::from_vars(|k| env.get(k));
    launch::http::run(&cfg, &cgi, stdin, stdout)?;
    Ok(0)
}

/// The forced command an authorized_keys line of a gitolite site runs (before `--user NAME`).
fn key_command(admin: &Path, root: &Path, authorized_keys: Option<&Path>) -> String {
    let exe = std::env::current_exe().unwrap_or_else(|_| "sluice".into());
    let q = |p: &Path| launch::sq::sq_quote(&p.to_string_lossy());
    let mut cmd = format!("{} ssh --gitolite {} --root {}", q(&exe), q(admin), q(root));
    if let Some(ak) = authorized_keys {
        cmd.push_str(&format!(" --authorized-keys {}", q(ak)));
    }
    cmd
}

/// `sluice ssh --gitolite DIR`.
fn gitolite_config(a: args::SshArgs, env: &SharedEnv) -> Result<gitolite::GitoliteConfig, Error> {
    let admin = a.gitolite.unwrap_or_default();
    let user = a
        .user
        .ok_or_else(|| Error::Usage("--gitolite needs --user".into()))?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let service_user = env.get("USER").unwrap_or_else(|| "git".into());
    Ok(gitolite::GitoliteConfig {
        key_command: key_command(&admin, &a.root, a.authorized_keys.as_deref()),
        admin,
        root: a.root,
        user,
        timeout: secs(a.timeout),
        authorized_keys: a.authorized_keys,
        host: format!("{service_user}@{host}"),
        env: env.clone(),
    })
}

/// `sluice keys sync`.
fn keys_sync(a: &args::KeysSyncArgs, env: &Env) -> Result<u8, Error> {
    use crate::access::gitolite::{keys, site};
    let path = match &a.authorized_keys {
        Some(p) => p.clone(),
        None => env.home().unwrap_or_default().join(".ssh/authorized_keys"),
    };
    let files = site::read_dir_tree(&a.gitolite)?;
    let command = key_command(&a.gitolite, &a.root, Some(&path));
    let n = keys::sync(&path, &files, &command)?;
    eprintln!("{}: {n} keys", path.display());
    Ok(0)
}

/// `sluice init`: on disk, or in the distributed backend `--backend-config` names.
fn init(a: &args::InitArgs, env: &Env) -> Result<u8, Error> {
    let hash = crate::hash::HashKind::from_name(&a.object_format).unwrap_or_default();
    match &a.backend_config {
        Some(_) if hash != crate::hash::HashKind::Sha1 => {
            return Err(launch::Error::Refused(format!(
                "the distributed backend stores sha1 repositories only, not {}",
                a.object_format
            ))
            .into())
        }
        Some(config) => launch::backend_choice::init_distributed(
            config,
            &a.dir.to_string_lossy(),
            &a.initial_branch,
            env,
        )?,
        None => crate::backend::fs::init::init(&a.dir, a.bare, &a.initial_branch, hash)?,
    }
    Ok(0)
}

/// Progress for maintenance (`repack`, `write-commit-graph`): git's lines on stderr when it is a
/// terminal (cron mails stay short), unless `--quiet` or `--progress` force it; `run` gets the
/// sink, so the maintenance code never prints.
fn with_progress<T>(
    args: &args::ProgressArgs,
    run: impl FnOnce(&mut dyn crate::progress::Progress) -> T,
) -> T {
    use std::io::IsTerminal;
    let show = !args.quiet && (args.progress || std::io::stderr().is_terminal());
    if !show {
        return run(&mut crate::progress::Discard);
    }
    let mut lines = crate::service::progress_lines::ProgressLines::new(|l: &[u8]| {
        let _ = std::io::stderr().write_all(l);
    });
    run(&mut lines)
}

/// `sluice write-commit-graph DIR`.
fn write_commit_graph(a: &args::WriteCommitGraphArgs, env: &SharedEnv) -> Result<u8, Error> {
    let repo = fs_backend(env).open_fs(&a.dir.to_string_lossy())?;
    let n = with_progress(&a.progress, |p| {
        crate::backend::fs::maintenance::write_commit_graph_with_progress(&repo, p)
    })?;
    if !a.progress.quiet {
        eprintln!("commit-graph written: {n} commits");
    }
    Ok(0)
}

/// `sluice repack DIR`.
fn repack(a: &args::RepackArgs, env: &SharedEnv) -> Result<u8, Error> {
    let repo = fs_backend(env).open_fs(&a.dir.to_string_lossy())?;
    let s = with_progress(&a.progress, |p| {
        crate::backend::fs::repack::repack(&repo, p)
    })?;
    if !a.progress.quiet {
        eprintln!(
            "repacked: {} objects ({} reachable) in {}, {} bitmaps; removed {} packs and {} loose objects; commit-graph: {} commits",
            s.objects,
            s.reachable,
            s.pack.as_deref().unwrap_or("no new pack"),
            s.bitmaps,
            s.packs_removed,
            s.loose_removed,
            s.graph_commits
        );
    }
    Ok(0)
}
