"""Fixtures for odofs's integration tests.

Real parts only: one local S3 server per test session -- by default the mock
@20minutes/s3rver (which checks SigV4 signatures) on a random loopback port,
or a Ceph RADOS Gateway -- the `aws` CLI and boto3 as independent clients,
and the built `odofs` binary mounted with FUSE.

Environment:
  ODOFS_BIN    the daemon to test (default: build/odofs under the repository)
  ODOFS_NODE   node to run the server with (default: node from PATH)
  ODOFS_TEST_S3  s3rver (default) or rgw: the session's S3 server. With rgw,
               ODOFS_TEST_RGW_ENDPOINT, ODOFS_TEST_RGW_KEY and
               ODOFS_TEST_RGW_SECRET name a running gateway to share (a
               bucket per test); without them the session starts one with
               tests/rgw/rgw.sh (root; about 20 s) and stops it at the end.
               Tests marked `mock_only` (access log, fault hooks, a stopped
               server) skip on RGW.

Every mount gets its own directory, a guaranteed unmount, a watchdog that
kills a hung daemon (so a stuck FUSE request cannot hang the run), and a scan
of the daemon's stderr: an `error:` line the test did not expect, or any
sanitizer report, fails the test.
"""

import contextlib
import concurrent.futures
import hashlib
import http.client
import itertools
import os
import re
import secrets
import shutil
import signal
import string
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

# PostgreSQL and the Redshift emulator: fixtures pg, redshift, pg_schema.
from pgserver import *  # noqa: E402,F401,F403
from pgserver import stop_process, wait_listening  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SERVER_JS = REPO / "tests" / "s3rver" / "server.js"
RGW_SH = REPO / "tests" / "rgw" / "rgw.sh"
# Which S3 server the session fixture `s3` gives: "s3rver" (the mock) or "rgw".
S3_KIND = os.environ.get("ODOFS_TEST_S3") or "s3rver"
if S3_KIND not in ("s3rver", "rgw"):
    raise SystemExit(f"ODOFS_TEST_S3={S3_KIND!r}: expected s3rver or rgw")
ODOFS_BIN = Path(os.environ.get("ODOFS_BIN") or REPO / "build" / "odofs").resolve()
NODE = os.environ.get("ODOFS_NODE") or shutil.which("node") or "node"
# Debian's awscli; a `aws` earlier on PATH (pyenv, pip) may be a different
# major version with different output.
AWS = "/usr/bin/aws" if os.path.exists("/usr/bin/aws") else (shutil.which("aws") or "aws")

MiB = 1024 * 1024
# The mount must appear, and the daemon exit after an unmount, within this: a
# bound on a hang (a daemon that never mounts or never exits), not on speed;
# a loaded machine running ASan builds side by side needs well over 10 s.
MOUNT_TIMEOUT_S = 30
WATCHDOG_S = 300  # a single mount living longer than this is a hung test
SANITIZER_RE = re.compile(r"runtime error:|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|ThreadSanitizer")
# "odofs: error: ..." (not libfuse's -d trace lines, "unique: 6, error: -2 ...")
ERROR_LINE_RE = re.compile(r"(?:^|: )error:")


# --------------------------------------------------------------------------
# markers


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "serial: changes what the whole machine shares (lo's qdisc); runs in a pass "
        "of its own (-m serial, without -n), never beside other tests")
    config.addinivalue_line(
        "markers",
        "mock_only(reason): needs the s3rver mock (its access log, pausing or killing it, its "
        "quirks); skipped when ODOFS_TEST_S3=rgw")
    config.addinivalue_line(
        "markers",
        "heavy(reason): spends its time moving much data, making many keys or waiting out a "
        "long bound, through code that lighter tests also run; the sanitizer passes of "
        "tests/check.sh leave it out (-m 'not heavy'), the release build runs it")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    marker = item.get_closest_marker("mock_only")
    if marker and S3_KIND != "s3rver":
        reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "needs the s3rver mock")
        pytest.skip(f"mock_only: {reason}")


# --------------------------------------------------------------------------
# helpers


