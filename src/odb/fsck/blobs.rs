//! The blob checks: a blob some tree names `.gitmodules` is parsed as git config and its
//! submodule names, URLs, paths and update commands are checked (the CVE-2018-11235 class: a
//! cloner who recurses into submodules must never be made to run an option or write outside
//! `.git/modules`); one named `.gitattributes` must have no line a checkout would refuse.
//! After C git's `fsck_blob`, `check_submodule_name` / `check_submodule_url`
//! (submodule-config.c), `url_normalize` (urlmatch.c) and the config parser of config.c, whose
//! exact syntax matters: a hostile file must not parse differently here than in a cloner's git.

use super::{MsgId, Reporter};
use crate::git_config::syntax::parse_config;
use crate::odb::fsck::FsckError;

/// git's `ATTR_MAX_FILE_SIZE`: a larger `.gitattributes` is not read by git at all.
pub const ATTR_MAX_FILE_SIZE: u64 = 100 << 20;
/// git's `ATTR_MAX_LINE_LENGTH`: longer lines are ignored by git.
const ATTR_MAX_LINE_LENGTH: usize = 2048;
/// How much of a value goes into a message.
const SHOWN: usize = 200;

fn shown(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(SHOWN)];
    cut.escape_ascii().to_string()
}

/// Checks the content of a blob named `.gitattributes`.
pub(super) fn check_gitattributes(data: &[u8], r: &mut Reporter<'_>) -> Result<(), FsckError> {
    if data.len() as u64 > ATTR_MAX_FILE_SIZE {
        return r.report(
            MsgId::GitattributesLarge,
            ".gitattributes too large to parse",
        );
    }
    // git scans the blob as a C string: it ends at the first NUL.
    let text = &data[..data.iter().position(|&b| b == 0).unwrap_or(data.len())];
    if text
        .split(|&b| b == b'\n')
        .any(|line| line.len() >= ATTR_MAX_LINE_LENGTH)
    {
        return r.report(
            MsgId::GitattributesLineLength,
            ".gitattributes has too long lines to parse",
        );
    }
    Ok(())
}

/// Checks the content of a blob named `.gitmodules`: every `submodule.<name>.<key>` entry,
/// then whether the whole parsed (an unparsable file is only worth `gitmodulesParse`, info).
pub(super) fn check_gitmodules(data: &[u8], r: &mut Reporter<'_>) -> Result<(), FsckError> {
    let mut problem = Ok(());
    let parsed = parse_config(data, &mut |var, value, _| {
        problem = check_gitmodules_entry(var, value, r);
        problem.is_ok()
    });
    problem?;
    if parsed.is_err() {
        return r.report(MsgId::GitmodulesParse, "could not parse gitmodules blob");
    }
    Ok(())
}

/// One config entry of a `.gitmodules` (git's `fsck_gitmodules_fn`).
fn check_gitmodules_entry(
    var: &[u8],
    value: Option<&[u8]>,
    r: &mut Reporter<'_>,
) -> Result<(), FsckError> {
    // git's `parse_config_key(var, "submodule", &subsection, ..., &key)`.
    let Some(rest) = var.strip_prefix(b"submodule.") else {
        return Ok(());
    };
    let Some(last_dot) = rest.iter().rposition(|&b| b == b'.') else {
        return Ok(());
    };
    let (name, key) = (&rest[..last_dot], &rest[last_dot + 1..]);
    if !check_submodule_name(name) {
        r.report(
            MsgId::GitmodulesName,
            format!("disallowed submodule name: {}", shown(name)),
        )?;
    }
    let Some(value) = value else {
        return Ok(());
    };
    match key {
        b"url" if !check_submodule_url(value) => r.report(
            MsgId::GitmodulesUrl,
            format!("disallowed submodule url: {}", shown(value)),
        ),
        b"path" if value.starts_with(b"-") => r.report(
            MsgId::GitmodulesPath,
            format!("disallowed submodule path: {}", shown(value)),
        ),
        b"update" if is_update_command(value) => r.report(
            MsgId::GitmodulesUpdate,
            format!("disallowed submodule update setting: {}", shown(value)),
        ),
        _ => Ok(()),
    }
}

