//! Signed pushes (`git push --signed`), as C git's receive-pack takes them.
//!
//! ```text
//! receive.certNonceSeed set → advertise push-cert=<stamp>-<HMAC(path:stamp, seed)>
//!   → client sends "push-cert\0caps", the certificate lines, "push-cert-end", flush
//!   → commands come from the certificate → stored as a blob → signature checked with gpg
//!   → hooks get GIT_PUSH_CERT, _SIGNER, _KEY, _STATUS, _NONCE, _NONCE_STATUS (, _NONCE_SLOP)
//! ```
//!
//! The nonce proves the certificate was made for this repository and this push: it is the time
//! the advertisement was made plus an HMAC of the repository path and that time keyed as C git
//! keys it, so another server instance sharing the seed (stateless HTTP) can check it too and
//! say how stale it is (`receive.certNonceSlop`). Parsing and nonce checks are pure; only
//! [`verify`] runs a program (`gpg.program`, default `gpg`).

use std::io::Write;
use std::process::{Command as Process, Stdio};

use crate::hash::{HashKind, Hasher};

use super::commands::{self, Command};

/// Largest certificate accepted: a certificate repeats the commands, so this bounds it with the
/// same room C git's 64 KiB packet lines give a few hundred refs, times 16.
pub const MAX_CERT_BYTES: usize = 1 << 20;

/// The nonce status C git hands hooks in `GIT_PUSH_CERT_NONCE_STATUS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceStatus {
    /// No nonce was asked for, but the certificate has one.
    Unsolicited,
    /// The nonce is not one this server (seed and path) made.
    Bad,
    /// The certificate carries no nonce although one was asked for.
    Missing,
    /// The nonce is the one advertised (or a valid one within `receive.certNonceSlop`).
    Ok,
    /// A valid nonce from another instance, older or newer than the slop allows.
    Slop,
}

impl NonceStatus {
    /// The text hooks see.
    pub fn as_str(self) -> &'static str {
        match self {
            NonceStatus::Unsolicited => "UNSOLICITED",
            NonceStatus::Bad => "BAD",
            NonceStatus::Missing => "MISSING",
            NonceStatus::Ok => "OK",
            NonceStatus::Slop => "SLOP",
        }
    }
}

/// Why a certificate could not be taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Larger than [`MAX_CERT_BYTES`].
    #[error("push certificate larger than {MAX_CERT_BYTES} bytes")]
    TooLarge,
    /// No blank line between the header and the commands.
    #[error("malformed push certificate {0}")]
    Malformed(String),
    /// Not signed with an OpenPGP signature.
    #[error("bad/incompatible signature in push certificate")]
    NoSignature,
    /// A command line inside the certificate was malformed.
    #[error(transparent)]
    Command(#[from] commands::Error),
}

/// `receive.certNonceSeed` and `receive.certNonceSlop`, with the path the nonce is bound to.
#[derive(Debug, Clone)]
pub struct NonceConfig {
    /// The secret seed.
    pub seed: String,
    /// The repository path as the client named it (C git uses its argv as given).
    pub path: String,
    /// Seconds a nonce from another instance may be off and still count as OK (0: none).
    pub slop_limit: u64,
}

impl NonceConfig {
    /// `receive.certNonceSeed` and `receive.certNonceSlop` of `repo`; `None` without a seed
    /// (then `push-cert` is not advertised). The nonce is bound to the repository's git
    /// directory. Deviation: C git binds it to the path as the client named it; the directory
    /// is the same for every instance serving it, which is what stateless checks need.
    pub fn from_repo(repo: &dyn crate::backend::Repository) -> Option<NonceConfig> {
        let config = repo.config();
        let seed = config.get("receive.certNonceSeed").flatten()?.to_string();
        let slop_limit = config
            .get_i64("receive.certNonceSlop")
            .ok()
            .flatten()
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0);
        let path = repo
            .config_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Some(NonceConfig {
            seed,
            path,
            slop_limit,
        })
    }

    /// The nonce to advertise now.
    pub fn issue(&self, kind: HashKind) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        nonce(kind, self, now)
    }
}

