//! [`Kv`] over etcd's v3 JSON gateway (`POST /v3/kv/range`, `/v3/kv/txn`), with the HTTP
//! client the S3 store already brings.
//!
//! Why not the `etcd-client` crate: it is gRPC (tonic + prost) and its build script runs
//! `protoc`, so every build of the feature would need Debian's `protobuf-compiler`; the gateway
//! speaks the same API (ranges are linearizable by default, transactions are one Raft entry)
//! with nothing new to compile. Keys and values travel base64-encoded, 64-bit integers as
//! strings, as grpc-gateway writes proto3 JSON.
//!
//! Secured clusters: TLS with a private CA and a client certificate (`--client-cert-auth`), and
//! etcd's own authentication: `POST /v3/auth/authenticate` gives a token that every request
//! carries in `Authorization` (fetched again when etcd says it expired).
//!
//! Endpoints are tried in order. A request that could not connect certainly did not happen, so
//! the next endpoint is tried; a transaction that was sent but got no answer is
//! [`Error::Ambiguous`]: the caller reads the push log to learn what happened.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::config::{EtcdAccess, EtcdAuth};
use super::kv::{Compare, Entry, Error, Kv, Op, Txn, TxnOutcome};

/// Largest response body accepted from etcd (a repository with very many refs is refused
/// rather than buffered without bound).
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// An etcd cluster reached through its JSON gateway.
pub struct Etcd {
    endpoints: Vec<String>,
    /// How long one request may keep trying endpoints.
    timeout: Duration,
    http: reqwest::Client,
    rt: Arc<tokio::runtime::Runtime>,
    /// The user and password, when etcd checks them.
    auth: Option<EtcdAuth>,
    /// The token [`Etcd::authenticate`] got, once it has.
    token: std::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Etcd({:?})", self.endpoints)
    }
}

#[derive(Serialize)]
struct RangeRequest {
    key: String,
    range_end: String,
}

