//! The `sluice` executable: parse the command line, pick a launch mode, map errors to exit codes.
//!
//! Exit codes follow git's: 0 on success, 128 for a fatal error (what `die()` returns). A client
//! that hangs up (broken pipe) is not an error worth a message. Invoked as `sluice-shell` (a
//! login shell), it behaves as `sluice shell`; as `sluice-http-backend` (a CGI), as `sluice http-backend`.

mod build_info;
mod cli;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use sluice::access::Policy;
use sluice::backend::fs::FsBackend;
use sluice::launch::{self, dist_admin, gitolite, inetd, shell, ssh};
use sluice::service::Service;

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let argv0 = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned());
    if argv0
        .as_deref()
        .is_some_and(|n| n.trim_start_matches('-') == "sluice-shell")
    {
        args.insert(1, "shell".into());
    }
    // Web servers run a CGI by its path, without arguments (fcgiwrap, ScriptAlias).
    if argv0.as_deref() == Some("sluice-http-backend") {
        args.insert(1, "http-backend".into());
    }
    let mut cli = cli::Cli::parse_from(args);
    let command = match cli.command.take() {
        Some(c) if !cli.version => c,
        _ => return version_or_usage(cli.version, cli.verbose),
    };
    // Under inetd stderr may be the client's socket; elsewhere it is the user's terminal.
    let quiet_stderr = matches!(command, cli::Command::Inetd(_));
    let _log_guard = match init_logging(&cli, quiet_stderr) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("fatal: cannot open log file: {e}");
            return ExitCode::from(128);
        }
    };
    if let Err(e) = sluice::cleanup::install_signal_handlers() {
        tracing::warn!(error = %e, "cannot handle signals; a killed push leaves its quarantine to the next one");
    }
    match run(command, limits(&cli.limits)) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "request failed");
            if !quiet_stderr && !e.told_client() {
                eprintln!("fatal: {e}");
            }
            ExitCode::from(128)
        }
    }
}

/// `sluice --version [--verbose]` on stdout; without `--version` and a subcommand, the usage
/// error clap gives for a missing subcommand.
fn version_or_usage(version: bool, verbose: bool) -> ExitCode {
    use clap::CommandFactory;
    if !version {
        cli::Cli::command()
            .error(
                clap::error::ErrorKind::MissingSubcommand,
                "a subcommand is required",
            )
            .exit();
    }
    print!("{}", build_info::text(verbose));
    ExitCode::SUCCESS
}

/// Logging as `--log-file`/`--log-format`/`--log-level` ask; `-` (stderr) only where stderr is
/// not the wire: never when it is the same file as stdin or stdout, nor under inetd
/// (`under_inetd`) unless that can be told.
fn init_logging(
    cli: &cli::Cli,
    under_inetd: bool,
) -> std::io::Result<Option<tracing_appender::non_blocking::WorkerGuard>> {
    use sluice::logging::{self, Destination, Format};
    let stderr_allowed = match logging::stderr_is_wire() {
        Some(wire) => !wire,
        None => !under_inetd,
    };
    let dest = Destination::from_arg(cli.log_file.as_deref(), stderr_allowed);
    let format = match cli.log_format {
        cli::LogFormat::Text => Format::Text,
        cli::LogFormat::Json => Format::Json,
    };
    logging::init(dest, &cli.log_level, format)
}

/// Progress for maintenance (`repack`, `write-commit-graph`): git's lines on stderr when it is a
/// terminal (cron mails stay short), unless `--quiet` or `--progress` force it; `run` gets the
/// sink, so the maintenance code never prints.
fn with_progress<T>(
    args: &cli::ProgressArgs,
    run: impl FnOnce(&mut dyn sluice::progress::Progress) -> T,
) -> T {
    use std::io::{IsTerminal, Write};
    let show = !args.quiet && (args.progress || std::io::stderr().is_terminal());
    if !show {
        return run(&mut sluice::progress::Discard);
    }
    let mut lines = sluice::service::progress::ProgressLines::new(|l: &[u8]| {
        let _ = std::io::stderr().write_all(l);
    });
    run(&mut lines)
}

