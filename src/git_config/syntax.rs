//! git's config syntax, byte for byte as config.c's `git_parse_source` reads it: the one
//! parser behind [`super::GitConfig`] and fsck's `.gitmodules` check (where a hostile file
//! must not parse differently here than in a cloner's git, and a parse error is an fsck
//! message, `gitmodulesParse`, so entries are streamed and the error is returned bare).

/// git's idea of whitespace (`sane_ctype`): no vertical tab or form feed.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_keychar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

/// Receives each config entry: variable, value and 1-based line; returns false to stop.
pub type EntryFn<'a> = dyn FnMut(&[u8], Option<&[u8]>, usize) -> bool + 'a;

/// The parse failed (git: "bad config line <line>").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line where the error was found.
    pub line: usize,
}

/// git's config reader over a byte buffer: `\r\n` reads as `\n`, and the end as a final `\n`.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    eof: bool,
    /// 1-based line of the next character.
    line: usize,
    /// 1-based line of the last character read (git names it in errors).
    last_line: usize,
}

impl Cursor<'_> {
    /// The error at the current line.
    fn error(&self) -> ParseError {
        ParseError {
            line: self.last_line,
        }
    }

    fn next(&mut self) -> u8 {
        let c = self.next_raw();
        self.last_line = self.line;
        if c == b'\n' && !self.eof {
            self.line += 1;
        }
        c
    }

    fn next_raw(&mut self) -> u8 {
        match self.data.get(self.pos) {
            None => {
                self.eof = true;
                b'\n'
            }
            Some(&b'\r') if self.data.get(self.pos + 1) == Some(&b'\n') => {
                self.pos += 2;
                b'\n'
            }
            Some(&c) => {
                self.pos += 1;
                c
            }
        }
    }
}

/// Parses `data` as a git config file the way git's `git_parse_source` does, calling `entry`
/// with each variable (`section.subsection.key`, section and key lower-cased) and its value
/// (`None` for a bare key) as it goes; `entry` returns false to stop. Entries before a syntax
/// error are still delivered, as git delivers them.
pub fn parse_config(data: &[u8], entry: &mut EntryFn<'_>) -> Result<(), ParseError> {
    let mut cur = Cursor {
        data,
        pos: 0,
        eof: false,
        line: 1,
        last_line: 1,
    };
    let mut var: Vec<u8> = Vec::new();
    let mut base_len = 0;
    let mut comment = false;
    if data.starts_with(b"\xef\xbb\xbf") {
        cur.pos = 3;
    } else if [&b"\xef"[..], b"\xef\xbb"]
        .iter()
        .any(|p| data.starts_with(p))
    {
        // A partial byte order mark: git stops there.
        return Err(cur.error());
    }
    loop {
        let c = cur.next();
        if c == b'\n' {
            if cur.eof {
                return Ok(());
            }
            comment = false;
            continue;
        }
        if comment || is_space(c) {
            continue;
        }
        if c == b'#' || c == b';' {
            comment = true;
            continue;
        }
        if c == b'[' {
            var.clear();
            base_var(&mut cur, &mut var)?;
            if var.is_empty() {
                return Err(cur.error());
            }
            var.push(b'.');
            base_len = var.len();
            continue;
        }
        if !c.is_ascii_alphabetic() {
            return Err(cur.error());
        }
        var.truncate(base_len);
        var.push(c.to_ascii_lowercase());
        let line = cur.line;
        if !key_value(&mut cur, &mut var, line, entry)? {
            return Ok(());
        }
    }
}

/// After `[`: the section name, and a quoted subsection if a space follows.
fn base_var(cur: &mut Cursor<'_>, var: &mut Vec<u8>) -> Result<(), ParseError> {
    loop {
        let c = cur.next();
        if cur.eof {
            return Err(cur.error());
        }
        if c == b']' {
            return Ok(());
        }
        if is_space(c) {
            return extended_base_var(cur, var, c);
        }
        if !is_keychar(c) && c != b'.' {
            return Err(cur.error());
        }
        var.push(c.to_ascii_lowercase());
    }
}

