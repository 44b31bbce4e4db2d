//! The engines the distributed backend's system tests run against: `scripts/engines/start`
//! (a 3-member etcd cluster and a one-node Ceph with radosgw, all on 127.0.0.1, state in one
//! temporary directory), started once per test binary and shared by its tests.
//!
//! The daemons outlive no test binary: a small watcher process waits for the binary to exit
//! and then runs `scripts/engines/stop`, which kills exactly the PIDs the start script
//! recorded. A start failure fails the test (it never skips) unless
//! `SLUICE_SKIP_SYSTEM_TESTS=1`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

/// Running engines.
#[derive(Debug)]
pub struct Engines {
    /// The state directory (logs under it).
    pub dir: PathBuf,
    /// What `DIR/env` says: endpoints, keys, bucket.
    pub env: HashMap<String, String>,
    /// Seconds from start until etcd was healthy and S3 answered (from the start script).
    pub ready_line: String,
}

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/engines")
}

/// A base port with `BASE..BASE+20` all free on 127.0.0.1 a moment ago.
fn free_port_base() -> u16 {
    let seed = std::process::id() as u16;
    for attempt in 0..200u16 {
        let base = 20_000 + (seed.wrapping_add(attempt.wrapping_mul(97)) % 2000) * 20;
        let all_free =
            (base..base + 20).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no 20 free consecutive ports on 127.0.0.1");
}

/// The engines of this test binary, started on first use; `None` only when they cannot start
/// and `SLUICE_SKIP_SYSTEM_TESTS` is set.
pub fn engines() -> Option<&'static Engines> {
    static ENGINES: OnceLock<Option<Engines>> = OnceLock::new();
    ENGINES.get_or_init(start).as_ref()
}

fn start() -> Option<Engines> {
    let skip = std::env::var("SLUICE_SKIP_SYSTEM_TESTS").is_ok();
    let dir = tempfile::Builder::new()
        .prefix("sluice-engines-")
        .tempdir()
        .expect("tempdir")
        .keep();
    // The watcher: stops the daemons and removes the state once this test binary is gone.
    let watch = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; '{stop}' '{dir}'; rm -rf '{dir}'",
        pid = std::process::id(),
        stop = scripts().join("stop").display(),
        dir = dir.display()
    );
    Command::new("setsid")
        .args(["bash", "-c", &watch])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the engines watcher");
    let started = Instant::now();
    let out = Command::new(scripts().join("start"))
        .arg(&dir)
        .arg(free_port_base().to_string())
        .output();
    let ok = matches!(&out, Ok(o) if o.status.success());
    if !ok {
        let why = match &out {
            Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
            Err(e) => e.to_string(),
        };
        assert!(
            skip,
            "the engines did not start (run scripts/test, which installs etcd-server, etcd-client, \
             ceph-mon, ceph-osd and radosgw, or set SLUICE_SKIP_SYSTEM_TESTS=1): {why}"
        );
        return None;
    }
    let ready_line = String::from_utf8_lossy(&out.unwrap().stdout)
        .trim()
        .to_string();
    eprintln!(
        "engines: {ready_line} (total {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let text = std::fs::read_to_string(dir.join("env")).expect("engines env file");
    let env = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some(Engines {
        dir,
        env,
        ready_line,
    })
}

impl Engines {
    /// A value from the env file.
    pub fn get(&self, key: &str) -> &str {
        self.env.get(key).map(String::as_str).unwrap_or_default()
    }

    /// A backend config file for one front end: `cache` is its cache directory, `first` the
    /// index of the etcd member it talks to first, `prefix` the key prefix (one per test, so
    /// tests in one binary do not see each other's repositories).
    pub fn config_file(&self, at: &Path, cache: &Path, first: usize, prefix: &str) -> PathBuf {
        let mut endpoints: Vec<&str> = self.get("SLUICE_ETCD_ENDPOINTS").split(',').collect();
        let n = endpoints.len().max(1);
        endpoints.rotate_left(first % n);
        let creds = at.with_extension("creds");
        std::fs::write(
            &creds,
            format!(
                "access-key = {}\nsecret-key = {}\n",
                self.get("AWS_ACCESS_KEY_ID"),
                self.get("AWS_SECRET_ACCESS_KEY")
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(
            at,
            format!(
                "etcd-endpoints = {}\ns3-endpoint = {}\ns3-bucket = {}\nprefix = {prefix}\n\
                 cache-dir = {}\ncredentials-file = {}\ntimeout-ms = 10000\n",
                endpoints.join(","),
                self.get("SLUICE_S3_ENDPOINT"),
                self.get("SLUICE_S3_BUCKET"),
                cache.display(),
                creds.display()
            ),
        )
        .unwrap();
        at.to_path_buf()
    }

    /// `etcdctl get --prefix KEY` lines (keys and values alternate).
    pub fn etcd_get_prefix(&self, key: &str) -> Vec<String> {
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args([
                "--endpoints",
                self.get("SLUICE_ETCD_ENDPOINTS"),
                "get",
                "--prefix",
                key,
            ])
            .output()
            .expect("etcdctl");
        assert!(
            out.status.success(),
            "etcdctl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}
