//! The command line, as clap derive structs only: no IO and no validation beyond syntax.
//! [`super::commands`] turns these into launches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Sluice: a git server for sshd, inetd, git's ext:: transport and login shells.
///
/// Sluice speaks git's pack protocol on standard input and output, in place of
/// git-upload-pack, git-receive-pack, git daemon --inetd and git-shell, reading and writing
/// ordinary on-disk repositories.
#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about,
    // `--version` is ours (below), so that `--version --verbose` can say more.
    disable_version_flag = true,
    subcommand_required = false,
    override_usage = "\
sluice upload-pack [--stateless-rpc] [--advertise-refs] [--timeout SECS] DIR
       sluice receive-pack [--stateless-rpc] [--advertise-refs] [--timeout SECS] DIR
       sluice upload-archive DIR
       sluice git-upload-pack DIR | sluice git-receive-pack DIR | sluice git-upload-archive DIR
       sluice ssh --root ROOT [--user NAME] [--access FILE] [--access-hook PATH] [--timeout SECS]
       sluice shell -c COMMAND
       sluice inetd [--base-path ROOT] [--interpolated-path TEMPLATE] [--export-all]
                    [--enable receive-pack|upload-archive] [--timeout SECS] [--init-timeout SECS] [--access FILE] [--access-hook PATH]
       sluice http-backend [--access FILE] [--access-hook PATH] [--timeout SECS]   (a CGI)
       sluice init [--bare] [--initial-branch NAME] DIR
       sluice write-commit-graph DIR | sluice repack DIR
       sluice --version [--verbose] | sluice completions bash|zsh|fish
       (all: [--log-file FILE|-] [--log-format text|json] [--log-level LEVEL])"
)]
pub struct Cli {
    /// Append structured logs to FILE (also: SLUICE_LOG_FILE); `-` is stderr, except where
    /// stderr is the client's connection (inetd). Logs never go to stdout.
    #[arg(long, global = true, value_name = "FILE", env = "SLUICE_LOG_FILE")]
    pub log_file: Option<PathBuf>,

    /// Log format: text lines, or json (one JSON object per line, for log shippers).
    #[arg(
        long,
        global = true,
        value_name = "FORMAT",
        default_value = "text",
        env = "SLUICE_LOG_FORMAT"
    )]
    pub log_format: LogFormat,

    /// Log level: error, warn, info, debug or trace (trace logs every pkt-line).
    #[arg(
        long,
        global = true,
        value_name = "LEVEL",
        default_value = "info",
        env = "SLUICE_LOG_LEVEL"
    )]
    pub log_level: String,

    /// Request limits (each has a safe default; see sluice(1), LIMITS).
    #[command(flatten)]
    pub limits: LimitArgs,

    /// Print the version and exit (with --verbose: the commit, cargo features and hash
    /// algorithms of this build).
    #[arg(long, short = 'V')]
    pub version: bool,

    /// With --version: say how this binary was built.
    #[arg(long, requires = "version")]
    pub verbose: bool,

    /// What to run (required unless --version).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// tracing's text lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Limits on what one request may make the server do. Each can also come from the environment
