//! The `proc-receive` hook (AGit-style review flows): commands whose ref matches
//! `receive.procReceiveRefs` are handed to the hook instead of being applied by receive-pack.
//!
//! ```text
//! S: version=1\0[atomic] [push-options]  flush      (negotiation)
//! H: version=1[\0push-options]            flush
//! S: <old> <new> <ref> ...                flush      (the matching commands)
//! S: <push option> ...                    flush      (only if the hook asked for them)
//! H: ok <ref> | ng <ref> [reason]         (one per command, in order)
//!      option refname|old-oid|new-oid <v> | option forced-update | option fall-through
//! H: flush
//! ```
//!
//! The hook's reports reach the client through report-status-v2 (`option` lines) and replace
//! the command's line on `post-receive`'s stdin, as in C git's `read_proc_receive_report`.
//! This module holds the pattern matching and the conversation over any pair of pipes; the
//! launcher's hook runner starts the hook (with its deadline and stderr bound).

use std::io::{Read, Write};

use crate::hash::{HashKind, ObjectId};
use crate::protocol::pktline::{PacketLineRef, Reader, Writer};

use super::commands::{Command, Update};
use super::output::ClientOutput;

/// Most report lines read from the hook: each command may report several alternate refs, but a
/// hook writing more than this is broken (the limit bounds what we keep).
pub const MAX_REPORT_LINES: usize = 100_000;

/// One `receive.procReceiveRefs` value: `[<modifiers>:]<prefix>`, modifiers `a` (create),
/// `d` (delete), `m` (modify) and `!` (negate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    prefix: String,
    add: bool,
    delete: bool,
    modify: bool,
    negative: bool,
}

impl Pattern {
    /// Parses one config value `value` as C git's `proc_receive_ref_append` does (unknown
    /// modifier letters are ignored; trailing slashes of the prefix dropped).
    pub fn parse(value: &str) -> Pattern {
        let (mods, prefix) = match value.split_once(':') {
            Some((m, p)) => (Some(m), p),
            None => (None, value),
        };
        let has = |c| mods.is_none_or(|m| m.contains(c));
        Pattern {
            prefix: prefix.trim_end_matches('/').to_string(),
            add: has('a'),
            delete: has('d'),
            modify: has('m'),
            negative: mods.is_some_and(|m| m.contains('!')),
        }
    }
}

/// Whether command `cmd` goes to the hook under `patterns` (C git's
/// `proc_receive_ref_matches`: the first pattern whose kind filter admits the command decides
/// by prefix, a negative one matching everything but its prefix).
pub fn matches(patterns: &[Pattern], cmd: &Command) -> bool {
    for p in patterns {
        let (create, delete) = (cmd.is_create(), cmd.is_delete());
        if (!p.add && create) || (!p.delete && delete) || (!p.modify && !create && !delete) {
            continue;
        }
        let under = cmd
            .name
            .strip_prefix(p.prefix.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if under != p.negative {
            return true;
        }
    }
    false
}

/// An alternate ref the hook reported for a command (`option` lines after its `ok`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefReport {
    /// `option refname`.
    pub ref_name: Option<String>,
    /// `option old-oid`.
    pub old: Option<ObjectId>,
    /// `option new-oid`.
    pub new: Option<ObjectId>,
    /// `option forced-update`.
    pub forced_update: bool,
}

/// What the hook said about one command it was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The hook reported on it (`ok` or `ng`).
    pub returned: bool,
    /// `ng` reason (`failed` when none was given).
    pub error: Option<String>,
    /// Alternate refs reported with `option` lines (one per `ok`).
    pub reports: Vec<RefReport>,
    /// `option fall-through`: receive-pack applies the command itself.
    pub fall_through: bool,
}

/// The result of a conversation: one [`Outcome`] per command sent, whether everything went
/// right (C git's return code), and the error text for the client.
#[derive(Debug, Default)]
pub struct Exchange {
    /// Per command, in the order given.
    pub outcomes: Vec<Outcome>,
    /// False when the hook failed, said `ng`, or broke the protocol.
    pub ok: bool,
    /// Lines for the client (`error: ...`), possibly empty.
    pub errors: Vec<String>,
}