/// Everything hooks are told about certificate `cert`: stores it as a blob, checks its
/// signature with `gpg.program` and its nonce against `issued`, and returns the
/// `GIT_PUSH_CERT*` environment (C git's `prepare_push_cert_sha1`).
pub fn prepare(
    repo: &dyn crate::backend::Repository,
    cert: &Certificate,
    issued: Option<&str>,
    stateless: bool,
    config: Option<&NonceConfig>,
) -> Vec<(String, String)> {
    let blob = match repo.write_blob(&cert.raw) {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %e, "could not store the push certificate");
            return Vec::new();
        }
    };
    let program = repo
        .config()
        .get("gpg.openpgp.program")
        .or_else(|| repo.config().get("gpg.program"))
        .flatten()
        .unwrap_or("gpg")
        .to_string();
    let sig = verify(&program, cert);
    let nonce = check_nonce(repo.hash_kind(), cert.payload(), issued, stateless, config);
    tracing::info!(signer = %sig.signer, key = %sig.key, status = %sig.result,
        nonce_status = nonce.status.as_str(), "push certificate");
    hook_env(&blob.to_hex(), &sig, &nonce)
}

/// HMAC (RFC 2104) over `text` keyed with `key`, with the repository's hash `kind`.
fn hmac(kind: HashKind, key: &[u8], text: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 64; // SHA-1's (and SHA-256's) block size.
    let digest = |parts: &[&[u8]]| -> Vec<u8> {
        let mut h = Hasher::trailer_only(kind);
        for p in parts {
            h.update(p);
        }
        // A trailer-only hasher never detects collisions, so this cannot fail; an empty answer
        // only ever makes the nonce check fail, never pass.
        h.finish()
            .map(|id| id.as_bytes().to_vec())
            .unwrap_or_default()
    };
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        let k = digest(&[key]);
        block[..k.len()].copy_from_slice(&k);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = digest(&[&ipad, text]);
    digest(&[&opad, &inner])
}

/// The nonce for `stamp` (seconds since the epoch): `<stamp>-<hex HMAC>`, the HMAC keyed with
/// `<path>:<stamp>` over the seed, exactly as C git's `prepare_push_cert_nonce`.
pub fn nonce(kind: HashKind, config: &NonceConfig, stamp: u64) -> String {
    let key = format!("{}:{stamp}", config.path);
    let mac = hmac(kind, key.as_bytes(), config.seed.as_bytes());
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    format!("{stamp}-{hex}")
}

/// Compares in time independent of where `a` and `b` differ.
fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the nonce check found: the status, the nonce hooks are told was issued, and for
/// [`NonceStatus::Slop`] by how many seconds it is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceCheck {
    /// The status for `GIT_PUSH_CERT_NONCE_STATUS`.
    pub status: NonceStatus,
    /// `GIT_PUSH_CERT_NONCE`: the advertised nonce, or the received one if it was accepted
    /// within the slop.
    pub nonce: Option<String>,
    /// `GIT_PUSH_CERT_NONCE_SLOP` (issued stamp minus received stamp).
    pub slop: Option<i64>,
}

/// Checks the `nonce` header of certificate `payload` against `issued` (the nonce advertised,
/// `None` when no seed is configured). Only a `stateless` request (smart HTTP, where another
/// instance may have made the advertisement) accepts a nonce other than `issued`, if its HMAC
/// is right (C git's `check_nonce`).
pub fn check_nonce(
    kind: HashKind,
    payload: &[u8],
    issued: Option<&str>,
    stateless: bool,
    config: Option<&NonceConfig>,
) -> NonceCheck {
    let got = header(payload, "nonce");
    let result = |status, slop| NonceCheck {
        status,
        nonce: issued.map(str::to_string),
        slop,
    };
    let (Some(got), Some(issued), Some(config)) = (got, issued, config) else {
        return match (got, issued) {
            (None, _) => result(NonceStatus::Missing, None),
            _ => result(NonceStatus::Unsolicited, None),
        };
    };
    if got == issued.as_bytes() {
        return result(NonceStatus::Ok, None);
    }
    if !stateless {
        return result(NonceStatus::Bad, None);
    }
    let text = String::from_utf8_lossy(got);
    let Some((stamp, _)) = text.split_once('-') else {
        return result(NonceStatus::Bad, None);
    };
    let Ok(stamp) = stamp.parse::<u64>() else {
        return result(NonceStatus::Bad, None);
    };
    if !text.starts_with(|c: char| ('1'..='9').contains(&c)) {
        return result(NonceStatus::Bad, None);
    }
    if !constant_eq(nonce(kind, config, stamp).as_bytes(), got) {
        return result(NonceStatus::Bad, None);
    }
    let issued_stamp: i64 = issued
        .split('-')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let slop = issued_stamp.saturating_sub(i64::try_from(stamp).unwrap_or(i64::MAX));
    if config.slop_limit > 0 && slop.unsigned_abs() <= config.slop_limit {
        // Valid HMAC, close enough in time: as if this server had issued it.
        NonceCheck {
            status: NonceStatus::Ok,
            nonce: Some(text.into_owned()),
            slop: None,
        }
    } else {
        result(NonceStatus::Slop, Some(slop))
    }
}

