"""The disk caches side by side: odofs `-o data_cache`, rclone
`--vfs-cache-mode full` and s3fs `use_cache`, each on one 1 GiB object
(BENCH_DISKCACHE_MIB): the first read (from S3, filling the cache), a
second read on the same mount, a read after a remount with the cache
files warm in the OS page cache, and one after a remount with every page
cache dropped (`echo 3 > /proc/sys/vm/drop_caches`).  Beside them, `cat`
of a local file of the same bytes (warm and dropped) and of a FUSE file
system that does no work at all (nullfs.c, the FUSE floor).  See
README.md here.

A benchmark: it prints figures and never fails on time."""

import os
import subprocess
import sys

import benchlib
from benchlib import BenchError, MiB, log
from pagecache_bench import linkem_counts, start_linkem

SIZE = int(os.environ.get("BENCH_DISKCACHE_MIB") or 1024) * MiB
PROFILE = os.environ.get("BENCH_DISKCACHE_PROFILE") or "none"
KEY = "diskcache/file.bin"
NULLFS = os.path.join(os.path.dirname(benchlib.ODOFS), "nullfs")
PHASES = ("first", "second", "remount", "remount-cold")


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def cat(path, what):
    dt, rc, err = benchlib.timed(["cat", path])
    if rc != 0:
        raise BenchError(f"{what}: cat failed: {err}")
    return dt


def with_cache(tool, cache):
    """Sets the tool's cache options for the next mounts; returns a
    function that puts the old ones back."""
    old = (benchlib.ODOFS_OPTS, benchlib.S3FS_OPTS, benchlib.RCLONE_ARGS)
    if tool == "odofs":
        benchlib.ODOFS_OPTS = ",".join(o for o in (f"data_cache={cache},data_cache_max={2 * SIZE // MiB}M",
                                                   old[0]) if o)
    elif tool == "s3fs":
        benchlib.S3FS_OPTS = ",".join(o for o in (f"use_cache={cache}", old[1]) if o)
    else:
        benchlib.RCLONE_ARGS = ["--vfs-cache-mode", "full", "--cache-dir", cache,
                                "--vfs-cache-max-size", f"{2 * SIZE // MiB}M"] + old[2]

    def restore():
        benchlib.ODOFS_OPTS, benchlib.S3FS_OPTS, benchlib.RCLONE_ARGS = old
    return restore


def one_run(mounter, tool, counter, local, check):
    """The four reads of one tool on a fresh cache folder: {phase:
    (seconds, GETs)}."""
    cache = os.path.join(benchlib.tmpdir(), f"cache-{tool}")
    subprocess.run(["rm", "-rf", cache], check=True)
    os.makedirs(cache)
    restore = with_cache(tool, cache)
    out = {}
    try:
        for mount_phases in (("first", "second"), ("remount",), ("remount-cold",)):
            mnt, _p, logpath = mounter.mount(tool)
            path = os.path.join(mnt, KEY)
            try:
                if mount_phases[0] == "remount-cold":
                    drop_caches()
                for phase in mount_phases:
                    g0 = counter()
                    out[phase] = (cat(path, f"{tool} {phase}"), counter() - g0)
                if check and mount_phases[0] == "remount":
                    cp = subprocess.run(["cmp", path, local], capture_output=True, text=True)
                    if cp.returncode != 0:
                        raise BenchError(f"{tool}: the cached read differs from the object: "
                                         f"{cp.stdout}{cp.stderr}")
            except BenchError as e:
                raise BenchError(f"{e}\n{benchlib.tail(logpath)}")
            finally:
                benchlib.unmount(mnt)
    finally:
        restore()
    return out