/// Runs the `proc-receive` hook of `hooks` on `commands` with extra environment `env`: starts
/// it, converses, and relays its stderr and any protocol error (`error: ...`, as C git's
/// `rp_error`) to the client through `progress`. A missing hook fails, as in C git; so does
/// one killed at the runner's deadline.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    hooks: &super::hooks::Hooks<'_>,
    kind: HashKind,
    env: &[(String, String)],
    commands: &[&Command],
    options: &[String],
    atomic: bool,
    use_push_options: bool,
    progress: &mut dyn FnMut(&[u8]),
) -> Result<Exchange, super::Error> {
    let Some(mut hook) = hooks.start("proc-receive", env)? else {
        progress(b"error: cannot find hook 'proc-receive'\n");
        return Ok(Exchange {
            outcomes: vec![Outcome::default(); commands.len()],
            ok: false,
            errors: Vec::new(),
        });
    };
    let mut ex = {
        let (to_hook, from_hook) = hook.io();
        converse(
            to_hook,
            from_hook,
            kind,
            commands,
            options,
            atomic,
            use_push_options,
        )
    };
    let end = hook.finish().map_err(|source| super::Error::Hook {
        name: "proc-receive".into(),
        source,
    })?;
    progress(&end.stderr);
    if end.code != 0 || end.timed_out {
        ex.ok = false;
    }
    if !ex.errors.is_empty() {
        let text = format!("error: {}\n", ex.errors.join("\n"));
        tracing::warn!(errors = %text.trim_end(), "proc-receive");
        progress(text.as_bytes());
    }
    Ok(ex)
}

/// The `receive.procReceiveRefs` patterns of `repo`, in config order.
pub(crate) fn patterns(repo: &dyn crate::backend::Repository) -> Vec<Pattern> {
    repo.config()
        .get_all("receive.procReceiveRefs")
        .into_iter()
        .map(Pattern::parse)
        .collect()
}

/// The commands the hook took over: out of the list receive-pack applies itself (no `update`
/// hook, no ref transaction) until [`Handled::restore`] puts them back for the report.
#[derive(Default)]
pub(crate) struct Handled {
    /// (original position, command, the hook's reports), in order.
    taken: Vec<(usize, Update, Vec<RefReport>)>,
}

/// Runs the hook for the `scheduled` commands (positions in `updates`) that are still going,
/// records its verdicts on them, and takes the ones it handled out of `updates` (C git's
/// `run_proc_receive_hook` and the `run_proc_receive` skips of `execute_commands`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn execute<W: Write>(
    hooks: &super::hooks::Hooks<'_>,
    kind: HashKind,
    env: &[(String, String)],
    scheduled: &[usize],
    updates: &mut Vec<Update>,
    options: &[String],
    atomic: bool,
    use_push_options: bool,
    out: &mut ClientOutput<W>,
) -> Result<Handled, super::Error> {
    let sent: Vec<usize> = scheduled
        .iter()
        .copied()
        .filter(|&i| updates.get(i).is_some_and(|u| u.error.is_none()))
        .collect();
    if sent.is_empty() {
        return Ok(Handled::default());
    }
    let commands: Vec<&Command> = sent.iter().map(|&i| &updates[i].cmd).collect();
    let ex = run(
        hooks,
        kind,
        env,
        &commands,
        options,
        atomic,
        use_push_options,
        &mut |b| out.progress(b),
    )?;
    for (&i, o) in sent.iter().zip(&ex.outcomes) {
        if let Some(why) = &o.error {
            updates[i].refuse(why);
        }
    }
    if !ex.ok {
        let returned: Vec<usize> = sent
            .iter()
            .zip(&ex.outcomes)
            .filter(|(_, o)| o.returned)
            .map(|(&i, _)| i)
            .collect();
        for (i, u) in updates.iter_mut().enumerate() {
            if !returned.contains(&i) && (atomic || sent.contains(&i)) {
                u.refuse("fail to run proc-receive hook");
            }
        }
    }
    let mut handled = Handled::default();
    for (&i, o) in sent.iter().zip(ex.outcomes).rev() {
        if updates[i].error.is_none() && !o.fall_through {
            let u = updates.remove(i);
            handled.taken.push((i, u, o.reports));
        }
    }
    handled.taken.reverse();
    Ok(handled)
}

impl Handled {
    /// Whether the hook took no command.
    pub fn is_empty(&self) -> bool {
        self.taken.is_empty()
    }

    /// Refuses every command the hook took, with `why` (what it did could not be kept).
    pub fn refuse_all(&mut self, why: &str) {
        for (_, u, reports) in &mut self.taken {
            u.refuse(why);
            reports.clear();
        }
    }

    /// Puts the taken commands back in their places in `updates`; `refs_failed_atomically`
    /// (an atomic transaction of the other commands failed) refuses them as C git's
    /// `execute_commands_atomic` does. Returns the hook's reports aligned with `updates`.
    pub fn restore(
        self,
        updates: &mut Vec<Update>,
        refs_failed_atomically: bool,
    ) -> Vec<Vec<RefReport>> {
        let mut reports = vec![Vec::new(); updates.len()];
        for (i, mut u, r) in self.taken {
            if refs_failed_atomically {
                u.refuse("atomic push failure");
            }
            let at = i.min(updates.len());
            updates.insert(at, u);
            reports.insert(at, r);
        }
        reports
    }
}

