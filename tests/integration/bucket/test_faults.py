"""Faults between odofs and S3, caused for real: the project's fault proxy
(tests/faultproxy) answers 500, 503 SlowDown or 429, resets or stalls a
body, truncates a listing, lies about Content-Length, delays or drops
requests; the S3 server is stopped and continued (kill -STOP/-CONT); the
spool folder is a full tmpfs.

For each, with reads, writes and listings in flight: nothing hangs (every
command returns within the bound `timeout=` promises, unmounting works, no
process is left in D state), the daemon survives and works again without a
remount, and nothing is lost or corrupted (a write is whole, with the right
sha256 read back with boto3, or close() fails and nothing partial is
visible and no multipart upload is left).  Transient faults are invisible;
retries are bounded by `retries=` and `timeout=`, spaced by the back-off
odofs documents (growing, jittered, longer after SlowDown/503/429).

`tc netem` needs the kernel's sch_netem, which test machines may lack: the
proxy's delay and drop rules stand in for netem delay and loss, and the
netem test skips when the qdisc cannot be added.
"""

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import (C_LOCALE_ENV, MiB, S3Server, is_mounted, run, sha256_file, small_tmpfs_at, wait_for,
                      write_random_file)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "faultproxy"))
from faultproxy import FaultProxy, Rule  # noqa: E402

# -o timeout=: one request, retries included. Also the bound of every
# healthy request, a 16 MiB part through the Python proxy among them, which
# on a loaded machine (load 14 on 2 cores, ASan) takes well over 6 s.
TIMEOUT_S = 15
# Beyond the bound: kernel, process start, a second request, all on a loaded
# 2-core machine (ASan, builds beside the run). Each bound guards against a
# hang (an operation that never returns, or waits out every retry), which
# the bound plus SLACK_S is still far below.
SLACK_S = 20
RETRIES = 2
WRITE_SIZE = 40 * MiB + 12345  # three parts of 16 MiB: create, 3 UploadParts, complete
READ_SIZE = 3 * MiB + 7
LIST_N = 40

# s3.c's back-off before retry n (from 0): a uniform time in [cap/2, cap],
# cap = 100 ms * 2^n, or 500 ms * 2^n after SlowDown, 503 or 429; 10 s at most.
BASE_MS, SLOWDOWN_MS = 100, 500
# What scheduling, curl and the proxy may add to a measured gap on a loaded
# 2-core machine (ASan). A gap is never shorter than the back-off slept, so
# lower bounds are exact; only upper bounds and comparisons between two
# measured gaps need this.
TOL_S = 1.0


def backoff_range_s(n, slow):
    cap = min((SLOWDOWN_MS if slow else BASE_MS) << n, 10000) / 1000
    return cap / 2, cap


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def srv(s3, tmp_path_factory):
    """A server of this module's own: the tests stop and continue it. On RGW
    (ODOFS_TEST_S3=rgw) the session's gateway behind the proxy: the tests
    that stop the server are mock_only."""
    if s3.kind == "rgw":
        yield s3
        return
    server = S3Server(tmp_path_factory.mktemp("s3rver-faults")).start()
    yield server
    server.stop()


@pytest.fixture
def proxy(srv):
    p = FaultProxy(srv.port, seed=20240605).start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def data(srv, tmp_path_factory):
    """A bucket with an object to read, a folder to list, and a local file to
    write (kept locally to compare)."""
    d = tmp_path_factory.mktemp("faults-data")
    b = srv.make_bucket()
    read_local = write_random_file(d / "read.bin", READ_SIZE)
    srv.put(b, "r/read.bin", read_local.read_bytes())
    srv.put(b, "r/small.bin", b"s" * 100_000)
    srv.put_many(b, [(f"lst/f{i:03d}.txt", f"{i}\n".encode()) for i in range(LIST_N)])
    write_local = write_random_file(d / "write.bin", WRITE_SIZE)
    return {"bucket": b, "read_local": read_local, "write_local": write_local,
            "write_sha": sha256_file(write_local), "list": sorted(f"f{i:03d}.txt" for i in range(LIST_N))}


