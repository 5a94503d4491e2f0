"""Database faults under a warehouse mount: the server stopped (SIGSTOP of
the postmaster and its backends, or of the Redshift emulator) during a
listing, a read and a load; the server killed and restarted during a load;
the spool folder (cache_dir) full.

With timeout=3 and load_timeout=10 every operation must come back within
its bound with an error, the daemon must live on, the same mount must work
again once the server is back (no remount), and a load must be all or
nothing. These tests stop and kill servers, so they use a PostgreSQL
cluster (and emulator) of this module's own, never the session's.
"""

import contextlib
import errno
import os
import signal
import subprocess
import time

import pytest

from conftest import C_LOCALE_ENV, random_name, run, small_tmpfs_at
from pgserver import PgServer, RedshiftEmulator

MiB = 1024 * 1024
# The bounds apply to the working server too: before the stop and after it,
# statements, exports and the loads through the (Python, slow under load)
# Redshift emulator must finish within them on a loaded 2-core machine, so
# they are far above what these take when idle (milliseconds, and well
# under a second for the loads).
TIMEOUT_S = 3
LOAD_TIMEOUT_S = 10
OPTS = (f"timeout={TIMEOUT_S}", f"load_timeout={LOAD_TIMEOUT_S}")
# What a stalled operation may take at most: a connection attempt and a
# catalog statement (timeout each), then an export or a load's statement
# (load_timeout), and slack for a loaded CI machine (ASan). The hang it
# guards against: an operation on a stopped server never returns (only the
# mount's 300 s watchdog would end it).
SLACK_S = 15
BOUND_S = 2 * TIMEOUT_S + LOAD_TIMEOUT_S + SLACK_S
# A stalled server is logged as an error: that is expected here.
FAULT_ERRORS = [r"did not answer in time", r"cannot list", r"cannot export", r"cannot connect",
                r"connection", r"server closed", r"terminating", r"load of", r"spool",
                r"No space left", r"timeout expired", r"could not"]


@pytest.fixture(scope="module")
def fpg():
    """A PostgreSQL cluster for this module alone."""
    server = PgServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def femu(fpg, s3, tmp_path_factory):
    emu = RedshiftEmulator(fpg, s3.endpoint, s3.key_id, s3.secret, tmp_path_factory.mktemp("femu")).start()
    yield emu
    emu.stop()


class Target:
    """One server to break (PostgreSQL itself, or the emulator in front of
    it) and a mount over it, in a fresh schema."""

    def __init__(self, kind, pg, emu, s3, mount):
        self.kind, self.pg, self.emu, self.s3, self._mount = kind, pg, emu, s3, mount
        self.schema = random_name("f_")
        self.sql(f'CREATE SCHEMA "{self.schema}"')
        self.stage = None

    def sql(self, stmt, params=()):
        with contextlib.closing(self.pg.connect()) as conn, conn.cursor() as cur:
            cur.execute(stmt, params)
            return cur.fetchall() if cur.description else None

    def qt(self, t):
        return f'"{self.schema}"."{t}"'

    def count(self, t):
        return self.sql(f"SELECT count(*), coalesce(sum(id), 0) FROM {self.qt(t)}")[0]

    def mount(self, *opts, **kw):
        opts = list(OPTS) + list(opts)
        if self.kind == "redshift":
            self.stage = self.stage or self.s3.make_bucket(random_name("fstage-"))
            opts.append(f"staging=s3://{self.stage}/tmp/")
            src = self.emu.url()
        else:
            src = self.pg.url
        kw.setdefault("expect_errors", FAULT_ERRORS)
        return self._mount(src, *opts, **kw)

    def pause(self):
        if self.kind == "redshift":
            os.kill(self.emu.proc.pid, signal.SIGSTOP)
        else:
            self.pg.pause()

    def resume(self):
        if self.kind == "redshift":
            os.kill(self.emu.proc.pid, signal.SIGCONT)
        else:
            self.pg.resume()


@pytest.fixture(params=["postgresql", "redshift"])
def target(request, fpg, femu, s3, mount):
    t = Target(request.param, fpg, femu, s3, mount)
    yield t
    t.resume()
    t.sql(f'DROP SCHEMA IF EXISTS "{t.schema}" CASCADE')