#[derive(Deserialize, Default)]
struct RangeResponse {
    #[serde(default)]
    kvs: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
struct TxnResponse {
    #[serde(default)]
    succeeded: bool,
    #[serde(default)]
    responses: Vec<ResponseOp>,
}

#[derive(Deserialize)]
struct ResponseOp {
    #[serde(default)]
    response_range: Option<RangeResponse>,
}

impl Etcd {
    /// A client for `endpoints` (tried in order), giving each request `timeout`, with the TLS
    /// trust, client certificate and authentication of `access`.
    pub fn new(
        endpoints: Vec<String>,
        timeout: Duration,
        rt: Arc<tokio::runtime::Runtime>,
        access: &EtcdAccess,
    ) -> Result<Etcd, Error> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)));
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| Error::Failed(format!("etcd TLS: {}: {e}", p.display())))
        };
        if let Some(ca) = &access.ca_file {
            let cert = reqwest::Certificate::from_pem(&read(ca)?)
                .map_err(|e| Error::Failed(format!("etcd-ca-file {}: {e}", ca.display())))?;
            builder = builder.add_root_certificate(cert);
        }
        if let Some((cert, key)) = &access.client_cert {
            let mut pem = read(cert)?;
            pem.push(b'\n');
            pem.extend(read(key)?);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                Error::Failed(format!("etcd client certificate {}: {e}", cert.display()))
            })?;
            builder = builder.identity(identity);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Failed(format!("etcd client: {e}")))?;
        Ok(Etcd {
            endpoints,
            timeout,
            http,
            rt,
            auth: access.auth.clone(),
            token: std::sync::Mutex::new(None),
        })
    }

    /// The token requests carry (none without authentication), authenticating first if this
    /// client has no token yet.
    fn token(&self) -> Result<Option<String>, Error> {
        let Some(auth) = &self.auth else {
            return Ok(None);
        };
        let mut token = self.token.lock().unwrap_or_else(|p| p.into_inner());
        if token.is_none() {
            *token = Some(self.authenticate(auth)?);
        }
        Ok(token.clone())
    }

    /// `POST /v3/auth/authenticate` as `auth`: the token, or one line saying why not.
    fn authenticate(&self, auth: &EtcdAuth) -> Result<String, Error> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            token: String,
        }
        let body = serde_json::json!({ "name": auth.user, "password": auth.password }).to_string();
        let bytes = self
            .send("/v3/auth/authenticate", body, false, None)
            .map_err(|e| {
                let (Error::Failed(why) | Error::Ambiguous(why)) = e;
                Error::Failed(format!(
                    "etcd authentication as user {:?} failed: {why}",
                    auth.user
                ))
            })?;
        let answer: Answer = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Failed(format!("etcd authenticate answer: {e}")))?;
        if answer.token.is_empty() {
            return Err(Error::Failed(format!(
                "etcd authentication as user {:?}: no token (is auth enabled?)",
                auth.user
            )));
        }
        Ok(answer.token)
    }

    /// [`Etcd::send`] with the authentication token; a token etcd no longer accepts is
    /// replaced once (the request was refused before anything was proposed).
    fn post(&self, path: &str, body: String, idempotent: bool) -> Result<Vec<u8>, Error> {
        let token = self.token()?;
        match self.send(path, body.clone(), idempotent, token.as_deref()) {
            Err(Error::Failed(why))
                if self.auth.is_some() && why.contains("invalid auth token") =>
            {
                *self.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
                let token = self.token()?;
                self.send(path, body, idempotent, token.as_deref())
            }
            other => other,
        }
    }

    /// POSTs `body` to `path`, endpoint after endpoint, round after round until the timeout.
    /// Moving on is safe when the request certainly was not applied: no connection, or etcd
    /// said it has no leader (nothing was proposed). `idempotent` requests (reads) also move on
    /// after any other failure; a write that got no answer, or a server error such as
    /// "request timed out" or "leader changed", is [`Error::Ambiguous`].
    fn send(
        &self,
        path: &str,
        body: String,
        idempotent: bool,
        token: Option<&str>,
    ) -> Result<Vec<u8>, Error> {
        let deadline = std::time::Instant::now() + self.timeout;
        let mut last = String::from("no endpoint");
        loop {
            for endpoint in &self.endpoints {
                let url = format!("{endpoint}{path}");
                match self.attempt(&url, &body, token) {
                    Ok((status, bytes)) if status.is_success() => return Ok(bytes),
                    Ok((status, bytes)) => {
                        let text = String::from_utf8_lossy(bytes.get(..300).unwrap_or(&bytes));
                        last = format!("{url}: HTTP {status}: {text}");
                        // Authentication failed: refused before anything was proposed, and no
                        // other member would say otherwise.
                        let auth = ["invalid auth token", "authentication", "permission denied"];
                        if auth.iter().any(|a| text.contains(a)) {
                            return Err(Error::Failed(last));
                        }
                        let unproposed = text.contains("no leader");
                        if !(unproposed || idempotent) {
                            return Err(if status.is_server_error() {
                                Error::Ambiguous(last)
                            } else {
                                Error::Failed(last)
                            });
                        }
                    }
                    Err(e) if e.is_connect() || idempotent => last = format!("{url}: {e}"),
                    Err(e) => return Err(Error::Ambiguous(format!("{url}: {e}"))),
                }
            }
            if std::time::Instant::now() >= deadline {
                return Err(Error::Failed(last));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// One POST of `body` to `url`: the status and body, or the transport error.
    fn attempt(
        &self,
        url: &str,
        body: &str,
        token: Option<&str>,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), reqwest::Error> {
        let started = std::time::Instant::now();
        let result = self.rt.block_on(async {
            let mut req = self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_string());
            if let Some(token) = token {
                req = req.header("authorization", token);
            }
            let resp = req.send().await?;
            let status = resp.status();
            let bytes = read_limited(resp).await?;
            Ok((status, bytes))
        });
        super::stats::record(super::stats::Store::Etcd, started);
        tracing::debug!(
            url,
            ms = started.elapsed().as_millis() as u64,
            "etcd round trip"
        );
        result
    }
}

/// Reads a response body of at most [`MAX_RESPONSE_BYTES`].
async fn read_limited(mut resp: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if out.len() + chunk.len() > MAX_RESPONSE_BYTES {
            break;
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The key right after every key starting with `prefix` (etcd's `range_end` for a prefix).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn decode_kvs(kvs: Vec<KeyValue>) -> Result<Vec<Entry>, Error> {
    kvs.into_iter()
        .map(|kv| {
            let key = B64
                .decode(&kv.key)
                .ok()
                .and_then(|k| String::from_utf8(k).ok())
                .ok_or_else(|| {
                    Error::Failed("etcd returned a key that is not base64 UTF-8".into())
                })?;
            let value = B64
                .decode(&kv.value)
                .map_err(|_| Error::Failed(format!("etcd returned a bad value for {key}")))?;
            Ok(Entry { key, value })
        })
        .collect()
}

fn compare_json(c: &Compare) -> serde_json::Value {
    match c {
        Compare::ValueIs { key, value } => serde_json::json!({
            "target": "VALUE", "result": "EQUAL",
            "key": B64.encode(key), "value": B64.encode(value),
        }),
        Compare::Absent { key } => serde_json::json!({
            "target": "VERSION", "result": "EQUAL", "key": B64.encode(key), "version": "0",
        }),
    }
}

fn op_json(op: &Op) -> serde_json::Value {
    match op {
        Op::Put { key, value } => serde_json::json!({
            "request_put": { "key": B64.encode(key), "value": B64.encode(value) }
        }),
        Op::Delete { key } => serde_json::json!({
            "request_delete_range": { "key": B64.encode(key) }
        }),
    }
}

impl Kv for Etcd {
    fn range(&self, prefix: &str) -> Result<Vec<Entry>, Error> {
        let body = serde_json::to_string(&RangeRequest {
            key: B64.encode(prefix),
            range_end: B64.encode(prefix_end(prefix.as_bytes())),
        })
        .map_err(|e| Error::Failed(e.to_string()))?;
        let bytes = self.post("/v3/kv/range", body, true)?;
        let resp: RangeResponse = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Failed(format!("etcd range answer: {e}")))?;
        decode_kvs(resp.kvs)
    }

    fn txn(&self, txn: &Txn) -> Result<TxnOutcome, Error> {
        // On failure, read back every compared key so the caller can say what the ref is at.
        let failure: Vec<serde_json::Value> = txn
            .compares
            .iter()
            .map(|c| {
                let (Compare::ValueIs { key, .. } | Compare::Absent { key }) = c;
                serde_json::json!({ "request_range": { "key": B64.encode(key) } })
            })
            .collect();
        let body = serde_json::json!({
            "compare": txn.compares.iter().map(compare_json).collect::<Vec<_>>(),
            "success": txn.ops.iter().map(op_json).collect::<Vec<_>>(),
            "failure": failure,
        })
        .to_string();
        let bytes = self.post("/v3/kv/txn", body, false)?;
        let resp: TxnResponse = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Ambiguous(format!("etcd txn answer: {e}")))?;
        if resp.succeeded {
            return Ok(TxnOutcome::Applied);
        }
        let mut current = Vec::new();
        for r in resp.responses {
            current.extend(decode_kvs(r.response_range.unwrap_or_default().kvs)?);
        }
        Ok(TxnOutcome::Refused(current))
    }

    fn acquire(&self, key: &str, holder: &str, ttl_secs: u64) -> Result<Option<i64>, Error> {
        let lease = self.grant(ttl_secs)?;
        let body = serde_json::json!({
            "compare": [compare_json(&Compare::Absent { key: key.to_string() })],
            "success": [{ "request_put": {
                "key": B64.encode(key), "value": B64.encode(holder), "lease": lease.to_string(),
            }}],
        })
        .to_string();
        // An unanswered attempt leaves at worst a key that expires with its lease.
        let bytes = self.post("/v3/kv/txn", body, false)?;
        let resp: TxnResponse = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Failed(format!("etcd txn answer: {e}")))?;
        if resp.succeeded {
            return Ok(Some(lease));
        }
        let _ = self.release(lease);
        Ok(None)
    }

    fn refresh(&self, lease: i64) -> Result<(), Error> {
        let body = serde_json::json!({ "ID": lease.to_string() }).to_string();
        let bytes = self.post("/v3/lease/keepalive", body, true)?;
        let alive: KeepAlive = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Failed(format!("etcd keepalive answer: {e}")))?;
        match alive.result.and_then(|r| r.ttl) {
            Some(ttl) if ttl != "0" => Ok(()),
            _ => Err(Error::Failed(format!("lease {lease} expired"))),
        }
    }

    fn release(&self, lease: i64) -> Result<(), Error> {
        let body = serde_json::json!({ "ID": lease.to_string() }).to_string();
        self.post("/v3/lease/revoke", body, true).map(|_| ())
    }
}

