#!/usr/bin/python3
"""Read benchmark: odofs beside curl, s3fs and rclone on one local S3 server.

One run, one local s3rver on 127.0.0.1, the same data for every tool:

  1. sequential read of a 1 GiB object of random data: curl single-stream GET,
     curl with 4 parallel range GETs, then `cat FILE > /dev/null` through an
     odofs, an s3fs and an rclone mount;
  2. `ls -l` of a prefix holding 10,000 objects: the raw ListObjectsV2 pages
     fetched with curl (following continuation tokens), then each mount;
  3. peak RSS of each FUSE daemon while it serves the 1 GiB read.

Every figure is the median of BENCH_RUNS runs; every run uses a fresh mount
(mounted, measured, unmounted). The server's copy is warm: nothing is dropped
and one untimed curl GET / raw listing runs first. The script prints figures,
ratios and the targets of issue 2; it never fails because something is slow
(exit 0), only when something broke (exit 1) or it cannot start (exit 2).

Environment (all optional):
  ODOFS              odofs binary (default: build/odofs in the repository;
                     ODOFS_BIN is honoured too)
  BENCH_RUNS         runs per figure (default 3)
  BENCH_DATA         data folder, kept between runs (default /var/tmp/odofs-bench)
  BENCH_TOOLS        which to measure (default "curl odofs s3fs rclone")
  BENCH_ONLY         "read" or "ls" to run one part only (default both)
  BENCH_ODOFS_OPTS   extra odofs -o options, e.g. "readahead=64M,connections=8"
  BENCH_S3FS_OPTS    extra s3fs -o options
  BENCH_RCLONE_ARGS  extra rclone mount arguments (split on spaces)
  BENCH_OP_TIMEOUT   seconds before a single timed operation counts as hung (300)
  NODE               node binary for the server (default: node on PATH)

Uses the standard library and benchlib.py (beside this file), plus boto3 to
create the data (once).
"""

import os
import shutil
import subprocess
import time

import benchlib as bl
from benchlib import MB, MiB, MOUNT_TOOLS, RUNS, DATA, TOOLS, ONLY, OP_TIMEOUT, BenchError, log

BUCKET = "bench"
BIG_KEY = "big/random-1GiB.bin"
BIG_SIZE = 1 << 30
LS_PREFIX = "many/"
LS_COUNT = 10000
# Bump when the data layout changes: a data folder with another marker is rebuilt.
MARKER_TEXT = f"odofs-bench data v1: {BUCKET}/{BIG_KEY} {BIG_SIZE} bytes, {BUCKET}/{LS_PREFIX} {LS_COUNT} objects\n"


# --------------------------------------------------------------------------
# data


