#!/usr/bin/env python3
"""Sluice vs C git, same machine, same run: serves the same repository with both, alternating,
and reports median (min-max) ratios Sluice/git of server CPU (user+sys), wall time, peak RSS and
bytes sent, as a table and a CSV.

Usage: bench/run.py [--repo PATH] [--commits N] [--object-format sha1|sha256] [--runs K]
                    [--sluice PATH] [--baseline PATH] [--cases a,b,...]
Without --repo a deterministic repository is generated (tests/fixtures/gen_history.sh plus
binary blobs and tags), in --object-format. With --repo the repository's own format is used
(`git rev-parse --show-object-format`) for everything the cases create. Not part of the test suite: timings vary, ratios are what to read.
"""
import argparse, csv, os, re, shutil, socket, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
TIMED = os.path.join(HERE, "timed.py")
# The branch the generated repository serves; with --repo, the repository's HEAD branch.
BRANCH = "main"
# The served repository's object format (`sha1` or `sha256`): repositories the cases create
# themselves are made in it, and a clone request names it as git's client does.
OBJECT_FORMAT = "sha1"
# Incremental fetch cases: how many first-parent commits the client is behind.
FETCH_BEHIND = {"fetch-10": 10, "fetch-100": 100, "fetch-1000": 1000}


def sh(args, cwd=None, env=None, check=True, input=None, stderr=None):
    """Runs `args`; returns its stdout (and appends its stderr to the list `stderr` if given)."""
    e = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null",
             GIT_AUTHOR_NAME="B", GIT_AUTHOR_EMAIL="b@x", GIT_COMMITTER_NAME="B", GIT_COMMITTER_EMAIL="b@x")
    if env:
        e.update(env)
    r = subprocess.run(args, cwd=cwd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, input=input)
    if check and r.returncode != 0:
        sys.exit(f"failed: {args}\n{r.stderr.decode()}")
    if stderr is not None:
        stderr.append(r.stderr.decode(errors="replace"))
    return r.stdout.decode()


def generate(path, commits, object_format):
    # gen_history.sh's `git init` takes its object format from GIT_DEFAULT_HASH.
    sh(["bash", os.path.join(TOP, "tests/fixtures/gen_history.sh"), path, str(commits)],
       env={"GIT_DEFAULT_HASH": object_format})
    # A few binary blobs of some MiB and many tags, so the repository looks like a real one.
    work = path + ".work"
    sh(["git", "clone", "-q", path, work])
    for i in range(3):
        with open(os.path.join(work, f"asset{i}.bin"), "wb") as f:
            f.write(os.urandom(1 << 20) * 3)
        sh(["git", "add", "."], cwd=work)
        sh(["git", "commit", "-q", "-m", f"asset {i}"], cwd=work)
    sh(["git", "push", "-q", "origin", "main"], cwd=work)
    shutil.rmtree(work)
    # No reachability bitmap except in the clone-bitmap case (git writes one by default when
    # repacking a bare repository).
    sh(["git", "-c", "repack.writeBitmaps=false", "repack", "-a", "-d", "-q"], cwd=path)
    for f in os.listdir(os.path.join(path, "objects/pack")):
        if f.endswith(".bitmap"):
            os.remove(os.path.join(path, "objects/pack", f))


