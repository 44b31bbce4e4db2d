//! The backend config file (`--backend-config FILE` / `SLUICE_BACKEND_CONFIG`): where etcd and
//! the S3 store are, which bucket and key prefix, where the local cache lives, and where the S3
//! credentials come from.
//!
//! The format is `key = value` lines, `#` comments and blank lines; every key is known and an
//! unknown one is refused (a typo must not silently fall back to a default). Credentials come
//! from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` or from a `credentials-file` of the same
//! format (`access-key`, `secret-key`) that only its owner may read: a group- or world-readable
//! one is refused, as ssh refuses a readable private key.
//!
//! etcd over TLS: `https://` endpoints, a private CA with `etcd-ca-file`, a client certificate
//! with `etcd-cert-file` and `etcd-key-file` (the key file private, as the credentials file;
//! with authentication enabled the certificate must have no CommonName, which etcd's JSON
//! gateway refuses).
//! etcd's authentication: `etcd-user` and `etcd-password` in the credentials file, or
//! `SLUICE_ETCD_USER` and `SLUICE_ETCD_PASSWORD` without one.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Largest config or credentials file read, so a wrong path (a device, a huge file) is refused
/// instead of read whole.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// A refused config file: one line for the operator.
#[derive(Debug, thiserror::Error)]
#[error("backend config {file}: {why}")]
pub struct Error {
    /// The file that was refused.
    pub file: String,
    /// What is wrong, quoting the line where there is one.
    pub why: String,
}

/// S3 credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id.
    pub access_key: String,
    /// The secret; never logged (see the `Debug` impl).
    pub secret_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <secret>)", self.access_key)
    }
}

/// How a front end reaches a secured etcd: TLS trust and client certificate, and
/// authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdAccess {
    /// PEM file of the CA that signed etcd's server certificates (none: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// PEM files of the client certificate and its private key, for `--client-cert-auth`.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// etcd user and password (`etcdctl auth enable`), if etcd checks them.
    pub auth: Option<EtcdAuth>,
}

/// An etcd user and password.
#[derive(Clone, PartialEq, Eq)]
pub struct EtcdAuth {
    /// The user name.
    pub user: String,
    /// The password; never logged (see the `Debug` impl).
    pub password: String,
}

impl std::fmt::Debug for EtcdAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EtcdAuth({}, <password>)", self.user)
    }
}

/// A validated backend configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendConfig {
    /// etcd client URLs, tried in order (a front end lists its nearest member first).
    pub etcd_endpoints: Vec<String>,
    /// The S3 endpoint URL (`http://` only for loopback/test stores; `https://` uses TLS).
    pub s3_endpoint: String,
    /// The bucket packs and indexes go to.
    pub bucket: String,
    /// The S3 region name the signature uses.
    pub region: String,
    /// The first component of every etcd key and S3 object name.
    pub prefix: String,
    /// The local cache directory, shared by every `sluice` process on the host.
    pub cache_dir: PathBuf,
    /// How long one store request may take before it counts as failed (or, for a ref
    /// transaction, as ambiguous).
    pub timeout: Duration,
    /// S3 credentials.
    pub credentials: Credentials,
    /// TLS and authentication for etcd.
    pub etcd: EtcdAccess,
    /// The fault point the system tests abort this process at (`SLUICE_FAULT`), if any.
    pub fault: Option<String>,
    /// Where pushes' hooks live: `<dir>/<repo>/` when that directory exists, else `<dir>/`
    /// for every repository (`None`: no hooks run).
    pub hooks_dir: Option<PathBuf>,
    /// Bound of the cache directory's index files (oldest removed first above it).
    pub cache_max_bytes: u64,
    /// Files larger than this go to S3 as multipart uploads.
    pub multipart_threshold_bytes: u64,
}

/// Every key the file may contain, with what it sets; a key not here is refused.
const KEYS: &[&str] = &[
    "etcd-endpoints",
    "s3-endpoint",
    "s3-bucket",
    "s3-region",
    "prefix",
    "cache-dir",
    "timeout-ms",
    "credentials-file",
    "hooks-dir",
    "cache-max-bytes",
    "multipart-threshold-bytes",
    "etcd-ca-file",
    "etcd-cert-file",
    "etcd-key-file",
];

