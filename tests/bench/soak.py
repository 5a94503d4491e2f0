#!/usr/bin/python3
"""Soak test: many concurrent readers and writers on one odofs mount for
minutes, every byte checked, the daemon's memory, threads, descriptors and
connections sampled all along.

One local s3rver on 127.0.0.1 (random port and key pair), one odofs mount of
bucket `soak-bench` (read-write), and for SOAK_SECONDS at the same time:

  writers        SOAK_WRITERS loops of `cp SRC MNT/in/wNN-K.bin`, SRC one of
                 the local source files (4 KiB .. 64 MiB, known SHA-256), K
                 one of SOAK_KEEP keys per writer (so objects are overwritten
                 through O_TRUNC and the server's disk stays bounded); after
                 each cp, a stat through the mount must show the new size and
                 a GET with boto3 (not through the mount) must hash to SRC's
                 SHA-256;
  readers        SOAK_READERS loops of `cp MNT/ro/FILE LOCAL`, FILE one of the
                 read-only objects (4 KiB .. 64 MiB), LOCAL's SHA-256 checked;
  random readers SOAK_RANDOM_READERS loops that open one of the big objects
                 (SOAK_BIG_FILES x SOAK_BIG_MIB MiB) and pread 4 KiB at random
                 (unaligned) offsets, each read timed and compared with the
                 bytes the object must hold there (its content is generated
                 from a seed, block by block, so any offset can be checked);
  stat           one loop of os.stat() of random keys of the key tree at
                 SOAK_STAT_RATE per second, each timed and its size checked (5%
                 of them are names that do not exist: ENOENT expected);
  find           one loop of `find MNT/keys` (then 5 s of rest), its entries
                 counted: SOAK_KEYS keys in folders of SOAK_FANOUT, plus the
                 folders; a find still running when the load ends is killed
                 and not counted;
  model          the reference model (tests/posix/model.py) in a loop:
                 runs of SOAK_MODEL_OPS random file operations, each with a
                 new random seed (printed), on a folder of its own under
                 MNT/model/ and on a local folder, every result and both
                 trees compared after every step; a divergence is an error
                 with the line that replays it;
  probe          the server's own latency under the same load, without
                 odofs: HEAD of a random key and a 4 KiB range GET of a big
                 object with boto3, 5 of each per second, for comparison.

Every SOAK_SAMPLE seconds the daemon's VmRSS, threads, open descriptors,
TCP connections to the server and CPU are sampled; a row every 30 s is
printed as the run goes. At the end: bytes written / read and verified,
throughput, p50/p99/max latency of stat and of a 4 KiB read, find times, RSS
at start / middle / end / max and its slope after warm-up with a verdict
(flat, GROWING, or inconclusive when the slope is above the threshold but
within two standard errors of it), connection and descriptor ranges, what
the daemon's descriptors are, a final check of every object the writers
left (GET and SHA-256), of abandoned multipart uploads (ListMultipartUploads
must be empty), of the unmount (fusermount3 -u, the daemon must exit 0) and
of the daemon's log (no `error:` line).

Exit status: 0 when everything checked out (whatever the figures, RSS
verdict included: it is printed, not enforced); 1 when anything broke: a
verification failure, an I/O error, an operation in flight longer than
SOAK_HANG seconds, the daemon or the server dying (the load then stops), an
`error:` line in the daemon's log, an abandoned upload, a failed unmount; 2
when a prerequisite is missing.

The data is made once and kept in BENCH_DATA/soak/ (marker file
`complete`): the key tree, the read-only and big objects are written
straight into s3rver's folder in its on-disk layout (KEY._S3rver_object,
.md5, ._S3rver_metadata.json) before the server starts: 100,000 keys in
about 30 s here, where PUTs through the server (16 boto3 threads) managed
about 160 a second, 10 minutes for the same. The writers' sources are
local files beside it (0.8 GB of data in all). Objects the writers left
from an earlier run are deleted before the server starts.

Environment (all optional):
  SOAK_SECONDS         length of the run (600)
  SOAK_KEYS            keys in the find/stat tree keys/ (100000)
  SOAK_FANOUT          keys per folder in that tree, keys/dNNN/ (1000)
  SOAK_WRITERS         concurrent `cp` into the mount (8)
  SOAK_READERS         concurrent `cp` out of the mount (8)
  SOAK_RANDOM_READERS  concurrent 4 KiB random-offset readers (4)
  SOAK_KEEP            keys each writer cycles through (3)
  SOAK_FILES           read-only objects and writer sources, each (16)
  SOAK_MIN_KIB         smallest of them, KiB (4)
  SOAK_MAX_MIB         largest of them, MiB (64); sizes in between are spread
                       geometrically
  SOAK_BIG_FILES       big objects for the random readers (2)
  SOAK_BIG_MIB         their size, MiB (256)
  SOAK_STAT_RATE       stats per second (200)
  SOAK_SAMPLE          seconds between samples (5)
  SOAK_WARMUP          seconds left out of the RSS slope (120, at most half the run)
  SOAK_RSS_SLOPE       MiB per minute under which RSS counts as flat (1.0)
  SOAK_MODEL_OPS       steps of each reference-model run (3000; 0: no model)
  SOAK_HANG            seconds one operation may take before it counts as a
                       hang (120; a find counts as hung when no entry came for
                       that long; a cp is also killed at BENCH_OP_TIMEOUT)
  ODOFS, BENCH_DATA, BENCH_ODOFS_OPTS, BENCH_OP_TIMEOUT, NODE: as for the
                       other benchmarks (README.md). odofs gets
                       cache_dir=TMP/cache before BENCH_ODOFS_OPTS.

Run it as root (FUSE) with Debian's interpreter (boto3):
  /usr/bin/python3 tests/bench/soak.py                          # 10 min, 100k keys
  SOAK_SECONDS=60 SOAK_KEYS=20000 /usr/bin/python3 tests/bench/soak.py   # quick trial
It is not part of `make check` or CI.
"""

import collections
import concurrent.futures
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import benchlib as bl
from benchlib import MB, MiB, DATA, OP_TIMEOUT, BenchError, log