class HttpSite:
    """nginx + fcgiwrap configured from contrib/http/nginx-sluice.conf (as the README recommends),
    serving / with one backend under bench/timed: `sluice http-backend` or `git http-backend`.
    Started on first use, stopped at exit."""
    PASSWORD = "bench"

    def __init__(self, server, sluice, tmp):
        for prog in ("/usr/sbin/nginx", "/usr/sbin/fcgiwrap"):
            if not os.path.exists(prog):
                sys.exit(f"{prog} missing: the http-* cases need nginx and fcgiwrap")
        self.dir = os.path.join(tmp, f"http-{server}")
        os.makedirs(self.dir, exist_ok=True)
        self.cgi = os.path.join(self.dir, "cgi")
        self.cmd = f"{sluice} http-backend" if server != "git" else "/usr/lib/git-core/git-http-backend"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        sock = os.path.join(self.dir, "fcgi.sock")
        with open(os.path.join(self.dir, "htpasswd"), "w") as f:
            f.write(f"alice:{{PLAIN}}{self.PASSWORD}\n")
        self.set_out(os.devnull)
        with open(os.path.join(TOP, "contrib/http/nginx-sluice.conf")) as f:
            site = f.read()
        for k, v in {"LISTEN": f"127.0.0.1:{self.port}", "SLUICE_CGI": self.cgi, "PROJECT_ROOT": "/",
                     "HTPASSWD": os.path.join(self.dir, "htpasswd"), "FCGIWRAP": sock,
                     "LOG_FILE": os.path.join(self.dir, "sluice.log")}.items():
            site = site.replace(f"@{k}@", v)
        d = self.dir
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(f"worker_processes 1;\nerror_log {d}/error.log;\npid {d}/nginx.pid;\n"
                    f"events {{ worker_connections 64; }}\nhttp {{\n access_log off;\n"
                    f" client_body_temp_path {d}/body;\n fastcgi_temp_path {d}/fcgi;\n"
                    f" proxy_temp_path {d}/proxy;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n"
                    f"{site}\n}}\n")
        self.procs = [subprocess.Popen(["/usr/sbin/fcgiwrap", "-s", f"unix:{sock}"], start_new_session=True)]
        while not os.path.exists(sock):
            time.sleep(0.02)
        user = "user root; " if os.geteuid() == 0 else ""
        self.procs.append(subprocess.Popen(["/usr/sbin/nginx", "-p", d, "-c", f"{d}/nginx.conf",
                                            "-g", f"daemon off; {user}"], start_new_session=True))
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port)).close()
                break
            except OSError:
                time.sleep(0.02)

    def set_out(self, out_file):
        """Points the CGI wrapper's measurements at out_file."""
        with open(self.cgi, "w") as f:
            f.write(f"#!/bin/sh\nBENCH_OUT={out_file} exec {TIMED} {self.cmd}\n")
        os.chmod(self.cgi, 0o755)

    def url(self, path, auth=False):
        cred = f"alice:{self.PASSWORD}@" if auth else ""
        return f"http://{cred}127.0.0.1:{self.port}/git{path}"

    def stop(self):
        for p in self.procs:
            p.terminate()
            p.wait()


HTTP_SITES = {}


def http_site(server, sluice, tmp):
    if server not in HTTP_SITES:
        HTTP_SITES[server] = HttpSite(server, sluice, tmp)
    return HTTP_SITES[server]


def serve_cmd(server, sluice, service, git_config=""):
    if server != "git":
        return f"{TIMED} {sluice} {service}"
    return f"{TIMED} git {git_config}{service}"


