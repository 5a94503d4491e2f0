"""Table files stream: a reader gets bytes while the export still runs, a
table larger than spool_max reads whole from start to end, and a reader
that stops half way cancels the export, leaving nothing on disk or running
in the database.  On PostgreSQL and on the Redshift emulator.

No test here depends on speed: an advisory lock the test holds stops the
export half way (a view whose rows pass through a function that takes the
lock at one row), so "before the export ends" is an event, not a time.
"""

import contextlib
import errno
import os
import random
import subprocess
import threading
import time

import pytest

from conftest import C_LOCALE_ENV, run
from test_warehouse import Warehouse

HANG_S = 120  # bounds against a hang only; nothing waits this long when it works


@pytest.fixture(params=["postgresql", "redshift"])
def wh(request, pg, redshift, s3, mount, pg_schema):
    return Warehouse(request.param, pg, redshift, s3, mount, pg_schema)


def copy_query(wh, query):
    """What psql's COPY (query) TO STDOUT writes."""
    cp = subprocess.run(
        ["/usr/bin/psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", wh.pg.dsn, "-c",
         f"COPY ({query}) TO STDOUT (FORMAT csv, HEADER)"],
        env=wh.pg.env(), capture_output=True, timeout=HANG_S)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout


def gated_view(wh, rows, gate_at):
    """A view of `rows` rows whose export stops at row gate_at while the
    advisory lock (returned) is held elsewhere."""
    key = random.randrange(1, 2**31)
    s = wh.q(wh.schema)
    wh.psql(f"""
CREATE FUNCTION {s}.gate(i int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  IF i = {gate_at} THEN PERFORM pg_advisory_lock({key}); PERFORM pg_advisory_unlock({key}); END IF;
  RETURN i;
END $$;
CREATE VIEW {wh.qt('v')} AS SELECT {s}.gate(g) AS id, md5(g::text) AS h FROM generate_series(1, {rows}) g;
""")
    return key


def export_waiting(wh, cur):
    """The export's backend once it waits on the advisory lock (it may
    still be making the rows before the gate): its pid, or None."""
    deadline = time.monotonic() + HANG_S
    while time.monotonic() < deadline:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                    "wait_event = 'advisory' AND query LIKE %s", (f"%{wh.schema}%",))
        row = cur.fetchone()
        if row:
            return row[0]
        time.sleep(0.05)
    return None


def exports_running(wh, cur):
    cur.execute("SELECT count(*) FROM pg_stat_activity WHERE state <> 'idle' AND "
                "pid <> pg_backend_pid() AND query LIKE %s AND query NOT LIKE '%%pg_stat_activity%%'",
                (f"%{wh.schema}%",))
    return cur.fetchone()[0]


def read_in_thread(fd, n):
    """os.read(fd, n) in a thread, so a read that never returns fails the
    test instead of hanging it."""
    got = {}
    th = threading.Thread(target=lambda: got.update(data=os.read(fd, n)), daemon=True)
    th.start()
    th.join(HANG_S)
    assert not th.is_alive(), "the first read never returned"
    return got["data"]


def spool_files(d):
    return [n for n in os.listdir(d) if n.startswith("spool-")]


def spool_emptied(d):
    """Whether d has no spool file left once the release that follows a
    close (which the kernel sends after close returns) was answered."""
    deadline = time.monotonic() + HANG_S
    while spool_files(d) and time.monotonic() < deadline:
        time.sleep(0.05)
    return spool_files(d) == []