/// (`SLUICE_MAX_WANTS`, ...): a CGI under a web server gets no arguments.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Most `want` lines per request.
    #[arg(long, global = true, value_name = "N", env = "SLUICE_MAX_WANTS")]
    pub max_wants: Option<usize>,
    /// Most `have` lines per request.
    #[arg(long, global = true, value_name = "N", env = "SLUICE_MAX_HAVES")]
    pub max_haves: Option<usize>,
    /// Most negotiation rounds per request.
    #[arg(long, global = true, value_name = "N", env = "SLUICE_MAX_ROUNDS")]
    pub max_rounds: Option<usize>,
    /// Largest pack a push may send, in bytes (receive.maxInputSize also applies).
    #[arg(
        long,
        global = true,
        value_name = "BYTES",
        env = "SLUICE_MAX_PACK_BYTES"
    )]
    pub max_pack_bytes: Option<u64>,
    /// Largest single object, inflated, in bytes.
    #[arg(
        long,
        global = true,
        value_name = "BYTES",
        env = "SLUICE_MAX_OBJECT_BYTES"
    )]
    pub max_object_bytes: Option<u64>,
    /// Deepest delta chain accepted in a push.
    #[arg(long, global = true, value_name = "N", env = "SLUICE_MAX_DELTA_DEPTH")]
    pub max_delta_depth: Option<u32>,
    /// Most ref updates per push.
    #[arg(long, global = true, value_name = "N", env = "SLUICE_MAX_REF_UPDATES")]
    pub max_ref_updates: Option<usize>,
    /// End any request that runs longer than SECS seconds in total.
    #[arg(long, global = true, value_name = "SECS", env = "SLUICE_MAX_DURATION")]
    pub max_duration: Option<u64>,
    /// Kill a repository hook (pre-receive, update, proc-receive, ...) that runs longer than
    /// SECS seconds (default 600; C git waits forever).
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        env = "SLUICE_MAX_HOOK_SECONDS"
    )]
    pub max_hook_seconds: Option<u64>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a clone, fetch or ls-remote for DIR (replaces git-upload-pack).
    #[command(visible_alias = "git-upload-pack")]
    UploadPack(ServiceArgs),
    /// Accept a push into DIR (replaces git-receive-pack).
    #[command(visible_alias = "git-receive-pack")]
    ReceivePack(ServiceArgs),
    /// Serve `git archive --remote` from DIR (replaces git-upload-archive).
    #[command(visible_alias = "git-upload-archive")]
    UploadArchive(ServiceArgs),
    /// Serve the command in SSH_ORIGINAL_COMMAND (sshd ForceCommand / authorized_keys command=).
    Ssh(SshArgs),
    /// Manage ssh keys (gitolite sites: `sluice keys sync`).
    Keys(KeysArgs),
    /// git-shell compatible login shell: run `-c COMMAND`.
    Shell(ShellArgs),
    /// Serve one git:// connection on stdin/stdout (inetd, xinetd, systemd sockets).
    Inetd(InetdArgs),
    /// Serve one smart- or dumb-HTTP request as a CGI program (replaces git http-backend):
    /// GIT_PROJECT_ROOT + PATH_INFO name the repository, REMOTE_USER is the user.
    HttpBackend(HttpBackendArgs),
    /// Create a repository that C git accepts.
    Init(InitArgs),
    /// Write DIR's commit-graph (objects/info/commit-graph), which speeds up every clone and fetch.
    WriteCommitGraph(WriteCommitGraphArgs),
    /// Pack all of DIR's objects into one pack with a reachability bitmap, then write the
    /// commit-graph: run it from cron or after pushes. Unreachable objects are kept; packs with
    /// a .keep file are left alone.
    Repack(RepackArgs),
    /// Copy the on-disk repository DIR into the distributed backend as NAME (its objects as one
    /// verified pack, refs, HEAD, receive/uploadpack config); refused if NAME exists.
    Import(ImportArgs),
    /// Copy repository NAME of the distributed backend into a new bare repository DIR that C git
    /// reads (packs, refs, HEAD, stored config).
    Export(ExportArgs),
    /// Show or set the git config a distributed repository keeps in the ref store
    /// (receive.*, uploadpack.*, transfer.*, pack.*, uploadarchive.*).
    Config(ConfigArgs),
    /// Print a shell completion script (bash, zsh or fish) for sluice on stdout.
    #[command(hide = true)]
    Completions(CompletionsArgs),
}

/// `sluice repack`.
#[derive(Debug, Args)]
pub struct RepackArgs {
    /// Progress display.
    #[command(flatten)]
    pub progress: ProgressArgs,
    /// Repack repository DIR of the distributed backend this config file describes: merge
    /// packs and write bitmaps in the store (at most one runner per repository).
    #[arg(long, value_name = "FILE", env = "SLUICE_BACKEND_CONFIG")]
    pub backend_config: Option<PathBuf>,
    /// Distributed backend: only merge the small packs (stored deltas reused, no delta search,
    /// no bitmap); cheap enough after every burst of pushes.
    #[arg(long, requires = "backend_config")]
    pub compact: bool,
    /// Distributed backend: seconds unlisted and never-listed pack files are kept before they
    /// are deleted; must exceed the longest request.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 3600,
        requires = "backend_config"
    )]
    pub grace: u64,
    /// Distributed backend: seconds a pack of unreachable objects stays listed, so that a push
    /// that began before the repack still finds its bases.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 86_400,
        requires = "backend_config"
    )]
    pub garbage_ttl: u64,
    /// The repository.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `sluice import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Progress display.
    #[command(flatten)]
    pub progress: ProgressArgs,
    /// The distributed backend's config file.
    #[arg(long, value_name = "FILE", env = "SLUICE_BACKEND_CONFIG")]
    pub backend_config: PathBuf,
    /// The on-disk repository.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The repository's name in the backend.
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `sluice export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Progress display.
    #[command(flatten)]
    pub progress: ProgressArgs,
    /// The distributed backend's config file.
    #[arg(long, value_name = "FILE", env = "SLUICE_BACKEND_CONFIG")]
    pub backend_config: PathBuf,
    /// The repository's name in the backend.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The new repository (must not exist or be empty).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `sluice config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The distributed backend's config file.
    #[arg(long, value_name = "FILE", env = "SLUICE_BACKEND_CONFIG")]
    pub backend_config: PathBuf,
    /// Remove KEY (all its values).
    #[arg(long, requires = "key", conflicts_with = "value")]
    pub unset: bool,
    /// The repository's name in the backend.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The key (`receive.denyDeletes`); without it the whole config is printed.
    #[arg(value_name = "KEY")]
    pub key: Option<String>,
    /// The value to set; without it KEY's value is printed.
    #[arg(value_name = "VALUE")]
    pub value: Option<String>,
}