def run_case(case, server, sluice, repo, tmp, out_file):
    """Runs one client operation; the server wrapper appends its numbers to out_file. Returns
    (objects, deltas) of the pack for fetch cases (from the server's "Total" line), the size of
    the .bitmap written for the repack case, else None."""
    env = {"BENCH_OUT": out_file}
    up = f"--upload-pack={serve_cmd(server, sluice, 'upload-pack')}"
    # The "-fsync" push cases give C git Sluice's durability (core.fsync=all: every object file
    # and ref fsynced); by default git fsyncs packs but neither loose objects nor refs.
    git_config = "-c core.fsync=all " if case.endswith("-fsync") else ""
    # The "-fsck" push case gives C git Sluice's object checks: Sluice always fscks what it
    # receives, C git only with receive.fsckObjects. Checks cost CPU, and on a history with old
    # fsck warnings (git.git: 99 of them, badFilemode and missingTaggerEntry) the warning lines
    # are most of what a quiet push answers: "push-all" on git.git shows Sluice sending 1.36x
    # C git's bytes (the client's pack is the same to the byte), "push-all-fsck" 1.00x.
    if case.endswith("-fsck"):
        git_config = "-c receive.fsckObjects=true "
    rp = f"--receive-pack={serve_cmd(server, sluice, 'receive-pack', git_config)}"
    url = f"file://{repo}"
    dst = os.path.join(tmp, f"dst-{server}")
    shutil.rmtree(dst, ignore_errors=True)
    if case == "clone-loose":
        url = f"file://{os.path.join(tmp, 'loose.git')}"
    if case == "clone-repacked":
        url = f"file://{os.path.join(tmp, 'repacked.git')}"
    if case == "clone-v0-10k":
        url = f"file://{os.path.join(tmp, 'many-refs.git')}"
    if case in ("clone-v0", "clone-v0-10k", "clone-v2", "clone-bitmap", "clone-graph", "clone-loose", "clone-repacked"):
        v = "2" if case == "clone-v2" else "0"
        sh(["git", "-c", f"protocol.version={v}", "clone", "-q", "--bare", "--no-local", up, url, dst], env=env)
    elif case in ("serve-clone", "serve-bitmap"):
        # The server alone: a full clone's request replayed, the pack thrown away, so wall time
        # is not bounded by a client indexing what it receives.
        cmd = serve_cmd(server, sluice, "upload-pack").split() + [repo]
        with open(os.path.join(tmp, "clone-request"), "rb") as req, open(os.devnull, "wb") as null:
            subprocess.run(cmd, stdin=req, stdout=null, check=True,
                           env=dict(os.environ, BENCH_OUT=out_file, GIT_CONFIG_NOSYSTEM="1"))
    elif case == "depth1":
        sh(["git", "clone", "-q", "--bare", "--no-local", "--depth=1", up, url, dst], env=env)
    elif case == "blob-none":
        sh(["git", "clone", "-q", "--bare", "--no-local", "--filter=blob:none", up, url, dst], env=env)
    elif case in FETCH_BEHIND or case == "fetch-loose":
        base = os.path.join(tmp, f"base-{FETCH_BEHIND.get(case)}")
        if case == "fetch-loose":
            base = os.path.join(tmp, "base-loose")
            url = f"file://{os.path.join(tmp, 'loose.git')}"
        shutil.copytree(base, dst, symlinks=True)
        # fetch-N: the one branch, as a client that tracks it; fetch-loose: every branch.
        spec = "+refs/heads/*:refs/heads/*" if case == "fetch-loose" else f"+refs/heads/{BRANCH}:refs/heads/{BRANCH}"
        err = []
        sh(["git", "-c", "protocol.version=2", "fetch", "--progress", "--no-tags", up, url, spec],
           cwd=dst, env=env, stderr=err)
        m = re.findall(r"Total (\d+) \(delta (\d+)\)", err[0])
        return tuple(map(int, m[-1])) if m else None
    elif case == "repack":
        # Maintenance, timed whole: `sluice repack` (one pack, bitmaps, commit-graph) against
        # `git repack -a -d -b` plus `git commit-graph write --reachable`, each on a fresh copy.
        shutil.copytree(repo, dst, symlinks=True)
        cmd = [TIMED, sluice, "repack", dst] if server != "git" else [
            TIMED, "sh", "-c", "git repack -a -d -b -q && git commit-graph write --reachable --no-progress"]
        sh(cmd, cwd=dst, env=env)
        bitmaps = [f for f in os.listdir(os.path.join(dst, "objects/pack")) if f.endswith(".bitmap")]
        return sum(os.path.getsize(os.path.join(dst, "objects/pack", f)) for f in bitmaps)
    elif case == "ls-remote-10k":
        sh(["git", "ls-remote", up, f"file://{os.path.join(tmp, 'many-refs.git')}"], env=env)
    elif case in ("push-all", "push-all-fsck"):
        sh(["git", "init", "-q", "--bare", f"--object-format={OBJECT_FORMAT}", dst])
        sh(["git", "push", "-q", "--mirror", rp, f"file://{dst}"], cwd=repo, env=env)
    elif case in ("push-10", "push-10-fsync"):
        base = os.path.join(tmp, "push-base.git")
        shutil.copytree(base, dst, symlinks=True)
        sh(["git", "push", "-q", rp, f"file://{dst}", f"refs/heads/ten:refs/heads/{BRANCH}"], cwd=os.path.join(tmp, "push-work"), env=env)
    elif case in ("http-clone", "http-push"):
        # Through nginx + fcgiwrap: one CGI process per request, as deployed.
        site = http_site(server, sluice, tmp)
        site.set_out(out_file)
        if case == "http-clone":
            sh(["git", "clone", "-q", "--bare", site.url(repo), dst])
        else:
            shutil.copytree(os.path.join(tmp, "push-base.git"), dst, symlinks=True)
            sh(["git", "push", "-q", site.url(dst, auth=True), "refs/heads/ten:refs/heads/main"],
               cwd=os.path.join(tmp, "push-work"))
    else:
        sys.exit(f"unknown case {case}")
    return None


