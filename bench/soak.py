#!/usr/bin/env python3
"""Soak test: mixed clone/fetch/ls-remote/push requests from parallel clients through a real
sshd, once with Sluice (`sluice ssh` as the authorized_keys command) and once with C git
(git-shell), on identical repositories. Reports failures, requests per second (ratio
Sluice/git), the ls-remote start-up cost on a 10,000-ref repository, and checks that nothing
leaks: no quarantine directories or lock files left, the repository fsck clean, the sshd's
open file descriptors unchanged.

Usage: bench/soak.py [--requests 1000] [--clients 8] [--sluice target/release/sluice]
Needs root (to run sshd) and openssh-server. Not part of `cargo test`.
"""
import argparse, os, random, shutil, socket, statistics, subprocess, sys, tempfile, threading, time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null",
           GIT_AUTHOR_NAME="S", GIT_AUTHOR_EMAIL="s@x", GIT_COMMITTER_NAME="S", GIT_COMMITTER_EMAIL="s@x")


def sh(args, cwd=None, env=None, check=True):
    r = subprocess.run(args, cwd=cwd, env=env or ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and r.returncode != 0:
        raise RuntimeError(f"{args}: {r.stderr.decode()[-500:]}")
    return r


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def start_sshd(tmp, root, sluice):
    keys = os.path.join(tmp, "keys"); os.makedirs(keys)
    for k in ("host", "sluice", "git"):
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(keys, k)])
    log = os.path.join(tmp, "sluice.log")
    auth = (f'command="{sluice} --log-file {log} ssh --root {root}/sluice --user soak",restrict '
            + open(os.path.join(keys, "sluice.pub")).read()
            + f'command="cd {root}/git && git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"",restrict '
            + open(os.path.join(keys, "git.pub")).read())
    open(os.path.join(keys, "authorized_keys"), "w").write(auth)
    port = free_port()
    cfg = os.path.join(tmp, "sshd_config")
    open(cfg, "w").write(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys}/host\nAuthorizedKeysFile {keys}/authorized_keys\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "AcceptEnv GIT_PROTOCOL\nMaxStartups 100:30:200\nMaxSessions 100\nLogLevel ERROR\n"
        f"PidFile {tmp}/sshd.pid\n")
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", cfg], stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port)).close(); break
        except OSError:
            time.sleep(0.05)
    return proc, port, keys


def fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def run_soak(server, port, keys, root, tmp, requests, clients):
    user = subprocess.run(["id", "-un"], stdout=subprocess.PIPE).stdout.decode().strip()
    ssh = (f"ssh -p {port} -i {keys}/{server} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no "
           f"-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes")
    env = dict(ENV, GIT_SSH_COMMAND=ssh)
    url = f"{user}@127.0.0.1:repo.git"
    many = f"{user}@127.0.0.1:many.git"
    failures, lock = [], threading.Lock()
    counter = iter(range(requests))
    next_lock = threading.Lock()

    def worker(w):
        rnd = random.Random(w)
        work = os.path.join(tmp, f"{server}-w{w}")
        sh(["git", "clone", "-q", url, work], env=env)
        branch = f"soak-{w}"
        while True:
            with next_lock:
                i = next(counter, None)
            if i is None:
                return
            kind = rnd.choices(["ls-remote", "fetch", "clone", "push"], [4, 3, 2, 1])[0]
            try:
                if kind == "ls-remote":
                    sh(["git", "ls-remote", url], env=env)
                elif kind == "fetch":
                    sh(["git", "fetch", "-q", "origin"], cwd=work, env=env)
                elif kind == "clone":
                    dst = os.path.join(tmp, f"{server}-c{w}-{i}")
                    sh(["git", "clone", "-q", "--depth=1", url, dst], env=env)
                    shutil.rmtree(dst)
                else:
                    with open(os.path.join(work, f"{branch}.txt"), "a") as f:
                        f.write(f"{i}\n")
                    sh(["git", "add", "."], cwd=work, env=env)
                    sh(["git", "commit", "-q", "-m", f"soak {i}"], cwd=work, env=env)
                    sh(["git", "push", "-q", "origin", f"HEAD:refs/heads/{branch}"], cwd=work, env=env)
            except Exception as e:  # noqa: BLE001 - every failure is counted and shown
                with lock:
                    failures.append(f"{kind}: {e}")

    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(clients)]
    for t in threads: t.start()
    for t in threads: t.join()
    elapsed = time.monotonic() - start
    # Start-up cost: ls-remote of 10,000 refs, median of 5.
    times = []
    for _ in range(5):
        t0 = time.monotonic(); sh(["git", "ls-remote", many], env=env); times.append(time.monotonic() - t0)
    return failures, requests / elapsed, statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--sluice", default=os.path.join(TOP, "target/release/sluice"))
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sluice-soak-")
    root = os.path.join(tmp, "root")
    for server in ("sluice", "git"):
        d = os.path.join(root, server); os.makedirs(d)
        sh(["bash", os.path.join(TOP, "tests/fixtures/gen_history.sh"), os.path.join(d, "repo.git"), "2000"])
        sh(["git", "clone", "-q", "--bare", os.path.join(d, "repo.git"), os.path.join(d, "many.git")])
        head = sh(["git", "rev-parse", "main"], cwd=os.path.join(d, "many.git")).stdout.decode().strip()
        lines = "".join(f"create refs/heads/b{i:05d} {head}\n" for i in range(10000))
        subprocess.run(["git", "update-ref", "--stdin"], cwd=os.path.join(d, "many.git"), input=lines.encode(), check=True)
    sshd, port, keys = start_sshd(tmp, root, a.sluice)
    try:
        results = {}
        for server in ("git", "sluice"):
            before = fds(sshd.pid)
            failures, rps, lsr = run_soak(server, port, keys, root, tmp, a.requests, a.clients)
            after = fds(sshd.pid)
            repo = os.path.join(root, server, "repo.git")
            leftovers = [n for n in os.listdir(os.path.join(repo, "objects")) if n.startswith("incoming-")]
            locks = [os.path.join(dp, f) for dp, _, fs in os.walk(repo) for f in fs if f.endswith(".lock")]
            fsck = subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo, env=ENV,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE).returncode == 0
            results[server] = (failures, rps, lsr)
            print(f"{server}: {a.requests} requests from {a.clients} clients: {len(failures)} failures, "
                  f"{rps:.1f} req/s, ls-remote 10k refs {lsr*1000:.0f} ms, sshd fds {before}->{after}, "
                  f"leftover quarantines {len(leftovers)}, lock files {len(locks)}, fsck {'clean' if fsck else 'FAILED'}")
            for f in failures[:5]:
                print("   ", f)
        # Memory per request (Sluice logs each request's peak RSS): flat means the last requests
        # need no more than the first ones did.
        rss = {}
        with open(os.path.join(tmp, "sluice.log")) as f:
            for line in f:
                if "request finished" not in line or "peak_rss_kib=" not in line:
                    continue
                svc = line.split("service=")[1].split()[0].strip('"')
                kib = int(line.split("peak_rss_kib=")[1].split()[0])
                rss.setdefault(svc, []).append(kib)
        for svc, vals in sorted(rss.items()):
            k = max(1, min(100, len(vals) // 4))
            first, last = statistics.median(vals[:k]), statistics.median(vals[-k:])
            print(f"sluice {svc}: {len(vals)} requests, peak RSS median first {k} {first/1024:.1f} MiB, "
                  f"last {k} {last/1024:.1f} MiB (ratio {last/first:.2f}), max {max(vals)/1024:.1f} MiB")
        s, g = results["sluice"], results["git"]
        print(f"\nratios sluice/git: requests per second {s[1]/g[1]:.2f} (higher is better), "
              f"ls-remote start-up {s[2]/g[2]:.2f} (lower is better)")
    finally:
        sshd.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