def _env_num(name, default, kind=int):
    v = os.environ.get(name)
    return kind(v) if v not in (None, "") else default


SECONDS = _env_num("SOAK_SECONDS", 600, float)
KEYS = _env_num("SOAK_KEYS", 100000)
FANOUT = max(1, _env_num("SOAK_FANOUT", 1000))
WRITERS = _env_num("SOAK_WRITERS", 8)
READERS = _env_num("SOAK_READERS", 8)
RANDOM_READERS = _env_num("SOAK_RANDOM_READERS", 4)
KEEP = max(1, _env_num("SOAK_KEEP", 3))
FILES = max(2, _env_num("SOAK_FILES", 16))
MIN_SIZE = _env_num("SOAK_MIN_KIB", 4) * 1024
MAX_SIZE = _env_num("SOAK_MAX_MIB", 64) * MiB
BIG_FILES = _env_num("SOAK_BIG_FILES", 2)
BIG_SIZE = _env_num("SOAK_BIG_MIB", 256) * MiB
STAT_RATE = _env_num("SOAK_STAT_RATE", 200.0, float)
SAMPLE = _env_num("SOAK_SAMPLE", 5.0, float)
WARMUP = _env_num("SOAK_WARMUP", min(120.0, 0.5 * SECONDS), float)
RSS_SLOPE = _env_num("SOAK_RSS_SLOPE", 1.0, float)
HANG = _env_num("SOAK_HANG", 120.0, float)
MODEL_OPS = _env_num("SOAK_MODEL_OPS", 3000)

BUCKET = "soak-bench"
SDATA = os.path.join(DATA, "soak")
S3DIR = os.path.join(SDATA, "s3")
SRCDIR = os.path.join(SDATA, "src")
BLOCK = 4096  # content generator block
READ_SIZE = 4096
ROW_EVERY = 30.0  # seconds between printed rows of the time series
# errors always printed (the workers' are printed up to 20, then counted)
MAJOR = ("server", "daemon", "end", "final", "unmount", "daemon log")
MARKER_TEXT = (f"odofs soak data v1: keys={KEYS} fanout={FANOUT} files={FILES} "
               f"sizes={MIN_SIZE}..{MAX_SIZE} big={BIG_FILES}x{BIG_SIZE}\n")


# --------------------------------------------------------------------------
# deterministic content: block b of the object with seed s is
# SHAKE-128("s:b"), so any byte range can be recomputed and checked


def gen_block(seed, b):
    return hashlib.shake_128(b"%s:%d" % (seed.encode(), b)).digest(BLOCK)


def gen_range(seed, off, n):
    first, last = off // BLOCK, (off + n - 1) // BLOCK
    data = b"".join(gen_block(seed, b) for b in range(first, last + 1))
    start = off - first * BLOCK
    return data[start:start + n]


def gen_chunks(seed, size, chunk=1 << 20):
    """The object's bytes in pieces of about `chunk`."""
    per = chunk // BLOCK
    nblocks = (size + BLOCK - 1) // BLOCK
    for b0 in range(0, nblocks, per):
        data = b"".join(gen_block(seed, b) for b in range(b0, min(nblocks, b0 + per)))
        end = min(size - b0 * BLOCK, len(data))
        yield data[:end]


def key_path(i):
    return f"keys/d{i // FANOUT:03d}/k{i:06d}"


def key_body(i):
    return b"key %d\n" % i


def spread_sizes():
    """FILES sizes from MIN_SIZE to MAX_SIZE, geometric; those in between
    get an odd tail so that few end on a page boundary."""
    out = []
    for j in range(FILES):
        s = int(round(MIN_SIZE * (MAX_SIZE / MIN_SIZE) ** (j / (FILES - 1))))
        if 0 < j < FILES - 1:
            s += (j * 1237) % BLOCK
        out.append(s)
    return out


def ro_objects():
    """[(key, seed, size)] read by the readers."""
    return [(f"ro/f{j:02d}-{s}.bin", f"ro{j}", s) for j, s in enumerate(spread_sizes())]


def big_objects():
    return [(f"big/b{j}.bin", f"big{j}", BIG_SIZE) for j in range(BIG_FILES)]


def src_files():
    """[(local path, seed, size)], the writers' sources."""
    return [(os.path.join(SRCDIR, f"s{j:02d}-{s}.bin"), f"src{j}", s) for j, s in enumerate(spread_sizes())]


# --------------------------------------------------------------------------
# data, laid out in s3rver's folder (lib/stores/filesystem.js of s3rver 5):
# BUCKET/KEY._S3rver_object holds the bytes, KEY._S3rver_object.md5 the
# hex MD5 (the ETag), KEY._S3rver_metadata.json the stored headers.

_META = json.dumps({"content-type": "binary/octet-stream"}, indent=2).encode()