def run(cmd, *, timeout=60, check=True, env=None, input=None, cwd=None):
    """Run a command with a timeout; return CompletedProcess (text, captured)."""
    cp = subprocess.run(
        [str(c) for c in cmd],
        env=env,
        input=input,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and cp.returncode != 0:
        raise AssertionError(
            f"command failed ({cp.returncode}): {' '.join(map(str, cmd))}\n"
            f"stdout:\n{cp.stdout[-4000:]}\nstderr:\n{cp.stderr[-4000:]}"
        )
    return cp


def clean_env(home):
    """The process environment minus anything that could leak real credentials
    or configuration in: every AWS_* and BOTO_* variable goes, HOME is a temp
    folder, instance metadata is off."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("AWS_") or k.startswith("BOTO") or k in ("HOME", "XDG_CONFIG_HOME"))
    }
    env["HOME"] = str(home)
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["TZ"] = "UTC"
    env["LC_ALL"] = "C.UTF-8"
    return env


def sha256_file(path, offset=0, length=None, bufsize=4 * MiB):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(offset)
        left = length
        while left is None or left > 0:
            b = f.read(bufsize if left is None else min(bufsize, left))
            if not b:
                break
            h.update(b)
            if left is not None:
                left -= len(b)
    return h.hexdigest()


def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def write_random_file(path, size, block=None):
    """A local file of `size` random bytes. With `block`, one random block of
    that many bytes repeated (fast for GiBs; pick a size that is not a
    multiple of any part size, so misplaced parts still show)."""
    rep = os.urandom(block) if block else None
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, block or 8 * MiB)
            f.write(rep[:n] if rep else os.urandom(n))
            left -= n
    return Path(path)


def wait_for(predicate, timeout, what, interval=0.2):
    """Poll until predicate() is true; fail the test after `timeout` s with
    `what`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"after {timeout} s: {what}")
        time.sleep(interval)


# For commands whose error messages a test reads.
C_LOCALE_ENV = {**os.environ, "LC_ALL": "C"}


def random_name(prefix, n=10):
    alphabet = string.ascii_lowercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))


def mountinfo_points():
    """Mount points in this namespace, octal escapes (\\040 etc.) decoded."""
    points = set()
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            fields = line.split(b" ")
            if len(fields) > 4:
                raw = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), fields[4])
                points.add(os.fsdecode(raw))
    return points


def is_mounted(path):
    return os.path.realpath(path) in mountinfo_points()


@contextlib.contextmanager
def small_tmpfs_at(path, size):
    """A tmpfs of `size` (mount's notation, "2m") mounted on the new folder
    path, for full-disk tests; skips the test where tmpfs cannot mount."""
    path.mkdir()
    cp = run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path], check=False)
    if cp.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {cp.stderr.strip()}")
    try:
        yield path
    finally:
        run(["umount", path], check=False, timeout=10)
        if is_mounted(path):
            run(["umount", "-l", path], check=False, timeout=10)


def unmount(path, timeout=10):
    """fusermount3 -u, then a lazy umount if the mount is busy."""
    if not is_mounted(path):
        return
    cp = run(["fusermount3", "-u", path], timeout=timeout, check=False)
    if cp.returncode != 0 and is_mounted(path):
        run(["umount", "-l", path], timeout=timeout, check=False)


# --------------------------------------------------------------------------
# the S3 server


