#!/usr/bin/python3
"""Write benchmark: odofs beside curl, s3fs and rclone on one local S3 server.

One run, one local s3rver on 127.0.0.1 (an empty bucket in a temporary
folder), the same local files for every tool:

  1. sequential write of a 1 GiB file of random data: curl single-stream PUT,
     curl with 4 parallel PUTs (4 objects of 256 MiB), then `cp FILE MNT/`
     into an odofs, an s3fs and an rclone mount, timed until cp returns; each
     object's size is checked with a HEAD right after;
  2. `tar xf` of an archive of 1,000 small files (1-16 KiB) into MNT/small/ of
     each mount, timed until tar returns; the 1,000 objects and their sizes are
     checked with a listing right after;
  3. peak RSS of each FUSE daemon during the 1 GiB write.

Every figure is the median of BENCH_RUNS runs; every run uses a fresh mount
(mounted, measured, unmounted) and an empty bucket (objects are deleted after
each measurement). The script prints figures, ratios and the targets of
issue 3; it never fails because something is slow (exit 0), only when
something broke (exit 1: a mount, a write, a wrong size or count; the tool is
reported as "FAILED: reason" and the others carry on) or it cannot start
(exit 2).

Environment (all optional):
  ODOFS              odofs binary (default: build/odofs in the repository;
                     ODOFS_BIN is honoured too)
  BENCH_RUNS         runs per figure (default 3)
  BENCH_DATA         data folder, kept between runs (default /var/tmp/odofs-bench;
                     this benchmark uses its write/ subfolder)
  BENCH_TOOLS        which to measure (default "curl odofs s3fs rclone")
  BENCH_ONLY         "write" or "small" to run one part only (default both)
  BENCH_ODOFS_OPTS   extra odofs -o options, e.g. "connections=8"
  BENCH_S3FS_OPTS    extra s3fs -o options
  BENCH_RCLONE_ARGS  extra rclone mount arguments (split on spaces)
  BENCH_TAR_ARGS     extra tar arguments (split on spaces), e.g.
                     "--no-same-owner --no-same-permissions -m"
  BENCH_OP_TIMEOUT   seconds before a single timed operation counts as hung (300)
  NODE               node binary for the server (default: node on PATH)

Uses the standard library and benchlib.py (beside this file) only.
"""

import io
import os
import random
import subprocess
import tarfile
import time

import benchlib as bl
from benchlib import MB, MiB, MOUNT_TOOLS, RUNS, DATA, TOOLS, ONLY, BenchError, log

BUCKET = "bench-write"
WDATA = os.path.join(DATA, "write")
BIG_NAME = "random-1GiB.bin"
BIG_SIZE = 1 << 30
N_PARTS = 4
PART_SIZE = BIG_SIZE // N_PARTS
PART_NAMES = [f"quarter-{i}.bin" for i in range(N_PARTS)]
TAR_NAME = "small-1000.tar"
SMALL_COUNT = 1000
SMALL_MIN, SMALL_MAX = 1024, 16 * 1024
SMALL_DIR = "small"
TAR_ARGS = (os.environ.get("BENCH_TAR_ARGS") or "").split()
# Bump when the data layout changes: a data folder with another marker is rebuilt.
MARKER_TEXT = (f"odofs write-bench data v1: {BIG_NAME} {BIG_SIZE} bytes, {N_PARTS} parts of it, "
               f"{TAR_NAME} {SMALL_COUNT} files of {SMALL_MIN}-{SMALL_MAX} bytes\n")

BIG = os.path.join(WDATA, BIG_NAME)
PARTS = [os.path.join(WDATA, n) for n in PART_NAMES]
TAR = os.path.join(WDATA, TAR_NAME)


# --------------------------------------------------------------------------
# data