def timed(fn, *a, **kw):
    """(result or the OSError raised, seconds)."""
    t0 = time.monotonic()
    try:
        r = fn(*a, **kw)
    except OSError as e:
        r = e
    return r, time.monotonic() - t0


def csv_rows(first, n):
    return "".join(f"{i},row {i} {'x' * 40}\n" for i in range(first, first + n)).encode()


def alive(m):
    assert m.proc.poll() is None, f"odofs died:\n{m.log()[-3000:]}"


@pytest.mark.heavy("waits out a bound per operation")
def test_stopped_server_bounds_every_operation(target, tmp_path):
    t = target
    t.sql(f"CREATE TABLE {t.qt('t')} (id int, v text)")
    t.sql(f"INSERT INTO {t.qt('t')} SELECT g, 'row ' || g FROM generate_series(1, 1000) g")
    before = t.count("t")
    # cache_ttl=0: no listing or snapshot is answered from memory.
    m = t.mount("cache_ttl=0")
    table = m / t.schema / "t.csv"
    want = table.read_bytes()
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,v\n" + csv_rows(100000, 40000))  # ~2.3 MiB

    # A load under way when the server stops: the writes (or the close)
    # fail within the bound, and none of the file is committed.
    f = open(m / t.schema / "t" / "in.csv", "wb")
    f.write(b"id,v\n" + csv_rows(5000, 1000))
    t.pause()
    try:
        t0 = time.monotonic()
        failed = None
        # PostgreSQL: more than the sockets hold, so a write must wait on
        # the stopped server; Redshift: the bytes go to S3, COPY at close.
        data = csv_rows(6000, 100000 if t.kind == "postgresql" else 20000)
        for off in range(0, len(data), 256 * 1024):
            try:
                f.write(data[off:off + 256 * 1024])
                f.flush()
            except OSError as e:
                failed = e
                break
            assert time.monotonic() - t0 < BOUND_S, "writes went on past the bound"
        r, s = timed(f.close)
        if failed is None:
            failed = r
        took = time.monotonic() - t0
        assert isinstance(failed, OSError), f"{t.kind}: a load against a stopped server succeeded"
        assert failed.errno == errno.EIO, failed
        assert took < BOUND_S + LOAD_TIMEOUT_S, f"{t.kind}: the load took {took:.1f} s to fail"

        # A listing and a read while it is stopped.
        print(f"{t.kind}: the load failed after {took:.1f} s")
        r, s = timed(os.listdir, m / t.schema)
        print(f"{t.kind}: ls failed after {s:.1f} s")
        assert isinstance(r, OSError) and r.errno == errno.EIO, f"{t.kind}: ls of a stopped server: {r}"
        assert s < BOUND_S, f"{t.kind}: ls took {s:.1f} s"
        r, s = timed(lambda: (m / t.schema / "t.csv").read_bytes())
        print(f"{t.kind}: cat failed after {s:.1f} s")
        assert isinstance(r, OSError) and r.errno == errno.EIO, f"{t.kind}: cat of a stopped server: {r!r:.200}"
        assert s < BOUND_S, f"{t.kind}: cat took {s:.1f} s"
        r, s = timed(subprocess.run, ["cp", str(src), str(m / t.schema / "t" / "in2.csv")],
                     capture_output=True, env=C_LOCALE_ENV, timeout=60)
        print(f"{t.kind}: cp failed after {s:.1f} s")
        assert r.returncode != 0
        alive(m)
    finally:
        t.resume()

    # Back: the same mount lists, reads and loads, all or nothing held.
    # (Waiting for the first listing that works: the stopped server's
    # connections are noticed dead and replaced as they are next used.)
    t0 = time.monotonic()
    assert t.count("t") == before, f"{t.kind}: part of a failed load was committed"
    deadline = time.monotonic() + 60
    while True:
        try:
            assert "t.csv" in os.listdir(m / t.schema)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert table.read_bytes() == want
    # (A small file: load_timeout bounds the whole COPY, and the emulator
    # is slow.)
    small = tmp_path / "small.csv"
    small.write_bytes(b"id,v\n" + csv_rows(900000, 500))
    run(["cp", small, m / t.schema / "t" / "in.csv"], env=C_LOCALE_ENV)
    assert t.count("t")[0] == before[0] + 500
    print(f"{t.kind}: working again after {time.monotonic() - t0:.1f} s")
    alive(m)