class S3Base:
    """What the tests use of any S3 server: endpoint, key_id, secret, env(),
    aws(), a boto3 client, and helpers to make buckets and put, get and list
    objects (with boto3 or awscli, clients independent of odofs)."""

    kind = None  # "s3rver" or "rgw"
    logs_requests = False  # has an access log: log_mark(), requests_since() ...

    def env(self, home=None, creds=True):
        """Environment for aws/odofs: clean, with this server's key pair."""
        env = clean_env(home or self.home)
        env["AWS_DEFAULT_REGION"] = "us-east-1"
        env["AWS_ENDPOINT_URL"] = self.endpoint
        if creds:
            env["AWS_ACCESS_KEY_ID"] = self.key_id
            env["AWS_SECRET_ACCESS_KEY"] = self.secret
        return env

    def aws(self, *args, timeout=120, check=True, env=None):
        # Debian 12's awscli (2.9) predates AWS_ENDPOINT_URL: pass it explicitly.
        return run([AWS, "--endpoint-url", self.endpoint, *args], timeout=timeout, check=check,
                   env=env or self.env())

    @property
    def client(self):
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.session.Session(
                aws_access_key_id=self.key_id,
                aws_secret_access_key=self.secret,
                region_name="us-east-1",
            ).client(
                "s3",
                endpoint_url=self.endpoint,
                config=Config(
                    s3={"addressing_style": "path"},
                    max_pool_connections=64,
                    retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=10,
                    read_timeout=120,
                ),
            )
        return self._client

    def make_bucket(self, name=None):
        """A new bucket; a name of 3-63 characters (RGW, like AWS, refuses
        shorter ones: InvalidBucketName; s3rver does not check)."""
        name = name or random_name("t-")
        assert 3 <= len(name) <= 63, f"bucket name {name!r}: S3 wants 3-63 characters"
        self.client.create_bucket(Bucket=name)
        return name

    def put(self, bucket, key, data):
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def head(self, bucket, key):
        """head_object's answer, or None if the key does not exist (404)."""
        import botocore.exceptions

        try:
            return self.client.head_object(Bucket=bucket, Key=key)
        except botocore.exceptions.ClientError as e:
            if e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise

    def get(self, bucket, key):
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def sha256(self, bucket, key, bufsize=4 * MiB):
        """(size, sha256 hex) of an object, streamed: never the whole body in
        memory."""
        h = hashlib.sha256()
        size = 0
        body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        for chunk in iter(lambda: body.read(bufsize), b""):
            h.update(chunk)
            size += len(chunk)
        return size, h.hexdigest()

    def list_objects(self, bucket, prefix=""):
        """{key: (size, mtime_seconds, etag)} from ListObjectsV2, all pages."""
        out = {}
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for o in page.get("Contents", []):
                out[o["Key"]] = (o["Size"], int(o["LastModified"].timestamp()), o["ETag"])
        return out

    def parts_in_progress(self, bucket, key):
        """Part numbers stored so far of the multipart uploads of `key` still
        in progress (ListMultipartUploads, ListParts): what any S3 server can
        tell while a file is being written."""
        parts = set()
        for up in self.client.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", []):
            if up["Key"] == key:
                listed = self.client.list_parts(Bucket=bucket, Key=key, UploadId=up["UploadId"])
                parts |= {p["PartNumber"] for p in listed.get("Parts", [])}
        return parts

    def put_many(self, bucket, items, workers=16):
        """items: iterable of (key, bytes); signed boto3 PUTs from a thread
        pool."""
        client = self.client

        def put(item):
            key, data = item
            client.put_object(Bucket=bucket, Key=key, Body=data)

        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(put, items):
                pass


