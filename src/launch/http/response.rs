//! The CGI response: a header block (`Status:` line, then headers, then a blank line) and the
//! body, on stdout and nowhere else. Header sets follow `http-backend.c` (`hdr_nocache`,
//! `hdr_cache_forever`); every refusal carries a short `text/plain` body (Deviation: git's
//! 403/404 have none).
//!
//! [`Deferred`] holds a smart-HTTP response's headers until the service writes its first
//! byte: a request that fails before that (a truncated or oversized body, a corrupt pack) still
//! gets a clean 4xx/5xx instead of a 200 with a cut-off body.

use std::io::Write;

/// The HTTP statuses Sluice answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 200.
    Ok,
    /// 400: malformed request (bad path, truncated or corrupt body).
    BadRequest,
    /// 403: the service is disabled or access is denied.
    Forbidden,
    /// 404: no such route, repository, or file; or not exported.
    NotFound,
    /// 405: a known route with the wrong method (HTTP/1.1).
    MethodNotAllowed,
    /// 413: the request body is larger than the configured limit.
    PayloadTooLarge,
    /// 415: a POST with the wrong `Content-Type`.
    UnsupportedMediaType,
    /// 500: the server environment or the repository is broken.
    Internal,
}

impl Status {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::PayloadTooLarge => 413,
            Status::UnsupportedMediaType => 415,
            Status::Internal => 500,
        }
    }

    /// The reason phrase.
    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::PayloadTooLarge => "Payload Too Large",
            Status::UnsupportedMediaType => "Unsupported Media Type",
            Status::Internal => "Internal Server Error",
        }
    }
}

/// A refusal: the status, the one-line text the client sees, and for 405 the `Allow` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {}: {message}", status.code(), status.reason())]
pub struct Reject {
    /// The status.
    pub status: Status,
    /// What the client is told (never a filesystem path).
    pub message: String,
    /// `Allow:` for 405.
    pub allow: Option<&'static str>,
}

impl Reject {
    /// A refusal with `status` and `message`.
    pub fn new(status: Status, message: impl Into<String>) -> Reject {
        Reject {
            status,
            message: message.into(),
            allow: None,
        }
    }

    /// A 500 for a misconfigured server (`message` names what is missing).
    pub fn internal(message: impl Into<String>) -> Reject {
        Reject::new(Status::Internal, message)
    }

    /// http-backend's `bad_request`: 405 with `Allow` under HTTP/1.1 (`http11`), else 400;
    /// `get` says whether the route wanted GET (then HEAD is allowed too) or POST.
    pub fn wrong_method(get: bool, http11: bool) -> Reject {
        if http11 {
            Reject {
                status: Status::MethodNotAllowed,
                message: "Method Not Allowed".into(),
                allow: Some(if get { "GET, HEAD" } else { "POST" }),
            }
        } else {
            Reject::new(Status::BadRequest, "Bad Request")
        }
    }

    /// The whole CGI response for this refusal.
    pub fn to_response(&self) -> Vec<u8> {
        let body = format!("{}\n", self.message);
        let mut h = Headers::new(self.status);
        if let Some(allow) = self.allow {
            h.add("Allow", allow);
        }
        h.nocache();
        h.add("Content-Type", "text/plain; charset=utf-8");
        h.add("Content-Length", &body.len().to_string());
        let mut out = h.finish();
        out.extend_from_slice(body.as_bytes());
        out
    }
}

/// A CGI header block under construction.
#[derive(Debug, Clone)]
pub struct Headers(String);

impl Headers {
    /// Starts with `Status:` (omitted for 200, as http-backend omits it).
    pub fn new(status: Status) -> Headers {
        let mut s = String::new();
        if status != Status::Ok {
            s.push_str(&format!(
                "Status: {} {}\r\n",
                status.code(),
                status.reason()
            ));
        }
        Headers(s)
    }

    /// Adds `name: value`.
    pub fn add(&mut self, name: &str, value: &str) -> &mut Self {
        self.0.push_str(&format!("{name}: {value}\r\n"));
        self
    }

