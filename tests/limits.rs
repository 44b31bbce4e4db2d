//! Every client-controlled size meets a configurable limit; hitting one gives an error naming
//! it, a nonzero exit (or an `ng`/`unpack` status for pushes), and nothing is written.

mod common;

use common::*;

fn head(repo: &std::path::Path) -> String {
    git_ok(repo, &["rev-parse", "HEAD"]).trim().to_string()
}

#[test]
fn upload_pack_limits() {
    if against_git() {
        return;
    }
    let src = fixture("branches");
    let s = src.to_str().unwrap();
    let h = head(&src);
    let feature = git_ok(&src, &["rev-parse", "feature"]).trim().to_string();
    let cases: Vec<(Vec<&str>, String, &str)> = vec![
        (vec!["--max-wants", "1"], format!("want {h}\nwant {feature}\n0000\ndone"), "too many want lines (limit 1)"),
        (
            vec!["--max-haves", "2"],
            format!("want {h} multi_ack_detailed\n0000\nhave {feature}\nhave {feature}\nhave {feature}\n0000\ndone"),
            "too many have lines (limit 2)",
        ),
        (
            vec!["--max-rounds", "1"],
            format!("want {h} multi_ack_detailed\n0000\nhave {feature}\n0000\nhave {feature}\n0000\ndone"),
            "too many negotiation rounds (limit 1)",
        ),
    ];
    for (flags, transcript, message) in cases {
        let mut args = flags.clone();
        args.extend(["upload-pack", s]);
        let (status, out, err) = run_server(&args, &[], &pkt(&transcript));
        assert!(!status.success(), "{flags:?}");
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains(message), "{flags:?}: {text} / {err}");
    }
}

#[test]
fn push_limits_refuse_and_write_nothing() {
    if against_git() {
        return;
    }
    let dir = scratch();
    let dst = dir.path().join("dst.git");
    git_ok(dir.path(), &["init", "-q", "--bare", dst.to_str().unwrap()]);
    let work = dir.path().join("w");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            fixture("deltas").to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    for (flag, value, message) in [
        ("--max-pack-bytes", "10000", "pack size limit of 10000"),
        (
            "--max-object-bytes",
            "100000",
            "object size limit of 100000",
        ),
        // 0: any delta is too deep. (1 depended on C git's multithreaded repack of the
        // fixture leaving a chain of two, which it does not always do.)
        ("--max-delta-depth", "0", "delta depth limit of 0"),
        ("--max-ref-updates", "1", "too many ref updates (limit 1)"),
    ] {
        let rp = format!("--receive-pack={} {flag} {value} receive-pack", sluice());
        let out = git(
            &work,
            &[
                "push",
                "--porcelain",
                &rp,
                dst.to_str().unwrap(),
                "main",
                "main:refs/heads/other",
            ],
        );
        assert!(!out.status.success(), "{flag}");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(message), "{flag}: {text}");
        assert_eq!(refs(&dst), "", "{flag}");
        let packs = std::fs::read_dir(dst.join("objects/pack")).unwrap().count();
        assert_eq!(packs, 0, "{flag}");
        let incoming = std::fs::read_dir(dst.join("objects"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("incoming-"))
            .count();
        assert_eq!(incoming, 0, "{flag}");
    }
}

#[test]
fn idle_and_total_time_limits_end_stuck_clients() {
    if against_git() {
        return;
    }
    let src = fixture("branches");
    // A client that connects and then says nothing: we hold its stdin open and never write,
    // so only the timeouts can end the server.
    for flags in [
        &["upload-pack", "--timeout", "1"][..],
        &["--max-duration", "1", "upload-pack"][..],
    ] {
        let mut child = std::process::Command::new(sluice())
            .args(flags)
            .arg(&src)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let _held_open = child.stdin.take();
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > std::time::Duration::from_secs(25) {
                let _ = child.kill();
                panic!("server did not end on {flags:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert!(!status.success(), "{flags:?}");
    }
}