class S3Server(S3Base):
    """One @20minutes/s3rver process on 127.0.0.1 with its own data folder and
    a distinct random key pair (its built-in S3RVER/S3RVER pair has equal key
    id and secret, which would hide a client mixing them up)."""

    kind = "s3rver"
    logs_requests = True

    def __init__(self, workdir, allow_mismatched=False):
        self.workdir = Path(workdir)
        self.datadir = self.workdir / "data"
        self.home = self.workdir / "home"
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        self.key_id = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16))
        self.secret = secrets.token_urlsafe(30)
        assert self.key_id != self.secret
        self.allow_mismatched = allow_mismatched
        self.proc = None
        self.port = None
        self._client = None

    def start(self, timeout=30, port=0):
        """Start the server on `port` (0: one the kernel picks); a restart
        passes the port it had."""
        if not SERVER_JS.exists():
            pytest.fail(f"{SERVER_JS} missing")
        if not (SERVER_JS.parent / "node_modules" / "@20minutes" / "s3rver").is_dir():
            pytest.fail("tests/s3rver/node_modules is missing: run tests/setup.sh (npm install --prefix tests/s3rver)")
        self.access_log = self.workdir / "access.log"
        cmd = [NODE, str(SERVER_JS), "--port", str(port), "--dir", str(self.datadir),
               "--key-id", self.key_id, "--secret", self.secret, "--access-log", str(self.access_log)]
        if self.allow_mismatched:
            cmd.append("--allow-mismatched")
        self.stderr_path = self.workdir / "server.stderr"
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL)
        self.port = wait_listening(self.proc, timeout)
        if self.port is None:
            self.stop()
            pytest.fail(f"s3rver did not start: {self.stderr_path.read_text(errors='replace')[-2000:]}")
        return self

    def stop(self):
        if self.proc is None:
            return
        stop_process(self.proc)
        self._stderr.close()
        self.proc = None

    def log_mark(self):
        """A position in the access log, for requests_since(): just after a
        marker request's line, so a request answered before the call but
        logged after it (see requests_since) is not counted as later."""
        try:
            start = self.access_log.stat().st_size  # the marker's line is after this
        except FileNotFoundError:
            start = 0
        return self._log_through_marker(start)[1]

    def _log_through_marker(self, start):
        """Send a marker request (a HEAD of a bucket that does not exist,
        unsigned) and wait until its line is in the access log: the whole
        lines logged from offset start, and the offset just past the
        marker's line."""
        marker = "/" + random_name("log-marker-")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("HEAD", marker)
            conn.getresponse().read()
        finally:
            conn.close()
        found = []

        def marker_logged():
            try:
                with open(self.access_log, "rb") as f:
                    f.seek(start)
                    text = f.read().decode(errors="surrogateescape")
            except FileNotFoundError:
                return False
            lines = text.split("\n")[:-1]  # whole lines only
            end = start
            for line in lines:
                end += len(line.encode(errors="surrogateescape")) + 1
                if line.split(" ")[1] == marker:
                    found[:] = [lines, end]
                    return True
            return False

        wait_for(marker_logged, 60, "the S3 server did not log a request it answered", interval=0.01)
        return found[0], found[1]

    def requests_since(self, mark=0):
        """Requests answered since `mark`: [(method, path, {query}, status, range)],
        path and query decoded.

        The server logs a response once it is sent, so a client may see the
        answer before the log line is written: a marker request goes out
        after every request the caller has had answered, and the log is read
        once the marker is in it. (Node writes a response's line when its
        last write completes, in the loop turn before it reads a request
        sent after that.)"""
        lines, _ = self._log_through_marker(mark)
        out = []
        for line in lines:
            method, url, status, rng = line.split(" ")
            if url.startswith("/log-marker-"):
                continue
            parsed = urllib.parse.urlsplit(url)
            query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
            out.append((method, urllib.parse.unquote(parsed.path), query, int(status),
                        None if rng == "-" else rng))
        return out

    def key_requests(self, bucket, key, mark=0):
        """[(method, query)] of the successful (2xx) requests on one key
        answered since mark."""
        path = f"/{bucket}/{key}"
        return [(method, query) for method, p, query, status, _rng in self.requests_since(mark)
                if p == path and 200 <= status < 300]

    def uploaded_parts(self, bucket, key, mark=0):
        """Part numbers UploadPart'ed for `key` since mark."""
        return {int(q["partNumber"]) for method, q in self.key_requests(bucket, key, mark)
                if method == "PUT" and "uploadId" in q and "partNumber" in q}

    def kill(self):
        """SIGKILL, as a crash would: no connection is closed cleanly. start()
        with the old port brings the server back on the same data folder."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.stop()

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def put_many(self, bucket, items, workers=16):
        """items: iterable of (key, bytes); uploaded concurrently as unsigned
        PUTs over keep-alive connections. s3rver is single-threaded and spends
        ~4 ms of CPU on a signed boto3 PUT (10,000 keys: ~50 s) but ~2.5 ms on
        an unsigned one, and Python's signing competes for the same 2 cores;
        the server accepts unsigned requests as for a public bucket (RGW
        does not: S3Base.put_many signs them)."""
        local = threading.local()

        def put(item):
            key, data = item
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            path = "/" + bucket + "/" + urllib.parse.quote(key, safe="/~")
            conn.request("PUT", path, body=data, headers={"Content-Length": str(len(data))})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise AssertionError(f"PUT {path}: {resp.status} {body[:300]!r}")

        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(put, items):
                pass


class RGWServer(S3Base):
    """A Ceph RADOS Gateway: a real S3 server. Either one already running
    (endpoint, key and secret given; CI starts one per run and several pytest
    workers share it, a bucket per test), or one this session starts with
    tests/rgw/rgw.sh in `workdir` and stops at the end.

    What only the mock can do (its access log, stopping it) skips the test;
    tests that need it carry the `mock_only` marker, which skips them before
    they start."""

    kind = "rgw"

    def __init__(self, workdir, endpoint=None, key_id=None, secret=None):
        self.workdir = Path(workdir)
        self.home = self.workdir / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.datadir = self.workdir / "rgw"
        self.started = False
        self._client = None
        if endpoint:
            self.endpoint, self.key_id, self.secret = endpoint.rstrip("/"), key_id, secret
        else:
            self.endpoint = None
            self.key_id = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16))
            self.secret = secrets.token_urlsafe(30)
        assert self.key_id and self.secret and self.key_id != self.secret
        self.port = urllib.parse.urlsplit(self.endpoint).port if self.endpoint else None

    def start(self, timeout=300):
        """Start a gateway of our own (no-op for one given by endpoint)."""
        if self.endpoint:
            return self
        env = {**os.environ, "RGW_ACCESS_KEY": self.key_id, "RGW_SECRET_KEY": self.secret,
               "RGW_TIMEOUT": str(timeout - 20)}
        self.started = True
        cp = run(["bash", RGW_SH, "start", self.datadir], env=env, timeout=timeout, check=False)
        m = re.search(r"^endpoint (\S+)$", cp.stdout, re.M)
        if cp.returncode != 0 or not m:
            self.stop()
            pytest.fail(f"tests/rgw/rgw.sh start failed ({cp.returncode}):\n{cp.stderr[-3000:]}")
        self.endpoint = m.group(1)
        self.port = urllib.parse.urlsplit(self.endpoint).port
        return self

    def stop(self):
        if self.started:
            run(["bash", RGW_SH, "stop", self.datadir], timeout=120, check=False)
            self.started = False

    def _mock_only(self, what):
        pytest.skip(f"needs s3rver ({what}); RGW has no such hook: mark the test mock_only")

    def log_mark(self):
        """No access log: a mark that only says so (logs_requests is False);
        reading requests since it skips the test."""
        return None

    def requests_since(self, mark=0):
        self._mock_only("its access log")

    def key_requests(self, bucket, key, mark=0):
        self._mock_only("its access log")

    def uploaded_parts(self, bucket, key, mark=0):
        self._mock_only("its access log")

    def kill(self):
        self._mock_only("a server the test may kill")

    def pause(self):
        self._mock_only("a server the test may stop")

    def resume(self):
        self._mock_only("a server the test may stop")


def rgw_from_env(workdir):
    """An RGWServer per the environment: the one running at
    ODOFS_TEST_RGW_ENDPOINT (with ODOFS_TEST_RGW_KEY, ODOFS_TEST_RGW_SECRET),
    else one of our own, not started yet."""
    endpoint = os.environ.get("ODOFS_TEST_RGW_ENDPOINT")
    if endpoint:
        key, secret = os.environ.get("ODOFS_TEST_RGW_KEY"), os.environ.get("ODOFS_TEST_RGW_SECRET")
        if not key or not secret:
            pytest.fail("ODOFS_TEST_RGW_ENDPOINT needs ODOFS_TEST_RGW_KEY and ODOFS_TEST_RGW_SECRET")
        return RGWServer(workdir, endpoint, key, secret)
    return RGWServer(workdir)


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    """The session's S3 server: an s3rver (S3Server) unless ODOFS_TEST_S3=rgw,
    then a Ceph RADOS Gateway (RGWServer)."""
    if S3_KIND == "rgw":
        server = rgw_from_env(tmp_path_factory.mktemp("rgw")).start()
        yield server
        server.stop()
        return
    server = S3Server(tmp_path_factory.mktemp("s3rver")).start()
    yield server
    server.stop()
    # pytest keeps the last runs' temp folders; not their hundreds of MiB.
    shutil.rmtree(server.datadir, ignore_errors=True)


@pytest.fixture
def private_s3(tmp_path_factory):
    """A server of the test's own, for tests that stop or break it: always an
    s3rver (such tests are mock_only)."""
    if S3_KIND == "rgw":
        pytest.skip("needs a server of its own to stop or kill: s3rver only (mock_only)")
    server = S3Server(tmp_path_factory.mktemp("s3rver-private")).start()
    yield server
    server.stop()
    shutil.rmtree(server.datadir, ignore_errors=True)


@pytest.fixture
def bucket(s3):
    """A fresh, empty bucket on the session server."""
    return s3.make_bucket()


# --------------------------------------------------------------------------
# data sets shared by the session


class DataSet:
    """Objects put in a bucket, with their bytes kept locally to compare."""

    def __init__(self, bucket, files, local_dir):
        self.bucket = bucket
        self.files = files  # key -> Path of a local copy
        self.local_dir = local_dir


@pytest.fixture(scope="session")
def big_object(s3, tmp_path_factory):
    """One 200+ MiB object of random data, put with `aws s3 cp` (multipart),
    and its local copy. Returns (bucket, key, local_path)."""
    d = tmp_path_factory.mktemp("big")
    path = d / "big.bin"
    size = 200 * MiB + 123457  # not a multiple of any part or block size
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 * MiB)
            f.write(os.urandom(n))
            left -= n
    b = s3.make_bucket(random_name("big-"))
    s3.aws("s3", "cp", "--only-show-errors", str(path), f"s3://{b}/data/big.bin", timeout=300)
    yield b, "data/big.bin", path
    path.unlink()


# Odd characters that must survive the trip into a file name and back.
# `!` `'` `(` `)` `*` stay out of *folder* names: s3rver encodes query values
# with encodeURIComponent, which leaves these bare, so a correctly signed list
# with prefix=`d(x)/` is refused (SignatureDoesNotMatch; DESIGN.md). In file
# names they are fine: a file is listed by its parent's prefix, and never
# becomes a query value itself as long as its parent is listed before the
# file is opened -- which walking the tree does. (' & < > ` in keys work only
# because tests/s3rver/server.js fixes s3rver's double XML escaping.)
ODD_FILE_NAMES = [
    "with space.txt",
    "plus+sign.txt",
    "per%cent%20.txt",
    "hash#tag.txt",
    "question?.txt",
    'double"quote.txt',
    "single'quote.txt",
    "paren(1)!*.txt",
    "amp&lt<gt>back`tick.txt",
    "unicodé-ü-日本語-🎉.txt",
    "semi;colon=eq,comma@at$dollar.txt",
    "tilde~caret^[brackets]{braces}.txt",
    " leading space.txt",
    "trailing space .txt",
    "-dash-first.txt",
]
ODD_DIR_NAMES = [
    "dir with space",
    "dir+plus",
    "dir%pct",
    "dir#hash",
    "dir?q",
    'dir"dq',
    "dir&amp<lt>`",
    "dïr-ünicode-日本",
]


@pytest.fixture(scope="session")
def tree(s3, tmp_path_factory):
    """A bucket holding a prefix tree with odd names, random data of assorted
    sizes, and directory marker objects. Put with `aws s3 cp --recursive`
    from a local copy so the uploading client is the independent one."""
    local = tmp_path_factory.mktemp("tree") / "src"
    rnd = secrets.SystemRandom()
    sizes = [0, 1, 4095, 4096, 4097, 65536 + 3, MiB - 1, MiB + 17, 3 * MiB + 5]
    files = {}

    def add(key, size):
        p = local / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(size))
        files[key] = p

    for i, size in enumerate(sizes):
        add(f"top/sizes/s{i:02d}-{size}.bin", size)
    for i, name in enumerate(ODD_FILE_NAMES):
        add(f"top/odd/{name}", rnd.randint(0, 20000))
    for d in ODD_DIR_NAMES:
        add(f"top/odddirs/{d}/inner file.txt", rnd.randint(1, 5000))
        add(f"top/odddirs/{d}/deeper/x+y.bin", rnd.randint(1, 5000))
    for a, b, c in itertools.product("ab", "xy", "12"):
        add(f"top/deep/{a}/{b}/{c}/leaf-{a}{b}{c}.dat", rnd.randint(1, 100000))
    add("top/medium.bin", 24 * MiB + 333)
    add("rootfile.txt", 100)

    b = s3.make_bucket(random_name("tree-"))
    s3.aws("s3", "cp", "--recursive", "--only-show-errors", str(local), f"s3://{b}/", timeout=300)
    # Marker objects, as consoles and s3fs create them: "dir/" with no body.
    s3.put(b, "top/markers/", b"")
    s3.put(b, "top/markers/empty/", b"")
    s3.put(b, "top/markers/full/", b"")
    s3.put(b, "top/markers/full/f.txt", b"marker sibling\n")
    files["top/markers/full/f.txt"] = local / "marker-f.txt"
    files["top/markers/full/f.txt"].write_bytes(b"marker sibling\n")
    yield DataSet(b, files, local)
    shutil.rmtree(local, ignore_errors=True)


MANY_COUNT = 10000


def many_size(i):
    return (i * 7919) % 1000


@pytest.fixture(scope="session")
def many(s3):
    """A bucket with MANY_COUNT small objects under `many/` (and a few
    outside it), put concurrently (see put_many): one `aws s3 cp` per key
    would take many minutes. Returns (bucket, prefix)."""
    b = s3.make_bucket(random_name("many-"))
    blob = os.urandom(1000)
    items = [(f"many/f{i:05d}.bin", blob[: many_size(i)]) for i in range(MANY_COUNT)]
    items += [("outside.txt", b"x"), ("many-not/inside.txt", b"y")]
    s3.put_many(b, items)
    return b, "many/"


# --------------------------------------------------------------------------
# mounting odofs


class Mount:
    """A running odofs mount. Path-like: `mnt / "key"`, os.fspath(mnt)."""

    def __init__(self, path, proc, stderr_path, source, argv):
        self.path = Path(path)
        self.proc = proc
        self.stderr_path = stderr_path
        self.source = source
        self.argv = argv
        self.watchdog_fired = False
        self.expect_exit = False
        self.exited = False  # exited before mounting (allow_exit=True only)

    def __fspath__(self):
        return str(self.path)

    def __str__(self):
        return str(self.path)

    def __truediv__(self, other):
        return self.path / other

    def log(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def mounted(self):
        return is_mounted(self.path)


def odofs_argv(source, mnt, opts, args=()):
    argv = [str(ODOFS_BIN), source, str(mnt), "-f", *args]
    if opts:
        argv += ["-o", ",".join(opts)]
    return argv


def sanitized_build():
    """True if ODOFS_BIN links a sanitizer runtime (ASan, TSan, UBSan). Their
    shadow memory and ASan's quarantine make the daemon's RSS meaningless,
    and they cannot run under valgrind."""
    data = ODOFS_BIN.read_bytes()
    return any(s in data for s in (b"__asan_init", b"__tsan_init", b"__ubsan_handle"))


def require_odofs():
    if not ODOFS_BIN.exists():
        pytest.fail(f"odofs binary not found at {ODOFS_BIN} (build it, or set ODOFS_BIN)")
    if not os.path.exists("/dev/fuse"):
        pytest.skip("/dev/fuse is missing")
    if os.geteuid() != 0 and not shutil.which("fusermount3"):
        pytest.skip("FUSE mounts need root or fusermount3")


@pytest.fixture
def mount(s3, tmp_path, request):
    """Factory: mount(source, *opts, env=None, expect_errors=(), args=(),
    server=None, endpoint=True) -> Mount.

    Runs ODOFS_BIN SOURCE DIR -f -o OPTS in the background with stderr in a
    file and waits for DIR to appear in /proc/self/mountinfo. `endpoint=` of
    `server` (default: the session server) is added unless an opt already
    sets one or endpoint=False. `env` defaults to server.env() (credentials in
    the environment). expect_errors: regexes; an `error:` line in the
    daemon's stderr matching none of them fails the test, as does any
    sanitizer report whatever expect_errors says.
    allow_exit: the daemon may exit instead of mounting; the Mount returned
    then has .exited set (check m.proc.returncode and m.log()).
    mountpoint: mount there instead of a fresh folder in tmp_path.
    """
    require_odofs()
    mounts = []
    counter = itertools.count()

    def _mount(source, *opts, env=None, expect_errors=(), args=(), server=None, endpoint=True,
               watchdog_s=WATCHDOG_S, allow_exit=False, mountpoint=None):
        server = server or s3
        opts = list(opts)
        if endpoint and not any(o.startswith("endpoint=") for o in opts):
            opts.insert(0, f"endpoint={server.endpoint}")
        n = next(counter)
        mnt = Path(mountpoint) if mountpoint else tmp_path / f"mnt{n}"
        mnt.mkdir(exist_ok=True)
        stderr_path = tmp_path / f"odofs{n}.stderr"
        argv = odofs_argv(source, mnt, opts, args)
        with open(stderr_path, "wb") as errf:
            proc = subprocess.Popen(argv, env=env if env is not None else server.env(),
                                    stdin=subprocess.DEVNULL, stdout=errf, stderr=errf)
        m = Mount(mnt, proc, stderr_path, source, argv)
        m.expect_errors = [re.compile(r) for r in expect_errors]
        mounts.append(m)

        deadline = time.monotonic() + MOUNT_TIMEOUT_S
        while not m.mounted():
            if proc.poll() is not None:
                m.expect_exit = True
                if allow_exit:
                    m.exited = True
                    m.watchdog = None
                    return m
                pytest.fail(f"odofs exited with {proc.returncode} before mounting\n"
                            f"argv: {argv}\nstderr:\n{m.log()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"{mnt} not mounted after {MOUNT_TIMEOUT_S} s\nstderr:\n{m.log()[-4000:]}")
            time.sleep(0.02)

        # A FUSE request the daemon never answers blocks the calling thread in
        # the kernel (only SIGKILL gets it out), which would hang pytest itself
        # when the test reads the mount in-process. Killing the daemon aborts
        # the connection and every pending request fails with ENOTCONN.
        def fire():
            if proc.poll() is None:
                m.watchdog_fired = True
                proc.kill()

        m.watchdog = threading.Timer(watchdog_s, fire)
        m.watchdog.daemon = True
        m.watchdog.start()
        return m

    yield _mount

    problems = []
    for m in mounts:
        if getattr(m, "watchdog", None):
            m.watchdog.cancel()
        try:
            unmount(m.path)
        except subprocess.TimeoutExpired:
            problems.append(f"{m.path}: unmount timed out")
            run(["umount", "-l", m.path], timeout=10, check=False)
        try:
            m.proc.wait(timeout=MOUNT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            m.proc.kill()
            m.proc.wait(timeout=10)
            problems.append(f"odofs for {m.path} did not exit within {MOUNT_TIMEOUT_S} s of the unmount; killed")
        if is_mounted(m.path):
            run(["umount", "-l", m.path], timeout=10, check=False)
        log = m.log()
        if m.watchdog_fired:
            problems.append(f"odofs for {m.path} hung: killed by the {WATCHDOG_S} s watchdog")
        elif m.proc.returncode != 0 and not m.expect_exit:
            problems.append(f"odofs for {m.path} exited with {m.proc.returncode}")
        for line in log.splitlines():
            if SANITIZER_RE.search(line):
                problems.append(f"sanitizer report in odofs stderr: {line}")
            elif ERROR_LINE_RE.search(line) and not any(r.search(line) for r in m.expect_errors):
                problems.append(f"unexpected error in odofs stderr: {line}")
        if problems and log:
            problems.append(f"--- odofs stderr ({m.source}) ---\n{log[-6000:]}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def odofs_run(s3, tmp_path):
    """Run odofs to completion (for commands that must not mount): returns
    (CompletedProcess, seconds taken)."""
    if not ODOFS_BIN.exists():
        pytest.fail(f"odofs binary not found at {ODOFS_BIN}")

    def _run(*args, env=None, timeout=20):
        t0 = time.monotonic()
        try:
            cp = run([ODOFS_BIN, *args], env=env if env is not None else s3.env(tmp_path),
                     timeout=timeout, check=False)
        finally:
            # Whatever happened, leave nothing mounted below tmp_path.
            for p in mountinfo_points():
                if p.startswith(str(tmp_path.resolve())):
                    unmount(p)
        return cp, time.monotonic() - t0

    return _run


# --------------------------------------------------------------------------
# reading the mount the way users do


def ls_l(path, timeout=120):
    """`ls -l` of a folder as {name: size} plus the number of lines listed."""
    cp = run(["ls", "-l", "--time-style=+%s", "-A", path], timeout=timeout,
             env={**os.environ, "LC_ALL": "C.UTF-8", "TZ": "UTC"})
    out = {}
    for line in cp.stdout.splitlines():
        if line.startswith("total "):
            continue
        # mode links user group size mtime, then one space and the name as is
        # (ls does not quote names when writing to a pipe).
        m = re.match(r"(\S+)\s+\d+\s+\S+\s+\S+\s+(\d+)\s+\d+ (.*)$", line)
        assert m, f"cannot parse ls -l line: {line!r}"
        out[m.group(3)] = (m.group(1)[0], int(m.group(2)))
    return out


def walk_mount(root):
    """{relative path: (size, mtime)} for files and {relative dir} for folders."""
    files, dirs = {}, set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirnames:
            dirs.add(os.path.normpath(os.path.join(rel, d)))
        for f in filenames:
            st = os.stat(os.path.join(dirpath, f))
            files[os.path.normpath(os.path.join(rel, f))] = (st.st_size, int(st.st_mtime))
    return files, dirs


def expected_tree(objects, prefix=""):
    """What a mount of `prefix` should show for ListObjectsV2 `objects`
    ({key: (size, mtime, etag)}): files and folders relative to prefix;
    marker objects (`dir/`) are folders; a key that is also a folder is hidden
    (the folder wins)."""
    files, dirs = {}, set()
    for key, (size, mtime, _etag) in objects.items():
        if not key.startswith(prefix):
            continue
        rel = key[len(prefix):]
        if not rel:
            continue
        parts = rel.split("/")
        for i in range(1, len(parts)):
            dirs.add("/".join(parts[:i]))
        if rel.endswith("/"):
            continue
        files[rel] = (size, mtime)
    for d in dirs:
        files.pop(d, None)
    return files, dirs
