#!/usr/bin/python3
"""Runs a command and prints its wall time and peak memory.

    measure.py [--stdin FILE] [--stdout FILE] [--runs N] -- COMMAND [ARG...]

Prints one line: "SECONDS MAXRSS_KB CPU_SECONDS OTHER_CPU_SECONDS" for the
run of median wall-clock time among N (default 1): its wall time, the
largest resident set size any process of the command reached
(getrusage(RUSAGE_CHILDREN), i.e. the biggest single process, not a sum:
with xargs -P2 it is one sha256sum or gzip, not both), the user+system CPU
time of the command, and the CPU time the rest of the machine used
meanwhile (from /proc/stat): when that is not near 0, someone else was
competing for the CPUs and the wall times are pessimistic. Stdout goes to
/dev/null unless --stdout says otherwise; stderr passes through. A non-zero
exit of the command is an error (exit 1). No shell is involved.
"""

import argparse
import os
import resource
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stdin", default="/dev/null")
    ap.add_argument("--stdout", default="/dev/null")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    opt = ap.parse_args()
    cmd = opt.command[1:] if opt.command[:1] == ["--"] else opt.command
    if not cmd:
        ap.error("no command")

    results = []
    for _ in range(opt.runs):
        with open(opt.stdin, "rb") as fin, open(opt.stdout, "wb") as fout:
            ru0, busy0 = children_cpu(), busy_cpu()
            t0 = time.perf_counter()
            rc = subprocess.call(cmd, stdin=fin, stdout=fout)
            wall = time.perf_counter() - t0
            cpu = children_cpu() - ru0
            results.append((wall, cpu, max(0.0, busy_cpu() - busy0 - cpu)))
        if rc != 0:
            print(f"measure: '{cmd[0]}' exited with {rc}", file=sys.stderr)
            return 1
    results.sort()
    wall, cpu, other = results[len(results) // 2]
    maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"{wall:.3f} {maxrss} {cpu:.2f} {other:.2f}")
    return 0


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def busy_cpu():
    """CPU seconds all processes used since boot (user..steal, not idle)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]  # minus idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    sys.exit(main())