fn secs(s: Option<u64>) -> Option<Duration> {
    s.filter(|t| *t > 0).map(Duration::from_secs)
}

fn policy(path: Option<&std::path::Path>) -> Result<Option<Arc<Policy>>, launch::Error> {
    let Some(path) = path else { return Ok(None) };
    let text = std::fs::read_to_string(path)?;
    Policy::parse(&text)
        .map(|p| Some(Arc::new(p)))
        .map_err(|e| launch::Error::Refused(format!("{}: {e}", path.display())))
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

fn gitolite_config(a: cli::SshArgs) -> Result<gitolite::GitoliteConfig, launch::Error> {
    let admin = a.gitolite.unwrap_or_default();
    let user = a
        .user
        .ok_or_else(|| launch::Error::Refused("--gitolite needs --user".into()))?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let service_user = std::env::var("USER").unwrap_or_else(|_| "git".into());
    Ok(gitolite::GitoliteConfig {
        key_command: key_command(&admin, &a.root, a.authorized_keys.as_deref()),
        admin,
        root: a.root,
        user,
        timeout: secs(a.timeout),
        authorized_keys: a.authorized_keys,
        host: format!("{service_user}@{host}"),
    })
}

fn keys_sync(a: &cli::KeysSyncArgs) -> Result<ExitCode, launch::Error> {
    use sluice::access::gitolite::{keys, site};
    let path = match &a.authorized_keys {
        Some(p) => p.clone(),
        None => std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".ssh/authorized_keys"),
    };
    let refused = |e: sluice::access::gitolite::Error| launch::Error::Refused(e.to_string());
    let files = site::read_dir_tree(&a.gitolite).map_err(refused)?;
    let command = key_command(&a.gitolite, &a.root, Some(&path));
    let n = keys::sync(&path, &files, &command).map_err(refused)?;
    eprintln!("{}: {n} keys", path.display());
    Ok(ExitCode::SUCCESS)
}

fn limits(a: &cli::LimitArgs) -> sluice::config::Limits {
    let d = sluice::config::Limits::default();
    sluice::config::Limits {
        max_wants: a.max_wants.unwrap_or(d.max_wants),
        max_haves: a.max_haves.unwrap_or(d.max_haves),
        max_rounds: a.max_rounds.unwrap_or(d.max_rounds),
        max_pack_bytes: a.max_pack_bytes.unwrap_or(d.max_pack_bytes),
        max_object_bytes: a.max_object_bytes.unwrap_or(d.max_object_bytes),
        max_delta_depth: a.max_delta_depth.unwrap_or(d.max_delta_depth),
        max_ref_updates: a.max_ref_updates.unwrap_or(d.max_ref_updates),
        max_duration: secs(a.max_duration),
        max_hook_duration: secs(a.max_hook_seconds).unwrap_or(d.max_hook_duration),
    }
}