/// `sluice write-commit-graph`.
#[derive(Debug, Args)]
pub struct WriteCommitGraphArgs {
    /// Progress display.
    #[command(flatten)]
    pub progress: ProgressArgs,
    /// The repository.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Progress of maintenance commands: on stderr when it is a terminal, unless forced.
#[derive(Debug, Args)]
pub struct ProgressArgs {
    /// Show no progress, even on a terminal.
    #[arg(long, short = 'q', conflicts_with = "progress")]
    pub quiet: bool,
    /// Show progress on stderr even when it is not a terminal.
    #[arg(long)]
    pub progress: bool,
}

/// `sluice completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Arguments shared by the stdin/stdout services.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Answer one request/response round and exit (the mode smart-HTTP front ends use).
    #[arg(long)]
    pub stateless_rpc: bool,

    /// Only print the ref advertisement, then exit.
    #[arg(long, alias = "http-backend-info-refs")]
    pub advertise_refs: bool,

    /// End the request when the client is silent for SECS seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,

    /// Do not try DIR.git or DIR/.git: DIR must be the repository itself.
    #[arg(long)]
    pub strict: bool,

    /// Serve DIR from the distributed backend this config file describes (etcd + S3; needs
    /// the `distributed` feature), not from disk. DIR is then the repository's name.
    #[arg(long, value_name = "FILE", env = "SLUICE_BACKEND_CONFIG")]
    pub backend_config: Option<PathBuf>,

    /// The repository.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `sluice ssh`.
#[derive(Debug, Args)]
pub struct SshArgs {
    /// Directory holding the repositories.
    #[arg(long, value_name = "ROOT")]
    pub root: PathBuf,
    /// The authenticated user (set per key in authorized_keys).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Access policy file (see sluice(1), ACCESS FILE); without it every repository under ROOT
    /// is readable and writable.
    #[arg(long, value_name = "FILE")]
    pub access: Option<PathBuf>,
    /// Executable run before each request (as git daemon's --access-hook): arguments SERVICE
    /// PATH HOST CANONICAL-HOST IP PORT, env SLUICE_MODE and SLUICE_USER; nonzero exit refuses.
    #[arg(long, value_name = "PATH")]
    pub access_hook: Option<PathBuf>,
    /// End the request when the client is silent for SECS seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Serve a gitolite site: DIR is its admin directory (gitolite's ~/.gitolite, holding
    /// conf/gitolite.conf and keydir/), ROOT its repositories; --user is required. Replaces
    /// --access (see README, "Moving from gitolite").
    #[arg(long, value_name = "DIR", conflicts_with = "access")]
    pub gitolite: Option<PathBuf>,
    /// With --gitolite: the authorized_keys file an admin push resyncs from keydir/.
    #[arg(long, value_name = "FILE", requires = "gitolite")]
    pub authorized_keys: Option<PathBuf>,
    /// Serve the repositories of the distributed backend this config file describes (needs
    /// the `distributed` feature): the requested path, confined as under ROOT, is the name.
    #[arg(long, value_name = "FILE", env = "SLUICE_BACKEND_CONFIG")]
    pub backend_config: Option<PathBuf>,
}

/// `sluice keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: KeysAction,
}

/// `sluice keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Write the authorized_keys block for a gitolite site's keydir/ (lines outside the block
    /// are kept; the file is replaced atomically).
    Sync(KeysSyncArgs),
}

