"""Valgrind over a whole mount/unmount cycle: an S3 mount (list, read, a
multipart write read back, rm) and a PostgreSQL mount (list, read a table,
load a CSV), each ending with an unmount and a clean exit of the daemon.
Memcheck must find no definite or indirect leak, no invalid read or write,
no use of uninitialised values, and no descriptor left open by odofs.

Runs against the plain build: a sanitizer build cannot run under valgrind
(the test skips then), and so does a machine without valgrind.
"""

import os
import re
import shutil
import subprocess
import time
import urllib.parse

import pytest

from conftest import (MiB, ODOFS_BIN, sanitized_build, is_mounted, odofs_argv, require_odofs, run, sha256_file, unmount,
                      write_random_file)

VALGRIND = shutil.which("valgrind")
# Everything under valgrind is 20-50 times slower: the first mount (libcurl,
# OpenSSL, the probe of the source) takes seconds, and so does the leak scan
# at exit.
MOUNT_TIMEOUT_S = 60
EXIT_TIMEOUT_S = 60
VG_ERROR_EXIT = 99
VG_ARGS = [
    "--leak-check=full",
    "--show-leak-kinds=definite,indirect",
    "--errors-for-leak-kinds=definite,indirect",
    f"--error-exitcode={VG_ERROR_EXIT}",
    "--track-fds=yes",
    "--num-callers=30",
]
# Memcheck's error kinds, as they start a report in its log.
VG_ERROR_RE = re.compile(r"==\d+== (Invalid (read|write|free)|Mismatched free|Conditional jump or move"
                         r"|Use of uninitialised|Syscall param .* (uninitialised|unaddressable)"
                         r"|Source and destination overlap|Argument '.*' of function .* has a fishy)")
LEAK_RE = re.compile(r"(definitely|indirectly) lost: ([\d,]+) bytes")