def clone_request(repo):
    """The v0 request a full clone sends after the advertisement: every ref tip, then done. Like
    git's client, it names the object format only when it is not SHA-1."""
    tips = sorted(set(sh(["git", "for-each-ref", "--format=%(objectname)"], cwd=repo).split()))
    fmt = f" object-format={OBJECT_FORMAT}" if OBJECT_FORMAT != "sha1" else ""
    out = b""
    for i, t in enumerate(tips):
        caps = f" multi_ack_detailed side-band-64k thin-pack ofs-delta{fmt} agent=bench" if i == 0 else ""
        line = f"want {t}{caps}\n".encode()
        out += b"%04x" % (len(line) + 4) + line
    return out + b"00000009done\n"


def prepare(tmp, repo, sluice, cases):
    with open(os.path.join(tmp, "clone-request"), "wb") as f:
        f.write(clone_request(repo))
    # fetch-N: a single-branch clone (no tags) missing the last N first-parent commits of the
    # branch: a client N commits behind.
    for case, n in FETCH_BEHIND.items():
        if case not in cases:
            continue
        base = os.path.join(tmp, f"base-{n}")
        sh(["git", "clone", "-q", "--bare", "--no-local", "--single-branch", "--no-tags",
            "-b", BRANCH, f"file://{repo}", base])
        sh(["git", "update-ref", f"refs/heads/{BRANCH}", f"refs/heads/{BRANCH}~{n}"], cwd=base)
        sh(["git", "reflog", "expire", "--all", "--expire=now"], cwd=base)
        sh(["git", "gc", "-q", "--prune=now"], cwd=base)
    # What follows serves only some cases; a run of other cases skips it (on a large
    # repository each copy and repack takes minutes).
    if "ls-remote-10k" in cases or "clone-v0-10k" in cases:
        prepare_many_refs(tmp, repo)
    if any(c in cases for c in ("push-10", "push-10-fsync", "http-push")):
        prepare_push(tmp, repo)
    if any(c in cases for c in ("clone-loose", "fetch-loose", "clone-repacked")):
        prepare_loose(tmp, repo, sluice)


def prepare_many_refs(tmp, repo):
    # ls-remote-10k: 10,000 refs.
    many = os.path.join(tmp, "many-refs.git")
    sh(["git", "clone", "-q", "--bare", "--no-local", f"file://{repo}", many])
    head = sh(["git", "rev-parse", BRANCH], cwd=many).strip()
    lines = "".join(f"create refs/heads/b{i:05d} {head}\n" for i in range(10000))
    sh(["git", "update-ref", "--stdin"], cwd=many, input=lines.encode())
    sh(["git", "pack-refs", "--all"], cwd=many)


def prepare_push(tmp, repo):
    # push-10: a copy of the repository and a work clone 10 commits ahead.
    pb = os.path.join(tmp, "push-base.git")
    sh(["git", "clone", "-q", "--bare", "--no-local", f"file://{repo}", pb])
    work = os.path.join(tmp, "push-work")
    sh(["git", "clone", "-q", "--no-local", f"file://{repo}", work])
    for i in range(10):
        with open(os.path.join(work, f"ten{i}.txt"), "w") as f:
            f.write(f"{i}\n" * 100)
        sh(["git", "add", "."], cwd=work)
        sh(["git", "commit", "-q", "-m", f"ten {i}"], cwd=work)
    sh(["git", "branch", "ten"], cwd=work)