def mount_via(mount, srv, proxy, bucket, *opts, errors=()):
    o = [f"timeout={TIMEOUT_S}", f"retries={RETRIES}", "connect_timeout=2", "cache_ttl=0", *opts]
    if os.environ.get("FAULTS_DEBUG"):
        o.append("log_level=debug")
    if proxy is not None:
        o.insert(0, f"endpoint={proxy.endpoint}")
    return mount(f"s3://{bucket}", *o, server=srv, expect_errors=errors)


# --------------------------------------------------------------------------
# helpers


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def start(*cmd):
    return subprocess.Popen([str(c) for c in cmd], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=C_LOCALE_ENV)


def finish(p, bound_s, what):
    """Wait for a command within bound_s: (returncode, stdout, stderr).  A
    command still running is a hang: report its state (D: stuck in the
    kernel) and kill it."""
    try:
        out, err = p.communicate(timeout=bound_s)
    except subprocess.TimeoutExpired:
        state = proc_state(p.pid)
        p.kill()
        p.communicate()
        pytest.fail(f"{what} still running after {bound_s:.0f} s (state {state})")
    assert proc_state(p.pid) is None
    return p.returncode, out, err.decode(errors="replace")


def timed(bound_s, *cmd):
    t0 = time.monotonic()
    rc, out, err = finish(start(*cmd), bound_s, " ".join(map(str, cmd)))
    return rc, out, err, time.monotonic() - t0


def assert_alive(m):
    assert m.proc.poll() is None, f"odofs exited ({m.proc.returncode}):\n{m.log()[-3000:]}"


def sha256_of(srv, bucket, key):
    if srv.head(bucket, key) is None:
        return None
    return srv.sha256(bucket, key)[1]


def no_uploads_left(srv, bucket, key):
    wait_for(lambda: not srv.client.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads"), 30,
             f"a multipart upload of {key} was left behind", interval=0.5)


class Ops:
    """The three operations, on one mount: read, list, write (cp of a
    multi-part file); each checked against the source."""

    def __init__(self, srv, m, data, tmp_path):
        self.srv, self.m, self.data, self.tmp = srv, m, data, tmp_path
        self.b = data["bucket"]

    def read(self, bound_s=TIMEOUT_S + SLACK_S):
        out = self.tmp / "read.out"
        rc, _, err, _ = timed(bound_s, "cp", self.m / "r" / "read.bin", out)
        assert rc == 0, f"read failed: {err}"
        assert sha256_file(out) == sha256_file(self.data["read_local"]), "read returned wrong bytes"
        out.unlink()

    def list(self, bound_s=TIMEOUT_S + SLACK_S):
        rc, out, err, _ = timed(bound_s, "ls", self.m / "lst")
        assert rc == 0, f"ls failed: {err}"
        assert out.decode().split() == self.data["list"], "ls showed a wrong listing"

    def write(self, key, bound_s=3 * TIMEOUT_S + SLACK_S):
        rc, _, err, _ = timed(bound_s, "cp", self.data["write_local"], self.m / key)
        assert rc == 0, f"write failed: {err}"
        assert sha256_of(self.srv, self.b, key) == self.data["write_sha"], "the object is not what was written"
        no_uploads_left(self.srv, self.b, key)


def attempts(proxy, mark, method, *subs):
    return [s for s in proxy.seen(mark) if s.method == method and all(x in s.target for x in subs)]


def gaps(seen):
    """Seconds between the end of one attempt and the start of the next."""
    return [b.t - a.t_end for a, b in zip(seen, seen[1:])]


# --------------------------------------------------------------------------
# the proxy itself


def test_proxy_forwards_unchanged(srv, proxy, data, mount):
    # Signed requests pass the proxy untouched (s3rver checks the signature
    # over the Host odofs sent), over kept-alive connections.
    m = mount_via(mount, srv, proxy, data["bucket"])
    mark = proxy.mark()
    ops = Ops(srv, m, data, m.path.parent)
    ops.list()
    ops.read()
    ops.write("w-plain.bin")
    seen = proxy.seen(mark)
    assert all(s.fault is None and (s.status < 300 or s.method == "HEAD" and s.status == 404) for s in seen), \
        [(s.method, s.target, s.status) for s in seen]
    assert len({s.conn for s in seen}) < len(seen), "no connection was kept alive"


