"""Tables as CSV files: PostgreSQL mounts, and Redshift mounts through the
project's Redshift emulator (tests/redshift), both checked with psql against
the real PostgreSQL server underneath.

Every test runs on both kinds of mount unless it is about one of them; each
gets a fresh schema, so tests never see each other's tables.
"""

import contextlib
import gzip
import json
import mmap
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import C_LOCALE_ENV, ls_l, random_name, run
from pgserver import RedshiftEmulator


class Warehouse:
    """One kind of mount (postgresql or redshift) over the session's
    PostgreSQL, with a fresh schema."""

    def __init__(self, kind, pg, emulator, s3, mount, schema):
        self.kind = kind
        self.pg = pg
        self.emulator = emulator
        self.s3 = s3
        self._mount = mount
        self.schema = schema
        self.staging_bucket = None

    def source(self, table=None, password=True):
        pw = self.pg.password if password else None
        if self.kind == "redshift":
            url = self.emulator.url(self.pg.user, pw, self.pg.dbname)
        else:
            url = self.pg.url if password else self.pg.url.replace(":" + _pct(self.pg.password) + "@", "@")
        return url + (f"::{self.schema}.{table}" if table else "")

    def staging(self):
        if self.staging_bucket is None:
            self.staging_bucket = self.s3.make_bucket(random_name("stage-"))
        return f"s3://{self.staging_bucket}/tmp/"

    def mount(self, *opts, table=None, **kw):
        opts = list(opts)
        if self.kind == "redshift" and not any(o.startswith("staging=") for o in opts):
            opts.append("staging=" + self.staging())
        return self._mount(self.source(table), *opts, **kw)

    def psql(self, sql):
        return self.pg.psql(sql).rstrip("\n")

    def q(self, name):
        """A quoted identifier."""
        return '"' + name.replace('"', '""') + '"'

    def qt(self, table):
        return f"{self.q(self.schema)}.{self.q(table)}"

    def copy_out(self, table):
        """The table as PostgreSQL's own COPY TO STDOUT writes it (bytes)."""
        cp = subprocess.run(
            ["/usr/bin/psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", self.pg.dsn, "-c",
             f"COPY {self.qt(table)} TO STDOUT (FORMAT csv, HEADER)"],
            env=self.pg.env(), capture_output=True, timeout=120)
        assert cp.returncode == 0, cp.stderr
        return cp.stdout

    def rows(self, table, order="1"):
        return self.psql(f"SELECT * FROM {self.qt(table)} ORDER BY {order}").splitlines()

    def staged_keys(self):
        if self.staging_bucket is None:
            return {}
        return self.s3.list_objects(self.staging_bucket)


def _pct(s):
    import urllib.parse

    return urllib.parse.quote(s, safe="")


@pytest.fixture(params=["postgresql", "redshift"])
def wh(request, pg, redshift, s3, mount, pg_schema):
    return Warehouse(request.param, pg, redshift, s3, mount, pg_schema)


@pytest.fixture
def redshift_factory(pg, s3, tmp_path):
    """Another emulator of the test's own, e.g. with IAM keys S3 refuses."""
    started = []

    def _make(iam_key_id, iam_secret):
        emu = RedshiftEmulator(pg, s3.endpoint, iam_key_id, iam_secret, tmp_path / f"emu{len(started)}").start()
        started.append(emu)
        return emu

    yield _make
    for emu in started:
        emu.stop()


@pytest.fixture
def pgwh(pg, redshift, s3, mount, pg_schema):
    return Warehouse("postgresql", pg, redshift, s3, mount, pg_schema)


@pytest.fixture
def rswh(pg, redshift, s3, mount, pg_schema):
    return Warehouse("redshift", pg, redshift, s3, mount, pg_schema)


def cp_cmd(src, dst, check=True):
    return run(["cp", str(src), str(dst)], check=check, env=C_LOCALE_ENV, timeout=300)


# --------------------------------------------------------------------------
# reading tables

