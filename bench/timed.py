#!/usr/bin/env python3
"""Runs a server command as git would (stdin/stdout passed through) and appends its resource
use to $BENCH_OUT as one CSV line: wall_s,user_s,sys_s,maxrss_kib,bytes_out.
Fallback for bench/timed.c (used by bench/run.py when there is no C compiler): a child forked
from Python starts with the interpreter's resident pages, so small cases read high here."""
import os, subprocess, sys, time

start = time.monotonic()
# close_fds=False lets Python use posix_spawn/vfork: a forked Python child would add its own
# start-up CPU and resident pages to the server's numbers before exec.
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, close_fds=False)
out = 0
while True:
    chunk = proc.stdout.read1(1 << 16) if hasattr(proc.stdout, "read1") else proc.stdout.read(1 << 16)
    if not chunk:
        break
    out += len(chunk)
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
# This child's own usage: RUSAGE_CHILDREN would also count whatever the interpreter's launcher
# (a pyenv shim, say) ran and reaped before exec-ing Python, which outweighed an ls-remote.
_, status, ru = os.wait4(proc.pid, 0)
code = os.waitstatus_to_exitcode(status)
wall = time.monotonic() - start
with open(os.environ["BENCH_OUT"], "a") as f:
    f.write(f"{wall:.4f},{ru.ru_utime:.4f},{ru.ru_stime:.4f},{ru.ru_maxrss},{out}\n")
sys.exit(code)