# --------------------------------------------------------------------------
# transient faults: one of each, on a read, a listing and a write


TRANSIENT = {
    "500": dict(action="status", status=500),
    "503-SlowDown": dict(action="status", status=503),
    "429": dict(action="status", status=429),
    "reset-mid-body": dict(action="reset"),
    "stalled-body": dict(action="stall"),
    "wrong-content-length": dict(action="short"),
}


@pytest.mark.parametrize("fault", TRANSIENT, ids=list(TRANSIENT))
def test_transient_fault_is_invisible(srv, proxy, data, mount, fault):
    b = data["bucket"]
    m = mount_via(mount, srv, proxy, b)  # no error line expected: retries log at info
    ops = Ops(srv, m, data, m.path.parent)
    spec = TRANSIENT[fault]

    rule = proxy.add(Rule(method="GET", match=f"/{b}/r/read.bin", count=1, **spec))
    t0 = time.monotonic()
    ops.read()
    assert rule.hits == 1, "the read's GET never met the fault"

    rule = proxy.add(Rule(method="GET", match=["list-type=2", "prefix=lst%2F"], count=1, **spec))
    ops.list()
    assert rule.hits == 1

    key = f"w-{fault}.bin"
    mark = proxy.mark()
    rule = proxy.add(Rule(method="PUT", match=["partNumber=2&"], count=1, **spec))
    ops.write(key)
    assert rule.hits == 1
    assert len(attempts(proxy, mark, "PUT", "partNumber=2&")) == 2, "part 2 was not retried exactly once"
    # Three operations, each within its own bound (Ops): together less than
    # the three bounds, so no fault was waited out more than once per
    # operation. (A hang is cut by each operation's bound first.)
    assert time.monotonic() - t0 < 3 * TIMEOUT_S + 3 * SLACK_S
    assert_alive(m)


def test_lost_answer_to_complete(srv, proxy, data, mount):
    # The server completed the upload, the answer is lost (reset before the
    # head): the retry finds NoSuchUpload, odofs checks the object, the
    # write succeeds.
    b = data["bucket"]
    m = mount_via(mount, srv, proxy, b)
    proxy.add(Rule("reset", method="POST", match="uploadId=", count=1, keep=0))
    Ops(srv, m, data, m.path.parent).write("w-lost-complete.bin")


def test_lost_answer_to_create(srv, proxy, data, mount):
    # The server created the upload, the answer is lost: the retry creates
    # a second one; the first must not be left behind.
    b = data["bucket"]
    m = mount_via(mount, srv, proxy, b)
    proxy.add(Rule("reset", method="POST", match="uploads", count=1, keep=0))
    rc, _, err, _ = timed(3 * TIMEOUT_S + SLACK_S, "cp", data["write_local"], m / "w-lost-create.bin")
    assert rc == 0, err
    assert sha256_of(srv, b, "w-lost-create.bin") == data["write_sha"]
    # The orphan is aborted once odofs learns of it, maybe after close()
    # returned: wait for that (a hang here is an orphan left for good).
    try:
        no_uploads_left(srv, b, "w-lost-create.bin")
    finally:
        left = srv.client.list_multipart_uploads(Bucket=b, Prefix="w-lost-create.bin").get("Uploads")
        for u in left or ():  # the bucket is shared with the module's other tests
            srv.client.abort_multipart_upload(Bucket=b, Key=u["Key"], UploadId=u["UploadId"])


# --------------------------------------------------------------------------
# retries: bounded, backed off with jitter, longer after SlowDown