def populate(endpoint, key_id, secret):
    import concurrent.futures

    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=16,
                      retries={"max_attempts": 5}),
    )
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass

    t0 = time.monotonic()

    def put(i):
        s3.put_object(Bucket=BUCKET, Key=f"{LS_PREFIX}obj-{i:05d}", Body=f"object {i}\n".encode())

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        for _ in ex.map(put, range(LS_COUNT)):
            pass
    log(f"  {LS_COUNT} objects under {LS_PREFIX} in {time.monotonic() - t0:.1f} s")

    t0 = time.monotonic()
    src = os.path.join(DATA, "random-1GiB.tmp")
    with open(src, "wb") as f:
        chunk = 16 * MiB
        for _ in range(BIG_SIZE // chunk):
            f.write(os.urandom(chunk))
    s3.upload_file(src, BUCKET, BIG_KEY,
                   Config=TransferConfig(multipart_threshold=64 * MiB, multipart_chunksize=64 * MiB,
                                         max_concurrency=4))
    os.unlink(src)
    size = s3.head_object(Bucket=BUCKET, Key=BIG_KEY)["ContentLength"]
    if size != BIG_SIZE:
        raise BenchError(f"{BIG_KEY} has {size} bytes after upload, expected {BIG_SIZE}")
    log(f"  {BIG_KEY} (1 GiB random) in {time.monotonic() - t0:.1f} s")


# --------------------------------------------------------------------------
# the measurements


def curl_get(url, rng=None):
    cmd = ["curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{size_download}"]
    if rng:
        cmd += ["-r", rng]
    return cmd + [url]


def read_curl_single(url):
    t0 = time.monotonic()
    cp = subprocess.run(curl_get(url), capture_output=True, text=True, timeout=OP_TIMEOUT)
    dt = time.monotonic() - t0
    if cp.returncode != 0 or int(cp.stdout or 0) != BIG_SIZE:
        raise BenchError(f"curl GET failed ({cp.returncode}, {cp.stdout} bytes): {cp.stderr.strip()}")
    return dt


def read_curl_ranges(url, n=4):
    part = BIG_SIZE // n
    ranges = [f"{i * part}-{(i + 1) * part - 1 if i < n - 1 else BIG_SIZE - 1}" for i in range(n)]
    t0 = time.monotonic()
    ps = [subprocess.Popen(curl_get(url, r), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for r in ranges]
    outs = [p.communicate(timeout=OP_TIMEOUT) for p in ps]
    dt = time.monotonic() - t0
    got = sum(int(o[0] or 0) for o in outs)
    if any(p.returncode for p in ps) or got != BIG_SIZE:
        raise BenchError(f"curl range GETs failed ({got} bytes): {' '.join(o[1].strip() for o in outs)}")
    return dt


def read_mount(mounter, tool):
    """Fresh mount, cat the big file to /dev/null; returns (seconds, peak RSS
    MiB, daemon CPU seconds during the cat)."""
    mnt, p, logpath = mounter.mount(tool)
    try:
        path = os.path.join(mnt, BIG_KEY)
        size = os.stat(path).st_size
        if size != BIG_SIZE:
            raise BenchError(f"{tool}: {BIG_KEY} shows {size} bytes, expected {BIG_SIZE}")
        watch = bl.RssWatch(p.pid)
        cpu0 = bl.cpu_seconds(p.pid)
        try:
            dt, rc, err = bl.timed(["cat", path])
        except BenchError as e:
            raise BenchError(f"{tool}: {e}\n{bl.tail(logpath)}")
        finally:
            cpu = bl.cpu_seconds(p.pid) - cpu0
            rss = watch.peak_mib()
        if rc != 0:
            raise BenchError(f"{tool}: cat failed: {err}\n{bl.tail(logpath)}")
        if p.poll() is not None:
            raise BenchError(f"{tool}: daemon exited ({p.returncode}) during the read\n{bl.tail(logpath)}")
        return dt, rss, cpu
    finally:
        bl.unmount(mnt)


def list_raw(s3):
    """ListObjectsV2 pages of the prefix with curl, following continuation
    tokens, one unsigned GET per page; returns (seconds, keys, pages)."""
    t0 = time.monotonic()
    objs, pages = s3.list(LS_PREFIX, delimiter="/", signed=False)
    dt = time.monotonic() - t0
    if len(objs) != LS_COUNT:
        raise BenchError(f"raw list saw {len(objs)} keys in {pages} pages, expected {LS_COUNT}")
    return dt, len(objs), pages


def ls_mount(mounter, tool):
    mnt, p, logpath = mounter.mount(tool)
    try:
        out = os.path.join(bl.tmpdir(), "ls.out")
        with open(out, "w") as f:
            try:
                dt, rc, err = bl.timed(["ls", "-l", os.path.join(mnt, LS_PREFIX.rstrip("/"))], stdout=f)
            except BenchError as e:
                raise BenchError(f"{tool}: {e}\n{bl.tail(logpath)}")
        with open(out) as f:
            entries = sum(1 for line in f if not line.startswith("total "))
        if rc != 0 or entries != LS_COUNT:
            raise BenchError(f"{tool}: ls -l gave {entries} entries (rc {rc}), expected "
                             f"{LS_COUNT}: {err[:500]}\n{bl.tail(logpath)}")
        return dt
    finally:
        bl.unmount(mnt)


# --------------------------------------------------------------------------
# main


def main():
    if ONLY not in ("", "read", "ls"):
        log(f"BENCH_ONLY must be 'read' or 'ls', not {ONLY!r}")
        return 2
    why = bl.check_prereqs()
    if why:
        log(why)
        return 2

    bl.tmpdir()
    do_read = ONLY in ("", "read")
    do_ls = ONLY in ("", "ls")

    bl.log_versions("odofs read benchmark")

    # ---- data
    s3dir = os.path.join(DATA, "s3")
    have = bl.data_ready(DATA, MARKER_TEXT)
    if not have:
        shutil.rmtree(s3dir, ignore_errors=True)
    os.makedirs(s3dir, exist_ok=True)

    key_id, secret = bl.new_key_pair()
    server, port = bl.start_server(s3dir, key_id, secret)
    endpoint = f"http://127.0.0.1:{port}"
    log(f"  server  {endpoint} (pid {server.pid}, allowMismatchedSignatures for s3fs)")
    if have:
        log("  data    reused (marker present)")
    else:
        log("  data    creating (once; kept in BENCH_DATA for later runs)")
        populate(endpoint, key_id, secret)
        bl.data_done(DATA, MARKER_TEXT)

    mounter = bl.Mounter(port, key_id, secret, BUCKET)
    s3 = bl.S3Curl(endpoint, BUCKET, key_id, secret)
    url = s3.url(BIG_KEY)
    mount_tools = [t for t in MOUNT_TOOLS if t in TOOLS]

    read_s = {}  # tool -> [seconds]
    rss = {}  # tool -> [MiB]
    ls_s = {}
    attempt = bl.Attempts("BROKEN")

    # ---- 1 + 3: sequential read, peak RSS
    if do_read:
        log("")
        log(f"1. sequential read of {BUCKET}/{BIG_KEY} (1 GiB), MB/s = 10^6 bytes/s")
        read_curl_single(url)  # untimed: warms the server's copy
        for r in range(1, RUNS + 1):
            log(f"  run {r}/{RUNS}")
            if "curl" in TOOLS:
                for label, fn in (("curl-single", lambda: read_curl_single(url)),
                                  ("curl-4", lambda: read_curl_ranges(url, 4))):
                    dt = attempt(label, fn)
                    if dt is not None:
                        read_s.setdefault(label, []).append(dt)
                        log(f"    {label:12} {dt:7.3f} s  {BIG_SIZE / dt / MB:7.0f} MB/s")
            for t in mount_tools:
                res = attempt(t, lambda: read_mount(mounter, t))
                if res is not None:
                    dt, mib, cpu = res
                    read_s.setdefault(t, []).append(dt)
                    rss.setdefault(t, []).append(mib)
                    log(f"    {t:12} {dt:7.3f} s  {BIG_SIZE / dt / MB:7.0f} MB/s  peak RSS {mib:6.1f} MiB"
                        f"  daemon CPU {cpu:5.2f} s")

    # ---- 2: ls -l of 10,000 objects
    if do_ls:
        log("")
        log(f"2. ls -l of {BUCKET}/{LS_PREFIX} ({LS_COUNT} objects), fresh mount each run")
        attempt("raw-list", lambda: list_raw(s3))  # untimed warm-up
        for r in range(1, RUNS + 1):
            log(f"  run {r}/{RUNS}")
            if "curl" in TOOLS:
                res = attempt("raw-list", lambda: list_raw(s3))
                if res is not None:
                    dt, _, pages = res
                    ls_s.setdefault("raw-list", []).append(dt)
                    log(f"    {'raw-list':12} {dt:7.3f} s  ({pages} ListObjectsV2 pages with curl)")
            for t in mount_tools:
                dt = attempt(t + " ls", lambda: ls_mount(mounter, t))
                if dt is not None:
                    ls_s.setdefault(t, []).append(dt)
                    log(f"    {t:12} {dt:7.3f} s")

    # ---- results
    mbps = {k: BIG_SIZE / bl.median(read_s, k) / MB for k in read_s}
    rss_med = {k: bl.median(rss, k) for k in rss}
    ls_med = {k: bl.median(ls_s, k) for k in ls_s}

    if do_read:
        bl.log_throughput("read", mbps, rss_med)
    if do_ls:
        log("")
        log(f"ls -l of {LS_COUNT} objects, median of {RUNS}:")
        for k in ("raw-list",) + MOUNT_TOOLS:
            if k in ls_med:
                log(f"  {k:12} {ls_med[k]:7.3f} s")

    ratio = bl.ratio
    summary = bl.Summary()
    row = summary.ratio_row
    if do_read:
        o = mbps.get("odofs")
        fig = f"{o:.0f} MB/s" if o else "n/a"
        row("read 1 GiB: odofs / curl single", fig, ratio(o, mbps.get("curl-single")), ">= 1.3x", ">=", 1.3)
        row("read 1 GiB: odofs / s3fs", fig, ratio(o, mbps.get("s3fs")), ">= 1.3x", ">=", 1.3)
        row("read 1 GiB: odofs / curl 4 ranges", fig, ratio(o, mbps.get("curl-4")), "-")
        row("read 1 GiB: odofs / rclone", fig, ratio(o, mbps.get("rclone")), "-")
    if do_ls:
        o = ls_med.get("odofs")
        row(f"ls -l {LS_COUNT}: odofs / raw list", f"{o:.3f} s" if o else "n/a",
            ratio(o, ls_med.get("raw-list")), "<= 3x", "<=", 3.0)
        s = ls_med.get("s3fs")
        row(f"ls -l {LS_COUNT}: s3fs / odofs", f"{s:.3f} s" if s else "n/a", ratio(s, o), ">= 10x", ">=", 10.0)
        rc = ls_med.get("rclone")
        row(f"ls -l {LS_COUNT}: rclone / odofs", f"{rc:.3f} s" if rc else "n/a", ratio(rc, o), "-")
    if do_read:
        o = rss_med.get("odofs")
        summary.limit_row("peak RSS reading 1 GiB: odofs", o, "MiB", 128)
        for t in ("s3fs", "rclone"):
            if t in rss_med:
                summary.row(f"peak RSS reading 1 GiB: {t}", f"{rss_med[t]:.1f} MiB",
                            f"{o / rss_med[t]:.2f}x" if o else "-", "-", "info")
    summary.print(RUNS)
    return attempt.report()


if __name__ == "__main__":
    bl.run(main)