def _write_small(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def lay_object(key, chunks):
    """Write one object into the server's folder; returns its SHA-256."""
    base = os.path.join(S3DIR, BUCKET, key)
    os.makedirs(os.path.dirname(base), exist_ok=True)
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(base + "._S3rver_object", "wb") as f:
        for c in chunks:
            md5.update(c)
            sha.update(c)
            f.write(c)
    _write_small(base + "._S3rver_object.md5", md5.hexdigest().encode())
    _write_small(base + "._S3rver_metadata.json", _META)
    return sha.hexdigest()


def lay_key_folder(d):
    folder = os.path.join(S3DIR, BUCKET, f"keys/d{d:03d}")
    os.makedirs(folder, exist_ok=True)
    for i in range(d * FANOUT, min(KEYS, (d + 1) * FANOUT)):
        body = key_body(i)
        base = os.path.join(folder, f"k{i:06d}")
        _write_small(base + "._S3rver_object", body)
        _write_small(base + "._S3rver_object.md5", hashlib.md5(body).hexdigest().encode())
        _write_small(base + "._S3rver_metadata.json", _META)


def make_data():
    shutil.rmtree(S3DIR, ignore_errors=True)
    shutil.rmtree(SRCDIR, ignore_errors=True)
    os.makedirs(os.path.join(S3DIR, BUCKET))
    os.makedirs(SRCDIR)
    t0 = time.monotonic()
    ndirs = (KEYS + FANOUT - 1) // FANOUT
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        for _ in ex.map(lay_key_folder, range(ndirs)):
            pass
    log(f"  {KEYS} keys in {ndirs} folders laid out in {time.monotonic() - t0:.1f} s")
    t0 = time.monotonic()
    sha = {}
    for key, seed, size in ro_objects() + big_objects():
        sha[key] = lay_object(key, gen_chunks(seed, size))
    for path, seed, size in src_files():
        h = hashlib.sha256()
        with open(path, "wb") as f:
            for c in gen_chunks(seed, size):
                h.update(c)
                f.write(c)
        sha[path] = h.hexdigest()
    total = sum(s for _, _, s in ro_objects() + big_objects() + src_files())
    log(f"  {FILES} read-only objects, {BIG_FILES} big objects, {FILES} sources ({total / MB:.0f} MB) "
        f"in {time.monotonic() - t0:.1f} s")
    with open(os.path.join(SDATA, "manifest.json"), "w") as f:
        json.dump(sha, f)


def load_manifest():
    with open(os.path.join(SDATA, "manifest.json")) as f:
        return json.load(f)


def clear_leftovers():
    """Objects written by an earlier run and uploads it left."""
    bdir = os.path.join(S3DIR, BUCKET)
    for name in os.listdir(bdir):
        if name not in ("keys", "ro", "big"):
            p = os.path.join(bdir, name)
            if os.path.isdir(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)


# --------------------------------------------------------------------------
# shared state of the run


class Run:
    def __init__(self, mnt, daemon, logpath, server, port, s3, manifest):
        self.mnt, self.daemon, self.logpath, self.port = mnt, daemon, logpath, port
        self.server = server
        self.s3, self.manifest = s3, manifest
        self.stop = threading.Event()  # the load ends
        self.done = threading.Event()  # the workers have finished
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.c = collections.Counter()  # counters
        self.stat_lat, self.read_lat, self.cp_in_s, self.cp_out_s = [], [], [], []
        self.probe_head, self.probe_get = [], []  # the server's latency without odofs
        self.finds = []  # (seconds, ok)
        self.errors = []  # (t, who, message)
        self.inflight = {}  # who -> (what, since)
        self.hung = set()
        self.last_written = {}  # key -> (path, sha) of the last completed cp
        self.samples = []

    def now(self):
        return time.monotonic() - self.t0

    def error(self, who, msg):
        with self.lock:
            self.errors.append((self.now(), who, msg))
            n = len(self.errors)
        if n <= 20 or who in MAJOR:
            log(f"  ! {self.now():6.0f}s {who}: {msg}")
        elif n == 21:
            log("  ! (further errors only counted)")

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                self.c[k] += v

    def begin(self, who, what):
        self.inflight[who] = (what, time.monotonic())

    def end(self, who):
        self.inflight.pop(who, None)


def run_cmd(cmd, stdout=subprocess.DEVNULL):
    """Run a command that may sit in a FUSE request: registered with benchlib
    (so cleanup kills it after the daemon) and killed at OP_TIMEOUT. Returns
    (returncode or None on timeout, stdout text, stderr text)."""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE, text=True)
    bl._procs.append(p)
    try:
        out, err = p.communicate(timeout=OP_TIMEOUT)
        return p.returncode, out or "", err.strip()
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=30)
        return None, "", f"killed after {OP_TIMEOUT:.0f} s"
    finally:
        if p in bl._procs:
            bl._procs.remove(p)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


# --------------------------------------------------------------------------
# workers: each loops until run.stop, records figures, reports errors


def writer(run, n):
    who = f"writer{n}"
    rng = random.Random(1000 + n)
    srcs = src_files()
    it = 0
    while not run.stop.is_set():
        path, _, size = rng.choice(srcs)
        want = run.manifest[path]
        key = f"in/w{n:02d}-{it % KEEP}.bin"
        it += 1
        dst = os.path.join(run.mnt, key)
        run.begin(who, f"cp {os.path.basename(path)} {key}")
        t0 = time.monotonic()
        rc, _, err = run_cmd(["cp", path, dst])
        dt = time.monotonic() - t0
        run.end(who)
        if rc != 0:
            run.error(who, f"cp into {key} ({size} bytes) failed (rc {rc}): {err[:300]}")
            run.add(write_errors=1)
            continue
        run.begin(who, f"stat {key}")
        try:
            st = os.stat(dst).st_size
        except OSError as e:
            st = f"error {e}"
        run.end(who)
        if st != size:
            run.error(who, f"{key}: stat through the mount shows {st} bytes after cp, expected {size}")
            run.add(write_errors=1)
        run.begin(who, f"GET {key}")
        try:
            body = run.s3.get_object(Bucket=BUCKET, Key=key)["Body"]
            h, got = hashlib.sha256(), 0
            for chunk in body.iter_chunks(1 << 20):
                h.update(chunk)
                got += len(chunk)
            sha = h.hexdigest()
        except Exception as e:  # botocore errors, connection errors
            sha, got = f"GET failed: {e}", -1
        run.end(who)
        if sha != want:
            run.error(who, f"{key}: the server holds {got} bytes hashing to {sha[:80]}, expected {size} "
                           f"bytes of {os.path.basename(path)} ({want[:16]}...)")
            run.add(write_errors=1)
            continue
        with run.lock:
            run.c["files_in"] += 1
            run.c["bytes_in"] += size
            run.c["bytes_in_verified"] += got
            run.cp_in_s.append(dt)
            run.last_written[key] = (path, want)