def test_first_bytes_arrive_while_the_export_is_held(wh, tmp_path):
    key = gated_view(wh, 20000, 5000)
    m = wh.mount(f"cache_dir={tmp_path / 'cache'}")
    path = m / wh.schema / "v.csv"
    with contextlib.closing(wh.pg.connect()) as holder, holder.cursor() as hc:
        hc.execute("SELECT pg_advisory_lock(%s)", (key,))
        fd = os.open(path, os.O_RDONLY)
        try:
            # The reader comes only once the database has gone silent
            # (the rows before the gate were sent): what the export holds
            # must still reach it.
            with contextlib.closing(wh.pg.connect()) as conn, conn.cursor() as cur:
                assert export_waiting(wh, cur), "the export was not held at the lock"
            first = read_in_thread(fd, 100)
            assert first.startswith(b"id,h\n1,"), first
            # stat says 0 while the export runs; reads go on past it
            assert os.fstat(fd).st_size == 0
            hc.execute("SELECT pg_advisory_unlock(%s)", (key,))
            rest = b""
            while chunk := os.read(fd, 1 << 16):
                rest += chunk
            # finished: the size is exact
            assert os.fstat(fd).st_size == len(first + rest)
        finally:
            os.close(fd)
    want = copy_query(wh, f"SELECT * FROM {wh.qt('v')}")
    assert first + rest == want
    assert os.path.getsize(path) == len(want)
    # random reads of the finished export
    tail = run(["tail", "-c", "100", str(path)], env=C_LOCALE_ENV).stdout.encode()
    assert tail == want[-100:]
    with open(path, "rb") as f:
        f.seek(len(want) // 2)
        assert f.read(50) == want[len(want) // 2:len(want) // 2 + 50]


def test_a_reader_that_stops_half_way_cancels_the_export(wh, tmp_path):
    key = gated_view(wh, 20000, 5000)
    cache = tmp_path / "cache"
    m = wh.mount(f"cache_dir={cache}")
    path = m / wh.schema / "v.csv"
    with contextlib.closing(wh.pg.connect()) as holder, holder.cursor() as hc, \
            contextlib.closing(wh.pg.connect()) as conn, conn.cursor() as cur:
        hc.execute("SELECT pg_advisory_lock(%s)", (key,))
        fd = os.open(path, os.O_RDONLY)
        try:
            assert read_in_thread(fd, 100).startswith(b"id,h\n")
            assert export_waiting(wh, cur), "the export was not held at the lock"
            assert spool_files(cache), "the export spools nowhere"
        finally:
            os.close(fd)
        # Still holding the lock: only a cancel can end the export now.
        deadline = time.monotonic() + HANG_S
        while (exports_running(wh, cur) or spool_files(cache)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert exports_running(wh, cur) == 0, "the export still runs in the database"
        assert spool_files(cache) == [], "the spool file was left on disk"
    # the table reads whole afterwards
    assert path.read_bytes() == copy_query(wh, f"SELECT * FROM {wh.qt('v')}")


def test_a_table_larger_than_spool_max_reads_whole(wh, tmp_path):
    wh.psql(f"CREATE TABLE {wh.qt('big')} AS SELECT g AS id, md5(g::text) AS a, "
            f"md5((-g)::text) AS b FROM generate_series(1, 40000) g")
    want = wh.copy_out("big")
    assert len(want) > 2 << 20
    cache = tmp_path / "cache"
    m = wh.mount(f"cache_dir={cache}", "spool_max=1M", expect_errors=[r"reads only from start to end"])
    path = m / wh.schema / "big.csv"
    cp = subprocess.run(["cat", str(path)], env=C_LOCALE_ENV, timeout=HANG_S, capture_output=True)
    assert cp.returncode == 0, cp.stderr
    got = cp.stdout
    assert got == want, "a table larger than spool_max did not read whole"
    assert "does not fit the spool" in m.log()
    # Read once more: the bytes already given back cannot be read again.
    with open(path, "rb", buffering=0) as f:
        while f.read(1 << 16):
            pass
        with pytest.raises(OSError) as e:
            os.pread(f.fileno(), 10, 0)
        assert e.value.errno == errno.ESPIPE
    assert spool_emptied(cache), "the spool file was left on disk"


def test_redshift_unload_slices_stream_through_a_small_spool(pg, redshift, s3, mount, pg_schema, tmp_path):
    """-o unload: the slices, read with the S3 prefetcher in manifest order,
    stream through a spool smaller than the table, and staging is emptied."""
    wh = Warehouse("redshift", pg, redshift, s3, mount, pg_schema)
    wh.psql(f"CREATE TABLE {wh.qt('big')} AS SELECT g AS id, md5(g::text) AS a "
            f"FROM generate_series(1, 40000) g")
    cache = tmp_path / "cache"
    m = wh.mount("unload", f"cache_dir={cache}", "spool_max=512K")
    cp = subprocess.run(["cat", str(m / wh.schema / "big.csv")], env=C_LOCALE_ENV, timeout=HANG_S,
                        capture_output=True)
    assert cp.returncode == 0, cp.stderr
    lines = cp.stdout.splitlines(True)
    # UNLOAD's rows come in slice order: the same rows, the header first
    want = wh.copy_out("big").splitlines(True)
    assert len(cp.stdout) > 1 << 20
    assert lines[0] == want[0] and sorted(lines[1:]) == sorted(want[1:])
    assert "does not fit the spool" in m.log()
    assert spool_emptied(cache)
    assert wh.staged_keys() == {}, "UNLOAD's slices were left in staging"


def test_cp_and_python_csv_read_an_export_as_it_runs(pg, redshift, s3, mount, pg_schema, tmp_path):
    """cache_ttl=0: every open makes its own export, so each program below
    reads a file whose stat says 0 while it is being made."""
    wh = Warehouse("postgresql", pg, redshift, s3, mount, pg_schema)
    wh.psql(f"CREATE TABLE {wh.qt('t')} AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 30000) g")
    want = wh.copy_out("t")
    m = wh.mount("cache_ttl=0")
    path = m / wh.schema / "t.csv"
    run(["cp", str(path), str(tmp_path / "copy.csv")], env=C_LOCALE_ENV)
    assert (tmp_path / "copy.csv").read_bytes() == want
    import csv

    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 30001 and rows[0] == ["id", "h"] and rows[-1][0] == "30000"
    assert run(["tail", "-n", "1", str(path)]).stdout.encode() == want.splitlines(True)[-1]


@pytest.mark.parametrize("kind", ["postgresql", "redshift-unload"])
def test_head_of_a_table_larger_than_spool_max_cancels_its_export(kind, pg, redshift, s3, mount, pg_schema,
                                                                  tmp_path):
    """head -c 100 of a table four times spool_max: the export cannot end
    before head closes (the spool is full and head reads no more), so the
    close must cancel it: nothing left running, spooled or staged."""
    wh = Warehouse(kind.split("-")[0], pg, redshift, s3, mount, pg_schema)
    wh.psql(f"CREATE TABLE {wh.qt('big')} AS SELECT g AS id, md5(g::text) AS a "
            f"FROM generate_series(1, 40000) g")
    cache = tmp_path / "cache"
    opts = [f"cache_dir={cache}", "spool_max=512K"] + (["unload"] if kind.endswith("unload") else [])
    m = wh.mount(*opts)
    path = m / wh.schema / "big.csv"
    with open(path, "rb", buffering=0) as f:
        assert f.read(100).startswith(b"id,a\n")
    assert spool_emptied(cache), "the spool file was left on disk"
    with contextlib.closing(wh.pg.connect()) as conn, conn.cursor() as cur:
        deadline = time.monotonic() + HANG_S
        while exports_running(wh, cur) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert exports_running(wh, cur) == 0, "the export still runs in the database"
    assert wh.staged_keys() == {}, "UNLOAD's slices were left in staging"