def make_data():
    """The 1 GiB file of random bytes, the same bytes split in 4 files (for
    the parallel PUTs), and the tar of 1,000 small random files."""
    t0 = time.monotonic()
    chunk = 16 * MiB
    tmp_big = BIG + ".tmp"
    tmp_parts = [p + ".tmp" for p in PARTS]
    with open(tmp_big, "wb") as big:
        for i, tp in enumerate(tmp_parts):
            with open(tp, "wb") as part:
                for _ in range(PART_SIZE // chunk):
                    b = os.urandom(chunk)
                    big.write(b)
                    part.write(b)
    for tp, p in zip(tmp_parts + [tmp_big], PARTS + [BIG]):
        os.replace(tp, p)
    log(f"  {BIG_NAME} (1 GiB random) and its {N_PARTS} parts in {time.monotonic() - t0:.1f} s")

    # Regular files only, owned by root, mode 0644, one fixed mtime; no
    # directory entries (tar extracts into a folder made beforehand).
    rnd = random.Random(3)
    with tarfile.open(TAR + ".tmp", "w", format=tarfile.GNU_FORMAT) as tf:
        for i in range(SMALL_COUNT):
            ti = tarfile.TarInfo(f"file-{i:04d}.bin")
            ti.size = rnd.randint(SMALL_MIN, SMALL_MAX)
            ti.mode, ti.mtime = 0o644, 1700000000
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            tf.addfile(ti, io.BytesIO(os.urandom(ti.size)))
    os.replace(TAR + ".tmp", TAR)
    log(f"  {TAR_NAME} ({SMALL_COUNT} files of {SMALL_MIN // 1024}-{SMALL_MAX // 1024} KiB)")


def tar_members():
    """name -> size of the regular files in the archive."""
    with tarfile.open(TAR) as tf:
        return {m.name: m.size for m in tf.getmembers() if m.isfile()}


# --------------------------------------------------------------------------
# the measurements


def check_size(s3, key, want, what):
    size = s3.head(key)
    if size != want:
        raise BenchError(f"{what} returned, but HEAD {key} gives "
                         f"{'no object' if size is None else f'{size} bytes'}, expected {want}")


def write_curl_single(s3):
    s3.empty()
    try:
        dt, rc, err = bl.timed(s3.cmd("-o", "/dev/null", "-T", BIG, s3.url(BIG_NAME)))
        if rc != 0:
            raise BenchError(f"curl PUT failed ({rc}): {err}")
        check_size(s3, BIG_NAME, BIG_SIZE, "curl PUT")
        return dt
    finally:
        s3.empty()


def write_curl_parallel(s3):
    s3.empty()
    try:
        dt, res = bl.timed_all([s3.cmd("-o", "/dev/null", "-T", p, s3.url(n)) for p, n in zip(PARTS, PART_NAMES)])
        if any(rc for rc, _ in res):
            raise BenchError("curl PUTs failed: " + " ".join(f"({rc}) {err}" for rc, err in res if rc))
        for n in PART_NAMES:
            check_size(s3, n, PART_SIZE, "curl PUT")
        return dt
    finally:
        s3.empty()


def write_mount(mounter, s3, tool):
    """Fresh mount, cp the big file into its root; returns (seconds, peak RSS
    MiB, daemon CPU seconds during the cp). The object must be complete
    (HEAD, not through the mount) as soon as cp has returned."""
    s3.empty()
    mnt, p, logpath = mounter.mount(tool)
    try:
        watch = bl.RssWatch(p.pid)
        cpu0 = bl.cpu_seconds(p.pid)
        try:
            dt, rc, err = bl.timed(["cp", BIG, mnt + "/"])
        except BenchError as e:
            raise BenchError(f"{e}\n{bl.tail(logpath)}")
        finally:
            cpu = bl.cpu_seconds(p.pid) - cpu0
            rss = watch.peak_mib()
        if rc != 0:
            raise BenchError(f"cp failed: {err}\n{bl.tail(logpath)}")
        if p.poll() is not None:
            raise BenchError(f"daemon exited ({p.returncode}) during the write\n{bl.tail(logpath)}")
        size = s3.head(BIG_NAME)
        if size != BIG_SIZE:
            # Tell "uploads after close" from "lost": wait a little for it.
            t0 = time.monotonic()
            while time.monotonic() - t0 < 30 and size != BIG_SIZE:
                time.sleep(0.5)
                size = s3.head(BIG_NAME)
            later = (f"; complete {time.monotonic() - t0:.1f} s later" if size == BIG_SIZE
                     else f"; still {size} bytes 30 s later" if size is not None else "; still missing 30 s later")
            raise BenchError(f"cp returned, but the object was not complete{later}\n{bl.tail(logpath)}")
        return dt, rss, cpu
    finally:
        bl.unmount(mnt)
        s3.empty()


def small_mount(mounter, s3, tool, expected):
    """Fresh mount, mkdir MNT/small (untimed), tar xf into it; returns seconds.
    The objects are listed (not through the mount) right after tar returns."""
    s3.empty()
    mnt, p, logpath = mounter.mount(tool)
    try:
        dest = os.path.join(mnt, SMALL_DIR)
        try:
            os.mkdir(dest)
        except OSError as e:
            raise BenchError(f"mkdir {SMALL_DIR} failed: {e}\n{bl.tail(logpath)}")
        try:
            dt, rc, err = bl.timed(["tar", "xf", TAR, "-C", dest] + TAR_ARGS)
        except BenchError as e:
            raise BenchError(f"{e}\n{bl.tail(logpath)}")
        if rc != 0:
            raise BenchError(f"tar failed ({rc}): {err[:500]}\n{bl.tail(logpath)}")
        objs, _ = s3.list(SMALL_DIR + "/", delimiter="/")
        got = {k[len(SMALL_DIR) + 1:]: size for k, size in objs if k != SMALL_DIR + "/"}
        wrong = sorted(n for n in expected if got.get(n) != expected[n])
        if len(got) != len(expected) or wrong:
            raise BenchError(f"after tar, {SMALL_DIR}/ lists {len(got)} objects (expected {len(expected)}), "
                             f"{len(wrong)} missing or of the wrong size"
                             + (f", e.g. {wrong[0]}: {got.get(wrong[0])} bytes, expected {expected[wrong[0]]}"
                                if wrong else "")
                             + f"\n{bl.tail(logpath)}")
        return dt
    finally:
        bl.unmount(mnt)
        s3.empty()


# --------------------------------------------------------------------------
# main


def main():
    if ONLY not in ("", "write", "small"):
        log(f"BENCH_ONLY must be 'write' or 'small', not {ONLY!r}")
        return 2
    why = bl.check_prereqs(extra=(("curl", "apt-get install curl"), ("tar", "apt-get install tar")))
    if why:
        log(why)
        return 2

    do_write = ONLY in ("", "write")
    do_small = ONLY in ("", "small")

    bl.log_versions("odofs write benchmark")
    log(f"  tar     {bl.version(['tar', '--version'])}" + (f" {' '.join(TAR_ARGS)}" if TAR_ARGS else ""))

    # ---- data: local files, kept; the server starts empty every time
    os.makedirs(WDATA, exist_ok=True)
    have = bl.data_ready(WDATA, MARKER_TEXT)
    s3dir = os.path.join(bl.tmpdir(), "s3")
    os.makedirs(s3dir)
    key_id, secret = bl.new_key_pair()
    server, port = bl.start_server(s3dir, key_id, secret)
    endpoint = f"http://127.0.0.1:{port}"
    log(f"  server  {endpoint} (pid {server.pid}, allowMismatchedSignatures for s3fs), bucket {BUCKET} "
        f"in {s3dir}")
    if have:
        log(f"  data    {WDATA} reused (marker present)")
    else:
        log(f"  data    {WDATA} creating (once; kept in BENCH_DATA for later runs)")
        make_data()
        bl.data_done(WDATA, MARKER_TEXT)
    expected = tar_members()
    if len(expected) != SMALL_COUNT:
        raise BenchError(f"{TAR} holds {len(expected)} files, expected {SMALL_COUNT}; delete {WDATA}")
    small_bytes = sum(expected.values())

    s3 = bl.S3Curl(endpoint, BUCKET, key_id, secret)
    s3.create_bucket()
    mounter = bl.Mounter(port, key_id, secret, BUCKET)
    mount_tools = [t for t in MOUNT_TOOLS if t in TOOLS]

    # The sources come from the page cache for every tool; between
    # measurements the server's writes are flushed (untimed sync), so one
    # tool's dirty pages do not slow the next one.
    for path in [BIG] + PARTS + [TAR]:
        subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)

    write_s = {}  # tool -> [seconds]
    rss = {}  # tool -> [MiB]
    small_s = {}
    attempt = bl.Attempts("FAILED")

    def between():
        os.sync()

    # ---- 1 + 3: sequential write, peak RSS
    if do_write:
        log("")
        log(f"1. sequential write of {BIG_NAME} (1 GiB) into an empty bucket, MB/s = 10^6 bytes/s")
        write_curl_single(s3)  # untimed: warms the server
        between()
        for r in range(1, RUNS + 1):
            log(f"  run {r}/{RUNS}")
            if "curl" in TOOLS:
                for label, fn in (("curl-single", lambda: write_curl_single(s3)),
                                  ("curl-4", lambda: write_curl_parallel(s3))):
                    dt = attempt(label, fn)
                    between()
                    if dt is not None:
                        write_s.setdefault(label, []).append(dt)
                        log(f"    {label:12} {dt:7.3f} s  {BIG_SIZE / dt / MB:7.0f} MB/s")
            for t in mount_tools:
                res = attempt(t, lambda: write_mount(mounter, s3, t))
                between()
                if res is not None:
                    dt, mib, cpu = res
                    write_s.setdefault(t, []).append(dt)
                    rss.setdefault(t, []).append(mib)
                    log(f"    {t:12} {dt:7.3f} s  {BIG_SIZE / dt / MB:7.0f} MB/s  peak RSS {mib:6.1f} MiB"
                        f"  daemon CPU {cpu:5.2f} s")

    # ---- 2: 1,000 small files
    if do_small:
        log("")
        log(f"2. tar xf of {SMALL_COUNT} small files ({small_bytes / MB:.1f} MB) into MNT/{SMALL_DIR}/, "
            f"fresh mount each run")
        for r in range(1, RUNS + 1):
            log(f"  run {r}/{RUNS}")
            for t in mount_tools:
                dt = attempt(t + " small", lambda: small_mount(mounter, s3, t, expected))
                between()
                if dt is not None:
                    small_s.setdefault(t, []).append(dt)
                    log(f"    {t:12} {dt:7.3f} s  {SMALL_COUNT / dt:7.0f} files/s")

    # ---- results
    mbps = {k: BIG_SIZE / bl.median(write_s, k) / MB for k in write_s}
    rss_med = {k: bl.median(rss, k) for k in rss}
    small_med = {k: bl.median(small_s, k) for k in small_s}

    if do_write:
        bl.log_throughput("write", mbps, rss_med)
    if do_small:
        log("")
        log(f"tar xf of {SMALL_COUNT} files, median of {RUNS}:")
        for k in MOUNT_TOOLS:
            if k in small_med:
                log(f"  {k:12} {small_med[k]:7.3f} s  {SMALL_COUNT / small_med[k]:7.0f} files/s")

    ratio = bl.ratio
    summary = bl.Summary()
    row = summary.ratio_row
    if do_write:
        o = mbps.get("odofs")
        fig = f"{o:.0f} MB/s" if o else "n/a"
        row("write 1 GiB: odofs / curl single PUT", fig, ratio(o, mbps.get("curl-single")), ">= 1.0x", ">=", 1.0)
        row("write 1 GiB: odofs / s3fs", fig, ratio(o, mbps.get("s3fs")), ">= 2.5x", ">=", 2.5)
        row("write 1 GiB: odofs / curl 4 PUTs", fig, ratio(o, mbps.get("curl-4")), "-")
        row("write 1 GiB: odofs / rclone", fig, ratio(o, mbps.get("rclone")), "-")
    if do_small:
        o = small_med.get("odofs")
        fig = f"{o:.2f} s, {SMALL_COUNT / o:.0f} files/s" if o else "n/a"
        # files/s of odofs over files/s of the peer = peer's time / odofs's time
        for t in ("s3fs", "rclone"):
            row(f"{SMALL_COUNT} files: odofs / {t} files/s", fig, ratio(small_med.get(t), o), "> 1.0x", ">", 1.0)
    if do_write:
        o = rss_med.get("odofs")
        summary.limit_row("peak RSS writing 1 GiB: odofs", o, "MiB", 256)
        for t in ("s3fs", "rclone"):
            if t in rss_med:
                summary.row(f"peak RSS writing 1 GiB: {t}", f"{rss_med[t]:.1f} MiB",
                            f"{o / rss_med[t]:.2f}x" if o else "-", "-", "info")
    summary.print(RUNS)
    return attempt.report()


if __name__ == "__main__":
    bl.run(main)