def failing_reads(srv, proxy, data, mount, status, n_files, retries):
    """Read n_files objects concurrently while every GET of them answers
    `status`: each cat fails with EIO within the bound.  Returns the
    attempts per file."""
    b = data["bucket"]
    keys = [f"fail{status}/{i}.bin" for i in range(n_files)]
    for k in keys:
        srv.put(b, k, b"x" * 1000)
    m = mount_via(mount, srv, proxy, b, f"retries={retries}", "timeout=20", errors=(r".",))
    for k in keys:
        os.stat(m / k)  # lookups first: only the GETs fail
    mark = proxy.mark()
    proxy.add(Rule("status", method="GET", match=f"/{b}/fail{status}/", status=status))
    t0 = time.monotonic()
    cats = [start("cat", m / k) for k in keys]
    for c in cats:
        rc, _, err = finish(c, 20 + SLACK_S, "cat")
        assert rc != 0 and "Input/output error" in err, err
    took = time.monotonic() - t0
    assert_alive(m)
    per_file = [attempts(proxy, mark, "GET", f"/{b}/{k}") for k in keys]
    for seen in per_file:
        # A failed read may be asked again by the kernel; each is bounded.
        assert 1 + retries <= len(seen) <= 2 * (1 + retries), [s.t for s in seen]
    proxy.clear()
    rc, out, err, _ = timed(TIMEOUT_S + SLACK_S, "cat", m / keys[0])
    assert rc == 0 and out == b"x" * 1000, f"no recovery without a remount: {err}"
    return [seen[:1 + retries] for seen in per_file], took


def check_backoff(per_file, slow):
    ratios = []
    for seen in per_file:
        for n, gap in enumerate(gaps(seen)):
            lo, hi = backoff_range_s(n, slow)
            assert lo - 0.01 <= gap <= hi + TOL_S, f"retry {n}: {gap:.3f} s, promised {lo:.2f}-{hi:.2f} s"
            ratios.append(gap / hi)
    # Jitter: the retries of several requests are not in lock step.
    assert max(ratios) - min(ratios) > 0.05, f"no jitter: {ratios}"
    return ratios


def test_retries_bounded_and_backed_off_after_500(srv, proxy, data, mount):
    per_file, took = failing_reads(srv, proxy, data, mount, 500, 3, retries=3)
    check_backoff(per_file, slow=False)
    for seen in per_file:
        g = gaps(seen)
        # Each gap is at least its promised minimum (check_backoff: exact),
        # and, give or take what load adds to one gap, no shorter than the
        # one before.
        assert all(b >= a - TOL_S for a, b in zip(g, g[1:])), f"the back-off does not grow: {g}"


@pytest.mark.parametrize("status", [503, 429], ids=["503-SlowDown", "429"])
def test_slowdown_backs_off_longer(srv, proxy, data, mount, status):
    per_file, took = failing_reads(srv, proxy, data, mount, status, 3, retries=3)
    check_backoff(per_file, slow=True)
    # Even the shortest wait after SlowDown is longer than the longest
    # after a 500 at the same retry.
    for seen in per_file:
        for n, gap in enumerate(gaps(seen)):
            assert gap >= backoff_range_s(n, False)[1], f"retry {n} after {status}: {gap:.3f} s"


def test_retries_stop_at_the_timeout(srv, proxy, data, mount):
    # Many retries allowed, a stalled server: the timeout still bounds the
    # operation, and no more than 1 + retries attempts are made.
    b = data["bucket"]
    m = mount_via(mount, srv, proxy, b, "retries=20", errors=(r".",))
    os.stat(m / "r" / "small.bin")
    mark = proxy.mark()
    proxy.add(Rule("stall", method="GET", match=f"/{b}/r/small.bin"))
    rc, _, err, secs = timed(TIMEOUT_S + SLACK_S, "cat", m / "r" / "small.bin")
    assert rc != 0 and "Input/output error" in err
    # Without the timeout's bound, 21 attempts cut at the stall cut-off
    # (timeout/3) with back-off between them would take minutes.
    assert secs <= 2 * TIMEOUT_S, f"took {secs:.1f} s, bound {TIMEOUT_S} s"
    assert 1 <= len(attempts(proxy, mark, "GET", "/r/small.bin")) <= 21
    proxy.clear()
    rc, out, err, _ = timed(TIMEOUT_S + SLACK_S, "cat", m / "r" / "small.bin")
    assert rc == 0 and out == b"s" * 100_000, err