/// The value of header `key` in the header block of `payload` (the lines before the first
/// blank line), as C git's `find_commit_header`.
pub fn header<'a>(payload: &'a [u8], key: &'a str) -> Option<&'a [u8]> {
    headers(payload, key).next()
}

/// Every value of header `key`, in order.
fn headers<'a>(payload: &'a [u8], key: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    payload
        .split(|&b| b == b'\n')
        .take_while(|l| !l.is_empty())
        .filter_map(move |l| {
            l.strip_prefix(key.as_bytes())
                .and_then(|rest| rest.strip_prefix(b" "))
        })
}

/// A received push certificate: the signed payload and its detached signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// All bytes as sent (stored as the blob `GIT_PUSH_CERT` names).
    pub raw: Vec<u8>,
    /// Length of the signed part (the signature starts there).
    pub payload_len: usize,
}

impl Certificate {
    /// Splits `raw` (the certificate lines as sent, newlines kept) into payload and signature.
    pub fn parse(raw: Vec<u8>) -> Result<Certificate, Error> {
        if raw.len() > MAX_CERT_BYTES {
            return Err(Error::TooLarge);
        }
        if !raw.windows(2).any(|w| w == b"\n\n") {
            let shown = String::from_utf8_lossy(&raw[..raw.len().min(100)]).into_owned();
            return Err(Error::Malformed(shown));
        }
        // The last line that starts a signature starts it (C git's parse_signed_buffer).
        let mut start = None;
        let mut pos = 0;
        for line in raw.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b"-----BEGIN PGP SIGNATURE-----")
                || line.starts_with(b"-----BEGIN PGP MESSAGE-----")
            {
                start = Some(pos);
            }
            pos += line.len();
        }
        let payload_len = start.ok_or(Error::NoSignature)?;
        Ok(Certificate { raw, payload_len })
    }

    /// The signed part.
    pub fn payload(&self) -> &[u8] {
        self.raw.get(..self.payload_len).unwrap_or_default()
    }

    /// The detached signature.
    pub fn signature(&self) -> &[u8] {
        self.raw.get(self.payload_len..).unwrap_or_default()
    }

    /// The ref commands the certificate carries (after the blank line, before the signature),
    /// with ids of `hash`.
    pub fn commands(&self, hash: crate::hash::HashKind) -> Result<Vec<Command>, Error> {
        let payload = self.payload();
        let Some(body) = payload
            .windows(2)
            .position(|w| w == b"\n\n")
            .and_then(|p| payload.get(p + 2..))
        else {
            return Ok(Vec::new());
        };
        body.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| Ok(commands::parse_command(l, hash)?.0))
            .collect()
    }

    /// Whether the certificate's `push-option` headers equal `options`, in order (C git's
    /// `check_cert_push_options`).
    pub fn push_options_match(&self, options: &[String]) -> bool {
        let signed: Vec<&[u8]> = headers(self.payload(), "push-option").collect();
        signed.len() == options.len() && signed.iter().zip(options).all(|(a, b)| *a == b.as_bytes())
    }
}

/// Reads the certificate lines after a `push-cert` command line from `reader`, newlines kept,
/// up to `push-cert-end` (returns `false`) or a flush, which also ends the commands (returns
/// `true`), as C git's `read_head_info`. Bounded by [`MAX_CERT_BYTES`].
pub fn read_lines<R: std::io::Read>(
    reader: &mut crate::protocol::pktline::Reader<R>,
) -> Result<(Vec<u8>, bool), ReadError> {
    use crate::protocol::pktline::PacketLineRef;
    let mut raw = Vec::new();
    loop {
        match reader.read_line()? {
            Some(PacketLineRef::Flush) => return Ok((raw, true)),
            Some(PacketLineRef::Data(b"push-cert-end\n")) => return Ok((raw, false)),
            Some(PacketLineRef::Data(d)) => {
                if raw.len() + d.len() > MAX_CERT_BYTES {
                    return Err(Error::TooLarge.into());
                }
                raw.extend_from_slice(d);
            }
            _ => return Err(ReadError::Unexpected),
        }
    }
}