TYPES_TABLE = """
CREATE TABLE {t} (
  id bigint, small smallint, i integer, num numeric(12,3), dbl double precision,
  r real, flag boolean, d date, ts timestamp, txt text, vc varchar(40), ch char(4)
);
INSERT INTO {t} VALUES
 (1, 1, 10, 1.5, 2.25, 0.5, true, '2024-01-31', '2024-01-31 12:34:56.789', 'plain', 'v', 'ab'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (3, -2, -20, -0.001, 1e300, -1.5, false, '1999-12-31', '2000-01-01 00:00:00', '', '', ''),
 (4, 0, 0, 0, 0, 0, true, '2024-02-29', '2024-02-29 23:59:59', 'comma, "quote"', 'new
line', 'x'),
 (5, 0, 0, 0, 0, 0, false, '2024-03-01', '2024-03-01 00:00:01', 'ünïcødé 日本 🎉', E'tab\\there', ' s '),
 (6, 0, 0, 0, 0, 0, false, '2024-03-02', '2024-03-02 00:00:00', '\\.', 'cr\rlf', NULL),
 (7, 0, 0, 0, 0, 0, false, '2024-03-03', '2024-03-03 00:00:00', '  lead and trail  ', '"', ',');
"""


def test_table_reads_as_postgres_copy_byte_for_byte(wh):
    wh.psql(TYPES_TABLE.format(t=wh.qt("types")))
    # One column holding '\.' alone: COPY quotes it there.
    wh.psql(f"CREATE TABLE {wh.qt('one')} (v text); INSERT INTO {wh.qt('one')} VALUES ('\\.'), (''), (NULL), ('a');")
    m = wh.mount()
    for table in ("types", "one"):
        want = wh.copy_out(table)
        got = (m / wh.schema / f"{table}.csv").read_bytes()
        assert got == want, f"{wh.kind}: {table}.csv differs from COPY TO STDOUT"


def test_tree_shows_schemas_tables_and_load_folders(wh):
    wh.psql(f"CREATE TABLE {wh.qt('a')} (x int); CREATE VIEW {wh.qt('v')} AS SELECT 1 AS x;")
    m = wh.mount()
    top = set(os.listdir(m))
    assert wh.schema in top and "public" in top
    assert not any(s.startswith("pg_") or s == "information_schema" for s in top)
    entries = ls_l(m / wh.schema)
    assert entries["a.csv"][0] == "-" and entries["a"][0] == "d"
    assert entries["v.csv"][0] == "-"
    assert "v" not in entries, "a view has no load folder"
    assert os.listdir(m / wh.schema / "a") == []


def test_ls_of_hundreds_of_tables_exports_none(pgwh):
    wh = pgwh
    stmts = [f"CREATE TABLE {wh.qt(f't{i:03d}')} AS SELECT g AS x FROM generate_series(1, 2000) g;"
             for i in range(300)]
    wh.psql("\n".join(stmts))
    m = wh.mount()
    mark = wh.pg.psql("SELECT sum(seq_scan) FROM pg_stat_user_tables WHERE schemaname = "
                      f"'{wh.schema}'")
    entries = ls_l(m / wh.schema)
    assert len([n for n in entries if n.endswith(".csv")]) == 300
    after = wh.pg.psql("SELECT sum(seq_scan) FROM pg_stat_user_tables WHERE schemaname = "
                       f"'{wh.schema}'")
    assert mark == after, "ls -l read table data"


def test_legacy_readers_see_the_whole_table(wh):
    wh.psql(f"CREATE TABLE {wh.qt('big')} AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 20000) g;")
    want = wh.copy_out("big")
    m = wh.mount()
    path = m / wh.schema / "big.csv"
    # Before the first read nothing is exported: stat shows 0 (a stat never
    # waits for an export), and readers read to the end all the same.
    assert os.path.getsize(path) == 0
    assert run(["wc", "-c", str(path)]).stdout.split()[0] == str(len(want))
    # Once an export has finished, the size is exact (for the cache TTL).
    assert os.path.getsize(path) == len(want)
    with open(path, "rb") as f:
        assert f.read() == want
    assert run(["tail", "-n", "1", str(path)]).stdout.encode() == want.splitlines(True)[-1]
    with open(path, "rb") as f:
        assert os.fstat(f.fileno()).st_size == len(want)
        with mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mm:
            assert mm[:] == want
    # after a listing, reading stays complete even if ls showed no size
    ls_l(m / wh.schema)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        data = f.read()
    assert size == len(want) and data == want