/// Talks to a running hook over `to_hook` / `from_hook`: negotiation, the `commands`, the push
/// `options` (when `use_push_options` and the hook asks), then its report.
pub fn converse(
    to_hook: &mut dyn Write,
    from_hook: &mut dyn Read,
    kind: HashKind,
    commands: &[&Command],
    options: &[String],
    atomic: bool,
    use_push_options: bool,
) -> Exchange {
    let mut ex = Exchange {
        outcomes: vec![Outcome::default(); commands.len()],
        ok: false,
        errors: Vec::new(),
    };
    let mut writer = Writer::new(to_hook);
    let mut reader = Reader::new(from_hook);
    reader.set_err_is_error(false);
    let Some((version, hook_push_options)) =
        negotiate(&mut writer, &mut reader, atomic, use_push_options)
    else {
        ex.errors
            .push("fail to negotiate version with proc-receive hook".into());
        return ex;
    };
    if version > 1 {
        ex.errors
            .push(format!("proc-receive version '{version}' is not supported"));
        return ex;
    }
    let sent = (|| -> std::io::Result<()> {
        for c in commands {
            writer.data(format!("{} {} {}", c.old, c.new, c.name).as_bytes())?;
        }
        writer.flush_pkt()?;
        writer.flush()
    })();
    if sent.is_err() {
        ex.errors
            .push("fail to write commands to proc-receive hook".into());
        return ex;
    }
    if hook_push_options {
        let sent = (|| -> std::io::Result<()> {
            for o in options {
                writer.data(o.as_bytes())?;
            }
            writer.flush_pkt()?;
            writer.flush()
        })();
        if sent.is_err() {
            ex.errors
                .push("fail to write push-options to proc-receive hook".into());
            return ex;
        }
    }
    ex.ok = read_report(
        &mut reader,
        kind,
        commands,
        &mut ex.outcomes,
        &mut ex.errors,
    );
    ex
}

/// Sends `version=1` with our features, reads the hook's version and whether it wants push
/// options; `None` when the hook broke off.
fn negotiate<W: Write, R: Read>(
    writer: &mut Writer<W>,
    reader: &mut Reader<R>,
    atomic: bool,
    use_push_options: bool,
) -> Option<(u32, bool)> {
    let mut features = Vec::new();
    if atomic {
        features.push("atomic");
    }
    if use_push_options {
        features.push("push-options");
    }
    let mut line = b"version=1".to_vec();
    if !features.is_empty() {
        line.push(0);
        line.extend_from_slice(features.join(" ").as_bytes());
    }
    line.push(b'\n');
    writer.data(&line).ok()?;
    writer.flush_pkt().ok()?;
    writer.flush().ok()?;
    let (mut version, mut push_options) = (0u32, false);
    for _ in 0..MAX_REPORT_LINES {
        match reader.read_line() {
            Ok(Some(PacketLineRef::Data(d))) => {
                let d = d.strip_suffix(b"\n").unwrap_or(d);
                let (text, feats) = match d.iter().position(|&b| b == 0) {
                    Some(p) => (&d[..p], d.get(p + 1..)),
                    None => (d, None),
                };
                if let Some(v) = text.strip_prefix(b"version=") {
                    // C git's atoi: leading digits, anything else 0.
                    let digits: Vec<u8> =
                        v.iter().copied().take_while(u8::is_ascii_digit).collect();
                    version = std::str::from_utf8(&digits)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    push_options = feats
                        .is_some_and(|f| f.split(|&b| b == b' ').any(|w| w == b"push-options"));
                }
            }
            Ok(Some(_)) => return Some((version, push_options)),
            Ok(None) | Err(_) => return None,
        }
    }
    None
}

