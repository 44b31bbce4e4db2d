#!/usr/bin/env python3
"""Runs a server command as git would (stdin/stdout passed through) and appends its resource
use to $BENCH_OUT as one CSV line: wall_s,user_s,sys_s,maxrss_kib,bytes_out.
Used as the --upload-pack / --receive-pack wrapper by bench/run.py."""
import os, resource, subprocess, sys, time

start = time.monotonic()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
out = 0
while True:
    chunk = proc.stdout.read1(1 << 16) if hasattr(proc.stdout, "read1") else proc.stdout.read(1 << 16)
    if not chunk:
        break
    out += len(chunk)
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
code = proc.wait()
wall = time.monotonic() - start
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(os.environ["BENCH_OUT"], "a") as f:
    f.write(f"{wall:.4f},{ru.ru_utime:.4f},{ru.ru_stime:.4f},{ru.ru_maxrss},{out}\n")
sys.exit(code)