def test_persistent_write_fault_fails_close_and_leaves_nothing(srv, proxy, data, mount):
    b = data["bucket"]
    m = mount_via(mount, srv, proxy, b, errors=(r".",))
    proxy.add(Rule("status", method="PUT", match="partNumber=3&", status=500))
    rc, _, err, secs = timed(3 * TIMEOUT_S + SLACK_S, "cp", data["write_local"], m / "w-fails.bin")
    assert rc != 0, "cp succeeded though a part could never be stored"
    assert srv.head(b, "w-fails.bin") is None, "a partial object is visible"
    no_uploads_left(srv, b, "w-fails.bin")
    assert_alive(m)
    proxy.clear()
    Ops(srv, m, data, m.path.parent).write("w-after-fail.bin")


# --------------------------------------------------------------------------
# listings: a truncated body or a wrong length is never a short listing


@pytest.mark.parametrize("action", ["truncate", "short"])
def test_broken_listing_is_never_short(srv, proxy, data, mount, action):
    b = data["bucket"]
    m = mount_via(mount, srv, proxy, b, errors=(r"malformed listing", r"request failed"))
    ops = Ops(srv, m, data, m.path.parent)
    match = ["list-type=2", "prefix=lst%2F"]
    # Once: retried (full listing) or a clear error, then a full listing.
    proxy.add(Rule(action, method="GET", match=match, count=1))
    rc, out, err, _ = timed(TIMEOUT_S + SLACK_S, "ls", m / "lst")
    if rc == 0:
        assert out.decode().split() == data["list"], "a broken listing was shown as complete"
    else:
        assert "Input/output error" in err, err
    ops.list()
    # Always: an error every time, never a short list.
    proxy.add(Rule(action, method="GET", match=match))
    for _ in range(2):
        rc, out, err, _ = timed(TIMEOUT_S + SLACK_S, "ls", m / "lst")
        assert rc != 0 and "Input/output error" in err, f"ls showed {len(out.split())} names"
    proxy.clear()
    ops.list()
    assert_alive(m)


# --------------------------------------------------------------------------
# delay and loss (the stand-ins for netem)


def test_delay_and_loss(srv, proxy, data, mount):
    b = data["bucket"]
    m = mount_via(mount, srv, proxy, b, "retries=6", "timeout=20")
    ops = Ops(srv, m, data, m.path.parent)
    proxy.add(Rule("drop", p=0.25))
    proxy.add(Rule("delay", delay_s=0.05))
    mark = proxy.mark()
    ops.list()
    ops.read()
    ops.write("w-lossy.bin", bound_s=60)
    seen = proxy.seen(mark)
    assert any(s.fault == "drop" for s in seen), "no request was dropped"
    assert_alive(m)


@pytest.mark.heavy("waits out a 30 s bound")
def test_delay_beyond_timeout_is_eio_in_bound(srv, proxy, data, mount):
    b = data["bucket"]
    m = mount_via(mount, srv, proxy, b, errors=(r".",))
    ops = Ops(srv, m, data, m.path.parent)
    proxy.add(Rule("delay", delay_s=3 * TIMEOUT_S))
    for cmd in (("ls", m / "lst"), ("cat", m / "r" / "read.bin")):
        rc, _, err, secs = timed(TIMEOUT_S + SLACK_S, *cmd)
        assert rc != 0 and "Input/output error" in err, err
        # The hang: waiting out the delay (3 x timeout), once per attempt.
        assert secs <= 2 * TIMEOUT_S, f"{cmd[0]} took {secs:.1f} s"
    proxy.clear()
    ops.list()
    ops.read()


@pytest.mark.serial
def test_netem_delay_and_loss(srv, data, mount):
    # The qdisc is on lo, for every process on the machine: 20 ms and 2 %
    # loss under other tests' bounds would fail them.
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        pytest.skip("changes lo for the whole machine: run in the serial pass (-m serial, no -n)")
    cp = run(["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"], check=False)
    if cp.returncode != 0:
        pytest.skip(f"tc netem is not available here: {cp.stderr.strip() or cp.returncode}")
    try:
        run(["tc", "qdisc", "change", "dev", "lo", "root", "netem", "delay", "20ms", "loss", "2%"])
        m = mount_via(mount, srv, None, data["bucket"], "retries=6", "timeout=30")
        ops = Ops(srv, m, data, m.path.parent)
        ops.list()
        ops.read(bound_s=60)
        ops.write("w-netem.bin", bound_s=120)
    finally:
        run(["tc", "qdisc", "del", "dev", "lo", "root"], check=False)