/// Reads the hook's `ok`/`ng`/`option` lines into `outcomes`; false when anything was wrong.
fn read_report<R: Read>(
    reader: &mut Reader<R>,
    kind: HashKind,
    commands: &[&Command],
    outcomes: &mut [Outcome],
    errors: &mut Vec<String>,
) -> bool {
    let mut ok = true;
    let mut hint: Option<usize> = None;
    // Whether the last directive was an `ok` that `option` lines may extend.
    let mut open_report = false;
    let mut responses = 0usize;
    let mut option_error_told = false;
    loop {
        let line = match reader.read_line() {
            Ok(Some(PacketLineRef::Data(d))) => {
                let d = d.strip_suffix(b"\n").unwrap_or(d);
                String::from_utf8_lossy(d).into_owned()
            }
            Ok(None) | Err(_) if responses == 0 => {
                errors.push("proc-receive exited abnormally".into());
                return false;
            }
            _ => break,
        };
        responses += 1;
        if responses > MAX_REPORT_LINES {
            errors.push(format!(
                "proc-receive reported more than {MAX_REPORT_LINES} lines"
            ));
            return false;
        }
        let Some((head, rest)) = line.split_once(' ') else {
            errors.push(format!(
                "proc-receive reported incomplete status line: '{line}'"
            ));
            ok = false;
            continue;
        };
        if head == "option" {
            let Some(i) = hint.filter(|_| open_report) else {
                if !option_error_told {
                    option_error_told = true;
                    errors.push(
                        "proc-receive reported 'option' without a matching 'ok/ng' directive"
                            .into(),
                    );
                }
                ok = false;
                continue;
            };
            apply_option(kind, rest, &mut outcomes[i]);
            continue;
        }
        open_report = false;
        let (refname, reason) = match rest.split_once(' ') {
            Some((r, why)) => (r, Some(why)),
            None => (rest, None),
        };
        if head != "ok" && head != "ng" {
            errors.push(format!(
                "proc-receive reported bad status '{head}' on ref '{refname}'"
            ));
            ok = false;
            continue;
        }
        // First from the last command reported on, then from the start (C git's hint).
        let found = hint
            .and_then(|h| (h..commands.len()).find(|&i| commands[i].name == refname))
            .or_else(|| commands.iter().position(|c| c.name == refname));
        let Some(i) = found else {
            errors.push(format!(
                "proc-receive reported status on unknown ref: {refname}"
            ));
            ok = false;
            hint = None;
            continue;
        };
        hint = Some(i);
        outcomes[i].returned = true;
        if head == "ng" {
            outcomes[i].error = Some(reason.unwrap_or("failed").to_string());
            ok = false;
            continue;
        }
        outcomes[i].reports.push(RefReport::default());
        open_report = true;
    }
    for o in outcomes.iter_mut() {
        if !o.returned && o.error.is_none() {
            o.error = Some("proc-receive failed to report status".into());
            ok = false;
        }
    }
    ok
}

/// Applies one `option <key> [<value>]` line `rest` to the last report of `outcome`.
fn apply_option(kind: HashKind, rest: &str, outcome: &mut Outcome) {
    let (key, value) = match rest.split_once(' ') {
        Some((k, v)) => (k, Some(v)),
        None => (rest, None),
    };
    let id = |v: Option<&str>| {
        v.and_then(|v| v.get(..kind.len_in_bytes() * 2))
            .and_then(|h| ObjectId::from_hex(h.as_bytes()).ok())
    };
    if key == "fall-through" {
        outcome.fall_through = true;
        return;
    }
    let Some(report) = outcome.reports.last_mut() else {
        return;
    };
    match key {
        "refname" => report.ref_name = value.map(str::to_string),
        "old-oid" => report.old = id(value).or(report.old),
        "new-oid" => report.new = id(value).or(report.new),
        "forced-update" => report.forced_update = true,
        _ => {}
    }
}

/// The report-status-v2 lines for a command `name` the hook accepted with `reports`
/// (without the leading `ok <name>` of the first report).
pub fn report_v2_lines(name: &str, reports: &[RefReport]) -> Vec<String> {
    let mut lines = Vec::new();
    for (n, r) in reports.iter().enumerate() {
        if n > 0 {
            lines.push(format!("ok {name}"));
        }
        if let Some(rn) = &r.ref_name {
            lines.push(format!("option refname {rn}"));
        }
        if let Some(o) = &r.old {
            lines.push(format!("option old-oid {o}"));
        }
        if let Some(o) = &r.new {
            lines.push(format!("option new-oid {o}"));
        }
        if r.forced_update {
            lines.push("option forced-update".into());
        }
    }
    lines
}