/// Default bound of the cache directory: 10 GiB.
pub const DEFAULT_CACHE_MAX: u64 = 10 << 30;
/// Default multipart threshold: 64 MiB.
pub const DEFAULT_MULTIPART: u64 = 64 << 20;
/// S3's smallest part (all parts but the last): a lower threshold would make parts it refuses.
const MIN_MULTIPART: u64 = 5 << 20;

/// Reads `file` and validates it, taking credentials from `env` (a lookup, so tests need not set
/// the process environment) when the file names no credentials file.
pub fn load(file: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<BackendConfig, Error> {
    let err = |why: String| Error {
        file: file.display().to_string(),
        why,
    };
    let text = read_small(file).map_err(err)?;
    let pairs = parse_pairs(&text, KEYS).map_err(err)?;
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let required = |k: &str| get(k).ok_or_else(|| err(format!("missing required key {k}")));

    let etcd_endpoints: Vec<String> = required("etcd-endpoints")?
        .split(',')
        .map(|s| s.trim().trim_end_matches('/').to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if etcd_endpoints.is_empty() {
        return Err(err("etcd-endpoints lists no endpoint".into()));
    }
    for e in &etcd_endpoints {
        check_url("etcd-endpoints", e).map_err(err)?;
    }
    let s3_endpoint = required("s3-endpoint")?.trim_end_matches('/').to_string();
    check_url("s3-endpoint", &s3_endpoint).map_err(err)?;
    let bucket = required("s3-bucket")?;
    let prefix = get("prefix").unwrap_or_else(|| "sluice".into());
    if prefix.is_empty() || prefix.contains(['/', '%']) {
        return Err(err(format!(
            "prefix {prefix:?} must be one non-empty name without '/' or '%'"
        )));
    }
    let number = |key: &str, default: u64, range: std::ops::RangeInclusive<u64>| match get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                err(format!(
                    "{key} {v:?} is not a number in {}..={}",
                    range.start(),
                    range.end()
                ))
            }),
    };
    let timeout_ms = number("timeout-ms", 10_000, 1..=600_000)?;
    let cache_max_bytes = number("cache-max-bytes", DEFAULT_CACHE_MAX, 1..=u64::MAX)?;
    let multipart_threshold_bytes = number(
        "multipart-threshold-bytes",
        DEFAULT_MULTIPART,
        MIN_MULTIPART..=u64::MAX,
    )?;
    let (credentials, auth) = match get("credentials-file") {
        Some(path) => read_credentials(Path::new(&path)).map_err(err)?,
        None => match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key), Some(secret_key)) => (
                Credentials {
                    access_key,
                    secret_key,
                },
                etcd_auth(env("SLUICE_ETCD_USER"), env("SLUICE_ETCD_PASSWORD"))
                    .map_err(err)?,
            ),
            _ => {
                return Err(err(
                    "no credentials: set credentials-file or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
                ))
            }
        },
    };
    let client_cert = match (get("etcd-cert-file"), get("etcd-key-file")) {
        (None, None) => None,
        (Some(cert), Some(key)) => {
            private("etcd-key-file", Path::new(&key)).map_err(err)?;
            Some((PathBuf::from(cert), PathBuf::from(key)))
        }
        _ => return Err(err("etcd-cert-file and etcd-key-file go together".into())),
    };
    let etcd = EtcdAccess {
        ca_file: get("etcd-ca-file").map(PathBuf::from),
        client_cert,
        auth,
    };
    Ok(BackendConfig {
        etcd_endpoints,
        s3_endpoint,
        bucket,
        region: get("s3-region").unwrap_or_else(|| "us-east-1".into()),
        prefix,
        cache_dir: PathBuf::from(required("cache-dir")?),
        timeout: Duration::from_millis(timeout_ms),
        credentials,
        etcd,
        fault: env("SLUICE_FAULT"),
        hooks_dir: get("hooks-dir").map(PathBuf::from),
        cache_max_bytes,
        multipart_threshold_bytes,
    })
}