@pytest.fixture
def vg_mount(tmp_path, s3):
    """Factory: vg_mount(source, *opts, env=...) -> (mountpoint, proc,
    log_path). On teardown every mount is unmounted and its daemon waited
    for (killed if it outlives EXIT_TIMEOUT_S)."""
    require_odofs()
    if VALGRIND is None:
        pytest.skip("valgrind is not installed")
    if sanitized_build():
        pytest.skip(f"{ODOFS_BIN} is a sanitizer build: valgrind needs the plain one")
    started = []

    def _mount(source, *opts, env):
        n = len(started)
        mnt = tmp_path / f"vgmnt{n}"
        mnt.mkdir()
        log = tmp_path / f"valgrind{n}.log"
        stderr = tmp_path / f"odofs{n}.stderr"
        opts = [*opts, "timeout=30"]
        argv = [VALGRIND, *VG_ARGS, f"--log-file={log}", *odofs_argv(source, mnt, opts)]
        with open(stderr, "wb") as errf:
            proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=errf, stderr=errf)
        started.append((mnt, proc))
        deadline = time.monotonic() + MOUNT_TIMEOUT_S
        while not is_mounted(mnt):
            if proc.poll() is not None:
                pytest.fail(f"odofs under valgrind exited with {proc.returncode} before mounting\n"
                            f"{stderr.read_text(errors='replace')[-3000:]}\n"
                            f"{log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"not mounted after {MOUNT_TIMEOUT_S} s under valgrind")
            time.sleep(0.1)
        return mnt, proc, log, stderr

    yield _mount
    for mnt, proc in started:
        unmount(mnt, timeout=EXIT_TIMEOUT_S)
        try:
            proc.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def finish(mnt, proc, log, stderr):
    """Unmount, wait for the daemon, and check valgrind's verdict."""
    run(["fusermount3", "-u", mnt], timeout=EXIT_TIMEOUT_S)
    try:
        rc = proc.wait(timeout=EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        pytest.fail(f"odofs under valgrind did not exit within {EXIT_TIMEOUT_S} s of the unmount")
    text = log.read_text(errors="replace")
    daemon_err = stderr.read_text(errors="replace")
    context = f"--- valgrind log ---\n{text[-12000:]}\n--- odofs stderr ---\n{daemon_err[-3000:]}"
    errors = [m.group(0) for m in VG_ERROR_RE.finditer(text)]
    assert not errors, f"memcheck errors: {errors}\n{context}"
    leaks = [(kind, n) for kind, n in LEAK_RE.findall(text) if n != "0"]
    assert not leaks, f"leaks: {leaks}\n{context}"
    assert "ERROR SUMMARY: 0 errors" in text, context
    assert rc == 0, f"odofs under valgrind exited with {rc}\n{context}"
    # --track-fds: at exit only the three standard descriptors and valgrind's
    # own log may be open; a socket, spool file or pipe left is a leak.
    fds = re.search(r"FILE DESCRIPTORS: (\d+) open(?: \((\d+) std\))? at exit", text)
    assert fds, context
    opened = [m for m in re.findall(r"Open (?:file descriptor|AF_\w+ socket) \d+: ?(.*)", text)
              if not m.endswith(log.name)]
    assert not opened, f"descriptors left open at exit: {opened}\n{context}"
    assert not re.search(r"(?m)(?:^|: )error:", daemon_err), daemon_err


def test_s3_cycle_has_no_leak_or_memory_error(vg_mount, s3, bucket, tmp_path):
    s3.put(bucket, "small.txt", b"hello, valgrind\n")
    s3.put(bucket, "dir/inner.bin", os.urandom(70000))
    # Two parts of 16 MiB, the last one short: a multipart upload.
    big = write_random_file(tmp_path / "big.bin", 17 * MiB + 12345)
    want = sha256_file(big)
    m, proc, log, stderr = vg_mount(f"s3://{bucket}", env=s3.env())

    assert sorted(os.listdir(m)) == ["dir", "small.txt"]
    assert run(["cat", m / "small.txt"]).stdout == "hello, valgrind\n"
    assert os.stat(m / "dir" / "inner.bin").st_size == 70000
    run(["cp", big, m / "big.bin"], timeout=120)
    assert s3.sha256(bucket, "big.bin") == (17 * MiB + 12345, want)
    assert sha256_file(m / "big.bin") == want
    # a change in place goes through the spool
    with open(m / "small.txt", "r+b") as f:
        f.seek(7)
        f.write(b"VALGRIND")
    assert s3.get(bucket, "small.txt") == b"hello, VALGRIND\n"
    os.unlink(m / "big.bin")
    assert s3.head(bucket, "big.bin") is None
    finish(m, proc, log, stderr)


def test_postgresql_cycle_has_no_leak_or_memory_error(vg_mount, pg, pg_schema, tmp_path):
    schema = pg_schema
    pg.psql(f'CREATE TABLE "{schema}".t (id int, name text);'
            f"INSERT INTO \"{schema}\".t SELECT g, 'n' || g FROM generate_series(1, 500) g;")
    src = tmp_path / "load.csv"
    src.write_text("name,id\n" + "".join(f"x{i},{1000 + i}\n" for i in range(200)))
    env = pg.env()  # the password comes from PGPASSWORD: valgrind's log shows argv
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    url = pg.url.replace(":" + urllib.parse.quote(pg.password, safe="") + "@", "@")
    assert pg.password not in url
    m, proc, log, stderr = vg_mount(url, env=env)

    assert schema in os.listdir(m)
    assert sorted(os.listdir(m / schema)) == ["t", "t.csv"]
    lines = (m / schema / "t.csv").read_text().splitlines()
    assert lines[0] == "id,name" and len(lines) == 501 and lines[500] == "500,n500"
    run(["cp", src, m / schema / "t" / ""], timeout=120)
    assert pg.psql(f'SELECT count(*) FROM "{schema}".t').strip() == "700"
    # a load that creates its table: spooled, types inferred, then replayed
    run(["cp", src, m / schema / "fresh.csv"], timeout=120)
    assert pg.psql(f'SELECT count(*), sum(id) FROM "{schema}".fresh').strip() == f"200|{sum(range(1000, 1200))}"
    finish(m, proc, log, stderr)
