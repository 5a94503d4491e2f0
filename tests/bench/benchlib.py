"""What the benchmarks here share: settings from the environment, the local
S3 server, mounting and unmounting odofs, s3fs and rclone, cleanup at exit
(even after a signal), timing, RSS and CPU sampling, curl against the server,
and the summary table.

A benchmark script imports it, defines main() returning its exit status
(0: every figure measured, 1: something broke, 2: cannot start) and ends with
benchlib.run(main). Everything started through this module (processes,
mounts, the temporary folder) is registered and stopped by run() at exit.

Standard library only.
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


# Settings every benchmark reads (README.md lists them).
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

MB = 1e6
MiB = 1 << 20
MOUNT_TOOLS = ("odofs", "s3fs", "rclone")


class BenchError(Exception):
    """Something broke (not: something was slow)."""


def log(msg=""):
    print(msg, flush=True)


# --------------------------------------------------------------------------
# everything started is registered here and stopped at exit

_procs = []  # Popen objects still possibly alive
_mounts = {}  # mount dir -> daemon Popen
_tmp = None


def tmpdir():
    """The run's temporary folder (logs, mount points, scratch), created on
    first use and removed at exit."""
    global _tmp
    if _tmp is None:
        _tmp = tempfile.mkdtemp(prefix="odofs-bench.")
    return _tmp


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


_stops = []  # commands that stop what a script started (rgw.sh stop DIR)


def cleanup():
    for mnt in list(_mounts):
        unmount(mnt)
    for p in list(_procs):
        stop_proc(p)
    for cmd in _stops:
        subprocess.run(cmd, capture_output=True, timeout=60)
    if _tmp and os.path.isdir(_tmp):
        shutil.rmtree(_tmp, ignore_errors=True)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run(main):
    """Run main() with cleanup at exit, even after Ctrl-C; exit with its status."""
    for s in _SIGNALS:
        signal.signal(s, _on_signal)
    rc = 1
    try:
        rc = main()
    except BenchError as e:
        log(f"error: {e}")
        rc = 1
    finally:
        for s in _SIGNALS:
            signal.signal(s, signal.SIG_IGN)  # let cleanup finish
        cleanup()
    sys.exit(rc)


# --------------------------------------------------------------------------
# prerequisites, versions, data folder


def version(cmd):
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return ((cp.stdout or cp.stderr).strip().splitlines() or ["?"])[0]
    except (OSError, subprocess.TimeoutExpired):
        return "not found"


def check_prereqs(extra=()):
    """None when everything needed is here, else the message for exit 2.
    extra: (program, hint) pairs the benchmark needs besides the tools."""
    for t in TOOLS:
        if t not in ("curl",) + MOUNT_TOOLS:
            return f"BENCH_TOOLS: unknown tool {t!r} (curl odofs s3fs rclone)"
    if "odofs" in TOOLS and not os.access(ODOFS, os.X_OK):
        return f"odofs binary not found at {ODOFS} (build it, set ODOFS=, or leave odofs out of BENCH_TOOLS)"
    for t, exe in (("s3fs", "s3fs"), ("rclone", "rclone")):
        if t in TOOLS and not shutil.which(exe):
            return f"{exe} not found (apt-get install {exe}, or leave it out of BENCH_TOOLS)"
    for exe, hint in extra:
        if not shutil.which(exe):
            return f"{exe} not found ({hint})"
    if not os.path.isdir(os.path.join(os.path.dirname(SERVER_JS), "node_modules", "@20minutes", "s3rver")):
        return "s3rver is not installed: npm install --prefix tests/s3rver --no-audit --no-fund"
    return None


def log_versions(title):
    """The title, then one line per tool measured with its version, then the
    run count and data folder."""
    log(title)
    log(f"  odofs   {ODOFS if 'odofs' in TOOLS else '(not measured)'}"
        + (f": {version([ODOFS, '--version'])}" if "odofs" in TOOLS else "")
        + (f" -o {ODOFS_OPTS}" if ODOFS_OPTS else ""))
    log(f"  curl    {version(['curl', '--version'])}")
    for t in ("s3fs", "rclone"):
        if t in TOOLS:
            log(f"  {t:7} {version([t, '--version'])}")
    log(f"  runs {RUNS} (median), data {DATA}")


def data_ready(folder, marker_text):
    """Does folder hold complete data of this layout (its marker file
    'complete' says marker_text)? If not, the marker is removed, and the
    caller rebuilds the data and then calls data_done()."""
    marker = os.path.join(folder, "complete")
    try:
        with open(marker) as f:
            if f.read() == marker_text:
                return True
    except OSError:
        pass
    try:
        os.unlink(marker)
    except OSError:
        pass
    return False


def data_done(folder, marker_text):
    with open(os.path.join(folder, "complete"), "w") as f:
        f.write(marker_text)


# --------------------------------------------------------------------------
# server


def new_key_pair():
    """A random key pair for one run of the server (never a real one)."""
    return "BENCH" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)


def clean_env(home, **extra):
    """The environment minus AWS_*, BOTO_*, RCLONE_* (no real credentials or
    settings leak in), HOME a temp folder, instance metadata off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BOTO_", "RCLONE_"))}
    env["HOME"] = home
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env.update(extra)
    return env