/// `"subsection"]` after a section name and blanks; `\` escapes any character but newline.
fn extended_base_var(cur: &mut Cursor<'_>, var: &mut Vec<u8>, mut c: u8) -> Result<(), ParseError> {
    loop {
        if c == b'\n' {
            return Err(cur.error());
        }
        c = cur.next();
        if !is_space(c) {
            break;
        }
    }
    if c != b'"' {
        return Err(cur.error());
    }
    var.push(b'.');
    loop {
        let mut c = cur.next();
        if c == b'\n' {
            return Err(cur.error());
        }
        if c == b'"' {
            break;
        }
        if c == b'\\' {
            c = cur.next();
            if c == b'\n' {
                return Err(cur.error());
            }
        }
        var.push(c);
    }
    if cur.next() != b']' {
        return Err(cur.error());
    }
    Ok(())
}

/// The rest of a key (its first letter is in `var`), then `= value` or the end of the line;
/// delivers the entry. Returns what `entry` returned.
fn key_value(
    cur: &mut Cursor<'_>,
    var: &mut Vec<u8>,
    line: usize,
    entry: &mut EntryFn<'_>,
) -> Result<bool, ParseError> {
    let mut c;
    loop {
        c = cur.next();
        if cur.eof || !is_keychar(c) {
            break;
        }
        var.push(c.to_ascii_lowercase());
    }
    while c == b' ' || c == b'\t' {
        c = cur.next();
    }
    let value = if c == b'\n' {
        None
    } else if c == b'=' {
        Some(value(cur)?)
    } else {
        return Err(cur.error());
    };
    // git hands both on as C strings.
    let cstr = |b: &[u8]| {
        b.len()
            .min(b.iter().position(|&x| x == 0).unwrap_or(b.len()))
    };
    let name = &var[..cstr(var)];
    Ok(entry(name, value.as_deref().map(|v| &v[..cstr(v)]), line))
}

/// A value up to the end of its line: quotes, escapes, comments, trailing blanks trimmed.
fn value(cur: &mut Cursor<'_>) -> Result<Vec<u8>, ParseError> {
    let (mut out, mut quote, mut comment, mut trim_len) = (Vec::new(), false, false, 0);
    loop {
        let c = cur.next();
        if c == b'\n' {
            if quote {
                return Err(cur.error());
            }
            if trim_len > 0 {
                out.truncate(trim_len);
            }
            return Ok(out);
        }
        if comment {
            continue;
        }
        if is_space(c) && !quote {
            if trim_len == 0 {
                trim_len = out.len();
            }
            if !out.is_empty() {
                out.push(c);
            }
            continue;
        }
        if !quote && (c == b';' || c == b'#') {
            comment = true;
            continue;
        }
        trim_len = 0;
        match c {
            b'\\' => match cur.next() {
                b'\n' => {}
                b't' => out.push(b'\t'),
                b'b' => out.push(0x08),
                b'n' => out.push(b'\n'),
                e @ (b'\\' | b'"') => out.push(e),
                _ => return Err(cur.error()),
            },
            b'"' => quote = !quote,
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Entries = Vec<(String, Option<String>)>;

    fn entries(text: &[u8]) -> (Entries, Result<(), ParseError>) {
        let mut out = Vec::new();
        let res = parse_config(text, &mut |k, v, _| {
            out.push((
                String::from_utf8_lossy(k).into_owned(),
                v.map(|v| String::from_utf8_lossy(v).into_owned()),
            ));
            true
        });
        (out, res)
    }

    #[test]
    fn config_syntax() {
        let (e, r) = entries(
            b"\xef\xbb\xbf# c\n[submodule \"A b\\\"c\"]\r\n\tURL = \" x \" # c\n\tpath=a\\\n b\n\
              [Sub.Sect]\n\tflag\n[s]k=\"\\n\\t\\\\\"  \n",
        );
        assert_eq!(r, Ok(()));
        let want: Entries = vec![
            ("submodule.A b\"c.url".into(), Some(" x ".into())),
            ("submodule.A b\"c.path".into(), Some("a b".into())),
            ("sub.sect.flag".into(), None),
            ("s.k".into(), Some("\n\t\\".into())),
        ];
        assert_eq!(e, want);
        for bad in [
            &b"[submodule \"a\"\n"[..],
            b"[a]\nk = \"open\n",
            b"[a]\nk = \\q\n",
            b"[a]\n1k = v\n",
            b"[a]\nk # c\n",
            b"[]\n",
            b"[a \"b\"x]\n",
            b"\xef\xbbx",
        ] {
            assert!(entries(bad).1.is_err(), "{}", bad.escape_ascii());
        }
        // Entries before the error are delivered.
        let (e, r) = entries(b"[submodule \"x\"]\nurl = -a\n[oops\n");
        assert_eq!(r, Err(ParseError { line: 3 }));
        assert_eq!(e.len(), 1);
    }
}