fn run(command: cli::Command, limits: sluice::config::Limits) -> Result<ExitCode, launch::Error> {
    let git_protocol = std::env::var("GIT_PROTOCOL").ok();
    let (stdin, stdout) = (std::io::stdin().lock(), std::io::stdout().lock());
    let serve_action = |action: ssh::Action, stdin, stdout| -> Result<ExitCode, launch::Error> {
        match action {
            ssh::Action::Serve(mut req) => {
                req.limits = limits.clone();
                launch::serve(&req, &FsBackend::default(), stdin, stdout)
                    .map(|()| ExitCode::SUCCESS)
            }
            ssh::Action::Print(text, 0) => {
                print!("{text}");
                Ok(ExitCode::SUCCESS)
            }
            ssh::Action::Print(text, code) => {
                eprint!("{text}");
                Ok(ExitCode::from(code))
            }
        }
    };
    match command {
        cli::Command::UploadPack(a) => direct(
            Service::UploadPack,
            &a,
            &limits,
            git_protocol.as_deref(),
            stdin,
            stdout,
        ),
        cli::Command::ReceivePack(a) => direct(
            Service::ReceivePack,
            &a,
            &limits,
            git_protocol.as_deref(),
            stdin,
            stdout,
        ),
        cli::Command::UploadArchive(a) => direct(
            Service::UploadArchive,
            &a,
            &limits,
            git_protocol.as_deref(),
            stdin,
            stdout,
        ),
        cli::Command::Ssh(a) if a.gitolite.is_some() => {
            let cfg = gitolite_config(a)?;
            let original = std::env::var("SSH_ORIGINAL_COMMAND").ok();
            serve_action(
                gitolite::action(&cfg, original.as_deref(), git_protocol.as_deref())?,
                stdin,
                stdout,
            )
        }
        cli::Command::Keys(cli::KeysArgs {
            action: cli::KeysAction::Sync(a),
        }) => keys_sync(&a),
        cli::Command::Ssh(a) => {
            let cfg = ssh::SshConfig {
                root: a.root,
                user: a.user,
                policy: policy(a.access.as_deref())?,
                access_hook: a.access_hook,
                timeout: secs(a.timeout),
            };
            let original = std::env::var("SSH_ORIGINAL_COMMAND").ok();
            serve_action(
                ssh::action(&cfg, original.as_deref(), git_protocol.as_deref())?,
                stdin,
                stdout,
            )
        }
        cli::Command::Shell(a) => {
            let root = std::env::var_os("SLUICE_ROOT")
                .map(Into::into)
                .map_or_else(std::env::current_dir, Ok)?;
            let user = std::env::var("USER").ok();
            let hook = std::env::var_os("SLUICE_ACCESS_HOOK").map(std::path::PathBuf::from);
            serve_action(
                shell::action(
                    root,
                    user,
                    hook.as_deref(),
                    a.command.as_deref(),
                    git_protocol.as_deref(),
                    None,
                )?,
                stdin,
                stdout,
            )
        }
        cli::Command::Inetd(a) => {
            let cfg = inetd::InetdConfig {
                base_path: a.base_path,
                interpolated_path: a.interpolated_path,
                export_all: a.export_all,
                enable_receive_pack: a.enable.iter().any(|s| s == "receive-pack"),
                enable_upload_archive: a.enable.iter().any(|s| s == "upload-archive"),
                timeout: secs(a.timeout),
                init_timeout: secs(a.init_timeout),
                policy: policy(a.access.as_deref())?,
                access_hook: a.access_hook,
                limits: limits.clone(),
            };
            inetd::run(&cfg, &FsBackend::default(), stdin, stdout).map(|()| ExitCode::SUCCESS)
        }
        cli::Command::WriteCommitGraph(a) => {
            let location = a.dir.to_string_lossy().into_owned();
            let repo = sluice::backend::fs::FsBackend::default()
                .open_fs(&location)
                .map_err(|e| launch::Error::Refused(e.to_string()))?;
            with_progress(&a.progress, |p| {
                sluice::backend::fs::maintenance::write_commit_graph_with_progress(&repo, p)
            })
            .map(|n| {
                if !a.progress.quiet {
                    eprintln!("commit-graph written: {n} commits");
                }
                ExitCode::SUCCESS
            })
            .map_err(|e| launch::Error::Refused(e.to_string()))
        }
        cli::Command::Repack(cli::RepackArgs {
            backend_config: Some(config),
            progress,
            compact,
            grace,
            garbage_ttl,
            dir,
        }) => admin(
            &config,
            &progress,
            &dist_admin::Admin::Repack {
                name: &dir.to_string_lossy(),
                compact,
                grace,
                garbage_ttl,
            },
        ),
        cli::Command::Import(a) => admin(
            &a.backend_config,
            &a.progress,
            &dist_admin::Admin::Import {
                dir: &a.dir,
                name: &a.name,
            },
        ),
        cli::Command::Export(a) => admin(
            &a.backend_config,
            &a.progress,
            &dist_admin::Admin::Export {
                name: &a.name,
                dir: &a.dir,
            },
        ),
        cli::Command::Config(a) => admin(
            &a.backend_config,
            &cli::ProgressArgs {
                quiet: true,
                progress: false,
            },
            &dist_admin::Admin::Config {
                name: &a.name,
                key: a.key.as_deref(),
                value: a.value.as_deref(),
                unset: a.unset,
            },
        ),
        cli::Command::Repack(a) => {
            let location = a.dir.to_string_lossy().into_owned();
            let repo = FsBackend::default()
                .open_fs(&location)
                .map_err(|e| launch::Error::Refused(e.to_string()))?;
            let s = with_progress(&a.progress, |p| {
                sluice::backend::fs::repack::repack(&repo, p)
            })
            .map_err(|e| launch::Error::Refused(e.to_string()))?;
            if a.progress.quiet {
                return Ok(ExitCode::SUCCESS);
            }
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
            Ok(ExitCode::SUCCESS)
        }
        cli::Command::Completions(a) => {
            use clap::CommandFactory;
            let mut stdout = stdout;
            clap_complete::generate(a.shell, &mut cli::Cli::command(), "sluice", &mut stdout);
            Ok(ExitCode::SUCCESS)
        }
        cli::Command::HttpBackend(a) => {
            let env = |k: &str| std::env::var(k).ok();
            let cfg = launch::http::HttpConfig {
                policy: policy(a.access.as_deref())?,
                access_hook: a.access_hook,
                timeout: secs(a.timeout),
                limits: limits.clone(),
                ..Default::default()
            }
            .with_env(env);
            let cgi = launch::http::cgi::CgiEnv::from_vars(env);
            launch::http::run(&cfg, &cgi, stdin, stdout).map(|()| ExitCode::SUCCESS)
        }
        cli::Command::Init(cli::InitArgs {
            backend_config: Some(config),
            dir,
            initial_branch,
            ..
        }) => launch::backend_choice::init_distributed(
            &config,
            &dir.to_string_lossy(),
            &initial_branch,
        )
        .map(|()| ExitCode::SUCCESS),
        cli::Command::Init(a) => sluice::backend::fs::init::init(&a.dir, a.bare, &a.initial_branch)
            .map(|()| ExitCode::SUCCESS)
            .map_err(|e| launch::Error::Refused(e.to_string())),
    }
}