# --------------------------------------------------------------------------
# loading files

def write_csv(path, header, rows, sep="\n"):
    lines = [",".join(header)] + [",".join(r) for r in rows]
    path.write_bytes((sep.join(lines) + sep).encode())
    return path


def test_cp_csv_into_load_folder_appends_rows(wh, tmp_path):
    wh.psql(f"CREATE TABLE {wh.qt('people')} (id int, name text, score double precision)")
    wh.psql(f"INSERT INTO {wh.qt('people')} VALUES (1, 'old', 0)")
    # columns in another order than the table's, one quoted with a comma
    src = write_csv(tmp_path / "people.csv", ["name", "ID", "score"],
                    [['"Smith, J."', "2", "1.5"], ["Ann", "3", ""]])
    m = wh.mount()
    cp_cmd(src, m / wh.schema / "people" / "")
    assert wh.rows("people") == ["1|old|0", "2|Smith, J.|1.5", "3|Ann|"]
    assert wh.psql(f"SELECT count(*) FROM {wh.qt('people')} WHERE score IS NULL") == "1"
    assert os.listdir(m / wh.schema / "people") == [], "the loaded file stays in the folder"
    assert wh.staged_keys() == {}, "staging objects left behind"


def test_cp_gzip_and_json_lines(wh, tmp_path):
    wh.psql(f"CREATE TABLE {wh.qt('ev')} (id int, kind text, ok boolean, payload text)")
    csvgz = tmp_path / "a.csv.gz"
    csvgz.write_bytes(gzip.compress(b"id,kind,ok,payload\n1,csv,true,x\n2,csv,false,\n"))
    jl = tmp_path / "b.jsonl"
    jl.write_text(json.dumps({"id": 3, "Kind": "json", "ok": True, "payload": {"a": [1, 2]}}) + "\n"
                  + json.dumps({"id": 4, "kind": "json", "extra": 1}) + "\n")
    jlgz = tmp_path / "c.jsonl.gz"
    jlgz.write_bytes(gzip.compress((json.dumps({"id": 5, "kind": "gz", "ok": False}) + "\n").encode()))
    m = wh.mount()
    for f in (csvgz, jl, jlgz):
        cp_cmd(f, m / wh.schema / "ev" / f.name)
    rows = wh.rows("ev")
    assert rows[0] == "1|csv|t|x" and rows[1] == "2|csv|f|"
    assert rows[2].startswith("3|json|t|") and json.loads(rows[2].split("|", 3)[3]) == {"a": [1, 2]}
    assert rows[3] == "4|json||"
    assert rows[4] == "5|gz|f|"
    assert wh.staged_keys() == {}


def test_cp_onto_table_file_replaces_and_append_adds(wh, tmp_path):
    wh.psql(f"CREATE TABLE {wh.qt('t')} (id int, v text); INSERT INTO {wh.qt('t')} VALUES (1,'a'),(2,'b')")
    m = wh.mount()
    f = m / wh.schema / "t.csv"
    src = write_csv(tmp_path / "new.csv", ["id", "v"], [["10", "x"]])
    cp_cmd(src, f)
    assert wh.rows("t") == ["10|x"]
    with open(f, "ab") as out:
        out.write(b"id,v\n11,y\n")
    assert wh.rows("t") == ["10|x", "11|y"]
    # and the file reads the new rows at once
    assert f.read_bytes() == b"id,v\n10,x\n11,y\n"