/// Why [`read_lines`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Reading pkt-lines failed.
    #[error(transparent)]
    PktLine(#[from] crate::protocol::pktline::Error),
    /// The certificate was refused.
    #[error(transparent)]
    Cert(#[from] Error),
    /// End of input or a control packet inside the certificate.
    #[error("protocol error: got an unexpected packet")]
    Unexpected,
}

/// What the signature check found, as C git's `struct signature_check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigCheck {
    /// `G` good, `B` bad,
    /// `X`/`Y` expired signature/key, `R` revoked key, `E` cannot check, `N` no signature.
    pub result: char,
    /// The signer's user id.
    pub signer: String,
    /// The signing key's long id.
    pub key: String,
}

/// Reads gpg's `--status-fd` output `status` as C git's `parse_gpg_output`: the last of
/// GOODSIG/BADSIG/ERRSIG/EXPSIG/EXPKEYSIG/REVKEYSIG sets the result, key and signer; two of them
/// (several signatures) make it `E`.
pub fn parse_status(status: &str) -> SigCheck {
    const STATUS: &[(char, &str, bool)] = &[
        ('G', "GOODSIG ", true),
        ('B', "BADSIG ", true),
        ('E', "ERRSIG ", false),
        ('X', "EXPSIG ", true),
        ('Y', "EXPKEYSIG ", true),
        ('R', "REVKEYSIG ", true),
    ];
    let mut check = SigCheck {
        result: 'N',
        signer: String::new(),
        key: String::new(),
    };
    let mut seen = 0;
    for line in status.lines() {
        let Some(line) = line.strip_prefix("[GNUPG:] ") else {
            continue;
        };
        for &(result, prefix, has_uid) in STATUS {
            let Some(rest) = line.strip_prefix(prefix) else {
                continue;
            };
            seen += 1;
            if seen > 1 {
                return SigCheck {
                    result: 'E',
                    signer: String::new(),
                    key: String::new(),
                };
            }
            check.result = result;
            let (key, uid) = rest.split_once(' ').unwrap_or((rest, ""));
            check.key = key.to_string();
            if has_uid {
                check.signer = uid.to_string();
            }
        }
    }
    check
}

/// Checks `cert`'s signature by running `program` (`gpg.program`) as C git does:
/// `<program> --keyid-format=long --status-fd=1 --verify <sigfile> -` with the payload on stdin.
/// A program that cannot be run gives `E` (cannot check), logged.
pub fn verify(program: &str, cert: &Certificate) -> SigCheck {
    match run_gpg(program, cert) {
        Ok(status) => parse_status(&status),
        Err(e) => {
            tracing::warn!(program, error = %e, "could not verify the push certificate");
            SigCheck {
                result: 'E',
                signer: String::new(),
                key: String::new(),
            }
        }
    }
}