/// Runs a distributed-backend administration command; its summary goes to stderr (unless
/// `--quiet`), what it reads to stdout.
fn admin(
    config: &Path,
    progress: &cli::ProgressArgs,
    what: &dist_admin::Admin<'_>,
) -> Result<ExitCode, launch::Error> {
    let (text, summary) = with_progress(progress, |p| dist_admin::run(config, what, p))?;
    match summary {
        true if !progress.quiet => eprintln!("{text}"),
        true => {}
        false => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn direct(
    service: Service,
    a: &cli::ServiceArgs,
    limits: &sluice::config::Limits,
    proto: Option<&str>,
    stdin: impl std::io::Read,
    stdout: impl std::io::Write,
) -> Result<ExitCode, launch::Error> {
    let mut req = launch::direct::request(
        service,
        &a.dir,
        a.stateless_rpc,
        a.advertise_refs,
        secs(a.timeout),
        proto,
    )?;
    req.limits = limits.clone();
    let backend = launch::backend_choice::choose(a.backend_config.as_deref(), a.strict)?;
    launch::serve(&req, backend.as_ref(), stdin, stdout).map(|()| ExitCode::SUCCESS)
}

fn is_broken_pipe(e: &launch::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::BrokenPipe;
        }
        source = s.source();
    }
    false
}