def test_a_load_during_an_export_shows_in_the_next_read(pgwh, tmp_path):
    """An export whose snapshot predates a load is not kept as the table's
    contents: the next open after the load sees the new row."""
    wh = pgwh
    n = 1000  # the lock, not the size, holds the export
    wh.psql(f"CREATE TABLE {wh.qt('t')} AS SELECT g AS id FROM generate_series(1, {n}) g")
    m = wh.mount()
    path = m / wh.schema / "t.csv"
    # A listing first: the names are then known without a lookup, which
    # the kernel would hold the whole schema folder for while it exports.
    assert "t.csv" in ls_l(m / wh.schema) and (m / wh.schema / "t").is_dir()
    first = {}
    reader = threading.Thread(target=lambda: first.update(data=path.read_bytes()))
    # However fast the machine, the export must be caught holding its
    # snapshot: a lock the test holds on the table stops it there (COPY
    # (SELECT ...) takes its snapshot before it locks what the query
    # reads), its backend is then stopped, and only then is the lock let go
    # for the load, which the stopped export cannot outrun.
    find = ("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
            f"backend_xmin IS NOT NULL AND query LIKE 'COPY (SELECT % FROM %{wh.schema}%'")
    with contextlib.closing(wh.pg.connect(autocommit=False)) as holder:
        holder.cursor().execute(f"LOCK TABLE {wh.qt('t')} IN ACCESS EXCLUSIVE MODE")
        reader.start()
        with contextlib.closing(wh.pg.connect()) as conn, conn.cursor() as cur:
            # A bound against a hang only: the export waits on the lock.
            deadline = time.monotonic() + 120
            pid = None
            while not pid and time.monotonic() < deadline and reader.is_alive():
                cur.execute(find)
                row = cur.fetchone()
                pid = row[0] if row else None
                time.sleep(0.05)
        assert pid, "the export never waited on the table's lock"
        os.kill(pid, signal.SIGSTOP)
        holder.rollback()
    try:
        cp_cmd(write_csv(tmp_path / "one.csv", ["id"], [["0"]]), m / wh.schema / "t" / "")
    finally:
        os.kill(pid, signal.SIGCONT)
    reader.join(120)
    assert first["data"].count(b"\n") == 1 + n, "the open before the load saw its own snapshot"
    lines = path.read_bytes().count(b"\n")
    assert lines == 1 + n + 1, "the read after the load does not show its row"


def test_new_table_from_csv_with_inferred_types(wh, tmp_path):
    src = write_csv(tmp_path / "n.csv", ["i", "f", "b", "d", "ts", "s", "allnull"],
                    [["1", "1.5", "true", "2024-01-01", "2024-01-01 10:00:00", "hello", ""],
                     ["-7", "2", "f", "2024-12-31", "2024-12-31T23:59:59.5", "wörld", ""]])
    m = wh.mount()
    cp_cmd(src, m / wh.schema / "fresh.csv")
    types = wh.psql("SELECT column_name || ':' || data_type || coalesce(':' || character_maximum_length, '') "
                    f"FROM information_schema.columns WHERE table_schema = '{wh.schema}' "
                    "AND table_name = 'fresh' ORDER BY ordinal_position").splitlines()
    # 1.5 and 2: NUMERIC writes both back as written; Redshift's DECIMAL
    # would need one scale, and DOUBLE PRECISION writes them back too.
    f_type = "numeric" if wh.kind == "postgresql" else "double precision"
    assert types == ["i:bigint", "f:" + f_type, "b:boolean", "d:date",
                     "ts:timestamp without time zone", "s:character varying:6",
                     "allnull:character varying:256"]
    assert wh.psql(f"SELECT count(*) FROM {wh.qt('fresh')} WHERE allnull IS NULL") == "2"
    assert "NO" not in wh.psql("SELECT is_nullable FROM information_schema.columns WHERE "
                               f"table_schema = '{wh.schema}' AND table_name = 'fresh'")
    # and a table folder made with mkdir takes the first file to make a table
    os.mkdir(m / wh.schema / "viadir")
    jl = tmp_path / "x.jsonl"
    jl.write_text('{"a": 1, "b": "x"}\n{"a": 2, "c": 2.5}\n')
    cp_cmd(jl, m / wh.schema / "viadir" / "x.jsonl")
    assert wh.rows("viadir") == ["1|x|", "2||2.5"]
    assert "viadir.csv" in os.listdir(m / wh.schema)