def reader(run, n, outdir):
    who = f"reader{n}"
    rng = random.Random(2000 + n)
    objs = ro_objects()
    local = os.path.join(outdir, f"r{n:02d}.bin")
    while not run.stop.is_set():
        key, _, size = rng.choice(objs)
        run.begin(who, f"cp {key}")
        t0 = time.monotonic()
        rc, _, err = run_cmd(["cp", os.path.join(run.mnt, key), local])
        dt = time.monotonic() - t0
        run.end(who)
        if rc != 0:
            run.error(who, f"cp out of {key} failed (rc {rc}): {err[:300]}")
            run.add(read_errors=1)
            continue
        got = os.path.getsize(local)
        sha = sha256_file(local)
        os.unlink(local)
        if got != size or sha != run.manifest[key]:
            run.error(who, f"{key}: cp out gave {got} bytes hashing to {sha[:16]}..., expected {size} bytes, "
                           f"{run.manifest[key][:16]}...")
            run.add(read_errors=1)
            continue
        with run.lock:
            run.c["files_out"] += 1
            run.c["bytes_out"] += size
            run.c["bytes_out_verified"] += got
            run.cp_out_s.append(dt)


def random_reader(run, n):
    who = f"random{n}"
    rng = random.Random(3000 + n)
    objs = big_objects()
    while not run.stop.is_set():
        key, seed, size = rng.choice(objs)
        path = os.path.join(run.mnt, key)
        run.begin(who, f"open {key}")
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            run.end(who)
            run.error(who, f"open {key}: {e}")
            run.add(random_errors=1)
            time.sleep(1)
            continue
        run.end(who)
        try:
            # one open serves up to 500 reads or 20 s, then reopen
            t_open = time.monotonic()
            for _ in range(500):
                if run.stop.is_set() or time.monotonic() - t_open > 20:
                    break
                off = rng.randrange(0, size - READ_SIZE + 1)
                run.begin(who, f"pread {key} @{off}")
                t0 = time.monotonic()
                try:
                    data = os.pread(fd, READ_SIZE, off)
                except OSError as e:
                    run.end(who)
                    run.error(who, f"pread {key} at {off}: {e}")
                    run.add(random_errors=1)
                    break
                dt = time.monotonic() - t0
                run.end(who)
                if data != gen_range(seed, off, READ_SIZE):
                    run.error(who, f"pread {key} at {off}: {len(data)} bytes, not the object's bytes there")
                    run.add(random_errors=1)
                    continue
                with run.lock:
                    run.c["random_reads"] += 1
                    run.c["random_bytes_verified"] += len(data)
                    run.read_lat.append(dt)
        finally:
            run.begin(who, f"close {key}")
            try:
                os.close(fd)
            except OSError as e:
                run.error(who, f"close {key}: {e}")
                run.add(random_errors=1)
            run.end(who)


def stat_worker(run):
    who = "stat"
    rng = random.Random(4000)
    period = 1.0 / STAT_RATE if STAT_RATE > 0 else 0
    nxt = time.monotonic()
    while not run.stop.is_set():
        i = rng.randrange(KEYS)
        missing = rng.random() < 0.05
        path = os.path.join(run.mnt, key_path(i) + (".missing" if missing else ""))
        run.begin(who, f"stat {path}")
        t0 = time.monotonic()
        try:
            st = os.stat(path)
            res = st.st_size
        except FileNotFoundError:
            res = "ENOENT"
        except OSError as e:
            res = f"error {e}"
        dt = time.monotonic() - t0
        run.end(who)
        want = "ENOENT" if missing else len(key_body(i))
        if res != want:
            run.error(who, f"stat {key_path(i)}{'.missing' if missing else ''}: {res}, expected {want}")
            run.add(stat_errors=1)
        elif missing:
            run.add(stat_missing=1)
        else:
            with run.lock:
                run.c["stats"] += 1
                run.stat_lat.append(dt)
        nxt += period
        pause = nxt - time.monotonic()
        if pause > 0:
            run.stop.wait(pause)
        else:
            nxt = time.monotonic()


def model_worker(run):
    """The reference model, run after run with random seeds (printed, so a
    divergence replays with tests/posix/model.py --seed), until the load
    ends; the run in flight then finishes."""
    who = "model"
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "posix"))
    import model

    top = os.path.join(run.mnt, "model")
    try:
        os.mkdir(top)
    except OSError as e:
        run.error(who, f"mkdir {top}: {e}")
        return
    rng = random.SystemRandom()
    while not run.stop.is_set():
        seed = rng.randrange(1 << 32)
        log(f"  model   seed {seed}, {MODEL_OPS} steps")
        root = os.path.join(top, f"s{seed}")
        run.begin(who, f"model seed {seed}")
        last = collections.deque(maxlen=12)

        def step(line, seed=seed, last=last):
            last.append(line)
            run.begin(who, f"model seed {seed}: {line}")  # renews the hang clock

        try:
            os.mkdir(root)
            with tempfile.TemporaryDirectory(prefix="odofs-model-") as local:
                ops = model.Model(local, root, seed, log=step).run(MODEL_OPS)
            model.clear(root)
            os.rmdir(root)
            run.add(model_runs=1, model_ops=ops)
        except model.Divergence as e:
            run.error(who, f"{e}; replay: tests/posix/model.py --mount MNT --seed {seed} --ops {MODEL_OPS}")
            log("  model   the steps before it:\n" + "\n".join(f"            {x[:120]}" for x in last))
            run.add(model_errors=1)
        except OSError as e:
            run.error(who, f"model seed {seed}: {e}")
            run.add(model_errors=1)
        run.end(who)


def probe_worker(run, s3):
    """The server's own latency under the same load, without odofs: a
    HEAD of a random key and a 4 KiB range GET of a big object at a random
    offset, with boto3, alternating, 5 of each per second."""
    who = "probe"
    rng = random.Random(5000)
    bigs = big_objects()
    n = 0
    while not run.stop.is_set():
        n += 1
        t0 = time.monotonic()
        try:
            if n % 2:
                i = rng.randrange(KEYS)
                run.begin(who, f"HEAD {key_path(i)}")
                ok = s3.head_object(Bucket=BUCKET, Key=key_path(i))["ContentLength"] == len(key_body(i))
                lat = run.probe_head
            else:
                key, seed, size = rng.choice(bigs)
                off = rng.randrange(0, size - READ_SIZE + 1)
                run.begin(who, f"GET {key} @{off}")
                r = s3.get_object(Bucket=BUCKET, Key=key, Range=f"bytes={off}-{off + READ_SIZE - 1}")
                ok = r["Body"].read() == gen_range(seed, off, READ_SIZE)
                lat = run.probe_get
        except Exception as e:  # botocore errors, connection errors
            ok, lat = f"{e}", None
        dt = time.monotonic() - t0
        run.end(who)
        if ok is not True:
            run.error(who, f"direct request to the server failed: {ok}")
            run.add(probe_errors=1)
        elif lat is not None:
            with run.lock:
                lat.append(dt)
        run.stop.wait(max(0.0, 0.1 - dt))