/// `sluice keys sync`.
#[derive(Debug, Args)]
pub struct KeysSyncArgs {
    /// The gitolite admin directory (conf/, keydir/).
    #[arg(long, value_name = "DIR")]
    pub gitolite: PathBuf,
    /// The repository root the forced command serves.
    #[arg(long, value_name = "ROOT")]
    pub root: PathBuf,
    /// The authorized_keys file (default: ~/.ssh/authorized_keys).
    #[arg(long, value_name = "FILE")]
    pub authorized_keys: Option<PathBuf>,
}

/// `sluice shell`.
#[derive(Debug, Args)]
pub struct ShellArgs {
    /// The command, as sshd passes it to a login shell.
    #[arg(short = 'c', value_name = "COMMAND")]
    pub command: Option<String>,
}

/// `sluice inetd`.
#[derive(Debug, Args)]
pub struct InetdArgs {
    /// Requested paths are relative to ROOT.
    #[arg(long, value_name = "ROOT")]
    pub base_path: Option<PathBuf>,
    /// Repository path template: %H host, %CH canonical host, %IP address, %P port, %D path.
    #[arg(long, value_name = "TEMPLATE")]
    pub interpolated_path: Option<String>,
    /// Serve repositories without a git-daemon-export-ok file.
    #[arg(long)]
    pub export_all: bool,
    /// Enable a service that is off by default (receive-pack, upload-archive); a repository's
    /// `daemon.receivepack` / `daemon.uploadarch` config can also turn it on or off.
    #[arg(long, value_name = "SERVICE")]
    pub enable: Vec<String>,
    /// End the request when the client is silent for SECS seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Time allowed for the request line, in seconds.
    #[arg(long, value_name = "SECS")]
    pub init_timeout: Option<u64>,
    /// Access policy file; git:// users are `anonymous`.
    #[arg(long, value_name = "FILE")]
    pub access: Option<PathBuf>,
    /// Executable run before each request (as git daemon's --access-hook): arguments SERVICE
    /// PATH HOST CANONICAL-HOST IP PORT, env SLUICE_MODE and SLUICE_USER; nonzero exit refuses.
    #[arg(long, value_name = "PATH")]
    pub access_hook: Option<PathBuf>,
    /// Serve the repositories of the distributed backend this config file describes (needs
    /// the `distributed` feature): the requested path is the name; needs --export-all.
    #[arg(long, value_name = "FILE", env = "SLUICE_BACKEND_CONFIG")]
    pub backend_config: Option<PathBuf>,
}

/// `sluice http-backend`.
#[derive(Debug, Args)]
pub struct HttpBackendArgs {
    /// Access policy file (see sluice(1), ACCESS FILE); users are REMOTE_USER, `anonymous`
    /// without one. Also SLUICE_ACCESS (a CGI gets no arguments).
    #[arg(long, value_name = "FILE", env = "SLUICE_ACCESS")]
    pub access: Option<PathBuf>,
    /// Executable run before each request (as git daemon's --access-hook): arguments SERVICE
    /// PATH HOST CANONICAL-HOST IP PORT, env SLUICE_MODE=http and SLUICE_USER; nonzero exit
    /// refuses (403). Also SLUICE_ACCESS_HOOK.
    #[arg(long, value_name = "PATH", env = "SLUICE_ACCESS_HOOK")]
    pub access_hook: Option<PathBuf>,
    /// End the request when the client is silent for SECS seconds. Also SLUICE_TIMEOUT.
    #[arg(long, value_name = "SECS", env = "SLUICE_TIMEOUT")]
    pub timeout: Option<u64>,
    /// Serve the repositories of the distributed backend this config file describes (smart
    /// HTTP only; needs GIT_HTTP_EXPORT_ALL): PATH_INFO's repository is the name. Also
    /// SLUICE_BACKEND_CONFIG.
    #[arg(long, value_name = "FILE", env = "SLUICE_BACKEND_CONFIG")]
    pub backend_config: Option<PathBuf>,
}

/// `sluice init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Create a bare repository (DIR is the git directory).
    #[arg(long)]
    pub bare: bool,
    /// The branch HEAD points at.
    #[arg(long, short = 'b', value_name = "NAME", default_value = "main")]
    pub initial_branch: String,
    /// The hash naming objects, as `git init --object-format`: sha1 or sha256 (the fs backend
    /// only).
    #[arg(long, value_name = "FORMAT", default_value = "sha1", value_parser = ["sha1", "sha256"])]
    pub object_format: String,
    /// Create the repository named DIR in the distributed backend this config file describes.
    #[arg(long, value_name = "FILE", env = "SLUICE_BACKEND_CONFIG")]
    pub backend_config: Option<PathBuf>,
    /// Where.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}