def bench_bucket():
    """A fresh server (its data in tmpdir()) with an empty bucket "bench":
    (port, key_id, secret, an S3Curl for the bucket)."""
    key_id, secret = new_key_pair()
    data = os.path.join(tmpdir(), "s3data")
    os.makedirs(data)
    _srv, port = start_server(data, key_id, secret)
    curl = S3Curl(f"http://127.0.0.1:{port}", "bench", key_id, secret)
    curl.create_bucket()
    return port, key_id, secret, curl


def put_random_object(curl, path, size, key):
    """Writes size bytes (whole MiB) of random data to the local file path
    and PUTs them as key with curl (an S3Curl)."""
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            f.write(os.urandom(MiB))
    cp = subprocess.run(curl.cmd("-T", path, "-o", "/dev/null", curl.url(key)), capture_output=True,
                        text=True, timeout=OP_TIMEOUT)
    if cp.returncode != 0:
        raise BenchError(f"upload failed: {cp.stderr}")


def start_server(data_dir, key_id, secret):
    """s3rver on 127.0.0.1, a random port, accepting mismatched signatures
    (for Debian's s3fs, see DESIGN.md). Returns (Popen, port)."""
    errlog = open(os.path.join(tmpdir(), "s3rver.log"), "w")
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


def start_rgw(key_id, secret):
    """A throwaway Ceph RGW on loopback (tests/rgw/rgw.sh; 16-30 s to start),
    stopped at exit. Returns its port."""
    d = os.path.join(tmpdir(), "rgw")
    script = os.path.join(REPO, "tests", "rgw", "rgw.sh")
    _stops.append(["bash", script, "stop", d])
    cp = subprocess.run(["bash", script, "start", d], capture_output=True, text=True, timeout=600,
                        env=dict(os.environ, RGW_ACCESS_KEY=key_id, RGW_SECRET_KEY=secret))
    m = re.search(r"^endpoint http://127\.0\.0\.1:(\d+)$", cp.stdout, re.M)
    if cp.returncode != 0 or not m:
        raise BenchError(f"Ceph RGW did not start: {cp.stderr[-1500:]}")
    return int(m.group(1))