/// etcd's answer to a lease grant (`ID` as proto3 JSON writes an int64: a string).
#[derive(Deserialize)]
struct LeaseGrant {
    #[serde(rename = "ID")]
    id: String,
}

/// etcd's answer to a keep-alive: a `TTL` of 0 or none means the lease is gone.
#[derive(Deserialize)]
struct KeepAlive {
    result: Option<KeepAliveResult>,
}

#[derive(Deserialize)]
struct KeepAliveResult {
    #[serde(rename = "TTL", default)]
    ttl: Option<String>,
}

impl Etcd {
    /// Grants a lease of `ttl_secs`.
    fn grant(&self, ttl_secs: u64) -> Result<i64, Error> {
        let body = serde_json::json!({ "TTL": ttl_secs.to_string() }).to_string();
        let bytes = self.post("/v3/lease/grant", body, false)?;
        let grant: LeaseGrant = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Failed(format!("etcd lease answer: {e}")))?;
        grant
            .id
            .parse()
            .map_err(|_| Error::Failed(format!("etcd lease id {:?}", grant.id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key() {
        assert_eq!(prefix_end(b"a/b/"), b"a/b0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), b"\0");
    }

    #[test]
    fn compares_are_proto3_json() {
        let v = compare_json(&Compare::Absent { key: "k".into() });
        assert_eq!(v["target"], "VERSION");
        assert_eq!(v["version"], "0");
        assert_eq!(v["key"], B64.encode("k"));
    }
}
