#!/usr/bin/env python3
"""pg-cpu.py SECONDS: CPU of the local Postgres processes over SECONDS, by kind.

Reads /proc/<pid>/stat of every process whose title starts with "postgres:"
at the start and at the end of the window, and groups them by title: the
backends by role and database ("orders_app orders"), the walsenders, the
walwriter, the checkpointer. Percent of one core. Processes that came and
went inside the window are not counted (the bench's /proc accounting,
bench/cpu, counts them through the postmaster's cutime). Run it while
loadgen drives a step, e.g. 60 s into `loadgen -rates 500`.
"""
import collections
import os
import sys
import time


def snapshot():
    procs = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if not title.startswith("postgres:"):
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        procs[pid] = (kind(title), int(fields[11]) + int(fields[12]))
    return procs


def kind(title):
    # The first two words name the kind: "orders_app orders" (role and
    # database of a backend), "walsender debezium", "background writer",
    # "autovacuum launcher"; one-word titles ("walwriter") stay one word.
    words = title.split()[1:]
    return " ".join(words[:2]) if words else title


def main():
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 30
    hz = os.sysconf("SC_CLK_TCK")
    before = snapshot()
    start = time.monotonic()
    time.sleep(secs)
    after = snapshot()
    elapsed = time.monotonic() - start
    cpu, count = collections.Counter(), collections.Counter()
    for pid, (k, ticks) in after.items():
        if pid in before:
            cpu[k] += (ticks - before[pid][1]) / hz
            count[k] += 1
    for k, v in cpu.most_common():
        print(f"{100 * v / elapsed:6.1f} %  {count[k]:3d} processes  {k}")
    print(f"{100 * sum(cpu.values()) / elapsed:6.1f} %  total")


if __name__ == "__main__":
    main()