def test_bad_file_fails_cp_and_changes_nothing(wh, tmp_path):
    wh.psql(f"CREATE TABLE {wh.qt('t')} (id int, v text); INSERT INTO {wh.qt('t')} VALUES (1,'keep')")
    m = wh.mount(expect_errors=[r"load of"])
    bad = write_csv(tmp_path / "bad.csv", ["id", "v"], [["2", "fine"], ["three", "bad"], ["4", "x"]])
    cp = cp_cmd(bad, m / wh.schema / "t" / "bad.csv", check=False)
    assert cp.returncode != 0, "cp of a bad file must fail"
    assert wh.rows("t") == ["1|keep"], "a failed load left rows behind"
    errors = (m / wh.schema / "t" / ".errors").read_text()
    assert "bad.csv" in errors and "three" in errors
    assert "line 3" in errors or "line 3" in errors.replace(",", "")
    # a replace that fails keeps the old rows too
    cp = cp_cmd(bad, m / wh.schema / "t.csv", check=False)
    assert cp.returncode != 0
    assert wh.rows("t") == ["1|keep"]
    # wrong column count and broken gzip
    short = tmp_path / "short.csv"
    short.write_text("id,v\n5\n")
    assert cp_cmd(short, m / wh.schema / "t" / "short.csv", check=False).returncode != 0
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(b"id,v\n6,x\n" * 1000)[:-30])
    assert cp_cmd(broken, m / wh.schema / "t" / "broken.csv.gz", check=False).returncode != 0
    assert wh.rows("t") == ["1|keep"]
    assert wh.staged_keys() == {}


def test_odd_table_and_column_names(wh, tmp_path):
    names = ['With Space', 'Quote"d', "UPPER", "ünï 日本", 'x"; DROP TABLE y; --']
    col_a, col_b = wh.q("Col A"), wh.q('b"q')
    for n in names:
        wh.psql(f"CREATE TABLE {wh.qt(n)} ({col_a} int, {col_b} text); "
                f"INSERT INTO {wh.qt(n)} VALUES (1, 'v')")
    m = wh.mount()
    listing = set(os.listdir(m / wh.schema))
    for n in names:
        assert f"{n}.csv" in listing and n in listing
        assert (m / wh.schema / f"{n}.csv").read_bytes() == wh.copy_out(n)
        src = tmp_path / "in.csv"
        src.write_text('"Col A","b""q"\n2,w\n')
        cp_cmd(src, m / wh.schema / n / "in.csv")
        assert wh.rows(n) == ["1|v", "2|w"]


def test_removing_tables_needs_allow_drop(wh):
    wh.psql(f"CREATE TABLE {wh.qt('t')} (id int); CREATE TABLE {wh.qt('u')} (id int)")
    m = wh.mount()
    cp = run(["rm", str(m / wh.schema / "t.csv")], check=False, env=C_LOCALE_ENV)
    assert cp.returncode != 0 and "Operation not permitted" in cp.stderr
    assert run(["rmdir", str(m / wh.schema / "t")], check=False).returncode != 0
    assert wh.psql(f"SELECT count(*) FROM pg_tables WHERE schemaname = '{wh.schema}'") == "2"
    m2 = wh.mount("allow_drop")
    os.unlink(m2 / wh.schema / "t.csv")
    os.rmdir(m2 / wh.schema / "u")
    assert wh.psql(f"SELECT count(*) FROM pg_tables WHERE schemaname = '{wh.schema}'") == "0"


def test_table_suffix_mounts_one_table(wh):
    wh.psql(f"CREATE TABLE {wh.qt('only')} (x int); CREATE TABLE {wh.qt('other')} (x int)")
    m = wh.mount(table="only")
    assert os.listdir(m) == [wh.schema]
    assert sorted(os.listdir(m / wh.schema)) == ["only", "only.csv"]