    /// http-backend's `hdr_nocache`: for everything that changes (refs, RPC results).
    pub fn nocache(&mut self) -> &mut Self {
        self.add("Expires", "Fri, 01 Jan 1980 00:00:00 GMT")
            .add("Pragma", "no-cache")
            .add("Cache-Control", "no-cache, max-age=0, must-revalidate")
    }

    /// http-backend's `hdr_cache_forever`: for content-addressed files (objects, packs);
    /// `now` is seconds since the epoch.
    pub fn cache_forever(&mut self, now: u64) -> &mut Self {
        self.add("Date", &http_date(now))
            .add("Expires", &http_date(now.saturating_add(31_536_000)))
            .add("Cache-Control", "public, max-age=31536000")
    }

    /// The block, ended by the blank line.
    pub fn finish(&self) -> Vec<u8> {
        format!("{}\r\n", self.0).into_bytes()
    }
}

/// `secs` since the epoch as an HTTP date (`Thu, 01 Jan 1970 00:00:00 GMT`). Deviation: git
/// writes RFC 2822 dates in the server's time zone; HTTP wants GMT.
pub fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1).clamp(0, 11) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A writer that sends `headers` just before the first body byte, so that a failure before any
/// output can still become an error response ([`Deferred::reject`]).
#[derive(Debug)]
pub struct Deferred<W: Write> {
    inner: W,
    headers: Option<Vec<u8>>,
}

impl<W: Write> Deferred<W> {
    /// Holds `headers` for `inner`.
    pub fn new(inner: W, headers: Vec<u8>) -> Self {
        Deferred {
            inner,
            headers: Some(headers),
        }
    }

    /// Whether the headers (and so the status) have gone out.
    pub fn sent(&self) -> bool {
        self.headers.is_none()
    }

    /// Sends the headers if nothing did yet (a success with an empty body), then flushes.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if let Some(h) = self.headers.take() {
            self.inner.write_all(&h)?;
        }
        self.inner.flush()
    }

    /// Answers `reject` instead of the held headers; false when it is too late (the status
    /// went out already).
    pub fn reject(&mut self, reject: &Reject) -> std::io::Result<bool> {
        if self.headers.take().is_none() {
            return Ok(false);
        }
        self.inner.write_all(&reject.to_response())?;
        self.inner.flush()?;
        Ok(true)
    }
}

impl<W: Write> Write for Deferred<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(h) = self.headers.take() {
            self.inner.write_all(&h)?;
        }
        self.inner.write(buf)
    }

    /// Nothing is flushed before the first byte: the status is still open.
    fn flush(&mut self) -> std::io::Result<()> {
        if self.headers.is_some() {
            return Ok(());
        }
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(1_795_663_545), "Thu, 26 Nov 2026 03:25:45 GMT");
        assert_eq!(http_date(4_133_980_799), "Fri, 31 Dec 2100 23:59:59 GMT");
    }

    #[test]
    fn refusals() {
        let r = Reject::wrong_method(true, true).to_response();
        let text = String::from_utf8(r).unwrap();
        assert!(text.starts_with("Status: 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n"));
        assert!(text.ends_with("\r\n\r\nMethod Not Allowed\n"));
        assert_eq!(
            Reject::wrong_method(false, false).status,
            Status::BadRequest
        );
        assert_eq!(
            Headers::new(Status::Ok).add("A", "b").finish(),
            b"A: b\r\n\r\n"
        );
    }

    #[test]
    fn deferred_headers() {
        let mut out = Vec::new();
        let mut d = Deferred::new(&mut out, b"H\r\n\r\n".to_vec());
        d.flush().unwrap();
        assert!(!d.sent());
        assert!(d
            .reject(&Reject::new(Status::BadRequest, "truncated"))
            .unwrap());
        assert!(String::from_utf8_lossy(&out).starts_with("Status: 400 Bad Request\r\n"));
        let mut out = Vec::new();
        let mut d = Deferred::new(&mut out, b"H\r\n\r\n".to_vec());
        d.write_all(b"body").unwrap();
        assert!(!d.reject(&Reject::new(Status::BadRequest, "late")).unwrap());
        assert_eq!(out, b"H\r\n\r\nbody");
    }
}
