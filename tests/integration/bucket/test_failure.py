"""Failure, never a hang: a hung or dead server gives EIO within the bound,
the mount recovers without a remount, and unmounting works meanwhile.

These tests use a server of their own (private_s3), never the session's; they
ask for it before `mount` so that the mount is torn down first."""

import os
import time

import pytest

from conftest import MOUNT_TIMEOUT_S, is_mounted, run, sanitized_build

pytestmark = pytest.mark.mock_only("stops (kill -STOP) or kills a server of its own")

TIMEOUT_S = 5  # -o timeout=: the bound for one operation, retries included
# What the test allows beyond it (kernel, ls, process start) on a loaded
# 2-core machine. The hang it guards against is an operation against a
# stopped server that never returns (only the 300 s watchdog would end it).
SLACK_S = 20
C_ENV = {**os.environ, "LC_ALL": "C"}


def timed(*cmd):
    t0 = time.monotonic()
    cp = run(cmd, timeout=TIMEOUT_S * 6 + 30, check=False, env=C_ENV)
    return cp, time.monotonic() - t0


def assert_eio_in_bound(cmd_result):
    cp, secs = cmd_result
    assert cp.returncode != 0, f"succeeded against a dead server: {cp.stdout!r}"
    assert "Input/output error" in cp.stderr, cp.stderr
    assert secs <= TIMEOUT_S + SLACK_S, f"failed only after {secs:.1f} s (bound {TIMEOUT_S} s)"


@pytest.fixture
def fail_bucket(private_s3):
    s3 = private_s3
    b = s3.make_bucket()
    for d in ("d1", "d2", "d3", "d4", "d5"):
        s3.put(b, f"{d}/f.txt", f"{d}\n".encode())
    s3.put(b, "top.txt", b"top\n")
    return b


def test_stopped_server_gives_eio_and_mount_recovers(private_s3, fail_bucket, mount):
    s3 = private_s3
    # Any error line is fine here: timeouts are logged as errors.
    m = mount(f"s3://{fail_bucket}", f"timeout={TIMEOUT_S}", "connect_timeout=2", server=s3,
              expect_errors=(r".",))
    assert sorted(os.listdir(m)) == ["d1", "d2", "d3", "d4", "d5", "top.txt"]

    s3.pause()  # kill -STOP: connections are accepted, nothing is answered
    try:
        assert_eio_in_bound(timed("ls", m / "d1"))
        assert_eio_in_bound(timed("cat", m / "d2" / "f.txt"))
    finally:
        s3.resume()

    # Recovered, without a remount; the failures were not cached.
    cp, _ = timed("ls", m / "d1")
    assert cp.returncode == 0 and cp.stdout.split() == ["f.txt"], cp.stderr
    cp, _ = timed("cat", m / "d2" / "f.txt")
    assert cp.returncode == 0 and cp.stdout == "d2\n", cp.stderr
    cp, _ = timed("cat", m / "d3" / "f.txt")
    assert cp.returncode == 0 and cp.stdout == "d3\n", cp.stderr

    # Unmounting works while the server hangs.
    s3.pause()
    try:
        cp = run(["fusermount3", "-u", m], timeout=TIMEOUT_S + SLACK_S, check=False)
        assert cp.returncode == 0, cp.stderr
        assert not is_mounted(m)
        m.proc.wait(timeout=MOUNT_TIMEOUT_S + TIMEOUT_S)
        assert m.proc.returncode == 0
    finally:
        s3.resume()


def test_dead_server_gives_eio_and_mount_recovers(private_s3, fail_bucket, mount):
    s3 = private_s3
    m = mount(f"s3://{fail_bucket}", f"timeout={TIMEOUT_S}", "connect_timeout=2", server=s3,
              expect_errors=(r".",))
    assert "top.txt" in os.listdir(m)
    port = s3.port
    s3.stop()  # connection refused
    try:
        assert_eio_in_bound(timed("ls", m / "d4"))
        assert_eio_in_bound(timed("cat", m / "d5" / "f.txt"))
    finally:
        s3.start(port=port)
    cp, _ = timed("cat", m / "d5" / "f.txt")
    assert cp.returncode == 0 and cp.stdout == "d5\n", cp.stderr
    cp, _ = timed("ls", m / "d4")
    assert cp.returncode == 0 and cp.stdout.split() == ["f.txt"], cp.stderr


def test_default_bound_is_documented_30s(private_s3, fail_bucket, mount):
    # Without -o timeout the bound is 30 s; the hang is cut well before the
    # 300 s watchdog. (Only one operation is timed: it is the slow test.)
    if sanitized_build():
        pytest.skip("the same path as timeout=N, 30 s of waiting: once, in the plain build, is enough")
    s3 = private_s3
    m = mount(f"s3://{fail_bucket}", server=s3, expect_errors=(r".",))
    assert "top.txt" in os.listdir(m)
    s3.pause()
    try:
        cp, secs = timed("cat", m / "d1" / "f.txt")
    finally:
        s3.resume()
    assert cp.returncode != 0 and "Input/output error" in cp.stderr
    assert secs <= 30 + SLACK_S, f"took {secs:.1f} s"