def find_worker(run):
    """`find MNT/keys`, its entries counted as they come (the same as
    `find | wc -l`). A find over 100,000 keys on a cold cache takes minutes
    on s3rver, so the hang check looks at progress: every 500 entries
    restart its clock. A find still running when the load ends is killed and
    not counted, unless it is the first (so that one count is checked)."""
    who = "find"
    ndirs = (KEYS + FANOUT - 1) // FANOUT
    want = KEYS + ndirs + 1
    top = os.path.join(run.mnt, "keys")
    while not run.stop.is_set():
        run.begin(who, "find keys (0 entries so far)")
        t0 = time.monotonic()
        with open(os.path.join(bl.tmpdir(), "find.err"), "w+") as errf:
            p = subprocess.Popen(["find", top], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errf)
            bl._procs.append(p)
            got, cut = 0, False
            for _ in p.stdout:
                got += 1
                if got % 500 == 0:
                    run.begin(who, f"find keys ({got} entries so far)")
                    if run.stop.is_set() and run.finds:  # the first one may finish
                        cut = True
                        p.kill()
                        break
            rc = p.wait()
            bl._procs.remove(p)
            p.stdout.close()
            errf.seek(0)
            err = errf.read().strip()
        dt = time.monotonic() - t0
        run.end(who)
        if cut:
            break
        ok = rc == 0 and got == want
        with run.lock:
            run.finds.append((dt, ok))
        if not ok:
            run.error(who, f"find keys: {got} entries (rc {rc}), expected {want}: {err[:300]}")
            run.add(find_errors=1)
        run.stop.wait(5)


# --------------------------------------------------------------------------
# sampling


def proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "Threads"):
                    out[k] = int(v.split()[0])
    except (OSError, ValueError):
        pass
    return out


def sockets(pid, port):
    """(open descriptors, established TCP connections to port, all TCP
    sockets to port whatever their state). Asks `ss` (netlink), which sees
    every socket; /proc/PID/net/tcp, read while thousands of sockets come
    and go on a busy machine, gave 0 at times when 15 were open. Falls back
    to it without ss."""
    try:
        nfds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0, 0, 0
    if shutil.which("ss"):
        try:
            out = subprocess.run(["ss", "-tanpH", "dport", "=", f":{port}"], capture_output=True, text=True,
                                 timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        mine = [ln for ln in out.splitlines() if f"pid={pid}," in ln]
        return nfds, sum(ln.startswith("ESTAB") for ln in mine), len(mine)
    table = socket_table(pid, port)
    est = total = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            t = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        kind = table.get(int(t[8:-1])) if t.startswith("socket:[") else None
        if kind and kind.endswith(" to server"):
            total += 1
            est += kind.startswith("tcp ESTABLISHED")
    return nfds, est, total


TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT",
              "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}


def socket_table(pid, port=None):
    """inode -> "tcp STATE" / "udp" / "unix" for the sockets the kernel
    lists in the daemon's network namespace; TCP sockets whose remote port
    is port get " to server" added."""
    out = {}
    for name in ("tcp", "tcp6", "udp", "udp6", "unix"):
        try:
            with open(f"/proc/{pid}/net/{name}") as f:
                next(f)
                for line in f:
                    p = line.split()
                    if name == "unix":
                        out[int(p[6])] = "unix"
                    elif name.startswith("tcp"):
                        to = " to server" if int(p[2].rsplit(":", 1)[1], 16) == port else ""
                        out[int(p[9])] = f"tcp {TCP_STATES.get(p[3], p[3])}{to}"
                    else:
                        out[int(p[9])] = "udp"
        except (OSError, StopIteration, IndexError, ValueError):
            pass
    return out


def fd_kinds(pid, port=None):
    """What the daemon's descriptors are: TCP sockets by state, other
    sockets ("socket (in no table)": the kernel lists no connection for
    it), pipes, anon_inode:[...], or the folder of a file."""
    kinds = collections.Counter()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return kinds
    table = socket_table(pid, port)
    for fd in fds:
        try:
            t = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if t.startswith("socket:["):
            t = table.get(int(t[8:-1]), "socket (in no table)")
        elif t.startswith("pipe:"):
            t = "pipe"
        elif t.startswith("/"):
            t = os.path.dirname(t) + "/..."
        kinds[t] += 1
    return kinds


def sampler(run):
    pid = run.daemon.pid
    last_row = -ROW_EVERY
    k = 0  # samples are due at k * SAMPLE, so slow ones do not make the rest drift
    cpu0, t_cpu = bl.cpu_seconds(pid), time.monotonic()
    log("")
    log("time series (a row every 30 s): RSS MiB, threads, open fds, TCP connections to the server "
        "(established/all), daemon CPU %, MB written and read so far (verified), errors")
    while True:
        t = run.now()
        st = proc_status(pid)
        nfd, est, conns = sockets(pid, run.port)
        cpu, now = bl.cpu_seconds(pid), time.monotonic()
        cpu_pct = 100 * (cpu - cpu0) / max(1e-6, now - t_cpu)
        cpu0, t_cpu = cpu, now
        with run.lock:
            bin_, bout = run.c["bytes_in"], run.c["bytes_out"] + run.c["random_bytes_verified"]
            nerr = len(run.errors)
        s = dict(t=t, rss=st.get("VmRSS", 0) / 1024, hwm=st.get("VmHWM", 0) / 1024, threads=st.get("Threads", 0),
                 fds=nfd, est=est, conns=conns, cpu=cpu_pct, bin=bin_, bout=bout, errors=nerr)
        run.samples.append(s)
        if t - last_row >= ROW_EVERY - SAMPLE / 2 or run.done.is_set():
            last_row = t
            log(f"  {t:5.0f}s  rss {s['rss']:6.1f}  thr {s['threads']:3d}  fds {nfd:4d}  conn {est:3d}/{conns:<3d}"
                f"  cpu {cpu_pct:4.0f}%  in {bin_ / MB:8.1f}  out {bout / MB:8.1f}  err {nerr}")
        # an operation in flight for too long is a hang (reported once)
        for who, (what, since) in list(run.inflight.items()):
            if time.monotonic() - since > HANG and (who, since) not in run.hung:
                run.hung.add((who, since))
                run.error(who, f"HANG: {what} in flight for more than {HANG:.0f} s")
        if run.daemon.poll() is not None:
            run.error("daemon", f"odofs exited with {run.daemon.returncode} during the run")
            run.stop.set()
            return
        if run.server.poll() is not None and not run.stop.is_set():
            # Nothing more can succeed: stop the load, say why.
            run.error("server", f"the S3 server exited with {run.server.returncode} during the run; "
                                f"its log:\n{bl.tail(os.path.join(bl.tmpdir(), 's3rver.log'), 20)}")
            run.stop.set()
        if run.done.is_set():
            return  # that was the last sample, after the workers finished
        k = max(k + 1, int(run.now() // SAMPLE) + 1)  # skip what a slow sample overran
        run.done.wait(max(0.0, k * SAMPLE - run.now()))


# --------------------------------------------------------------------------
# figures


def pct(values, q):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q * len(v)) - 1))]