# --------------------------------------------------------------------------
# the server stopped (kill -STOP) and continued


def wait_for_part(srv, b, key, mark, writer):
    def stored():
        if writer.poll() is not None:
            pytest.fail(f"the writer ended ({writer.returncode}) before the fault")
        return bool(srv.uploaded_parts(b, key, mark))

    wait_for(stored, 30, "no part reached the server")


def slow_parts(proxy):
    """Part 3 waits in the proxy until the returned event is set (at most
    60 s), so the write is still in flight when the server stops (part 1
    stored is the signal); set it once the server is stopped."""
    held = threading.Event()
    proxy.add(Rule("delay", method="PUT", match="partNumber=3&", delay_s=60.0, until=held))
    return held


@pytest.mark.mock_only("stops the server (kill -STOP) and watches its access log")
def test_short_stop_of_the_server_is_invisible(srv, proxy, data, mount, tmp_path):
    # Stopped for less than the stall cut-off (timeout/3 = 10 s, well
    # above the 1.5 s stop even when the test is slow to continue the
    # server): every operation in flight just takes longer.
    b = data["bucket"]
    m = mount_via(mount, srv, proxy, b, "timeout=30")
    held = slow_parts(proxy)
    mark = srv.log_mark()
    writer = start("cp", data["write_local"], m / "w-stop-short.bin")
    wait_for_part(srv, b, "w-stop-short.bin", mark, writer)
    reader = start("cp", m / "r" / "read.bin", tmp_path / "r.out")
    lister = start("ls", m / "lst")
    srv.pause()
    held.set()
    time.sleep(1.5)  # the fault itself: a stop this long
    srv.resume()
    for p, what in ((writer, "cp in"), (reader, "cp out"), (lister, "ls")):
        rc, out, err = finish(p, 60 + SLACK_S, what)
        assert rc == 0, f"{what}: {err}"
    assert out.decode().split() == data["list"]
    assert sha256_file(tmp_path / "r.out") == sha256_file(data["read_local"])
    assert sha256_of(srv, b, "w-stop-short.bin") == data["write_sha"]
    no_uploads_left(srv, b, "w-stop-short.bin")


@pytest.mark.heavy("waits out a 30 s bound")
@pytest.mark.mock_only("stops the server (kill -STOP) and watches its access log")
def test_long_stop_of_the_server_fails_in_bound(srv, proxy, data, mount, tmp_path):
    b = data["bucket"]
    m = mount_via(mount, srv, proxy, b, errors=(r".",))
    held = slow_parts(proxy)
    Ops(srv, m, data, tmp_path).list()
    mark = srv.log_mark()
    writer = start("cp", data["write_local"], m / "w-stop-long.bin")
    wait_for_part(srv, b, "w-stop-long.bin", mark, writer)
    srv.pause()
    held.set()
    try:
        # One system call each to time (cp would stat, then open: two
        # bounds), on separate folders (the kernel makes a lookup of a
        # name wait for one in flight, then does its own: two bounds).
        reader = start("cat", m / "r" / "read.bin")
        lister = start("ls", m / "lst")
        t0 = time.monotonic()
        # ls of a name it cannot stat tries twice (statx, then statx with
        # AT_SYMLINK_NOFOLLOW): two system calls, two bounds.
        for p, what, bound in ((reader, "cat", TIMEOUT_S + SLACK_S), (lister, "ls", 2 * TIMEOUT_S + SLACK_S),
                               (writer, "cp in", 3 * TIMEOUT_S + SLACK_S)):
            rc, _, err = finish(p, max(0.5, bound - (time.monotonic() - t0)), what)
            assert rc != 0, f"{what} succeeded against a stopped server"
        assert_alive(m)
        # Unmounting works while the server is still stopped (the mount
        # fixture checks that the daemon exits).
        mnt = m.path
        cp = run(["umount", mnt], timeout=TIMEOUT_S + SLACK_S, check=False)
        assert cp.returncode == 0 and not is_mounted(mnt), cp.stderr
    finally:
        srv.resume()
    m.proc.wait(timeout=2 * TIMEOUT_S + SLACK_S)
    assert srv.head(b, "w-stop-long.bin") is None, "a partial object is visible"
    # The daemon aborted the upload on its way out, or left nothing to abort.
    no_uploads_left(srv, b, "w-stop-long.bin")
    # A new mount of the same bucket works at once.
    m2 = mount_via(mount, srv, proxy, b)
    Ops(srv, m2, data, tmp_path).read()