fn run_gpg(program: &str, cert: &Certificate) -> std::io::Result<String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let sig_path = std::env::temp_dir().join(format!(
        ".sluice_vcert_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&sig_path)?;
    let result = (|| {
        f.write_all(cert.signature())?;
        drop(f);
        let mut child = crate::process::spawn(
            Process::new(program)
                .args(["--keyid-format=long", "--status-fd=1", "--verify"])
                .arg(&sig_path)
                .arg("-")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )?;
        let payload = cert.payload().to_vec();
        let mut stdin = child.stdin.take();
        let feeder = std::thread::spawn(move || {
            if let Some(s) = stdin.as_mut() {
                let _ = s.write_all(&payload);
            }
        });
        let out = child.wait_with_output()?;
        let _ = feeder.join();
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    })();
    let _ = std::fs::remove_file(&sig_path);
    result
}

/// The hook environment for a stored certificate `blob` (its hex id), its `sig` check and
/// `nonce` check, as C git's `prepare_push_cert_sha1`.
pub fn hook_env(blob: &str, sig: &SigCheck, nonce: &NonceCheck) -> Vec<(String, String)> {
    let mut env = vec![
        ("GIT_PUSH_CERT".to_string(), blob.to_string()),
        ("GIT_PUSH_CERT_SIGNER".to_string(), sig.signer.clone()),
        ("GIT_PUSH_CERT_KEY".to_string(), sig.key.clone()),
        ("GIT_PUSH_CERT_STATUS".to_string(), sig.result.to_string()),
    ];
    if let Some(n) = &nonce.nonce {
        env.push(("GIT_PUSH_CERT_NONCE".into(), n.clone()));
        env.push((
            "GIT_PUSH_CERT_NONCE_STATUS".into(),
            nonce.status.as_str().into(),
        ));
        if let Some(slop) = nonce.slop {
            env.push(("GIT_PUSH_CERT_NONCE_SLOP".into(), slop.to_string()));
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NonceConfig {
        NonceConfig {
            seed: "sekrit".into(),
            path: "/srv/repo.git".into(),
            slop_limit: 0,
        }
    }

    #[test]
    fn hmac_matches_rfc2202_case_2() {
        // RFC 2202 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mac = hmac(HashKind::Sha1, b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
        // Case 6: a key longer than the block is hashed first.
        let mac = hmac(
            HashKind::Sha1,
            &[0xaa; 80],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "aa4ae5e15272d00e95705637ce8a3b55ed402112");
    }

    fn payload(nonce: &str) -> Vec<u8> {
        format!("certificate version 0.1\npusher A <a@b> 1 +0000\nnonce {nonce}\n\n").into_bytes()
    }

    #[test]
    fn nonce_statuses() {
        let c = config();
        let issued = nonce(HashKind::Sha1, &c, 1000);
        let check = |p: &[u8], issued: Option<&str>, stateless, cfg: &NonceConfig| {
            check_nonce(HashKind::Sha1, p, issued, stateless, Some(cfg))
        };
        assert_eq!(
            check(&payload(&issued), Some(&issued), false, &c).status,
            NonceStatus::Ok
        );
        let other = nonce(HashKind::Sha1, &c, 990);
        assert_eq!(
            check(&payload(&other), Some(&issued), false, &c).status,
            NonceStatus::Bad
        );
        let slop = check(&payload(&other), Some(&issued), true, &c);
        assert_eq!((slop.status, slop.slop), (NonceStatus::Slop, Some(10)));
        let within = NonceConfig {
            slop_limit: 10,
            ..config()
        };
        let ok = check(&payload(&other), Some(&issued), true, &within);
        assert_eq!(
            (ok.status, ok.nonce.as_deref()),
            (NonceStatus::Ok, Some(other.as_str()))
        );
        let forged = format!("990-{}", "0".repeat(40));
        assert_eq!(
            check(&payload(&forged), Some(&issued), true, &c).status,
            NonceStatus::Bad
        );
        let no_nonce = b"certificate version 0.1\n\n";
        assert_eq!(
            check(no_nonce, Some(&issued), false, &c).status,
            NonceStatus::Missing
        );
        assert_eq!(
            check_nonce(HashKind::Sha1, &payload(&issued), None, false, None).status,
            NonceStatus::Unsolicited
        );
    }

    #[test]
    fn certificate_split_commands_and_options() {
        let z = "0".repeat(40);
        let one = "1".repeat(40);
        let raw = format!(
            "certificate version 0.1\npusher A\nnonce 1-x\npush-option a=b\n\n{z} {one} refs/heads/main\n-----BEGIN PGP SIGNATURE-----\nxyz\n-----END PGP SIGNATURE-----\n"
        );
        let cert = Certificate::parse(raw.into_bytes()).unwrap();
        assert!(cert.signature().starts_with(b"-----BEGIN PGP SIGNATURE"));
        let cmds = cert.commands(HashKind::Sha1).unwrap();
        assert_eq!(cmds.len(), 1);
        assert_eq!(cmds[0].name, "refs/heads/main");
        assert!(cert.push_options_match(&["a=b".to_string()]));
        assert!(!cert.push_options_match(&[]));
        assert_eq!(header(cert.payload(), "nonce"), Some(&b"1-x"[..]));
        assert_eq!(
            Certificate::parse(b"no blank line".to_vec()),
            Err(Error::Malformed("no blank line".into()))
        );
        assert_eq!(
            Certificate::parse(b"a\n\nb\n".to_vec()),
            Err(Error::NoSignature)
        );
    }

    #[test]
    fn gpg_status_lines() {
        let good = "[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG 1234ABCD5678EF00 C O Mitter <c@example.com>\n[GNUPG:] VALIDSIG X\n";
        assert_eq!(
            parse_status(good),
            SigCheck {
                result: 'G',
                signer: "C O Mitter <c@example.com>".into(),
                key: "1234ABCD5678EF00".into()
            }
        );
        let err =
            "[GNUPG:] ERRSIG 1234ABCD5678EF00 1 8 00 1 9\n[GNUPG:] NO_PUBKEY 1234ABCD5678EF00\n";
        assert_eq!(parse_status(err).result, 'E');
        assert_eq!(parse_status(err).key, "1234ABCD5678EF00");
        assert_eq!(parse_status("").result, 'N');
        let two = format!("{good}[GNUPG:] BADSIG 1 x\n");
        assert_eq!(parse_status(&two).result, 'E');
    }
}