def ms(x):
    return "n/a" if x is None else f"{x * 1000:.2f} ms"


def slope(points):
    """Least-squares slope of [(x, y)] and its standard error:
    (slope, se), or (None, None) with fewer than 3 points."""
    n = len(points)
    if n < 3:
        return None, None
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None, None
    b = sum((x - mx) * (y - my) for x, y in points) / sxx
    resid = sum((y - my - b * (x - mx)) ** 2 for x, y in points)
    return b, math.sqrt(resid / (n - 2) / sxx)


def report(run, wall):
    c = run.c
    log("")
    log(f"results over {wall:.0f} s ({SECONDS:.0f} s of load, then the operations in flight finished)")
    log(f"  written (cp in)   {c['files_in']:6d} files  {c['bytes_in'] / MB:9.1f} MB  "
        f"{c['bytes_in'] / MB / wall:6.1f} MB/s   verified by GET + SHA-256: {c['bytes_in_verified'] / MB:.1f} MB"
        f"   cp time p50 {ms(pct(run.cp_in_s, .5))} p99 {ms(pct(run.cp_in_s, .99))}")
    log(f"  read (cp out)     {c['files_out']:6d} files  {c['bytes_out'] / MB:9.1f} MB  "
        f"{c['bytes_out'] / MB / wall:6.1f} MB/s   verified by SHA-256: {c['bytes_out_verified'] / MB:.1f} MB"
        f"   cp time p50 {ms(pct(run.cp_out_s, .5))} p99 {ms(pct(run.cp_out_s, .99))}")
    log(f"  4 KiB random reads {c['random_reads']:6d}  ({c['random_reads'] / wall:.0f}/s)  "
        f"verified {c['random_bytes_verified'] / MB:.1f} MB   latency p50 {ms(pct(run.read_lat, .5))}  "
        f"p99 {ms(pct(run.read_lat, .99))}  max {ms(max(run.read_lat, default=None))}")
    log(f"  stat              {c['stats']:6d}  ({c['stats'] / wall:.0f}/s, plus {c['stat_missing']} ENOENT)  "
        f"latency p50 {ms(pct(run.stat_lat, .5))}  p99 {ms(pct(run.stat_lat, .99))}  "
        f"max {ms(max(run.stat_lat, default=None))}")
    log(f"  server alone (boto3 beside the load, no odofs): HEAD p50 {ms(pct(run.probe_head, .5))} "
        f"p99 {ms(pct(run.probe_head, .99))} ({len(run.probe_head)}); 4 KiB range GET "
        f"p50 {ms(pct(run.probe_get, .5))} p99 {ms(pct(run.probe_get, .99))} ({len(run.probe_get)})")
    fd = [d for d, ok in run.finds if ok]
    ndirs = (KEYS + FANOUT - 1) // FANOUT
    log(f"  find keys/ ({KEYS + ndirs + 1} entries)  {len(run.finds)} runs, {len(fd)} right; seconds: "
        + (f"first {run.finds[0][0]:.1f}, min {min(fd):.1f}, median {pct(fd, .5):.1f}, max {max(fd):.1f}"
           if fd else "n/a"))
    if MODEL_OPS > 0:
        log(f"  reference model   {c['model_runs']} runs of {MODEL_OPS} steps, {c['model_ops']} operations "
            f"with no divergence, {c['model_errors']} run(s) failed")
    total_verified = c["bytes_in_verified"] + c["bytes_out_verified"] + c["random_bytes_verified"]
    log(f"  bytes verified in all: {total_verified / MB:.1f} MB")

    # RSS
    ss = run.samples
    verdict, sl = "n/a", None
    if ss:
        rss = [s["rss"] for s in ss]
        mid = ss[len(ss) // 2]
        log(f"  RSS MiB: start {ss[0]['rss']:.1f}, middle {mid['rss']:.1f} ({mid['t']:.0f} s), end {ss[-1]['rss']:.1f}, "
            f"max {max(rss):.1f} (VmHWM {ss[-1]['hwm']:.1f})")
        post = [(s["t"] / 60, s["rss"]) for s in ss if s["t"] >= WARMUP]
        sl, se = slope(post)
        if sl is None or post[-1][0] - post[0][0] < 2:
            log(f"  RSS slope after {WARMUP:.0f} s warm-up: "
                + ("n/a" if sl is None else f"{sl:+.2f} MiB/min") + ", too short to judge (needs 2 min)")
            sl = None
        else:
            # RSS moves by tens of MiB as upload and prefetch buffers come
            # and go: a slope is "GROWING" only when it stays above the
            # threshold by two standard errors, "inconclusive" when the
            # noise allows both.
            if sl <= RSS_SLOPE:
                verdict = "flat"
            elif sl - 2 * se > RSS_SLOPE:
                verdict = "GROWING"
            else:
                verdict = "inconclusive (within noise; run longer)"
            ys = [y for _, y in post]
            # the upper envelope (each minute's highest sample): buffer
            # churn stays under the budgets, a leak lifts the peaks too
            win = collections.defaultdict(float)
            for x, y in post:
                win[int(x - post[0][0])] = max(win[int(x - post[0][0])], y)
            env, _ = slope([(m + 0.5, y) for m, y in sorted(win.items())])
            log(f"  RSS slope after {WARMUP:.0f} s warm-up: {sl:+.2f} +- {se:.2f} MiB/min over {len(post)} "
                f"samples (min {min(ys):.1f}, max {max(ys):.1f}; per-minute peaks "
                + ("n/a" if env is None else f"{env:+.2f} MiB/min") + f"): {verdict} "
                f"(threshold {RSS_SLOPE:g} MiB/min)")
        for k, what in (("threads", "threads"), ("fds", "open fds"), ("est", "established connections"),
                        ("conns", "TCP sockets to the server")):
            v = [s[k] for s in ss]
            log(f"  {what}: min {min(v)}, max {max(v)}, start {v[0]}, end {v[-1]}")
    return verdict, sl


# --------------------------------------------------------------------------
# main


def boto_client(endpoint, key_id, secret):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=max(10, WRITERS + 4),
                      retries={"max_attempts": 3}, connect_timeout=10, read_timeout=120),
    )