@pytest.mark.heavy("waits out a 30 s bound")
@pytest.mark.mock_only("stops the server (kill -STOP) and watches its access log")
def test_stop_and_continue_recovers_without_remount(srv, proxy, data, mount, tmp_path):
    b = data["bucket"]
    m = mount_via(mount, srv, proxy, b, errors=(r".",))
    held = slow_parts(proxy)
    ops = Ops(srv, m, data, tmp_path)
    ops.list()
    mark = srv.log_mark()
    writer = start("cp", data["write_local"], m / "w-stop-cont.bin")
    wait_for_part(srv, b, "w-stop-cont.bin", mark, writer)
    srv.pause()
    held.set()
    try:
        rc, _, err = finish(writer, 3 * TIMEOUT_S + SLACK_S, "cp in")
        assert rc != 0, "cp succeeded against a stopped server"
    finally:
        srv.resume()
    assert_alive(m)
    assert srv.head(b, "w-stop-cont.bin") is None, "a partial object is visible"
    no_uploads_left(srv, b, "w-stop-cont.bin")
    proxy.clear()
    ops.list()
    ops.read()
    ops.write("w-stop-cont.bin")
    run(["fusermount3", "-u", m.path], timeout=10)


# --------------------------------------------------------------------------
# a full spool folder


@pytest.fixture
def small_tmpfs(tmp_path):
    with small_tmpfs_at(tmp_path / "spool-tmpfs", "2m") as d:
        yield d


def test_full_spool_folder(srv, data, small_tmpfs, mount):
    b = data["bucket"]
    old = os.urandom(4 * MiB + 3)
    old_sha = hashlib.sha256(old).hexdigest()
    srv.put(b, "spool/inplace.bin", old)
    srv.put(b, "spool/append.bin", old[:3 * MiB])
    m = mount_via(mount, srv, None, b, f"cache_dir={small_tmpfs}", errors=(r".",))
    # A change in place needs the whole object in the spool: 4 MiB > 2 MiB.
    rc, _, err, _ = timed(TIMEOUT_S + SLACK_S, "dd", "if=/dev/zero", f"of={m / 'spool' / 'inplace.bin'}",
                          "bs=64K", "count=1", "seek=10", "conv=notrunc", "status=none")
    assert rc != 0, "dd succeeded without room for the spool"
    assert "No space left on device" in err or "Input/output error" in err, err
    # An append to an object under 5 MiB is spooled too.
    rc, _, err, _ = timed(TIMEOUT_S + SLACK_S, "sh", "-c", f"head -c 100000 /dev/zero >> '{m / 'spool' / 'append.bin'}'")
    assert rc != 0, "the append succeeded without room for the spool"
    assert "No space left on device" in err or "Input/output error" in err, err
    assert_alive(m)
    assert sha256_of(srv, b, "spool/inplace.bin") == old_sha, "the original object changed"
    assert sha256_of(srv, b, "spool/append.bin") == hashlib.sha256(old[:3 * MiB]).hexdigest()
    no_uploads_left(srv, b, "spool/")
    # The failed spools gave their room back, and small changes still work.
    left = sum(f.stat().st_size for f in small_tmpfs.rglob("*") if f.is_file())
    assert left < MiB, f"{left} bytes of failed spools left in the cache folder"
    srv.put(b, "spool/small.bin", b"a" * 1000)
    with open(m / "spool" / "small.bin", "r+b") as f:
        f.seek(10)
        f.write(b"b")
    assert srv.get(b, "spool/small.bin") == b"a" * 10 + b"b" + b"a" * 989