class S3Curl:
    """curl against the server. Signed requests use curl's SigV4
    (--aws-sigv4 aws:amz:us-east-1:s3, --user KEY:SECRET) with
    x-amz-content-sha256: UNSIGNED-PAYLOAD: s3rver refuses a signed request
    without that header (400 InvalidRequest), and curl 7.88 does not add it.
    The key pair sits in a curl config file (-K), not on command lines."""

    def __init__(self, endpoint, bucket, key_id, secret):
        self.endpoint, self.bucket = endpoint, bucket
        self.conf = os.path.join(tmpdir(), "curl-sigv4.conf")
        with open(os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write('aws-sigv4 = "aws:amz:us-east-1:s3"\n'
                    f'user = "{key_id}:{secret}"\n'
                    'header = "x-amz-content-sha256: UNSIGNED-PAYLOAD"\n')

    def url(self, key=""):
        return f"{self.endpoint}/{self.bucket}/{urllib.parse.quote(key)}" if key else f"{self.endpoint}/{self.bucket}"

    def cmd(self, *args, signed=True):
        return ["curl", "-sS", "-f"] + (["-K", self.conf] if signed else []) + list(args)

    def _run(self, cmd, what):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=OP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise BenchError(f"{what}: curl did not finish within {OP_TIMEOUT:.0f} s")

    def create_bucket(self):
        cp = self._run(self.cmd("-X", "PUT", self.url()), "create bucket")
        if cp.returncode != 0:
            raise BenchError(f"cannot create bucket {self.bucket}: {cp.stderr.strip()}")

    def head(self, key):
        """Content-Length of key, None if it does not exist."""
        cp = self._run(["curl", "-sS", "-K", self.conf, "-I", self.url(key)], f"HEAD {key}")
        status = re.match(r"HTTP/\S+ (\d+)", cp.stdout)
        if status and status.group(1) == "404":
            return None
        m = re.search(r"^content-length:\s*(\d+)", cp.stdout, re.I | re.M)
        if cp.returncode != 0 or not status or status.group(1) != "200" or not m:
            raise BenchError(f"HEAD {key} failed ({cp.returncode}): {cp.stderr.strip()} {cp.stdout[:200]!r}")
        return int(m.group(1))

    def list(self, prefix="", delimiter=None, signed=True):
        """ListObjectsV2 pages of prefix, following continuation tokens, one
        curl per page. Returns ([(key, size)], pages)."""
        base = f"{self.url()}?list-type=2"
        if delimiter is not None:
            base += "&delimiter=" + urllib.parse.quote(delimiter, safe="")
        base += "&prefix=" + urllib.parse.quote(prefix, safe="")
        objs, pages, token = [], 0, None
        while True:
            url = base + ("&continuation-token=" + urllib.parse.quote(token, safe="") if token else "")
            cp = self._run(self.cmd(url, signed=signed), f"list {prefix}")
            if cp.returncode != 0:
                raise BenchError(f"list of {prefix or '/'} failed on page {pages + 1}: {cp.stderr.strip()}")
            pages += 1
            for c in re.findall(r"<Contents>(.*?)</Contents>", cp.stdout, re.S):
                k = re.search(r"<Key>([^<]*)</Key>", c)
                s = re.search(r"<Size>(\d+)</Size>", c)
                objs.append((html.unescape(k.group(1)) if k else "", int(s.group(1)) if s else -1))
            m = re.search(r"<NextContinuationToken>([^<]+)</NextContinuationToken>", cp.stdout)
            if "<IsTruncated>true</IsTruncated>" not in cp.stdout or not m:
                return objs, pages
            token = html.unescape(m.group(1))

    def empty(self):
        """Delete every object in the bucket (DELETEs in one curl, 16 at a
        time), then check that the bucket lists empty. s3rver answers 500 at
        times to concurrent deletes in one folder (it removes emptied
        folders as it goes): curl retries those."""
        objs, _ = self.list()
        keys = [k for k, _ in objs]
        for i in range(0, len(keys), 500):
            cp = self._run(self.cmd("--parallel", "--parallel-max", "16", "--retry", "5", "--retry-delay", "1",
                                    "-X", "DELETE", "-o", "/dev/null",
                                    *[self.url(k) for k in keys[i:i + 500]]), "delete")
            if cp.returncode != 0:
                raise BenchError(f"deleting objects failed: {cp.stderr.strip()[:500]}")
        left, _ = self.list()
        if left:
            raise BenchError(f"{len(left)} object(s) left after deleting, e.g. {left[0][0]!r}")


# --------------------------------------------------------------------------
# mounts


class Mounter:
    """Mounts the bucket root with odofs, s3fs or rclone, fresh each time.
    odofs is mounted read-write (no ro); rclone with --vfs-cache-mode off."""

    def __init__(self, port, key_id, secret, bucket):
        self.endpoint = f"http://127.0.0.1:{port}"
        self.key_id, self.secret, self.bucket = key_id, secret, bucket
        self.home = os.path.join(tmpdir(), "home")
        os.makedirs(self.home, exist_ok=True)
        self.passwd = os.path.join(tmpdir(), "passwd-s3fs")
        with open(os.open(self.passwd, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(f"{key_id}:{secret}\n")
        self.rclone_conf = os.path.join(tmpdir(), "rclone.conf")
        open(self.rclone_conf, "w").close()
        self.n = 0

    def command(self, tool, mnt):
        if tool == "odofs":
            opts = f"endpoint={self.endpoint}" + (f",{ODOFS_OPTS}" if ODOFS_OPTS else "")
            cmd = [ODOFS, f"s3://{self.bucket}/", mnt, "-f", "-o", opts]
            env = clean_env(self.home, AWS_ACCESS_KEY_ID=self.key_id, AWS_SECRET_ACCESS_KEY=self.secret)
        elif tool == "s3fs":
            # sigv4 only, region us-east-1, path style; no use_cache (no cache dir).
            opts = (f"url={self.endpoint},use_path_request_style,passwd_file={self.passwd},"
                    f"sigv4,endpoint=us-east-1")
            if S3FS_OPTS:
                opts += "," + S3FS_OPTS
            cmd = ["s3fs", self.bucket, mnt, "-f", "-o", opts]
            env = clean_env(self.home)
        elif tool == "rclone":
            cmd = ["rclone", "mount", f"x:{self.bucket}", mnt, "--vfs-cache-mode", "off"] + RCLONE_ARGS
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
        """Returns (mount dir, daemon Popen, daemon log path)."""
        self.n += 1
        mnt = os.path.join(tmpdir(), f"mnt-{self.n:03d}-{tool}")
        os.makedirs(mnt)
        cmd, env = self.command(tool, mnt)
        logpath = os.path.join(tmpdir(), f"{tool}-{self.n:03d}.log")
        with open(logpath, "w") as logf:
            p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=logf,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        _procs.append(p)
        _mounts[mnt] = p
        why = wait_mounted(mnt, p)
        if why:
            raise BenchError(f"{tool} {why}: {' '.join(cmd)}\n{tail(logpath)}")
        return mnt, p, logpath


def wait_mounted(mnt, p):
    """Wait until the daemon p has mounted mnt: None, or why not (it exited,
    or MOUNT_TIMEOUT passed; mnt is then unmounted)."""
    deadline = time.monotonic() + MOUNT_TIMEOUT
    while not mounted(mnt):
        if p.poll() is not None or time.monotonic() > deadline:
            why = f"exited with {p.returncode}" if p.poll() is not None else f"not mounted after {MOUNT_TIMEOUT:.0f} s"
            unmount(mnt)
            return why
        time.sleep(0.05)
    return None


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()[-n:]
    except OSError:
        return ""
    return "\n".join("    | " + ln for ln in lines)


# --------------------------------------------------------------------------
# measuring


class RssWatch:
    """Polls VmRSS of pid every 50 ms; peak_mib() also counts VmHWM."""

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


def cpu_seconds(pid):
    """utime + stime of a process (all its threads) so far, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_jiffies():
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat:
    busy is everything but idle and iowait."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    total = sum(v[:8])  # guest time is already counted in user
    return total - v[3] - v[4], total


def busy_share(before, after):
    """The share of the machine's CPUs in use between two machine_jiffies()."""
    dt = after[1] - before[1]
    return (after[0] - before[0]) / dt if dt > 0 else None


def timed_all(cmds, stdout=subprocess.DEVNULL):
    """Start every command at once, wait for all; return (wall seconds,
    [(returncode, stderr)]). A child that may sit in a FUSE request is never
    waited for without a bound: on a timeout or a signal it stays
    registered, and cleanup kills it after its mount's daemon."""
    errfs = [tempfile.TemporaryFile(mode="w+", dir=tmpdir()) for _ in cmds]
    t0 = time.monotonic()
    ps = []
    for cmd, errf in zip(cmds, errfs):
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=errf)
        _procs.append(p)
        ps.append(p)
    deadline = t0 + OP_TIMEOUT
    rcs = []
    for cmd, p in zip(cmds, ps):
        try:
            rcs.append(p.wait(timeout=max(0.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            raise BenchError(f"{cmd[0]} did not finish within {OP_TIMEOUT:.0f} s")
    dt = time.monotonic() - t0
    out = []
    for p, rc, errf in zip(ps, rcs, errfs):
        _procs.remove(p)
        errf.seek(0)
        out.append((rc, errf.read().strip()))
        errf.close()
    return dt, out


def timed(cmd, stdout=subprocess.DEVNULL):
    """Run cmd, return (seconds, returncode, stderr); see timed_all."""
    dt, [(rc, err)] = timed_all([cmd], stdout=stdout)
    return dt, rc, err


# --------------------------------------------------------------------------
# results


def median(d, k):
    return statistics.median(d[k]) if d.get(k) else None


def ratio(a, b):
    return a / b if a is not None and b is not None else None


def log_throughput(what, mbps, rss_med):
    """The medians of a sequential read or write: curl first, then each
    mount with its daemon's peak RSS."""
    log("")
    log(f"sequential {what}, median of {RUNS}:")
    for k in ("curl-single", "curl-4") + MOUNT_TOOLS:
        if k in mbps:
            extra = f"   peak RSS {rss_med[k]:6.1f} MiB" if k in rss_med else ""
            log(f"  {k:12} {mbps[k]:7.0f} MB/s{extra}")


class Attempts:
    """Runs one measurement; a BenchError is logged as "LABEL: WORD: why",
    kept for the final report, and the label is skipped from then on (its
    later runs would fail alike)."""

    def __init__(self, word):
        self.word = word
        self.failed = set()
        self.errors = []

    def __call__(self, label, fn):
        if label in self.failed:
            return None
        try:
            return fn()
        except BenchError as e:
            self.failed.add(label)
            msg = str(e).rstrip()  # a daemon log may be empty
            self.errors.append(f"{label}: {msg}")
            log(f"    {label}: {self.word}: {msg}")
            return None

    def report(self):
        """Lists what broke; returns the exit status (0 or 1)."""
        if not self.errors:
            return 0
        log("")
        log(f"{len(self.errors)} thing(s) broke (logs in {_tmp} are removed at exit):")
        for e in self.errors:
            log("  " + e.splitlines()[0])
        return 1


class Summary:
    """The final table: metric, figure, ratio, target, status."""

    def __init__(self):
        self.rows = []

    def ratio_row(self, metric, figure, r, target, op=None, goal=None):
        """r: a ratio or None; op: ">=", ">", "<=" or None (no target)."""
        if r is None:
            ok = "n/a"
        elif op is None:
            ok = "info"
        else:
            met = {">=": r >= goal, ">": r > goal, "<=": r <= goal}[op]
            ok = "met" if met else "MISSED"
        self.rows.append((metric, figure, "-" if r is None else f"{r:.2f}x", target, ok))

    def row(self, metric, figure, ratio_text, target, status):
        self.rows.append((metric, figure, ratio_text, target, status))

    def limit_row(self, metric, value, unit, limit):
        """A figure that must stay <= limit (no ratio)."""
        if value is None:
            self.row(metric, "n/a", "-", f"<= {limit} {unit}", "n/a")
        else:
            self.row(metric, f"{value:.1f} {unit}", "-", f"<= {limit} {unit}",
                     "met" if value <= limit else "MISSED")

    def print(self, runs):
        log("")
        log(f"summary (medians of {runs} run{'s' if runs > 1 else ''}; ratio = first / second)")
        hdr = ("metric", "figure", "ratio", "target", "status")
        w = [max(len(str(x[i])) for x in self.rows + [hdr]) for i in range(5)]
        for x in [hdr] + self.rows:
            log("  " + "  ".join(str(c).ljust(w[i]) for i, c in enumerate(x)).rstrip())