/// Reads a file of at most [`MAX_FILE_BYTES`] as UTF-8.
fn read_small(file: &Path) -> Result<String, String> {
    use std::io::Read;
    let f = std::fs::File::open(file).map_err(|e| format!("cannot open: {e}"))?;
    let mut text = String::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read: {e}"))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    Ok(text)
}

/// Splits `key = value` lines, refusing keys outside `known`, repeated keys and lines without
/// `=`.
fn parse_pairs(text: &str, known: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected `key = value`, got {line:?}", n + 1))?;
        let (key, value) = (key.trim(), value.trim());
        if !known.contains(&key) {
            return Err(format!("line {}: unknown key {key:?}", n + 1));
        }
        if pairs.iter().any(|(k, _)| k == key) {
            return Err(format!("line {}: {key} given twice", n + 1));
        }
        pairs.push((key.to_string(), value.to_string()));
    }
    Ok(pairs)
}

/// An endpoint must be `http://host[:port]` or `https://host[:port]`; TLS follows the scheme.
fn check_url(key: &str, url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{key}: {url:?} is not an http:// or https:// URL"))?;
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err(format!("{key}: {url:?} names no host"));
    }
    Ok(())
}

/// Refuses the secret file `path` (config key `key`) when anyone but its owner may read it.
fn private(key: &str, path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("{key} {}: {e}", path.display()))?;
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "{key} {} is readable by group or others (mode {:o}); chmod 600 it",
            path.display(),
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

/// The etcd user and password: both or neither.
fn etcd_auth(user: Option<String>, password: Option<String>) -> Result<Option<EtcdAuth>, String> {
    match (user, password) {
        (None, None) => Ok(None),
        (Some(user), Some(password)) => Ok(Some(EtcdAuth { user, password })),
        _ => Err("etcd-user and etcd-password go together".into()),
    }
}