def floor_run(local):
    """cat of the local file warm and dropped, and of nullfs."""
    src = os.path.join(benchlib.REPO, "tests", "bench", "nullfs.c")
    if not os.access(NULLFS, os.X_OK) or os.path.getmtime(NULLFS) < os.path.getmtime(src):
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "fuse3"], capture_output=True,
                               text=True, check=True).stdout.split()
        subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-std=gnu11", "-o", NULLFS, src] + flags,
                       check=True)
    cat(local, "local")
    warm = cat(local, "local")
    drop_caches()
    cold = cat(local, "local")
    mnt = os.path.join(benchlib.tmpdir(), "mnt-nullfs")
    os.makedirs(mnt, exist_ok=True)
    p = subprocess.Popen([NULLFS, mnt, str(SIZE), "-f"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    benchlib._procs.append(p)
    benchlib._mounts[mnt] = p
    try:
        why = benchlib.wait_mounted(mnt, p)
        if why:
            raise BenchError(f"nullfs {why}")
        null = cat(os.path.join(mnt, "f"), "nullfs")
    finally:
        benchlib.unmount(mnt)
    return {"local": warm, "local-cold": cold, "nullfs": null}


def main():
    missing = benchlib.check_prereqs(extra=(("cc", "apt-get install gcc"),
                                            ("pkg-config", "apt-get install pkg-config")))
    if missing:
        log(missing)
        return 2
    if os.geteuid() != 0:
        log("run it as root: it drops the page cache")
        return 2
    tools = [t for t in benchlib.TOOLS if t in benchlib.MOUNT_TOOLS]
    log(f"disk caches: {SIZE // MiB} MiB, {' '.join(tools)}, link {PROFILE};"
        f" {benchlib.RUNS} runs (median)")
    benchlib.log_versions("versions")
    port, key_id, secret, curl = benchlib.bench_bucket()
    local = os.path.join(benchlib.tmpdir(), "local.bin")
    benchlib.put_random_object(curl, local, SIZE, KEY)
    stats = os.path.join(benchlib.tmpdir(), "linkem.stats")
    lp, lport = start_linkem(port, PROFILE, stats)
    mounter = benchlib.Mounter(lport, key_id, secret, "bench")
    counter = lambda: linkem_counts(lp, stats).get("requests_get", 0)  # noqa: E731
    runs = {t: [] for t in tools}
    floors = []
    for i in range(benchlib.RUNS):
        for t in tools:
            r = one_run(mounter, t, counter, local, check=(i == 0))
            runs[t].append(r)
            log(f"  run {i + 1} {t:7} " + "  ".join(f"{ph} {r[ph][0]:6.2f} s ({r[ph][1]} GET)"
                                                    for ph in PHASES))
        floors.append(floor_run(local))
        log(f"  run {i + 1} local {floors[-1]['local']:.3f} s, dropped {floors[-1]['local-cold']:.3f} s,"
            f" nullfs {floors[-1]['nullfs']:.3f} s")
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    mbps = lambda t: SIZE / t / 1e6  # noqa: E731
    fl = {k: med([f[k] for f in floors]) for k in floors[0]}
    log("")
    log(f"medians, seconds (MB/s) and GETs per read of {SIZE // MiB} MiB (listings are GETs too):")
    log(f"  {'':8}" + "".join(f"{ph:>24}" for ph in PHASES))
    for t in tools:
        cells = []
        for ph in PHASES:
            dt = med([r[ph][0] for r in runs[t]])
            gets = med([r[ph][1] for r in runs[t]])
            cells.append(f"{dt:7.2f} ({mbps(dt):6.0f}) {gets:4d}G")
        log(f"  {t:8}" + "".join(f"{c:>24}" for c in cells))
    log(f"  local file: warm {fl['local']:.3f} s ({mbps(fl['local']):.0f} MB/s),"
        f" dropped {fl['local-cold']:.3f} s ({mbps(fl['local-cold']):.0f} MB/s);"
        f" FUSE floor (nullfs) {fl['nullfs']:.3f} s ({mbps(fl['nullfs']):.0f} MB/s)")
    for t in tools:
        warm = med([r["remount"][0] for r in runs[t]])
        cold = med([r["remount-cold"][0] for r in runs[t]])
        log(f"  {t:8} after remount: warm / local warm {warm / fl['local']:5.2f}x,"
            f" dropped / local dropped {cold / fl['local-cold']:5.2f}x,"
            f" warm / FUSE floor {warm / fl['nullfs']:5.2f}x")
    os.unlink(local)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    benchlib.run(main)
