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

Uses only the standard library, plus boto3 to create the data (once).
"""

import html
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER_JS = os.path.join(REPO, "tests", "s3rver", "server.js")


def _odofs_path():
    p = os.environ.get("ODOFS") or os.environ.get("ODOFS_BIN") or "build/odofs"
    if not os.path.isabs(p) and not os.path.exists(p):
        p = os.path.join(REPO, p)
    return os.path.abspath(p)


ODOFS = _odofs_path()
NODE = os.environ.get("NODE") or shutil.which("node") or "node"
RUNS = max(1, int(os.environ.get("BENCH_RUNS") or 3))
DATA = os.path.abspath(os.environ.get("BENCH_DATA") or "/var/tmp/odofs-bench")
TOOLS = (os.environ.get("BENCH_TOOLS") or "curl odofs s3fs rclone").split()
ONLY = os.environ.get("BENCH_ONLY") or ""
ODOFS_OPTS = os.environ.get("BENCH_ODOFS_OPTS") or ""
S3FS_OPTS = os.environ.get("BENCH_S3FS_OPTS") or ""
RCLONE_ARGS = (os.environ.get("BENCH_RCLONE_ARGS") or "").split()
OP_TIMEOUT = float(os.environ.get("BENCH_OP_TIMEOUT") or 300)
MOUNT_TIMEOUT = 10.0

BUCKET = "bench"
BIG_KEY = "big/random-1GiB.bin"
BIG_SIZE = 1 << 30
LS_PREFIX = "many/"
LS_COUNT = 10000
# Bump when the data layout changes: a data folder with another marker is rebuilt.
MARKER_TEXT = f"odofs-bench data v1: {BUCKET}/{BIG_KEY} {BIG_SIZE} bytes, {BUCKET}/{LS_PREFIX} {LS_COUNT} objects\n"

MB = 1e6
MiB = 1 << 20
MOUNT_TOOLS = ("odofs", "s3fs", "rclone")


class BenchError(Exception):
    """Something broke (not: something was slow)."""


# --------------------------------------------------------------------------
# everything started is registered here and stopped at exit

_procs = []  # Popen objects still possibly alive
_mounts = {}  # mount dir -> daemon Popen
_tmp = None


def log(msg=""):
    print(msg, flush=True)


def mounted(path):
    """Is path a mount point? Reads /proc/self/mountinfo: never touches the
    mount itself, so a hung daemon cannot hang the check."""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4]
                mp = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), mp)
                if mp == path:
                    return True
    except OSError:
        pass
    return False


def stop_proc(p, grace=5.0):
    if p.poll() is None:
        try:
            p.terminate()
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            p.kill()
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        except ProcessLookupError:
            pass
    if p in _procs:
        _procs.remove(p)


def unmount(mnt):
    """fusermount3 -u; if the mount is busy or hung, umount -l and kill the
    daemon, which fails any request still waiting on it."""
    p = _mounts.pop(mnt, None)
    forced = False
    if mounted(mnt):
        for _ in range(3):
            if subprocess.run(["fusermount3", "-u", mnt], stderr=subprocess.DEVNULL).returncode == 0:
                break
            time.sleep(0.2)
        if mounted(mnt):
            subprocess.run(["umount", "-l", mnt], stderr=subprocess.DEVNULL)
            forced = True
    if p is not None:
        if forced:
            p.kill()
        try:
            p.wait(timeout=10)  # the daemon exits once unmounted
        except subprocess.TimeoutExpired:
            pass
        stop_proc(p, grace=2)
    try:
        os.rmdir(mnt)
    except OSError:
        pass


def cleanup():
    for mnt in list(_mounts):
        unmount(mnt)
    for p in list(_procs):
        stop_proc(p)
    if _tmp and os.path.isdir(_tmp):
        shutil.rmtree(_tmp, ignore_errors=True)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


# --------------------------------------------------------------------------
# server and data


def clean_env(home, **extra):
    """The environment minus AWS_*, BOTO_*, RCLONE_* (no real credentials or
    settings leak in), HOME a temp folder, instance metadata off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BOTO_", "RCLONE_"))}
    env["HOME"] = home
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env.update(extra)
    return env