/// `submodule.<name>.update = !command` (git's `SM_UPDATE_COMMAND`).
fn is_update_command(value: &[u8]) -> bool {
    !matches!(value, b"none" | b"checkout" | b"rebase" | b"merge") && value.starts_with(b"!")
}

/// `/` and `\`: git judges names and URLs with both, whatever the platform.
fn is_sep(c: u8) -> bool {
    c == b'/' || c == b'\\'
}

/// A submodule name may be neither empty nor contain `..` as a path component: it becomes a
/// directory under `.git/modules/`.
pub fn check_submodule_name(name: &[u8]) -> bool {
    if name.is_empty() {
        return false;
    }
    let dotdot_at = |at: &[u8]| at.starts_with(b"..") && at.get(2).is_none_or(|&c| is_sep(c));
    if dotdot_at(name) {
        return false;
    }
    !name
        .iter()
        .enumerate()
        .any(|(i, &c)| is_sep(c) && dotdot_at(&name[i + 1..]))
}

fn starts_with_dot_slash(s: &[u8]) -> bool {
    s.first() == Some(&b'.') && s.get(1).is_some_and(|&c| is_sep(c))
}

fn starts_with_dot_dot_slash(s: &[u8]) -> bool {
    s.starts_with(b"..") && s.get(2).is_some_and(|&c| is_sep(c))
}

/// How many `../` lead `url` (skipping `./`), and what follows them.
fn count_leading_dotdots(mut url: &[u8]) -> (usize, &[u8]) {
    let mut n = 0;
    loop {
        if starts_with_dot_dot_slash(url) {
            n += 1;
            url = &url[3..];
        } else if starts_with_dot_slash(url) {
            url = &url[2..];
        } else {
            return (n, url);
        }
    }
}

/// The URL git-remote-curl would get for `url`, if it is one curl handles.
fn curl_url(url: &[u8]) -> Option<&[u8]> {
    for p in [&b"http::"[..], b"https::", b"ftp::", b"ftps::"] {
        if let Some(rest) = url.strip_prefix(p) {
            return Some(rest);
        }
    }
    [&b"http://"[..], b"https://", b"ftp://", b"ftps://"]
        .iter()
        .any(|p| url.starts_with(p))
        .then_some(url)
}