/// Reads a credentials file, refusing one that anyone but its owner may read: the S3 keys, and
/// the etcd user and password if etcd checks them.
fn read_credentials(path: &Path) -> Result<(Credentials, Option<EtcdAuth>), String> {
    private("credentials-file", path)?;
    let text = read_small(path).map_err(|e| format!("credentials-file {}: {e}", path.display()))?;
    let known = ["access-key", "secret-key", "etcd-user", "etcd-password"];
    let pairs = parse_pairs(&text, &known)
        .map_err(|e| format!("credentials-file {}: {e}", path.display()))?;
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("credentials-file {}: missing {k}", path.display()))
    };
    let optional = |k: &str| get(k).ok();
    let auth = etcd_auth(optional("etcd-user"), optional("etcd-password"))
        .map_err(|e| format!("credentials-file {}: {e}", path.display()))?;
    let credentials = Credentials {
        access_key: get("access-key")?,
        secret_key: get("secret-key")?,
    };
    Ok((credentials, auth))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    const BASE: &str = "etcd-endpoints = http://127.0.0.1:2379, http://127.0.0.1:2380\n\
        s3-endpoint = https://s3.example\ns3-bucket = b\ncache-dir = /var/cache/sluice\n";

    fn env(k: &str) -> Option<String> {
        match k {
            "AWS_ACCESS_KEY_ID" => Some("AK".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("SK".into()),
            _ => None,
        }
    }

    #[test]
    fn a_complete_file_with_environment_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(
            dir.path(),
            "c",
            &format!("# comment\n{BASE}prefix = p\n"),
            0o644,
        );
        let c = load(&f, &env).unwrap();
        assert_eq!(
            c.etcd_endpoints,
            ["http://127.0.0.1:2379", "http://127.0.0.1:2380"]
        );
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("b", "p"));
        assert_eq!(c.credentials.access_key, "AK");
        assert_eq!(
            (c.cache_max_bytes, c.multipart_threshold_bytes),
            (DEFAULT_CACHE_MAX, DEFAULT_MULTIPART)
        );
        let f = write(
            dir.path(),
            "m",
            &format!("{BASE}multipart-threshold-bytes = 1000\n"),
            0o644,
        );
        let e = load(&f, &env).unwrap_err().to_string();
        assert!(
            e.contains("multipart-threshold-bytes \"1000\" is not a number in 5242880"),
            "{e}"
        );
        assert!(
            !format!("{c:?}").contains("SK"),
            "the secret is never printed"
        );
    }

    #[test]
    fn unknown_keys_and_missing_keys_are_refused_with_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(dir.path(), "c", &format!("{BASE}s3-buckt = x\n"), 0o644);
        let e = load(&f, &env).unwrap_err().to_string();
        assert!(e.contains("line 5: unknown key \"s3-buckt\""), "{e}");
        let f = write(dir.path(), "d", "s3-bucket = b\n", 0o644);
        let e = load(&f, &env).unwrap_err().to_string();
        assert!(e.contains("missing required key etcd-endpoints"), "{e}");
        let f = write(
            dir.path(),
            "e",
            &BASE.replace("https://s3", "ftp://s3"),
            0o644,
        );
        assert!(load(&f, &env)
            .unwrap_err()
            .to_string()
            .contains("not an http"));
    }

    #[test]
    fn a_credentials_file_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let creds = write(dir.path(), "k", "access-key = A\nsecret-key = S\n", 0o640);
        let text = format!("{BASE}credentials-file = {}\n", creds.display());
        let f = write(dir.path(), "c", &text, 0o644);
        let no_env = |_: &str| None;
        let e = load(&f, &no_env).unwrap_err().to_string();
        assert!(e.contains("readable by group or others (mode 640)"), "{e}");
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = load(&f, &no_env).unwrap();
        assert_eq!(c.credentials.secret_key, "S");
        let f = write(dir.path(), "n", BASE, 0o644);
        assert!(load(&f, &no_env)
            .unwrap_err()
            .to_string()
            .contains("no credentials"));
    }

    #[test]
    fn etcd_tls_files_and_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let key = write(dir.path(), "client.key", "k", 0o644);
        let tls = format!(
            "{BASE}etcd-ca-file = /ca.crt\netcd-cert-file = /client.crt\netcd-key-file = {}\n",
            key.display()
        );
        let f = write(dir.path(), "c", &tls, 0o644);
        let e = load(&f, &env).unwrap_err().to_string();
        assert!(e.contains("etcd-key-file"), "{e}");
        assert!(e.contains("readable by group or others"), "{e}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = load(&f, &env).unwrap();
        assert_eq!(c.etcd.ca_file, Some(PathBuf::from("/ca.crt")));
        assert_eq!(
            c.etcd.client_cert,
            Some((PathBuf::from("/client.crt"), key.clone()))
        );
        assert_eq!(c.etcd.auth, None);
        let half = write(
            dir.path(),
            "h",
            &format!("{BASE}etcd-cert-file = /c\n"),
            0o644,
        );
        let e = load(&half, &env).unwrap_err().to_string();
        assert!(
            e.contains("etcd-cert-file and etcd-key-file go together"),
            "{e}"
        );

        let creds = write(
            dir.path(),
            "k",
            "access-key = A\nsecret-key = S\netcd-user = u\netcd-password = pw\n",
            0o600,
        );
        let f = write(
            dir.path(),
            "d",
            &format!("{BASE}credentials-file = {}\n", creds.display()),
            0o644,
        );
        let c = load(&f, &env).unwrap();
        let auth = c.etcd.auth.clone().unwrap();
        assert_eq!((auth.user.as_str(), auth.password.as_str()), ("u", "pw"));
        assert!(
            !format!("{c:?}").contains("pw"),
            "the password is never printed"
        );
        let with_env = |k: &str| match k {
            "SLUICE_ETCD_USER" => Some("eu".into()),
            _ => env(k),
        };
        let f = write(dir.path(), "e", BASE, 0o644);
        let e = load(&f, &with_env).unwrap_err().to_string();
        assert!(e.contains("etcd-user and etcd-password go together"), "{e}");
    }
}