def prepare_loose(tmp, repo, sluice):
    # clone-loose: a copy whose last 500 commits (small edits to five ~36 KiB text files) were
    # pushed and stored as loose objects on top of the pack, never repacked: the delta search's
    # case.
    loose = os.path.join(tmp, "loose.git")
    sh(["git", "clone", "-q", "--bare", "--no-local", f"file://{repo}", loose])
    sh(["git", "config", "receive.unpackLimit", "1000000"], cwd=loose)
    sh(["git", "config", "gc.auto", "0"], cwd=loose)
    lwork = os.path.join(tmp, "loose-work.git")
    sh(["git", "clone", "-q", "--bare", "--no-local", f"file://{repo}", lwork])
    files = [[f"file {f} holds line number {k}\n" for k in range(1200)] for f in range(5)]
    stream = []
    for i in range(1, 501):
        stream.append(f"commit refs/heads/{BRANCH}\ncommitter B <b@x> {1800000000 + i * 60} +0000\n")
        msg = f"loose {i}\n"
        stream.append(f"data {len(msg)}\n{msg}")
        if i == 1:
            stream.append(f"from refs/heads/{BRANCH}^0\n")
        for f in (i % 5, (i * 3 + 1) % 5):
            files[f][(i * 37) % 1200] = f"line rewritten by commit {i}\n"
            files[f].append(f"appended by commit {i}\n")
            body = "".join(files[f])
            stream.append(f"M 100644 inline loose/f{f}.txt\ndata {len(body)}\n{body}\n")
    sh(["git", "fast-import", "--quiet"], cwd=lwork, input="".join(stream).encode())
    sh(["git", "push", "-q", f"file://{loose}", BRANCH], cwd=lwork)
    shutil.rmtree(lwork)
    # fetch-loose: a clone of loose.git missing its last 100 (loose) commits, so each file's
    # first new version can only be a thin delta against the client's version.
    bl = os.path.join(tmp, "base-loose")
    sh(["git", "clone", "-q", "--bare", "--no-local", f"file://{loose}", bl])
    sh(["git", "update-ref", f"refs/heads/{BRANCH}", f"refs/heads/{BRANCH}~100"], cwd=bl)
    sh(["git", "gc", "-q", "--prune=now"], cwd=bl)
    # clone-repacked: the loose copy after `sluice repack` (one pack, a bitmap written by Sluice,
    # no git maintenance at all); both servers serve it. The repack is timed against
    # `git repack -a -d -b` on another copy.
    repacked = os.path.join(tmp, "repacked.git")
    shutil.copytree(loose, repacked, symlinks=True)
    t = time.monotonic()
    sh([sluice, "repack", repacked])
    ours = time.monotonic() - t
    by_git = os.path.join(tmp, "repacked-by-git.git")
    shutil.copytree(loose, by_git, symlinks=True)
    t = time.monotonic()
    sh(["git", "repack", "-a", "-d", "-b", "-q"], cwd=by_git)
    theirs = time.monotonic() - t
    shutil.rmtree(by_git)
    print(f"repack of loose.git: sluice repack {ours:.2f}s, git repack -a -d -b {theirs:.2f}s",
          file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo")
    ap.add_argument("--commits", type=int, default=50000)
    ap.add_argument("--object-format", default="sha1", choices=["sha1", "sha256"],
                    help="the generated repository's object format (with --repo, the repository's own)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sluice", default=os.path.join(TOP, "target/release/sluice"))
    ap.add_argument("--cases", default="clone-v0,clone-v2,clone-bitmap,clone-graph,clone-loose,clone-repacked,serve-clone,serve-bitmap,fetch-10,fetch-100,fetch-1000,fetch-loose,depth1,blob-none,ls-remote-10k,clone-v0-10k,push-all,push-all-fsck,push-10,push-10-fsync,http-clone,http-push,repack")
    ap.add_argument("--csv", default="bench-results.csv")
    ap.add_argument("--baseline", help="a second Sluice binary (e.g. main's) run in the same "
                    "alternation, so a change is compared with its baseline under the same load")
    a = ap.parse_args()
    if not os.path.exists(a.sluice):
        sys.exit(f"{a.sluice} missing: run cargo build --release first")
    tmp = tempfile.mkdtemp(prefix="sluice-bench-")
    # The server wrapper, in C when a compiler is at hand (see bench/timed.c for why).
    global TIMED
    timed_bin = os.path.join(tmp, "timed")
    if subprocess.run(["cc", "-O2", "-o", timed_bin, os.path.join(HERE, "timed.c")]).returncode == 0:
        TIMED = timed_bin
    else:
        print("no C compiler: measuring through bench/timed.py (small cases read high)", file=sys.stderr)
    servers = ["git", "sluice"] + (["base"] if a.baseline else [])
    binaries = {"git": "git", "sluice": a.sluice, "base": a.baseline}
    repo = a.repo
    if not repo:
        repo = os.path.join(tmp, "bench.git")
        print(f"generating a {a.commits}-commit repository ...", file=sys.stderr)
        generate(repo, a.commits, a.object_format)
    repo = os.path.abspath(repo)
    global BRANCH, OBJECT_FORMAT
    BRANCH = sh(["git", "symbolic-ref", "--short", "HEAD"], cwd=repo).strip()
    OBJECT_FORMAT = sh(["git", "rev-parse", "--show-object-format"], cwd=repo).strip()
    # C git serves filters only when allowed; Sluice allows them by default.
    sh(["git", "config", "uploadpack.allowFilter", "true"], cwd=repo)
    objects = sh(["git", "count-objects", "-v"], cwd=repo)
    print(f"repository: {repo} ({OBJECT_FORMAT})\n{objects}", file=sys.stderr)
    prepare(tmp, repo, a.sluice, a.cases.split(","))
    rows = []
    packs = {}
    for case in a.cases.split(","):
        if case in ("clone-bitmap", "serve-bitmap"):
            sh(["git", "repack", "-a", "-d", "-q", "-b"], cwd=repo)
        if case == "clone-graph":
            # What `git gc` leaves behind: a commit-graph (both servers use it).
            sh(["git", "commit-graph", "write", "--reachable"], cwd=repo)
        samples = {srv: [] for srv in servers}
        counts = {srv: [] for srv in servers}
        for _ in range(a.runs):
            for server in servers:
                out = os.path.join(tmp, f"{case}-{server}.csv")
                if os.path.exists(out):
                    os.remove(out)
                got = run_case(case, server, binaries[server], repo, tmp, out)
                if got and case != "repack":
                    counts[server].append(got)
                with open(out) as f:
                    vals = [list(map(float, l.split(","))) for l in f if l.strip()]
                # Several server processes (stateless rounds) add up.
                wall = sum(v[0] for v in vals); cpu = sum(v[1] + v[2] for v in vals)
                rss = max(v[3] for v in vals); sent = sum(v[4] for v in vals)
                if case == "repack":
                    # Nothing is sent: the bytes column is the size of the .bitmap written.
                    sent = got or 0
                samples[server].append((cpu, wall, rss, sent))
        if counts["git"]:
            packs[case] = {srv: (counts[srv][-1] if counts[srv] else (0, 0),
                                 statistics.median(s[3] for s in samples[srv]))
                           for srv in servers}
        if case == "clone-graph":
            os.remove(os.path.join(repo, "objects/info/commit-graph"))
        if case in ("clone-bitmap", "serve-bitmap"):
            for f in os.listdir(os.path.join(repo, "objects/pack")):
                if f.endswith(".bitmap"):
                    os.remove(os.path.join(repo, "objects/pack", f))
        for srv in servers[1:]:
            for i, metric in enumerate(["cpu", "wall", "rss", "bytes"]):
                ratios = [s[i] / g[i] if g[i] else float("nan") for s, g in zip(samples[srv], samples["git"])]
                rows.append({"server": srv, "case": case, "metric": metric,
                             "median": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
                             "git_median": statistics.median(g[i] for g in samples["git"]),
                             "sluice_median": statistics.median(s[i] for s in samples[srv])})
    with open(a.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    for srv in servers[1:]:
        print(f"\n{binaries[srv]}/git ratios on a {OBJECT_FORMAT} repository, median (min-max) of "
              f"{a.runs} runs; lower is better for sluice")
        print(f"{'case':<15}{'cpu':>20}{'wall':>20}{'rss':>20}{'bytes':>20}"
              "   (repack: bytes = .bitmap size)")
        for case in a.cases.split(","):
            cells = []
            for metric in ["cpu", "wall", "rss", "bytes"]:
                r = next(r for r in rows if r["server"] == srv and r["case"] == case and r["metric"] == metric)
                cells.append(f"{r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f})")
            print(f"{case:<15}" + "".join(f"{c:>20}" for c in cells))
    if packs:
        print("\nFetch packs (objects, deltas from the server's Total line; bytes sent, median)")
        print(f"{'case':<15}{'git objects':>12}{'deltas':>8}{'bytes':>12}"
              f"{'sluice objects':>16}{'deltas':>8}{'bytes':>12}{'bytes ratio':>13}")
        for case, p in packs.items():
            (go, gd), gb = p["git"]
            for srv in servers[1:]:
                (so, sd), sb = p[srv]
                name = case if srv == "sluice" else f"{case} (base)"
                print(f"{name:<15}{go:>12}{gd:>8}{gb:>12.0f}{so:>16}{sd:>8}{sb:>12.0f}{sb / gb:>13.3f}")
    print(f"\nCSV: {a.csv}")
    for site in HTTP_SITES.values():
        site.stop()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