/// Whether a submodule URL is safe to hand to git's transports: no option-like URL, nothing
/// that decodes to a newline (credential-helper injection), and no relative URL climbing out
/// of its host part (CVE-2020-11008).
pub fn check_submodule_url(url: &[u8]) -> bool {
    // git sees the value as a C string.
    let url = &url[..url.iter().position(|&b| b == 0).unwrap_or(url.len())];
    if url.starts_with(b"-") {
        return false;
    }
    if starts_with_dot_slash(url) || starts_with_dot_dot_slash(url) || url.starts_with(b"git://") {
        if url_decode(url).contains(&b'\n') {
            return false;
        }
        let (n, next) = count_leading_dotdots(url);
        return !(n > 0 && matches!(next.first(), Some(b':' | b'/')));
    }
    if let Some(curl) = curl_url(url) {
        return url_normalize(curl).is_some_and(|n| !url_decode(&n).contains(&b'\n'));
    }
    true
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// git's `hex2chr` on the two bytes after a `%`.
fn hex2chr(s: &[u8]) -> Option<u8> {
    Some(hex_val(*s.first()?)? << 4 | hex_val(*s.get(1)?)?)
}

/// git's `url_decode`: the scheme (before the first `:`) is kept, then `%XX` escapes other than
/// `%00` are decoded.
fn url_decode(url: &[u8]) -> Vec<u8> {
    let start = match url.iter().position(|&b| b == b':') {
        Some(colon) if colon > 0 => colon,
        _ => 0,
    };
    let mut out = url[..start].to_vec();
    let mut rest = &url[start..];
    while let Some((&c, tail)) = rest.split_first() {
        if c == b'%' {
            if let Some(v) = hex2chr(tail).filter(|&v| v > 0) {
                out.push(v);
                rest = &tail[2..];
                continue;
            }
        }
        out.push(c);
        rest = tail;
    }
    out
}

const URL_UNSAFE_CHARS: &[u8] = b" <>\"%{}|\\^`";
const URL_RESERVED: &[u8] = b":/?#[]@!$&'()*+,;=";

/// Appends `from` with `%XX` escapes normalized (git's `append_normalized_escapes`); `None`
/// for a malformed escape.
fn append_normalized_escapes(buf: &mut Vec<u8>, from: &[u8]) -> Option<()> {
    let mut rest = from;
    while let Some((&first, tail)) = rest.split_first() {
        let (ch, was_esc, tail) = if first == b'%' {
            (hex2chr(tail)?, true, tail.get(2..)?)
        } else {
            (first, false, tail)
        };
        if ch <= 0x1f
            || ch >= 0x7f
            || URL_UNSAFE_CHARS.contains(&ch)
            || (was_esc && URL_RESERVED.contains(&ch))
        {
            buf.extend_from_slice(format!("%{ch:02X}").as_bytes());
        } else {
            buf.push(ch);
        }
        rest = tail;
    }
    Some(())
}

/// Where the first of `/`, `?` or `#` is in `s` (its length if none).
fn span_to_path(s: &[u8]) -> usize {
    s.iter().position(|c| b"/?#".contains(c)).unwrap_or(s.len())
}

/// git's `url_normalize` for the part of the check that matters: `None` when git would call
/// the URL invalid, else the normalized URL (lower-case scheme and host, escapes normalized,
/// `.` and `..` path segments resolved).
fn url_normalize(url: &[u8]) -> Option<Vec<u8>> {
    let scheme = url
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || b"+.-".contains(c))
        .count();
    if scheme == 0 || !url.first()?.is_ascii_alphabetic() || url.get(scheme..scheme + 3)? != b"://"
    {
        return None;
    }
    let mut norm: Vec<u8> = url[..scheme + 3].to_ascii_lowercase();
    let mut url = &url[scheme + 3..];
    let slash = span_to_path(url);
    if let Some(at) = url.iter().position(|&b| b == b'@').filter(|&at| at < slash) {
        append_normalized_escapes(&mut norm, &url[..at])?;
        norm.push(b'@');
        url = &url[at + 1..];
    }
    normalize_host_port(&mut norm, &mut url)?;
    normalize_path(&mut norm, &mut url)?;
    if !url.is_empty() {
        append_normalized_escapes(&mut norm, url)?;
    }
    Some(norm)
}

/// The host and optional port of [`url_normalize`]; leaves `url` at the path.
fn normalize_host_port(norm: &mut Vec<u8>, url: &mut &[u8]) -> Option<()> {
    let slash = span_to_path(url);
    let has_host = !url.first().is_none_or(|c| b":/?#".contains(c));
    if !has_host && !norm.starts_with(b"file:") {
        return None;
    }
    // The last ':' before the path, unless a ']' (IPv6 literal) comes after it.
    let colon = url[..slash]
        .iter()
        .rposition(|&c| c == b':' || c == b']')
        .filter(|&i| url[i] == b':')
        .unwrap_or(slash);
    if !has_host && colon < slash && colon + 1 != slash {
        return None;
    }
    let host_ok = url[..colon]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || b".-_[:]".contains(c));
    if !host_ok {
        return None;
    }
    norm.extend(url[..colon].iter().map(u8::to_ascii_lowercase));
    if colon < slash {
        let digits = &url[colon + 1..slash];
        let zeros = digits.iter().take_while(|&&c| c == b'0').count();
        let port = match zeros {
            z if z == digits.len() && z > 0 => &digits[z - 1..],
            z => &digits[z..],
        };
        let default = (port == b"80" && norm.starts_with(b"http:"))
            || (port == b"443" && norm.starts_with(b"https:"));
        if !port.is_empty() && !default {
            if !port.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let n: u32 = if port.len() <= 5 {
                std::str::from_utf8(port).ok()?.parse().ok()?
            } else {
                0
            };
            if n == 0 || n > 65535 {
                return None;
            }
            norm.push(b':');
            norm.extend_from_slice(port);
        }
    }
    *url = &url[slash..];
    Some(())
}

