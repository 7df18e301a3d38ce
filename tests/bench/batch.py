#!/usr/bin/python3
"""Runs a batch of commands for tests/bench/run and reports what they cost.

Reads a JSON job from stdin:
  {"parallel": P, "mount_ca": PEM or null, "timeout": seconds per command,
   "commands": [{"argv": [...], "env": {...}, "log": PATH}, ...]}
runs the commands P at a time (1: one after the other; a command still running after
the timeout is killed with its process group), and prints one JSON object:
  {"wall": s, "t0": epoch, "t1": epoch, "user": s, "sys": s, "maxrss_kib": n,
   "results": [{"rc": n, "wall": s}, ...]}
user/sys/maxrss come from getrusage(RUSAGE_CHILDREN) of this process, which is fresh
for every batch: they cover every process of the commands, their hooks included, and
nothing of the benchmark runner. maxrss is that of the largest single process.

With mount_ca, this process must run in a private mount namespace (`unshare -m`): it
bind-mounts mount_ca over /etc/ssl/certs/ca-certificates.crt (with mount(2), so no
extra process is counted) before any command starts. The machine's own trust store is
never touched: the mount exists only in this namespace and ends with it.
"""
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time

SYSTEM_STORE = "/etc/ssl/certs/ca-certificates.crt"
MS_BIND = 4096


def bind_mount(src, dst):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(src.encode(), dst.encode(), None, MS_BIND, None) != 0:
        err = ctypes.get_errno()
        sys.exit(f"batch: mount --bind {src} {dst}: {os.strerror(err)}")


def main():
    job = json.load(sys.stdin)
    if job.get("mount_ca"):
        if os.readlink("/proc/self/ns/mnt") == os.readlink(f"/proc/{os.getppid()}/ns/mnt"):
            sys.exit("batch: mount_ca needs a private mount namespace (run under unshare -m)")
        bind_mount(job["mount_ca"], SYSTEM_STORE)
    commands = job["commands"]
    parallel = max(1, int(job.get("parallel", 1)))
    timeout = float(job.get("timeout", 600))
    results = [None] * len(commands)
    lock = threading.Lock()
    queue = list(range(len(commands)))

    def one(i):
        c = commands[i]
        env = dict(os.environ)
        env.update(c.get("env") or {})
        with open(c["log"], "w") as log:
            s = time.monotonic()
            p = subprocess.Popen(c["argv"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, cwd=c.get("cwd"),
                                 start_new_session=True)
            try:
                rc = p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                log.write(f"\nbatch: killed after {timeout} s\n")
                rc = "timeout"
            results[i] = {"rc": rc, "wall": time.monotonic() - s}

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                i = queue.pop(0)
            one(i)

    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0, m0 = time.time(), time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(min(parallel, len(commands)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - m0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    json.dump({"wall": wall, "t0": t0, "t1": t0 + wall,
               "user": r1.ru_utime - r0.ru_utime, "sys": r1.ru_stime - r0.ru_stime,
               "maxrss_kib": r1.ru_maxrss, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