/// `post-receive` stdin lines for command `cmd` with hook `reports`: one per report, its
/// values replacing the command's where given.
pub fn hook_lines(cmd: &Command, reports: &[RefReport]) -> String {
    if reports.is_empty() {
        return format!("{} {} {}\n", cmd.old, cmd.new, cmd.name);
    }
    reports
        .iter()
        .map(|r| {
            format!(
                "{} {} {}\n",
                r.old.unwrap_or(cmd.old),
                r.new.unwrap_or(cmd.new),
                r.ref_name.as_deref().unwrap_or(&cmd.name)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(old: &str, new: &str, name: &str) -> Command {
        let id = |c: &str| ObjectId::from_hex(c.repeat(40).as_bytes()).unwrap();
        Command {
            old: id(old),
            new: id(new),
            name: name.into(),
        }
    }

    #[test]
    fn patterns_as_c_git() {
        let p = |v: &[&str]| v.iter().map(|s| Pattern::parse(s)).collect::<Vec<_>>();
        let create = cmd("0", "1", "refs/for/main/topic");
        let modify = cmd("1", "2", "refs/for/main");
        let delete = cmd("1", "0", "refs/for/main");
        assert!(matches(&p(&["refs/for/"]), &create));
        assert!(!matches(&p(&["refs/for"]), &cmd("0", "1", "refs/foreign")));
        assert!(matches(&p(&["a:refs/for"]), &create));
        assert!(!matches(&p(&["a:refs/for"]), &modify));
        assert!(matches(&p(&["m:refs/for"]), &modify));
        assert!(matches(&p(&["d:refs/for"]), &delete));
        assert!(!matches(&p(&["d:refs/for"]), &create));
        assert!(!matches(&p(&["!:refs/heads"]), &create)); // no kind: matches nothing, as C git
        assert!(matches(&p(&["!a:refs/heads"]), &create));
        assert!(!matches(&p(&["!a:refs/for"]), &create));
        assert!(!matches(&[], &create));
    }

    fn pkt(lines: &[&str]) -> Vec<u8> {
        let mut w = Writer::new(Vec::new());
        for l in lines {
            if *l == "0000" {
                w.flush_pkt().unwrap();
            } else {
                w.data(l.as_bytes()).unwrap();
            }
        }
        std::mem::take(w.get_mut())
    }

    #[test]
    fn conversation_with_options_and_reports() {
        let c1 = cmd("0", "1", "refs/for/main/topic");
        let c2 = cmd("0", "2", "refs/for/next");
        let hook = pkt(&[
            "version=1\0push-options",
            "0000",
            "ok refs/for/main/topic",
            "option refname refs/changes/1",
            &format!("option old-oid {}", "3".repeat(40)),
            "option forced-update",
            "ok refs/for/main/topic",
            "option refname refs/changes/2",
            "ng refs/for/next too big",
            "0000",
        ]);
        let mut sent = Vec::new();
        let ex = converse(
            &mut sent,
            &mut &hook[..],
            HashKind::Sha1,
            &[&c1, &c2],
            &["topic=x".into()],
            false,
            true,
        );
        assert!(!ex.ok);
        assert_eq!(ex.outcomes[1].error.as_deref(), Some("too big"));
        let r = &ex.outcomes[0].reports;
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].ref_name.as_deref(), Some("refs/changes/1"));
        assert!(r[0].forced_update);
        let expect = pkt(&[
            "version=1\0push-options\n",
            "0000",
            &format!("{} {} {}", c1.old, c1.new, c1.name),
            &format!("{} {} {}", c2.old, c2.new, c2.name),
            "0000",
            "topic=x",
            "0000",
        ]);
        assert_eq!(
            String::from_utf8_lossy(&sent),
            String::from_utf8_lossy(&expect)
        );
        let lines = report_v2_lines(&c1.name, r);
        assert_eq!(lines[0], "option refname refs/changes/1");
        assert_eq!(lines[3], "ok refs/for/main/topic");
        assert_eq!(hook_lines(&c1, r).lines().count(), 2);
    }

    #[test]
    fn broken_hooks() {
        let c1 = cmd("0", "1", "refs/for/main");
        let run = |hook: Vec<u8>| {
            converse(
                &mut Vec::new(),
                &mut &hook[..],
                HashKind::Sha1,
                &[&c1],
                &[],
                false,
                false,
            )
        };
        let ex = run(Vec::new());
        assert_eq!(
            ex.errors,
            ["fail to negotiate version with proc-receive hook"]
        );
        let ex = run(pkt(&["version=2", "0000"]));
        assert_eq!(ex.errors, ["proc-receive version '2' is not supported"]);
        let ex = run(pkt(&["version=1", "0000", "0000"]));
        assert_eq!(
            ex.outcomes[0].error.as_deref(),
            Some("proc-receive failed to report status")
        );
        let ex = run(pkt(&[
            "version=1",
            "0000",
            "option refname x",
            "ok refs/for/other",
            "0000",
        ]));
        assert_eq!(ex.errors.len(), 2, "{:?}", ex.errors);
        let ex = run(pkt(&[
            "version=1",
            "0000",
            "ok refs/for/main",
            "option fall-through",
            "0000",
        ]));
        assert!(ex.ok && ex.outcomes[0].fall_through);
    }
}