/// The path of [`url_normalize`]: escapes normalized, `.` dropped, `..` removing the segment
/// before it (an invalid URL if there is none); leaves `url` at a `?` or `#`.
fn normalize_path(norm: &mut Vec<u8>, url: &mut &[u8]) -> Option<()> {
    let path_off = norm.len();
    norm.push(b'/');
    if let Some(rest) = url.strip_prefix(b"/") {
        *url = rest;
    }
    loop {
        let seg_start = norm.len();
        let next = span_to_path(url);
        append_normalized_escapes(norm, &url[..next])?;
        let mut skip_slash = false;
        if &norm[seg_start..] == b"." {
            if seg_start == path_off + 1 {
                norm.truncate(norm.len() - 1);
                skip_slash = true;
            } else {
                norm.truncate(norm.len() - 2);
            }
        } else if &norm[seg_start..] == b".." {
            let mut prev = norm.len() - 3;
            if prev == path_off {
                return None;
            }
            loop {
                prev -= 1;
                if norm[prev] == b'/' {
                    break;
                }
            }
            if prev == path_off {
                norm.truncate(prev + 1);
                skip_slash = true;
            } else {
                norm.truncate(prev);
            }
        }
        *url = &url[next..];
        match url.strip_prefix(b"/") {
            Some(rest) => *url = rest,
            None => return Some(()),
        }
        if !skip_slash {
            norm.push(b'/');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submodule_names() {
        for ok in [&b"a"[..], b"a/b", b"..a", b"a..", b"a/..b", b"x\\y"] {
            assert!(check_submodule_name(ok), "{}", ok.escape_ascii());
        }
        for bad in [
            &b""[..],
            b"..",
            b"../../modules/evil",
            b"a/../../../hooks",
            b"a/..",
            b"a\\..\\b",
            b"..\\x",
        ] {
            assert!(!check_submodule_name(bad), "{}", bad.escape_ascii());
        }
    }

    #[test]
    fn submodule_urls() {
        for ok in [
            &b"https://example.com/repo.git"[..],
            b"./sub",
            b"../sub",
            b"git://example.com/a",
            b"ssh://host/path",
            b"host:path",
            b"https://example.com/a/../b",
            b"https://example.com:443/%41",
            b"https://example.com/%0a/../x",
            b"http::https://example.com/x",
            b"./%00x",
        ] {
            assert!(check_submodule_url(ok), "{}", ok.escape_ascii());
        }
        for bad in [
            &b"--upload-pack=touch /tmp/pwned"[..],
            b"-x",
            b"./%0ahost=evil.example.com",
            b"../%0Ahost=x",
            b"git://example.com/%0a",
            b"https://example.com/\nrepo",
            b"https://example.com/%0arepo",
            b"https://example.com/x?%0a",
            b"http::https://example.com/%0a",
            b"../:x",
            b"..//x",
            b"./../:x",
            b"https://exa mple.com/",
            b"https://example.com:0/",
            b"https://example.com:70000/",
            b"https://example.com:x/",
            b"https:///path",
            b"https://example.com/..",
            b"https://example.com/%zz",
            b"https://example.com/%4",
            b"http::nope",
        ] {
            assert!(!check_submodule_url(bad), "{}", bad.escape_ascii());
        }
    }

    #[test]
    fn url_normalization() {
        let n = |u: &[u8]| url_normalize(u).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(
            n(b"HTTPS://User@Example.COM:0443/a/./b/../c?%41#x").as_deref(),
            Some("https://User@example.com/a/c?A#x")
        );
        assert_eq!(n(b"http://h:080/").as_deref(), Some("http://h/"));
        assert_eq!(n(b"http://h/a/..").as_deref(), Some("http://h/"));
        assert_eq!(n(b"http://h/%7e%0a").as_deref(), Some("http://h/~%0A"));
        assert_eq!(
            n(b"http://[::1]:8080/x").as_deref(),
            Some("http://[::1]:8080/x")
        );
    }
}