def final_checks(run):
    """After the workers: every object the writers left must hold what was
    last written; no multipart upload may be left."""
    bad = 0
    t0 = time.monotonic()
    resp = run.s3.list_objects_v2(Bucket=BUCKET, Prefix="in/")
    listed = {o["Key"]: o["Size"] for o in resp.get("Contents", [])}
    for key, (path, want) in sorted(run.last_written.items()):
        try:
            h = hashlib.sha256()
            for chunk in run.s3.get_object(Bucket=BUCKET, Key=key)["Body"].iter_chunks(1 << 20):
                h.update(chunk)
            got = h.hexdigest()
        except Exception as e:
            got = f"GET failed: {e}"
        if got != want or key not in listed:
            bad += 1
            run.error("final", f"{key}: holds {got[:80]} (listed: {key in listed}), expected the last cp of "
                               f"{os.path.basename(path)}")
    log(f"  final check: {len(run.last_written)} objects the writers left, {bad} wrong "
        f"({time.monotonic() - t0:.1f} s)")
    ups = run.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    log(f"  multipart uploads left on the server: {len(ups)}")
    for u in ups[:5]:
        run.error("final", f"abandoned multipart upload of {u['Key']} ({u['UploadId'][:16]}...)")
    if len(ups) > 5:
        run.error("final", f"... and {len(ups) - 5} more abandoned uploads")


def finish_mount(run):
    """fusermount3 -u must work and the daemon exit 0; its log must hold no
    error: line."""
    t0 = time.monotonic()
    try:
        cp = subprocess.run(["fusermount3", "-u", run.mnt], capture_output=True, text=True, timeout=30)
        um = cp.returncode, cp.stderr.strip()
    except subprocess.TimeoutExpired:
        um = None, "fusermount3 -u did not return within 30 s"
    try:
        rc = run.daemon.wait(timeout=30)
    except subprocess.TimeoutExpired:
        rc = None
    dt = time.monotonic() - t0
    log(f"  unmount: fusermount3 -u rc {um[0]}, daemon exit {rc}, {dt:.1f} s")
    if um[0] != 0:
        run.error("unmount", f"fusermount3 -u failed: {um[1]}")
    if rc != 0:
        run.error("unmount", f"daemon exit status {rc} after the unmount")
    bl.unmount(run.mnt)  # whatever is left (forced), and the folder
    errs = []
    with open(run.logpath, errors="replace") as f:
        for line in f:
            if ("error:" in line and ("odofs" in line or line.startswith("error:"))) or "Sanitizer" in line:
                errs.append(line.rstrip())
    log(f"  daemon log: {len(errs)} error line(s)")
    for line in errs[:10]:
        run.error("daemon log", line[:300])
    if len(errs) > 10:
        run.error("daemon log", f"... and {len(errs) - 10} more error lines")


