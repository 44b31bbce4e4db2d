//! The report phase: report-status pkt-lines (`unpack ok|<err>`, `ok <ref>` / `ng <ref> <why>`,
//! flush) and the per-ref outcome the launcher logs.

use crate::hash::ObjectId;
use crate::protocol::pktline::Writer;

use super::commands::Update;
use super::proc_receive::RefReport;

/// What a push asked for one ref and how it ended: the launcher puts these in the request's log
/// record (the service itself only returns them, in no log format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefResult {
    /// The full ref name (`refs/heads/main`).
    pub name: String,
    /// The value before the push (the null id for a created ref).
    pub old: ObjectId,
    /// The value after the push (the null id for a deleted ref).
    pub new: ObjectId,
    /// Why the ref was not updated (`None`: it was).
    pub error: Option<String>,
}

/// Each command's outcome, for the caller's record.
pub(crate) fn results(updates: &[Update]) -> impl Iterator<Item = RefResult> + '_ {
    updates.iter().map(|u| RefResult {
        name: u.cmd.name.clone(),
        old: u.cmd.old,
        new: u.cmd.new,
        error: u.error.clone(),
    })
}

/// Builds the report-status pkt-lines for `unpack`'s outcome and each of `updates`; with
/// report-status-v2 (`v2`), the `proc-receive` hook's `reports` (aligned with `updates`, or
/// empty) follow their command's `ok` as `option` lines.
pub(crate) fn report_status(
    unpack: &Result<(), String>,
    updates: &[Update],
    reports: &[Vec<RefReport>],
    v2: bool,
) -> Vec<u8> {
    let mut lines = vec![match unpack {
        Ok(()) => "unpack ok".to_string(),
        Err(e) => format!("unpack {}", one_line(e)),
    }];
    for (i, u) in updates.iter().enumerate() {
        lines.push(match &u.error {
            None => format!("ok {}", u.cmd.name),
            Some(why) => format!("ng {} {}", u.cmd.name, one_line(why)),
        });
        if let Some(r) = reports.get(i).filter(|_| v2 && u.error.is_none()) {
            lines.extend(super::proc_receive::report_v2_lines(&u.cmd.name, r));
        }
    }
    let mut w = Writer::new(Vec::new());
    for l in &lines {
        // Writing to a Vec cannot fail; each line is far below the pkt-line maximum (ref names
        // are at most 4096 bytes, reasons at most 1000 characters).
        let _ = w.text(l);
    }
    let _ = w.flush_pkt();
    std::mem::take(w.get_mut())
}

/// `s` on one line of at most 1000 characters: a reason must not break the report's framing.
fn one_line(s: &str) -> String {
    let line: String = s.chars().map(|c| if c == '\n' { ' ' } else { c }).collect();
    line.chars().take(1000).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines() {
        let updates = [
            Update::for_test("refs/heads/a", None),
            Update::for_test("refs/heads/b", Some("hook\ndeclined")),
        ];
        let report = report_status(&Ok(()), &updates, &[], false);
        assert_eq!(
            String::from_utf8(report).unwrap(),
            "000eunpack ok\n0014ok refs/heads/a\n0022ng refs/heads/b hook declined\n0000"
        );
        let failed = report_status(&Err("index-pack failed".into()), &[], &[], true);
        assert_eq!(
            String::from_utf8(failed).unwrap(),
            "001dunpack index-pack failed\n0000"
        );
        let long = "x".repeat(5000);
        assert_eq!(one_line(&long).len(), 1000);
        let rec: Vec<RefResult> = results(&updates).collect();
        assert_eq!(rec[1].error.as_deref(), Some("hook\ndeclined"));
    }
}
