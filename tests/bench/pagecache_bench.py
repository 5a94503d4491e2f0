"""The page cache across opens: `cat` of an unchanged 256 MiB file twice on
one odofs mount, on loopback and through linkem's `wan` profile; prints
both times, their ratio and the GETs each cat sent.  The disk cache
(-o data_cache) is diskcache_bench.py's.  See README.md here.

A benchmark: it prints figures and never fails on time."""

import os
import re
import subprocess
import sys
import time

import benchlib
from benchlib import BenchError, MiB, log

SIZE = int(os.environ.get("BENCH_PAGECACHE_MIB") or 256) * MiB
KEY = "pagecache/file.bin"
LINKEM = os.path.join(os.path.dirname(benchlib.ODOFS), "linkem")


def start_linkem(port, profile, stats):
    src = os.path.join(benchlib.REPO, "tests", "linkem", "linkem.c")
    if not os.access(LINKEM, os.X_OK) or os.path.getmtime(LINKEM) < os.path.getmtime(src):
        subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-std=gnu11", "-o", LINKEM, src], check=True)
    p = subprocess.Popen([LINKEM, "--profile", profile, "--target", f"127.0.0.1:{port}",
                          "--stats", stats], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         text=True, start_new_session=True)
    benchlib._procs.append(p)
    m = re.match(r"listening [\d.]+:(\d+)$", p.stdout.readline().strip())
    if not m:
        raise BenchError("linkem did not start")
    return p, int(m.group(1))


def linkem_counts(p, stats):
    """linkem's counters so far, by name (SIGUSR1 makes it write them)."""
    before = os.path.getmtime(stats) if os.path.exists(stats) else 0
    p.send_signal(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if os.path.exists(stats) and os.path.getmtime(stats) != before:
            break
        time.sleep(0.02)
    counts = {}
    with open(stats) as f:
        for line in f:
            k, _, v = line.partition(" ")
            if v.strip().isdigit():
                counts[k] = int(v)
    return counts


def linkem_gets(p, stats):
    """GETs linkem has seen so far."""
    return linkem_counts(p, stats).get("requests_get")


def cat_twice(mounter, counter):
    mnt, _p, _log = mounter.mount("odofs")
    path = os.path.join(mnt, KEY)
    out = []
    try:
        for _ in range(2):
            g0 = counter() if counter else None
            dt, rc, err = benchlib.timed(["cat", path])
            if rc != 0:
                raise BenchError(f"cat failed: {err}")
            g1 = counter() if counter else None
            out.append((dt, None if g0 is None else g1 - g0))
    finally:
        benchlib.unmount(mnt)
    return out


def main():
    missing = benchlib.check_prereqs(extra=(("cc", "apt-get install gcc"),))
    if missing:
        log(missing)
        return 2
    log(f"page cache: cat of an unchanged {SIZE // MiB} MiB file, twice per mount;"
        f" {benchlib.RUNS} runs (median)")
    port, key_id, secret, curl = benchlib.bench_bucket()
    blob = os.path.join(benchlib.tmpdir(), "blob")
    benchlib.put_random_object(curl, blob, SIZE, KEY)
    rc = 0
    for profile in ("loopback", "wan"):
        if profile == "loopback":
            mounter, counter = benchlib.Mounter(port, key_id, secret, "bench"), None
        else:
            stats = os.path.join(benchlib.tmpdir(), f"linkem-{profile}.stats")
            lp, lport = start_linkem(port, profile, stats)
            mounter = benchlib.Mounter(lport, key_id, secret, "bench")
            counter = lambda: linkem_gets(lp, stats)  # noqa: E731
        firsts, seconds, gets = [], [], []
        for _ in range(benchlib.RUNS):
            (t1, g1), (t2, g2) = cat_twice(mounter, counter)
            firsts.append(t1)
            seconds.append(t2)
            gets.append((g1, g2))
        f1 = sorted(firsts)[len(firsts) // 2]
        f2 = sorted(seconds)[len(seconds) // 2]
        mbps = lambda t: SIZE / t / 1e6  # noqa: E731
        log(f"  {profile:8}  first cat {f1:6.2f} s ({mbps(f1):7.1f} MB/s)"
            f"   second cat {f2:6.3f} s ({mbps(f2):8.1f} MB/s)   ratio {f1 / f2:6.1f}x"
            + (f"   GETs first/second per run {gets}" if counter else ""))
    os.unlink(blob)
    return rc


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    benchlib.run(main)