def test_password_never_shows(wh, tmp_path):
    m = wh.mount()
    secret = wh.pg.password
    assert secret not in open(f"/proc/{m.proc.pid}/cmdline", "rb").read().decode(errors="replace")
    assert secret not in open("/proc/self/mountinfo").read()
    assert secret not in run(["ps", "-ef"]).stdout
    assert secret not in m.log()


def test_bad_password_refuses_the_mount(wh, odofs_run, tmp_path):
    src = wh.source().replace(_pct(wh.pg.password), "wrong-password")
    d = tmp_path / "m"
    d.mkdir()
    opts = ["endpoint=" + wh.s3.endpoint]
    if wh.kind == "redshift":
        opts.append("staging=" + wh.staging())
    cp, _ = odofs_run(src, str(d), "-f", "-o", ",".join(opts))
    assert cp.returncode != 0
    assert "password authentication failed" in cp.stderr
    assert "wrong-password" not in cp.stderr


# --------------------------------------------------------------------------
# Redshift only

def test_redshift_staging_is_emptied_and_credentials_checked(rswh, redshift_factory, tmp_path):
    wh = rswh
    wh.psql(f"CREATE TABLE {wh.qt('t')} (id int); INSERT INTO {wh.qt('t')} VALUES (1)")
    # An emulator whose IAM role maps to keys S3 refuses: the COPY fails.
    bad = redshift_factory(iam_key_id="AKIAWRONGWRONGWRONG0", iam_secret="wrong")
    wh.emulator = bad
    m = wh.mount("iam_role=arn:aws:iam::123456789012:role/odofs-test", expect_errors=[r"load of"])
    src = tmp_path / "in.csv"
    src.write_text("id\n2\n")
    assert cp_cmd(src, m / wh.schema / "t" / "in.csv", check=False).returncode != 0
    assert wh.rows("t") == ["1"]
    errors = (m / wh.schema / "t" / ".errors").read_text()
    assert "S3" in errors or "Access" in errors or "denied" in errors.lower()
    assert wh.staged_keys() == {}, "the staged file must be deleted after a failed load"


def test_redshift_unload_reads_the_same_rows_and_cleans_staging(rswh):
    wh = rswh
    wh.psql(f"CREATE TABLE {wh.qt('u')} AS SELECT g AS id, CASE WHEN g % 7 = 0 THEN NULL "
            f"ELSE 'row ' || g END AS v, '' AS empty FROM generate_series(1, 5000) g")
    m = wh.mount("unload")
    got = (m / wh.schema / "u.csv").read_bytes()
    want = wh.copy_out("u")
    # UNLOAD writes slices in parallel: same header, same rows, any order.
    assert got.split(b"\n", 1)[0] == want.split(b"\n", 1)[0]
    assert sorted(got.splitlines()) == sorted(want.splitlines())
    assert wh.staged_keys() == {}, "UNLOAD's slices must be deleted once read"
    assert "UNLOAD" in wh.emulator.log()


def test_password_from_pgpassword_or_passfile(pgwh, tmp_path):
    wh = pgwh
    wh.psql(f"CREATE TABLE {wh.qt('t')} (x int); INSERT INTO {wh.qt('t')} VALUES (42)")
    pg = wh.pg
    bare = f"postgresql://{pg.user}@{pg.host}:{pg.port}/{pg.dbname}"
    env = {**wh.s3.env(), "PGPASSWORD": pg.password}
    m = wh._mount(bare, env=env)
    assert (m / wh.schema / "t.csv").read_text() == "x\n42\n"
    pf = tmp_path / "pgpass"
    pf.write_text(f"{pg.host}:{pg.port}:{pg.dbname}:{pg.user}:{pg.password}\n")
    pf.chmod(0o600)
    m2 = wh._mount(bare, f"passfile={pf}")
    assert (m2 / wh.schema / "t.csv").read_text() == "x\n42\n"