def main():
    bl.TOOLS = ["odofs"]  # no peer is mounted here
    why = bl.check_prereqs(extra=(("fusermount3", "apt-get install fuse3"), ("find", "findutils")))
    if why:
        log(why)
        return 2
    try:
        import boto3

        del boto3  # imported again where used; here only its presence counts
    except ImportError:
        log("boto3 is missing: run with /usr/bin/python3 (python3-boto3)")
        return 2
    if KEYS < 1 or SECONDS <= 0 or BIG_SIZE < READ_SIZE:
        log("SOAK_KEYS, SOAK_SECONDS and SOAK_BIG_MIB must be positive")
        return 2

    bl.tmpdir()
    log("odofs soak test")
    log(f"  odofs   {bl.ODOFS}: {bl.version([bl.ODOFS, '--version'])}")
    log(f"  load    {SECONDS:.0f} s: {WRITERS} writers (cp in), {READERS} readers (cp out), "
        f"{RANDOM_READERS} random 4 KiB readers, 1 stat loop ({STAT_RATE:g}/s), 1 find loop, 1 boto3 probe"
        + (f", reference model runs of {MODEL_OPS} steps" if MODEL_OPS > 0 else ""))
    log(f"  data    {SDATA}: {KEYS} keys ({FANOUT} per folder), {FILES} objects + {FILES} sources of "
        f"{MIN_SIZE // 1024} KiB .. {MAX_SIZE / MiB:g} MiB, {BIG_FILES} x {BIG_SIZE // MiB} MiB")

    os.makedirs(SDATA, exist_ok=True)
    if bl.data_ready(SDATA, MARKER_TEXT):
        log("  data    reused (marker present)")
    else:
        log("  data    creating (once; kept in BENCH_DATA for later runs)")
        make_data()
        bl.data_done(SDATA, MARKER_TEXT)
    manifest = load_manifest()
    clear_leftovers()

    key_id, secret = bl.new_key_pair()
    server, port = bl.start_server(S3DIR, key_id, secret)
    endpoint = f"http://127.0.0.1:{port}"
    log(f"  server  {endpoint} (pid {server.pid})")
    s3 = boto_client(endpoint, key_id, secret)
    for i in (0, KEYS - 1):  # the laid-out data is served
        size = s3.head_object(Bucket=BUCKET, Key=key_path(i))["ContentLength"]
        if size != len(key_body(i)):
            raise BenchError(f"{key_path(i)}: the server shows {size} bytes; delete {SDATA}")

    cache = os.path.join(bl.tmpdir(), "cache")
    os.makedirs(cache)
    bl.ODOFS_OPTS = f"cache_dir={cache}" + (f",{bl.ODOFS_OPTS}" if bl.ODOFS_OPTS else "")
    bl.MOUNT_TIMEOUT = 60.0  # the mount's probe lists a bucket of KEYS objects
    mounter = bl.Mounter(port, key_id, secret, BUCKET)
    t0 = time.monotonic()
    mnt, daemon, logpath = mounter.mount("odofs")
    log(f"  mount   {mnt} -o {bl.ODOFS_OPTS} (pid {daemon.pid}, {time.monotonic() - t0:.1f} s)")
    os.mkdir(os.path.join(mnt, "in"))
    outdir = os.path.join(bl.tmpdir(), "out")
    os.makedirs(outdir)

    run = Run(mnt, daemon, logpath, server, port, s3, manifest)
    threads = [threading.Thread(target=sampler, args=(run,), name="sampler", daemon=True)]
    threads[0].start()
    probe_s3 = boto_client(endpoint, key_id, secret)  # its own connections
    workers = ([threading.Thread(target=writer, args=(run, n), name=f"writer{n}", daemon=True)
                for n in range(WRITERS)]
               + [threading.Thread(target=reader, args=(run, n, outdir), name=f"reader{n}", daemon=True)
                  for n in range(READERS)]
               + [threading.Thread(target=random_reader, args=(run, n), name=f"random{n}", daemon=True)
                  for n in range(RANDOM_READERS)]
               + [threading.Thread(target=stat_worker, args=(run,), name="stat", daemon=True),
                  threading.Thread(target=find_worker, args=(run,), name="find", daemon=True),
                  threading.Thread(target=probe_worker, args=(run, probe_s3), name="probe", daemon=True)]
               + ([threading.Thread(target=model_worker, args=(run,), name="model", daemon=True)]
                  if MODEL_OPS > 0 else []))
    for w in workers:
        w.start()
    run.stop.wait(SECONDS)
    run.stop.set()
    # Let the operations in flight finish while they make progress: give up
    # on a worker whose operation has not moved for longer than both bounds.
    stall = max(HANG, OP_TIMEOUT) + 30
    while True:
        alive = [w for w in workers if w.is_alive()]
        if not alive:
            break
        now = time.monotonic()
        if all(now - run.inflight.get(w.name, ("", now))[1] > stall for w in alive):
            break
        alive[0].join(timeout=1)
    wall = run.now()
    stuck = [w for w in workers if w.is_alive()]
    for w in stuck:
        run.error("end", f"{w.name} still in {run.inflight.get(w.name, ('?',))[0]} after the run")
    run.done.set()
    threads[0].join(timeout=SAMPLE + 10)

    verdict, sl = report(run, wall)
    if run.daemon.poll() is None:
        kinds = fd_kinds(run.daemon.pid, run.port)
        log(f"  daemon's descriptors after the load: {sum(kinds.values())} ("
            + ", ".join(f"{k} {v}" for k, v in kinds.most_common()) + ")")
    if run.daemon.poll() is None and not stuck:
        if run.server.poll() is None:
            try:
                final_checks(run)
            except Exception as e:  # botocore: the server went away
                run.error("final", f"final checks failed: {e}")
        finish_mount(run)

    c = run.c
    nerr = len(run.errors)
    log("")
    if nerr:
        log(f"{nerr} error(s):")
        by = collections.Counter(who.rstrip("0123456789") for _, who, _ in run.errors)
        log("  by source: " + ", ".join(f"{k} {v}" for k, v in sorted(by.items())))
        for k, (t, who, msg) in enumerate(run.errors):
            if k < 20 or who in MAJOR:
                log(f"  {t:6.0f}s {who}: {msg}")
    verified = c["bytes_in_verified"] + c["bytes_out_verified"] + c["random_bytes_verified"]
    ss = run.samples
    rss_txt = (f"RSS {ss[0]['rss']:.0f}->{ss[-1]['rss']:.0f} MiB (max {max(s['rss'] for s in ss):.0f}, "
               f"{'n/a' if sl is None else f'{sl:+.2f}'} MiB/min: {verdict})") if ss else "RSS n/a"
    conn_txt = f"conns {min(s['est'] for s in ss)}-{max(s['est'] for s in ss)}" if ss else ""
    log(f"soak {'PASSED' if nerr == 0 else 'FAILED'}: {wall:.0f} s, in {c['bytes_in'] / MB / wall:.1f} MB/s, "
        f"out {c['bytes_out'] / MB / wall:.1f} MB/s, {verified / MB:.0f} MB verified, "
        f"stat p99 {ms(pct(run.stat_lat, .99))}, 4K read p99 {ms(pct(run.read_lat, .99))}, {rss_txt}, "
        f"{conn_txt}, {nerr} error(s)")
    return 1 if nerr else 0


if __name__ == "__main__":
    bl.run(main)
