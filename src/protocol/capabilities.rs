//! Capabilities: what a service advertises, and checking what a client asks for against it.
//!
//! Each service keeps a static table of [`Row`]s (name + a function deciding whether, and with
//! which value, to advertise it in this request's context), so that adding a capability means
//! adding a row. A client may only ask for capabilities that were advertised; anything else is an
//! error quoting the name (git: `die("unknown capability '%s'")`; dulwich: `set_client_capabilities`).

/// One row of a service's capability table; `C` is the service's advertisement context.
pub struct Row<C> {
    /// The capability name as it appears on the wire (`multi_ack`, `agent`, ...).
    pub name: &'static str,
    /// `None`: not advertised in context `C`; `Some(None)`: advertised bare; `Some(Some(v))`:
    /// advertised as `name=v`.
    pub advertise: fn(&C) -> Option<Option<String>>,
}

/// Advertise bare, unconditionally (for use in tables).
pub fn always<C>(_: &C) -> Option<Option<String>> {
    Some(None)
}

/// Renders the advertised capabilities of `table` in context `ctx` as `(name, value)` pairs.
pub fn advertised<C>(table: &[Row<C>], ctx: &C) -> Vec<(&'static str, Option<String>)> {
    table
        .iter()
        .filter_map(|row| (row.advertise)(ctx).map(|v| (row.name, v)))
        .collect()
}

/// Joins advertised pairs into the space-separated v0 form (`multi_ack thin-pack agent=x`).
pub fn to_v0_string(caps: &[(&'static str, Option<String>)]) -> String {
    let mut out = String::new();
    for (name, value) in caps {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(name);
        if let Some(v) = value {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// Why a client's capability list was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The client asked for something we did not advertise.
    #[error("unknown capability '{0}'")]
    NotAdvertised(String),
    /// The list is not valid UTF-8 / printable.
    #[error("capability list is not printable ASCII")]
    NotPrintable,
    /// Two capabilities that exclude each other were both requested.
    #[error("client requested both '{0}' and '{1}'")]
    Conflict(&'static str, &'static str),
    /// The client's `object-format` names no hash git knows (C git's `serve.c` wording).
    #[error("unknown object format '{0}'")]
    UnknownObjectFormat(String),
    /// The client's object format is not the repository's (C git's `serve.c` wording).
    #[error("mismatched object format: server {server}; client {client}")]
    MismatchedObjectFormat {
        /// The repository's hash.
        server: &'static str,
        /// The client's.
        client: &'static str,
    },
}

/// C git's check of the client's `object-format` capability value `client` against the
/// repository's hash `server`: a client that sends none speaks SHA-1 (`serve.c`,
/// `receive-pack.c`), so a SHA-256 repository refuses it rather than exchange ids of the wrong
/// width.
pub fn check_object_format(
    server: crate::hash::HashKind,
    client: Option<&str>,
) -> Result<(), Error> {
    let client = match client {
        None => crate::hash::HashKind::Sha1,
        Some(name) => crate::hash::HashKind::from_name(name)
            .ok_or_else(|| Error::UnknownObjectFormat(name.to_string()))?,
    };
    if client != server {
        return Err(Error::MismatchedObjectFormat {
            server: server.name(),
            client: client.name(),
        });
    }
    Ok(())
}

/// The capabilities a client requested, each with its optional value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requested {
    caps: Vec<(String, Option<String>)>,
}

impl Requested {
    /// Parses the space-separated list `list` and checks every name against `advertised` (names
    /// only; a value-carrying capability such as `agent=` matches by name).
    pub fn parse(
        list: &[u8],
        advertised: &[(&'static str, Option<String>)],
    ) -> Result<Requested, Error> {
        let text = std::str::from_utf8(list).map_err(|_| Error::NotPrintable)?;
        if text.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
            return Err(Error::NotPrintable);
        }
        let mut caps = Vec::new();
        for word in text.split(' ').filter(|w| !w.is_empty()) {
            let (name, value) = match word.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (word, None),
            };
            if !advertised.iter().any(|(a, _)| *a == name) {
                return Err(Error::NotAdvertised(word.to_string()));
            }
            caps.push((name.to_string(), value));
        }
        Ok(Requested { caps })
    }

    /// Whether `name` was requested.
    pub fn has(&self, name: &str) -> bool {
        self.caps.iter().any(|(n, _)| n == name)
    }

    /// The value given with `name=`, if any.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.caps
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Names in request order (for logs).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.caps.iter().map(|(n, _)| n.as_str())
    }
}

/// The `agent=` value Sluice advertises: `sluice/<version>`.
pub fn agent() -> String {
    format!("sluice/{}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ctx {
        tip: bool,
    }

    static TABLE: &[Row<Ctx>] = &[
        Row {
            name: "multi_ack",
            advertise: always,
        },
        Row {
            name: "allow-tip-sha1-in-want",
            advertise: |c| c.tip.then_some(None),
        },
        Row {
            name: "agent",
            advertise: |_| Some(Some("sluice/1".into())),
        },
    ];

    #[test]
    fn advertise_and_check() {
        let adv = advertised(TABLE, &Ctx { tip: false });
        assert_eq!(to_v0_string(&adv), "multi_ack agent=sluice/1");
        let r = Requested::parse(b"multi_ack agent=git/2.47", &adv).unwrap();
        assert!(r.has("multi_ack"));
        assert_eq!(r.value("agent"), Some("git/2.47"));
        assert_eq!(
            Requested::parse(b"multi_ack allow-tip-sha1-in-want", &adv),
            Err(Error::NotAdvertised("allow-tip-sha1-in-want".into()))
        );
        assert_eq!(Requested::parse(b"a\tb", &adv), Err(Error::NotPrintable));
        let adv = advertised(TABLE, &Ctx { tip: true });
        assert!(Requested::parse(b"allow-tip-sha1-in-want", &adv).is_ok());
    }
}