def start_server(data_dir, key_id, secret):
    errlog = open(os.path.join(_tmp, "s3rver.log"), "w")
    p = subprocess.Popen(
        [NODE, SERVER_JS, "--port", "0", "--dir", data_dir, "--key-id", key_id, "--secret", secret,
         "--allow-mismatched"],
        stdout=subprocess.PIPE, stderr=errlog, stdin=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )
    _procs.append(p)
    line = p.stdout.readline()  # "listening PORT"
    m = re.match(r"listening (\d+)$", line.strip())
    if not m:
        with open(errlog.name) as f:
            raise BenchError(f"server did not start: {line!r} {f.read()[-2000:]}")
    return p, int(m.group(1))


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
# mounts


class Mounter:
    def __init__(self, port, key_id, secret):
        self.endpoint = f"http://127.0.0.1:{port}"
        self.key_id, self.secret = key_id, secret
        self.home = os.path.join(_tmp, "home")
        os.makedirs(self.home, exist_ok=True)
        self.passwd = os.path.join(_tmp, "passwd-s3fs")
        with open(os.open(self.passwd, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(f"{key_id}:{secret}\n")
        self.rclone_conf = os.path.join(_tmp, "rclone.conf")
        open(self.rclone_conf, "w").close()
        self.n = 0

    def command(self, tool, mnt):
        if tool == "odofs":
            opts = f"endpoint={self.endpoint}" + (f",{ODOFS_OPTS}" if ODOFS_OPTS else "")
            cmd = [ODOFS, f"s3://{BUCKET}/", mnt, "-f", "-o", opts]
            env = clean_env(self.home, AWS_ACCESS_KEY_ID=self.key_id, AWS_SECRET_ACCESS_KEY=self.secret)
        elif tool == "s3fs":
            # sigv4 only, region us-east-1, path style; no use_cache (no cache dir).
            opts = (f"url={self.endpoint},use_path_request_style,passwd_file={self.passwd},"
                    f"sigv4,endpoint=us-east-1")
            if S3FS_OPTS:
                opts += "," + S3FS_OPTS
            cmd = ["s3fs", BUCKET, mnt, "-f", "-o", opts]
            env = clean_env(self.home)
        elif tool == "rclone":
            cmd = ["rclone", "mount", f"x:{BUCKET}", mnt, "--vfs-cache-mode", "off"] + RCLONE_ARGS
            # clean_env drops AWS_CA_BUNDLE, which rclone would otherwise try to use.
            env = clean_env(
                self.home,
                RCLONE_CONFIG=self.rclone_conf,
                RCLONE_CONFIG_X_TYPE="s3",
                RCLONE_CONFIG_X_PROVIDER="Other",
                RCLONE_CONFIG_X_ENDPOINT=self.endpoint,
                RCLONE_CONFIG_X_REGION="us-east-1",
                RCLONE_CONFIG_X_ACCESS_KEY_ID=self.key_id,
                RCLONE_CONFIG_X_SECRET_ACCESS_KEY=self.secret,
                RCLONE_CONFIG_X_FORCE_PATH_STYLE="true",
            )
        else:
            raise ValueError(tool)
        return cmd, env

    def mount(self, tool):
        self.n += 1
        mnt = os.path.join(_tmp, f"mnt-{self.n:03d}-{tool}")
        os.makedirs(mnt)
        cmd, env = self.command(tool, mnt)
        logpath = os.path.join(_tmp, f"{tool}-{self.n:03d}.log")
        with open(logpath, "w") as logf:
            p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=logf,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        _procs.append(p)
        _mounts[mnt] = p
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while not mounted(mnt):
            if p.poll() is not None or time.monotonic() > deadline:
                why = f"exited with {p.returncode}" if p.poll() is not None else f"not mounted after {MOUNT_TIMEOUT:.0f} s"
                unmount(mnt)
                raise BenchError(f"{tool} {why}: {' '.join(cmd)}\n{tail(logpath)}")
            time.sleep(0.05)
        return mnt, p, logpath


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()[-n:]
    except OSError:
        return ""
    return "\n".join("    | " + ln for ln in lines)


class RssWatch:
    """Polls VmRSS of pid every 50 ms; peak() also counts VmHWM."""

    def __init__(self, pid):
        self.pid, self.max_kib = pid, 0
        self.stop_ev = threading.Event()
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _read(self, field):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    def _run(self):
        while not self.stop_ev.is_set():
            self.max_kib = max(self.max_kib, self._read("VmRSS"))
            self.stop_ev.wait(0.05)

    def peak_mib(self):
        self.stop_ev.set()
        self.th.join()
        return max(self.max_kib, self._read("VmHWM")) / 1024


# --------------------------------------------------------------------------
# the measurements


def cpu_seconds(pid):
    """utime + stime of a process (all its threads) so far, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def timed(cmd, stdout=subprocess.DEVNULL):
    """Run cmd, return (seconds, returncode, stderr). A child that may sit in a
    FUSE request is never waited for without a bound: on a timeout or a signal
    it stays registered, and cleanup kills it after its mount's daemon."""
    errf = tempfile.TemporaryFile(mode="w+", dir=_tmp)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=errf)
    _procs.append(p)
    try:
        rc = p.wait(timeout=OP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{cmd[0]} did not finish within {OP_TIMEOUT:.0f} s")
    dt = time.monotonic() - t0
    _procs.remove(p)
    errf.seek(0)
    return dt, rc, errf.read().strip()


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
        watch = RssWatch(p.pid)
        cpu0 = cpu_seconds(p.pid)
        try:
            dt, rc, err = timed(["cat", path])
        except BenchError as e:
            raise BenchError(f"{tool}: {e}\n{tail(logpath)}")
        finally:
            cpu = cpu_seconds(p.pid) - cpu0
            rss = watch.peak_mib()
        if rc != 0:
            raise BenchError(f"{tool}: cat failed: {err}\n{tail(logpath)}")
        if p.poll() is not None:
            raise BenchError(f"{tool}: daemon exited ({p.returncode}) during the read\n{tail(logpath)}")
        return dt, rss, cpu
    finally:
        unmount(mnt)


def list_raw(endpoint):
    """ListObjectsV2 pages of the prefix with curl, following continuation
    tokens, one unsigned GET per page; returns (seconds, keys, pages)."""
    base = (f"{endpoint}/{BUCKET}?list-type=2&delimiter=%2F&prefix="
            + urllib.parse.quote(LS_PREFIX, safe=""))
    keys = pages = 0
    token = None
    t0 = time.monotonic()
    while True:
        url = base + ("&continuation-token=" + urllib.parse.quote(token, safe="") if token else "")
        cp = subprocess.run(["curl", "-sS", "-f", url], capture_output=True, text=True, timeout=OP_TIMEOUT)
        if cp.returncode != 0:
            raise BenchError(f"raw list failed on page {pages + 1}: {cp.stderr.strip()}")
        pages += 1
        keys += cp.stdout.count("<Key>")
        m = re.search(r"<NextContinuationToken>([^<]+)</NextContinuationToken>", cp.stdout)
        if "<IsTruncated>true</IsTruncated>" not in cp.stdout or not m:
            break
        token = html.unescape(m.group(1))
    dt = time.monotonic() - t0
    if keys != LS_COUNT:
        raise BenchError(f"raw list saw {keys} keys in {pages} pages, expected {LS_COUNT}")
    return dt, keys, pages


def ls_mount(mounter, tool):
    mnt, p, logpath = mounter.mount(tool)
    try:
        out = os.path.join(_tmp, "ls.out")
        with open(out, "w") as f:
            try:
                dt, rc, err = timed(["ls", "-l", os.path.join(mnt, LS_PREFIX.rstrip("/"))], stdout=f)
            except BenchError as e:
                raise BenchError(f"{tool}: {e}\n{tail(logpath)}")
        with open(out) as f:
            entries = sum(1 for line in f if not line.startswith("total "))
        if rc != 0 or entries != LS_COUNT:
            raise BenchError(f"{tool}: ls -l gave {entries} entries (rc {rc}), expected "
                             f"{LS_COUNT}: {err[:500]}\n{tail(logpath)}")
        return dt
    finally:
        unmount(mnt)


# --------------------------------------------------------------------------
# main


def version(cmd):
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return ((cp.stdout or cp.stderr).strip().splitlines() or ["?"])[0]
    except (OSError, subprocess.TimeoutExpired):
        return "not found"


def fmt_runs(xs, fmt):
    return " ".join(fmt.format(x) for x in xs)


def main():
    global _tmp
    for t in TOOLS:
        if t not in ("curl",) + MOUNT_TOOLS:
            log(f"BENCH_TOOLS: unknown tool {t!r} (curl odofs s3fs rclone)")
            return 2
    if ONLY not in ("", "read", "ls"):
        log(f"BENCH_ONLY must be 'read' or 'ls', not {ONLY!r}")
        return 2
    if "odofs" in TOOLS and not os.access(ODOFS, os.X_OK):
        log(f"odofs binary not found at {ODOFS} (build it, set ODOFS=, or leave odofs out of BENCH_TOOLS)")
        return 2
    for t, exe in (("s3fs", "s3fs"), ("rclone", "rclone")):
        if t in TOOLS and not shutil.which(exe):
            log(f"{exe} not found (apt-get install {exe}, or leave it out of BENCH_TOOLS)")
            return 2
    if not os.path.isdir(os.path.join(os.path.dirname(SERVER_JS), "node_modules", "@20minutes", "s3rver")):
        log("s3rver is not installed: npm install --prefix tests/s3rver --no-audit --no-fund")
        return 2

    _tmp = tempfile.mkdtemp(prefix="odofs-bench.")
    errors = []
    do_read = ONLY in ("", "read")
    do_ls = ONLY in ("", "ls")

    log("odofs read benchmark")
    log(f"  odofs   {ODOFS if 'odofs' in TOOLS else '(not measured)'}"
        + (f": {version([ODOFS, '--version'])}" if "odofs" in TOOLS else "")
        + (f" -o {ODOFS_OPTS}" if ODOFS_OPTS else ""))
    log(f"  curl    {version(['curl', '--version'])}")
    for t in ("s3fs", "rclone"):
        if t in TOOLS:
            log(f"  {t:7} {version([t, '--version'])}")
    log(f"  runs {RUNS} (median), data {DATA}")

    # ---- data
    s3dir = os.path.join(DATA, "s3")
    marker = os.path.join(DATA, "complete")
    try:
        have = open(marker).read() == MARKER_TEXT
    except OSError:
        have = False
    if not have:
        shutil.rmtree(s3dir, ignore_errors=True)
        try:
            os.unlink(marker)
        except OSError:
            pass
    os.makedirs(s3dir, exist_ok=True)

    key_id = "BENCH" + secrets.token_hex(8).upper()
    secret = secrets.token_urlsafe(30)
    server, port = start_server(s3dir, key_id, secret)
    endpoint = f"http://127.0.0.1:{port}"
    log(f"  server  {endpoint} (pid {server.pid}, allowMismatchedSignatures for s3fs)")
    if have:
        log("  data    reused (marker present)")
    else:
        log("  data    creating (once; kept in BENCH_DATA for later runs)")
        populate(endpoint, key_id, secret)
        with open(marker, "w") as f:
            f.write(MARKER_TEXT)

    mounter = Mounter(port, key_id, secret)
    url = f"{endpoint}/{BUCKET}/{urllib.parse.quote(BIG_KEY)}"
    mount_tools = [t for t in MOUNT_TOOLS if t in TOOLS]

    read_s = {}  # tool -> [seconds]
    rss = {}  # tool -> [MiB]
    ls_s = {}
    failed = set()

    def attempt(label, fn):
        if label in failed:
            return None
        try:
            return fn()
        except BenchError as e:
            failed.add(label)
            errors.append(f"{label}: {e}")
            log(f"    {label}: BROKEN: {e}")
            return None

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
        attempt("raw-list", lambda: list_raw(endpoint))  # untimed warm-up
        for r in range(1, RUNS + 1):
            log(f"  run {r}/{RUNS}")
            if "curl" in TOOLS:
                res = attempt("raw-list", lambda: list_raw(endpoint))
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
    med = lambda d, k: statistics.median(d[k]) if d.get(k) else None  # noqa: E731
    mbps = {k: BIG_SIZE / med(read_s, k) / MB for k in read_s}
    rss_med = {k: med(rss, k) for k in rss}
    ls_med = {k: med(ls_s, k) for k in ls_s}

    if do_read:
        log("")
        log(f"sequential read, median of {RUNS}:")
        for k in ("curl-single", "curl-4") + MOUNT_TOOLS:
            if k in mbps:
                extra = f"   peak RSS {rss_med[k]:6.1f} MiB" if k in rss_med else ""
                log(f"  {k:12} {mbps[k]:7.0f} MB/s{extra}")
    if do_ls:
        log("")
        log(f"ls -l of {LS_COUNT} objects, median of {RUNS}:")
        for k in ("raw-list",) + MOUNT_TOOLS:
            if k in ls_med:
                log(f"  {k:12} {ls_med[k]:7.3f} s")

    def ratio(a, b):
        return a / b if a is not None and b is not None else None

    rows = []  # (metric, figure, ratio, target, ok: True/False/None)

    def row(metric, figure, r, target, op, goal):
        if r is None:
            ok = "n/a"
        elif op is None:
            ok = "info"
        else:
            ok = "met" if (r >= goal if op == ">=" else r <= goal) else "MISSED"
        rows.append((metric, figure, "-" if r is None else f"{r:.2f}x", target, ok))

    if do_read:
        o = mbps.get("odofs")
        fig = f"{o:.0f} MB/s" if o else "n/a"
        row("read 1 GiB: odofs / curl single", fig, ratio(o, mbps.get("curl-single")), ">= 1.3x", ">=", 1.3)
        row("read 1 GiB: odofs / s3fs", fig, ratio(o, mbps.get("s3fs")), ">= 1.3x", ">=", 1.3)
        row("read 1 GiB: odofs / curl 4 ranges", fig, ratio(o, mbps.get("curl-4")), "-", None, None)
        row("read 1 GiB: odofs / rclone", fig, ratio(o, mbps.get("rclone")), "-", None, None)
    if do_ls:
        o = ls_med.get("odofs")
        row(f"ls -l {LS_COUNT}: odofs / raw list", f"{o:.3f} s" if o else "n/a",
            ratio(o, ls_med.get("raw-list")), "<= 3x", "<=", 3.0)
        s = ls_med.get("s3fs")
        row(f"ls -l {LS_COUNT}: s3fs / odofs", f"{s:.3f} s" if s else "n/a", ratio(s, o), ">= 10x", ">=", 10.0)
        rc = ls_med.get("rclone")
        row(f"ls -l {LS_COUNT}: rclone / odofs", f"{rc:.3f} s" if rc else "n/a", ratio(rc, o), "-", None, None)
    if do_read:
        o = rss_med.get("odofs")
        if o is None:
            rows.append(("peak RSS reading 1 GiB: odofs", "n/a", "-", "<= 128 MiB", "n/a"))
        else:
            rows.append(("peak RSS reading 1 GiB: odofs", f"{o:.1f} MiB", "-", "<= 128 MiB",
                         "met" if o <= 128 else "MISSED"))
        for t in ("s3fs", "rclone"):
            if t in rss_med:
                rows.append((f"peak RSS reading 1 GiB: {t}", f"{rss_med[t]:.1f} MiB",
                             f"{o / rss_med[t]:.2f}x" if o else "-", "-", "info"))

    log("")
    log(f"summary (medians of {RUNS} run{'s' if RUNS > 1 else ''}; ratio = first / second)")
    hdr = ("metric", "figure", "ratio", "target", "status")
    w = [max(len(str(x[i])) for x in rows + [hdr]) for i in range(5)]
    for x in [hdr] + rows:
        log("  " + "  ".join(str(c).ljust(w[i]) for i, c in enumerate(x)).rstrip())

    if errors:
        log("")
        log(f"{len(errors)} thing(s) broke (logs in {_tmp} are removed at exit):")
        for e in errors:
            log("  " + e.splitlines()[0])
        return 1
    return 0


if __name__ == "__main__":
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)
    rc = 1
    try:
        rc = main()
    except BenchError as e:
        log(f"error: {e}")
        rc = 1
    finally:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)  # let cleanup finish
        cleanup()
    sys.exit(rc)