def test_killed_and_restarted_postgres_during_a_load(fpg, s3, mount, tmp_path):
    t = Target("postgresql", fpg, None, s3, mount)
    try:
        t.sql(f"CREATE TABLE {t.qt('t')} (id int, v text)")
        t.sql(f"INSERT INTO {t.qt('t')} VALUES (1, 'one')")
        m = t.mount()
        assert (m / t.schema / "t.csv").read_bytes() == b"id,v\n1,one\n"
        f = open(m / t.schema / "t" / "in.csv", "wb")
        f.write(b"id,v\n" + csv_rows(10, 20000))
        f.flush()
        fpg.kill()
        t0 = time.monotonic()
        failed = None
        try:
            f.write(csv_rows(20010, 20000))
            f.flush()
        except OSError as e:
            failed = e
        r, _ = timed(f.close)
        failed = failed or r
        assert isinstance(failed, OSError), "a load through a killed server succeeded"
        assert time.monotonic() - t0 < BOUND_S
        alive(m)
        fpg.restart()
        # The first operations after the restart work: dead pooled
        # connections are replaced, not used.
        assert t.count("t") == (1, 1), "part of the killed load was committed"
        assert (m / t.schema / "t.csv").read_bytes() == b"id,v\n1,one\n"
        src = tmp_path / "in.csv"
        src.write_bytes(b"id,v\n2,two\n")
        run(["cp", src, m / t.schema / "t" / "in.csv"], env=C_LOCALE_ENV)
        assert t.count("t") == (2, 3)
        alive(m)
    finally:
        fpg.resume()
        if not (fpg.datadir / "postmaster.pid").exists():
            fpg.restart()
        t.sql(f'DROP SCHEMA IF EXISTS "{t.schema}" CASCADE')


@pytest.fixture
def small_tmpfs(tmp_path):
    with small_tmpfs_at(tmp_path / "tiny", "1m") as d:
        yield d


def test_full_cache_dir(fpg, s3, mount, small_tmpfs, tmp_path):
    t = Target("postgresql", fpg, None, s3, mount)
    try:
        t.sql(f"CREATE TABLE {t.qt('big')} AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 60000) g")
        t.sql(f"CREATE TABLE {t.qt('small')} (id int, v text); INSERT INTO {t.qt('small')} VALUES (1, 'a')")
        m = t.mount(f"cache_dir={small_tmpfs}")
        # A table larger than the spool's disk still reads from start to
        # end: the spool keeps a window that follows the reader.
        cp = run(["cat", m / t.schema / "big.csv"], check=False, env=C_LOCALE_ENV, timeout=BOUND_S * 2)
        assert cp.returncode == 0, cp.stderr
        lines = cp.stdout.splitlines()
        assert len(lines) == 60001 and lines[0] == "id,v" and lines[-1].startswith("60000,")
        assert "does not fit the spool" in m.log()
        # A new table must be spooled whole first: it fails, and makes nothing.
        src = tmp_path / "new.csv"
        src.write_bytes(b"id,v\n" + csv_rows(1, 40000))
        cp = run(["cp", src, m / t.schema / "newt.csv"], check=False, env=C_LOCALE_ENV, timeout=BOUND_S * 2)
        assert cp.returncode != 0
        assert t.sql("SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = 'newt'",
                     (t.schema,)) == [(0,)]
        assert "newt.csv" not in os.listdir(m / t.schema)
        # The daemon lives on, and what fits still works.
        alive(m)
        assert (m / t.schema / "small.csv").read_bytes() == b"id,v\n1,a\n"
        assert len(os.listdir(small_tmpfs)) <= 1, "spool files left behind"
    finally:
        t.sql(f'DROP SCHEMA IF EXISTS "{t.schema}" CASCADE')
