#!/usr/bin/env python3
"""The distributed backend (etcd + S3) against the fs backend, same machine, same run: a full
push into an empty repository, a clone with a cold and a warm pack cache, and an incremental
fetch, through `ext::sluice`, alternating backends. Prints median wall times, the ratio
distributed/fs, and the store round trips each distributed request made (from its log).

Usage: bench/distributed.py [--commits N | --repo BARE] [--runs K] [--sluice PATH] [--engines DIR]
With --repo (e.g. /work/.mirror/tokio-rs+tokio/repo) its HEAD branch is the benchmark's
history instead of a generated one.
Without --engines it starts scripts/engines/start in a temporary directory (and stops it).
Needs a sluice built with --features distributed. Not part of the test suite.
"""
import argparse, os, re, shutil, socket, statistics, subprocess, sys, tempfile, time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null",
           GIT_AUTHOR_NAME="B", GIT_AUTHOR_EMAIL="b@x", GIT_COMMITTER_NAME="B", GIT_COMMITTER_EMAIL="b@x")


def sh(args, cwd=None, env=None):
    r = subprocess.run(args, cwd=cwd, env=dict(ENV, **(env or {})), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit(f"failed: {args}\n{r.stderr.decode()}")
    return r.stdout.decode()


def timed(args, cwd, env):
    t = time.monotonic()
    sh(args, cwd, env)
    return time.monotonic() - t


def free_base():
    for base in range(42000, 60000, 20):
        try:
            socks = []
            for p in range(base, base + 20):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            for s in socks:
                s.close()
            return base
        except OSError:
            for s in socks:
                s.close()
    sys.exit("no free ports")


def trips(log):
    """The last `store round trips` line of a log file: (etcd, etcd_ms, s3, s3_ms)."""
    found = None
    with open(log, errors="replace") as f:
        for line in f:
            m = re.search(r"store round trips.*?etcd=(\d+) etcd_ms=(\d+) s3=(\d+) s3_ms=(\d+)", line)
            if m:
                found = tuple(int(x) for x in m.groups())
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--commits", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sluice", default=os.path.join(TOP, "target/release/sluice"))
    ap.add_argument("--engines")
    ap.add_argument("--repo", help="a bare repository whose HEAD branch to use instead of a generated history")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sluice-dbench-")
    eng = a.engines or os.path.join(tmp, "engines")
    if not a.engines:
        print(sh([os.path.join(TOP, "scripts/engines/start"), eng, str(free_base())]).strip())
    try:
        run(a, tmp, eng)
    finally:
        if not a.engines:
            subprocess.run([os.path.join(TOP, "scripts/engines/stop"), eng])
        shutil.rmtree(tmp, ignore_errors=True)


def run(a, tmp, eng):
    env = dict(line.split("=", 1) for line in open(os.path.join(eng, "env")).read().split("\n") if "=" in line)
    if a.repo:
        src = a.repo
        branch = sh(["git", "-C", src, "symbolic-ref", "--short", "HEAD"]).strip()
    else:
        src = os.path.join(tmp, "src.git")
        sh(["bash", os.path.join(TOP, "tests/fixtures/gen_history.sh"), src, str(a.commits)])
        branch = "main"
    # The fetch case: the client is 100 commits behind.
    old = sh(["git", "-C", src, "rev-parse", f"{branch}~100"]).strip()
    creds = os.path.join(tmp, "creds")
    with open(creds, "w") as f:
        f.write(f"access-key = {env['AWS_ACCESS_KEY_ID']}\nsecret-key = {env['AWS_SECRET_ACCESS_KEY']}\n")
    os.chmod(creds, 0o600)
    results = {}
    for run_no in range(a.runs):
        prefix = f"bench{run_no}-{os.getpid()}"
        cache = os.path.join(tmp, f"cache{run_no}")
        conf = os.path.join(tmp, f"b{run_no}.conf")
        with open(conf, "w") as f:
            f.write(f"etcd-endpoints = {env['SLUICE_ETCD_ENDPOINTS']}\ns3-endpoint = {env['SLUICE_S3_ENDPOINT']}\n"
                    f"s3-bucket = {env['SLUICE_S3_BUCKET']}\nprefix = {prefix}\ncache-dir = {cache}\n"
                    f"credentials-file = {creds}\n")
        fsrepo = os.path.join(tmp, f"fs{run_no}.git")
        sh(["git", "init", "-q", "--bare", "-b", "main", fsrepo])
        sh([a.sluice, "init", "--backend-config", conf, "r.git"])
        log = os.path.join(tmp, f"log{run_no}")
        dist = {"SLUICE_BACKEND_CONFIG": conf, "SLUICE_LOG_FILE": log}
        ext = lambda where: f"ext::{a.sluice} %S {where}"
        git = ["git", "-c", "protocol.ext.allow=always"]

        def case(name, backend, seconds, trip=None):
            results.setdefault((name, backend), []).append((seconds, trip))

        def dist_case(name, args, cwd):
            open(log, "w").close()
            case(name, "dist", timed(args, cwd, dist), trips(log))

        spec = f"{branch}:refs/heads/main"
        case("push", "fs", timed(git + ["push", "-q", ext(fsrepo), spec], src, {}))
        dist_case("push", git + ["push", "-q", ext("r.git"), spec], src)
        for label, wipe in [("clone-cold", True), ("clone-warm", False)]:
            if wipe:
                shutil.rmtree(os.path.join(cache, "packs"), ignore_errors=True)
            for backend, where, e in [("fs", fsrepo, {}), ("dist", "r.git", dist)]:
                dst = os.path.join(tmp, f"c-{backend}-{label}-{run_no}")
                args = git + ["clone", "-q", "--bare", ext(where), dst]
                if backend == "fs":
                    case(label, "fs", timed(args, tmp, e))
                else:
                    dist_case(label, args, tmp)
                shutil.rmtree(dst)
        for backend, where, e in [("fs", fsrepo, {}), ("dist", "r.git", dist)]:
            dst = os.path.join(tmp, f"f-{backend}-{run_no}")
            sh(["git", "clone", "-q", "--bare", "--no-local", "--single-branch", "-b", branch, src, dst])
            sh(["git", "-C", dst, "update-ref", "refs/heads/main", old])
            args = git + ["fetch", "-q", ext(where), "main:main"]
            if backend == "fs":
                case("fetch-100", "fs", timed(args, dst, e))
            else:
                dist_case("fetch-100", args, dst)
            shutil.rmtree(dst)
    what = f"{a.repo} ({branch})" if a.repo else f"{a.commits} commits"
    print(f"{what}, {a.runs} runs; median wall seconds")
    print(f"{'case':<12}{'fs':>8}{'dist':>8}{'dist/fs':>9}   store round trips (etcd, s3) of the dist request")
    for name in ["push", "clone-cold", "clone-warm", "fetch-100"]:
        fs = statistics.median(s for s, _ in results[(name, "fs")])
        d = statistics.median(s for s, _ in results[(name, "dist")])
        t = results[(name, "dist")][-1][1]
        tr = f"etcd {t[0]} ({t[1]} ms), s3 {t[2]} ({t[3]} ms)" if t else "?"
        print(f"{name:<12}{fs:>8.3f}{d:>8.3f}{d / fs:>9.2f}   {tr}")


if __name__ == "__main__":
    main()
