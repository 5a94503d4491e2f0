"""The Redshift emulator (tests/redshift/emulator.py) itself: what odofs's
Redshift tests rely on. Clients: psycopg2 and psql through the emulator; the
results are read back directly from PostgreSQL (pg) and S3 (boto3)."""

import contextlib
import csv
import ctypes
import gzip
import hashlib
import io
import json
import subprocess
import threading
import time

import psycopg2
import psycopg2.errors
import pytest

from pgserver import *  # noqa: F401,F403
from pgserver import PSQL
from conftest import random_name

LOAD_FAILED = "Load into table '{}' failed.  Check 'stl_load_errors' system table for details."
STL_QUERY = ("SELECT line_number, colname, raw_field_value, err_reason, filename FROM stl_load_errors "
             "WHERE query = pg_last_copy_id() ORDER BY line_number")


@pytest.fixture
def rs(redshift):
    """A psycopg2 connection through the emulator (autocommit)."""
    conn = redshift.connect()
    yield conn
    conn.close()


def keys(s3):
    return f"ACCESS_KEY_ID '{s3.key_id}' SECRET_ACCESS_KEY '{s3.secret}'"


def creds(s3):
    return f"CREDENTIALS 'aws_access_key_id={s3.key_id};aws_secret_access_key={s3.secret}'"


IAM = "IAM_ROLE 'arn:aws:iam::123456789012:role/odofs-test'"


def rows(pg, sql):
    """Rows read directly from PostgreSQL, not through the emulator."""
    with contextlib.closing(pg.connect()) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def execute(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall() if cur.description else None


def copy_error(conn, sql):
    with pytest.raises(psycopg2.Error) as ei:
        execute(conn, sql)
    return ei.value


def test_version_and_passthrough(redshift, pg, rs):
    v = execute(rs, "select version()")
    assert "Redshift" in v[0][0] and v[0][0].startswith("PostgreSQL 8.0.2")
    assert "Redshift" in redshift.psql("SELECT VERSION() ; -- comment")
    assert "PostgreSQL 15" in pg.psql("select version()")
    # everything else is PostgreSQL's, through the same session
    assert execute(rs, "select 1 as a, 'x'::text as b; ") == [(1, "x")]
    assert redshift.psql("create temp table tt(a int); insert into tt values (1),(2); select sum(a) from tt") == "3\n"
    # pg_last_copy_id() is -1 before any COPY in the session
    assert execute(rs, "select pg_last_copy_id()") == [(-1,)]


class LibPq:
    """libpq through ctypes: PQexecParams speaks the extended protocol
    (Parse/Bind/Describe/Execute/Sync), as odofs does for its catalog
    queries; PQexec the simple one."""

    def __init__(self, conninfo):
        L = self.lib = ctypes.CDLL("libpq.so.5")
        p = ctypes.c_void_p
        L.PQconnectdb.restype, L.PQconnectdb.argtypes = p, [ctypes.c_char_p]
        L.PQstatus.argtypes = [p]
        L.PQexec.restype, L.PQexec.argtypes = p, [p, ctypes.c_char_p]
        L.PQexecParams.restype = p
        L.PQexecParams.argtypes = [p, ctypes.c_char_p, ctypes.c_int, p, ctypes.POINTER(ctypes.c_char_p), p, p,
                                   ctypes.c_int]
        L.PQresultStatus.argtypes = [p]
        L.PQresultErrorMessage.restype, L.PQresultErrorMessage.argtypes = ctypes.c_char_p, [p]
        L.PQgetvalue.restype, L.PQgetvalue.argtypes = ctypes.c_char_p, [p, ctypes.c_int, ctypes.c_int]
        L.PQclear.argtypes = L.PQfinish.argtypes = [p]
        self.conn = L.PQconnectdb(conninfo.encode())
        assert L.PQstatus(self.conn) == 0  # CONNECTION_OK

    def _result(self, res):
        try:
            st = self.lib.PQresultStatus(res)
            if st not in (1, 2):  # PGRES_COMMAND_OK, PGRES_TUPLES_OK
                raise AssertionError(self.lib.PQresultErrorMessage(res).decode())
            return self.lib.PQgetvalue(res, 0, 0).decode() if st == 2 else None
        finally:
            self.lib.PQclear(res)

    def params(self, sql, *values):
        arr = (ctypes.c_char_p * len(values))(*[v.encode() for v in values])
        return self._result(self.lib.PQexecParams(self.conn, sql.encode(), len(values), None, arr, None, None, 0))

    def exec(self, sql):
        return self._result(self.lib.PQexec(self.conn, sql.encode()))

    def close(self):
        self.lib.PQfinish(self.conn)


def test_extended_protocol(redshift, pg, s3, bucket, pg_schema):
    """The extended protocol passes through (version(), pg_last_copy_id()
    and stl_load_errors work there too), and the emulator still finds its
    moment to run a COPY between such queries. COPY itself must come as a
    simple Query (PQexec)."""
    pg.psql(f"create table {pg_schema}.e (a int)")
    s3.put(bucket, "e/f.csv", b"1\n2\n")
    s3.put(bucket, "ebad/f.csv", b"1\nx\n")
    q = LibPq(redshift.dsn)
    try:
        assert q.params("select $1::int + 1", "41") == "42"
        assert "Redshift" in q.params("select version()")
        assert q.exec(f"COPY {pg_schema}.e FROM 's3://{bucket}/e/' {IAM} CSV") is None
        assert q.params(f"select count(*) from {pg_schema}.e where a < $1", "10") == "2"
        with pytest.raises(AssertionError, match="Load into table 'e' failed"):
            q.exec(f"COPY {pg_schema}.e FROM 's3://{bucket}/ebad/' {IAM} CSV")
        assert q.params("select line_number::text || ':' || trim(colname) from stl_load_errors "
                        "where query = pg_last_copy_id() and session = pg_backend_pid() and $1", "true") == "2:a"
        with pytest.raises(AssertionError, match="syntax error"):
            q.params(f"COPY {pg_schema}.e FROM 's3://{bucket}/e/' {IAM} CSV")
    finally:
        q.close()


def test_auth_and_cancel(redshift, pg, rs):
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        redshift.connect(password="wrong")
    # The cancel goes out once PostgreSQL runs the statement (a cancel that
    # arrives first cancels nothing), and the statement ends long before
    # its 300 s sleep would.
    tag = random_name("cancel_me_")
    sql = f"select pg_sleep(300) as {tag}"

    def cancel_when_running():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if pg.psql(f"SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                       f"AND query LIKE '%{tag}%' AND pid <> pg_backend_pid()").strip() != "0":
                break
            time.sleep(0.02)
        rs.cancel()

    canceller = threading.Thread(target=cancel_when_running)
    canceller.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(psycopg2.errors.QueryCanceled):
            execute(rs, sql)
    finally:
        canceller.join(90)
    assert time.monotonic() - t0 < 120
    assert execute(rs, "select 42") == [(42,)]


def test_copy_csv_prefix(redshift, pg, s3, bucket, pg_schema, rs):
    """Every object under the prefix; IGNOREHEADER per file (CSV-aware: the
    header itself holds a quoted newline); quoted newlines in data; a file
    without a final newline; a column list in another order; quoted and
    unicode identifiers."""
    table = f'{pg_schema}."Tåble ""q"""'
    pg.psql(f'create table {table} ("ID" int, "näme" text, note text)')
    s3.put(bucket, "load/a.csv", b'"n\xc3\xa4me","ID\nx",note\nalice,1,plain\n"bob\nsmith",2,"say ""hi"""\n')
    s3.put(bucket, "load/b.csv", b'"n\xc3\xa4me",ID,note\ncarol,3,"a,b"\ndave,4,last-no-newline')
    execute(rs, f'COPY {table} ("näme", "ID", note) FROM \'s3://{bucket}/load/\' {IAM} FORMAT AS CSV IGNOREHEADER 1')
    assert rows(pg, f'select "ID", "näme", note from {table} order by 1') == [
        (1, "alice", "plain"), (2, "bob\nsmith", 'say "hi"'), (3, "carol", "a,b"), (4, "dave", "last-no-newline")]
    assert any("INFO" in n or "loaded successfully" in n for n in rs.notices)
    assert execute(rs, "select pg_last_copy_id()")[0][0] > 0
    # CommandComplete carries the count
    with rs.cursor() as cur:
        cur.execute(f"copy {table} (\"näme\", \"ID\", note) from 's3://{bucket}/load/b.csv' {keys(s3)} "
                    "csv ignoreheader as 1")
        assert cur.rowcount == 2
    # pipe-delimited text, the default format
    s3.put(bucket, "pipe/x.txt", b"5|eve|p\n")
    execute(rs, f"COPY {table} FROM 's3://{bucket}/pipe/' {creds(s3)}")
    assert rows(pg, f'select note from {table} where "ID" = 5') == [("p",)]


def test_key_prefix_rule(pg, s3, bucket, pg_schema, rs):
    """s3://b/stage/load1 also loads stage/load10/...: a load must use a
    prefix no other object's key starts with (a unique folder, slash-ended)."""
    pg.psql(f"create table {pg_schema}.t (a int)")
    s3.put(bucket, "stage/load1/part.csv", b"1\n2\n")
    s3.put(bucket, "stage/load10/part.csv", b"10\n")
    execute(rs, f"COPY {pg_schema}.t FROM 's3://{bucket}/stage/load1' {IAM} CSV")
    assert rows(pg, f"select a from {pg_schema}.t order by a") == [(1,), (2,), (10,)]
    execute(rs, f"TRUNCATE {pg_schema}.t")
    execute(rs, f"COPY {pg_schema}.t FROM 's3://{bucket}/stage/load1/' {IAM} CSV")
    assert rows(pg, f"select a from {pg_schema}.t order by a") == [(1,), (2,)]
    e = copy_error(rs, f"COPY {pg_schema}.t FROM 's3://{bucket}/stage/nothing/' {IAM} CSV")
    assert e.diag.message_primary == "The specified S3 prefix 'stage/nothing/' does not exist"


def test_gzip(pg, s3, bucket, pg_schema, rs):
    pg.psql(f"create table {pg_schema}.t (a int, b text)")
    body = b"".join(f"{i},row {i}\n".encode() for i in range(20000))
    # two gzip members in one object, as `cat a.gz b.gz` makes
    s3.put(bucket, "gz/1.csv.gz", gzip.compress(b"a,b\n" + body[:50000]) + gzip.compress(body[50000:]))
    execute(rs, f"COPY {pg_schema}.t FROM 's3://{bucket}/gz/' {IAM} CSV GZIP IGNOREHEADER 1")
    assert rows(pg, f"select count(*), sum(a) from {pg_schema}.t") == [(20000, sum(range(20000)))]
    # a cut stream fails the load, and nothing stays loaded
    whole = gzip.compress(body)
    s3.put(bucket, "gzbad/1.csv.gz", whole[: len(whole) // 2])
    e = copy_error(rs, f"COPY {pg_schema}.t FROM 's3://{bucket}/gzbad/' {IAM} CSV GZIP")
    assert e.diag.message_primary == LOAD_FAILED.format("t") and e.pgcode == "XX000"
    (_line, _col, _val, reason, filename), = execute(rs, STL_QUERY)
    assert "gzip" in reason and filename.strip() == f"s3://{bucket}/gzbad/1.csv.gz"
    assert rows(pg, f"select count(*) from {pg_schema}.t") == [(20000,)]


def test_json_auto(pg, s3, bucket, pg_schema, rs):
    pg.psql(f"create table {pg_schema}.j (id int, name text, tags text, meta text, ok boolean)")
    s3.put(bucket, "json/1.json", (
        '{"ID": 1, "Name": "a\\tb", "Extra": 5, "tags": ["x", "y"], "ok": true}\n'
        '{"id": 2,\n "name": "line\\nbreak",\n "meta": {"k": "v\\\\"}, "ok": false}\n'
        '{"id": 3} {"id": 4, "name": "ünï"}\n').encode())
    execute(rs, f"COPY {pg_schema}.j FROM 's3://{bucket}/json/' {IAM} FORMAT AS JSON 'auto ignorecase'")
    assert rows(pg, f"select * from {pg_schema}.j order by id") == [
        (1, "a\tb", '["x","y"]', None, True), (2, "line\nbreak", None, '{"k":"v\\\\"}', False),
        (3, None, None, None, None), (4, "ünï", None, None, None)]
    execute(rs, f"DELETE FROM {pg_schema}.j")
    execute(rs, f"COPY {pg_schema}.j FROM 's3://{bucket}/json/' {IAM} JSON 'auto'")  # keys matched exactly
    assert rows(pg, f"select id, name, tags from {pg_schema}.j order by id nulls first") == [
        (None, None, '["x","y"]'), (2, "line\nbreak", None), (3, None, None), (4, "ünï", None)]
    s3.put(bucket, "jsonbad/1.json", b'{"id": 1}\n{"id": 2,\n "name": }\n')
    e = copy_error(rs, f"COPY {pg_schema}.j FROM 's3://{bucket}/jsonbad/' {IAM} JSON 'auto'")
    assert e.diag.message_primary == LOAD_FAILED.format("j")
    (line, _col, _val, reason, _f), = execute(rs, STL_QUERY)
    assert line == 3 and "JSON" in reason


def test_manifest(pg, s3, bucket, pg_schema, rs):
    pg.psql(f"create table {pg_schema}.t (a int)")
    other = s3.make_bucket()
    s3.put(bucket, "m/one.csv", b"1\n")
    s3.put(other, "elsewhere/two.csv", b"2\n")
    s3.put(bucket, "m/not-listed.csv", b"99\n")
    man = {"entries": [{"url": f"s3://{bucket}/m/one.csv", "mandatory": True},
                       {"url": f"s3://{other}/elsewhere/two.csv", "mandatory": True},
                       {"url": f"s3://{bucket}/m/missing-optional.csv", "mandatory": False}]}
    s3.put(bucket, "manifests/load.manifest", json.dumps(man).encode())
    execute(rs, f"COPY {pg_schema}.t FROM 's3://{bucket}/manifests/load.manifest' {IAM} CSV MANIFEST")
    assert rows(pg, f"select a from {pg_schema}.t order by a") == [(1,), (2,)]
    man["entries"][2]["mandatory"] = True
    s3.put(bucket, "manifests/bad.manifest", json.dumps(man).encode())
    e = copy_error(rs, f"COPY {pg_schema}.t FROM 's3://{bucket}/manifests/bad.manifest' {IAM} CSV MANIFEST")
    assert "missing-optional.csv" in e.diag.message_primary
    assert rows(pg, f"select count(*) from {pg_schema}.t") == [(2,)]


def test_nulls(pg, s3, bucket, pg_schema, rs):
    """Redshift: an empty field is '' for a text column and NULL for others;
    EMPTYASNULL makes it NULL for text too; NULL AS names the null string."""
    t = f"{pg_schema}.n"
    pg.psql(f"create table {t} (k int, s text, i int)")
    s3.put(bucket, "n1/f.csv", b'1,,\n2,"",5\n')
    execute(rs, f"COPY {t} FROM 's3://{bucket}/n1/' {IAM} CSV")
    assert rows(pg, f"select k, s, i from {t} order by k") == [(1, "", None), (2, "", 5)]
    execute(rs, f"TRUNCATE {t}")
    execute(rs, f"COPY {t} FROM 's3://{bucket}/n1/' {IAM} CSV EMPTYASNULL")
    assert rows(pg, f"select k, s, i from {t} order by k") == [(1, None, None), (2, None, 5)]
    execute(rs, f"TRUNCATE {t}")
    s3.put(bucket, "n2/f.csv", b"1,NA,NA\n2,x,7\n")
    execute(rs, f"COPY {t} FROM 's3://{bucket}/n2/' {IAM} CSV NULL AS 'NA'")
    assert rows(pg, f"select k, s, i from {t} order by k") == [(1, None, None), (2, "x", 7)]


def test_credentials(redshift, pg, s3, bucket, pg_schema, rs):
    pg.psql(f"create table {pg_schema}.t (a int)")
    s3.put(bucket, "c/f.csv", b"1\n2\n")
    src = f"COPY {pg_schema}.t FROM 's3://{bucket}/c/'"
    e = copy_error(rs, f"{src} ACCESS_KEY_ID '{s3.key_id}' SECRET_ACCESS_KEY 'wrong-secret' CSV")
    assert "S3ServiceException" in e.diag.message_primary and e.pgcode == "XX000"
    e = copy_error(rs, f"{src} CREDENTIALS 'aws_access_key_id=AKIANOTAKEY;aws_secret_access_key=x' CSV")
    assert "S3ServiceException" in e.diag.message_primary
    e = copy_error(rs, f"{src} CSV")
    assert e.diag.message_primary.startswith("Invalid credentials")
    e = copy_error(rs, f"{src} {IAM} {keys(s3)} CSV")
    assert "credentials" in e.diag.message_primary
    e = copy_error(rs, f"{src} {IAM} CSV BOGUSOPTION")
    assert e.pgcode == "42601" and "BOGUSOPTION" in e.diag.message_primary
    assert rows(pg, f"select count(*) from {pg_schema}.t") == [(0,)]
    # the right ones, in the other spellings
    execute(rs, f"{src} WITH CREDENTIALS AS 'aws_access_key_id={s3.key_id};aws_secret_access_key={s3.secret}' "
                "CSV REGION AS 'us-east-1' COMPUPDATE OFF STATUPDATE OFF MAXERROR 0;")
    assert rows(pg, f"select count(*) from {pg_schema}.t") == [(2,)]
    log = redshift.log()
    assert s3.secret not in log and "wrong-secret" not in log and "'***'" in log


def test_bad_value_and_stl_load_errors(pg, s3, bucket, pg_schema, redshift):
    """BEGIN; DELETE; COPY fails; the transaction is aborted (stl_load_errors
    too cannot be read then); after ROLLBACK the rows are back and
    stl_load_errors tells where the load failed."""
    t = f"{pg_schema}.v"
    pg.psql(f"create table {t} (id int, name text); insert into {t} values (7, 'kept')")
    s3.put(bucket, "bad/a.csv", b"id,name\n1,ok\n")
    s3.put(bucket, "bad/b.csv", b'id,name\n2,"multi\nline"\nzz,bad\n3,never\n')
    conn = redshift.connect(autocommit=False)
    try:
        execute(conn, f"DELETE FROM {t}")
        e = copy_error(conn, f"COPY {t} FROM 's3://{bucket}/bad/' {IAM} CSV IGNOREHEADER 1")
        assert e.diag.message_primary == LOAD_FAILED.format("v") and e.pgcode == "XX000"
        assert e.diag.severity == "ERROR"
        with pytest.raises(psycopg2.errors.InFailedSqlTransaction):
            execute(conn, STL_QUERY)
        conn.rollback()
        assert execute(conn, STL_QUERY) == [
            (4, "id".ljust(127), "zz".ljust(1024), 'invalid input syntax for type integer: "zz"'.ljust(100),
             f"s3://{bucket}/bad/b.csv".ljust(256))]
        (n,), = execute(conn, "select count(*) from stl_load_errors where query = pg_last_copy_id()")
        assert n == 1
        assert execute(conn, f"select * from {t}") == [(7, "kept")]
        conn.commit()
    finally:
        conn.close()
    # One file whose first record holds a quoted newline (PostgreSQL's own
    # line count is off by one there); any subset of the columns, trimmed.
    with contextlib.closing(redshift.connect()) as conn:
        copy_error(conn, f"COPY {t} FROM 's3://{bucket}/bad/b.csv' {IAM} CSV IGNOREHEADER 1")
        assert execute(conn, "select trim(filename), line_number, trim(colname), trim(raw_line), err_code, "
                             "query = pg_last_copy_id() from stl_load_errors order by query desc limit 1") == [
            (f"s3://{bucket}/bad/b.csv", 4, "id", "zz,bad", 1207, True)]
    assert rows(pg, f"select * from {t}") == [(7, "kept")]
    # psql, as a person would see it
    out = redshift.psql(f"COPY {t} FROM 's3://{bucket}/bad/' {IAM} CSV IGNOREHEADER 1;", check=False)
    assert out.returncode != 0 and LOAD_FAILED.format("v") in out.stderr


def test_transaction_rollback(pg, s3, bucket, pg_schema, redshift):
    t = f"{pg_schema}.r"
    pg.psql(f"create table {t} (a int); insert into {t} values (1), (2)")
    s3.put(bucket, "r/f.csv", b"10\n11\n")
    conn = redshift.connect(autocommit=False)
    try:
        execute(conn, f"DELETE FROM {t}")
        execute(conn, f"COPY {t} FROM 's3://{bucket}/r/' {IAM} CSV")
        assert execute(conn, f"select a from {t} order by a") == [(10,), (11,)]
        assert rows(pg, f"select a from {t} order by a") == [(1,), (2,)]  # not committed yet
        conn.rollback()
        assert rows(pg, f"select a from {t} order by a") == [(1,), (2,)]
        execute(conn, f"DELETE FROM {t}")
        execute(conn, f"COPY {t} FROM 's3://{bucket}/r/' {IAM} CSV")
        conn.commit()
        assert rows(pg, f"select a from {t} order by a") == [(10,), (11,)]
    finally:
        conn.close()


def test_truncate_commits(pg, pg_schema, redshift):
    t = f"{pg_schema}.tr"
    pg.psql(f"create table {t} (a int); insert into {t} values (1), (2)")
    conn = redshift.connect(autocommit=False)
    try:
        execute(conn, f"INSERT INTO {t} VALUES (3)")
        execute(conn, f"TRUNCATE {t}")
        assert conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_INTRANS
        execute(conn, f"INSERT INTO {t} VALUES (4)")
        conn.rollback()
    finally:
        conn.close()
    assert rows(pg, f"select count(*) from {t}") == [(0,)]  # TRUNCATE committed; 4 rolled back


def test_refused(pg, pg_schema, rs, redshift):
    pg.psql(f"create table {pg_schema}.t (a int); insert into {pg_schema}.t values (1)")
    for sql in (f"COPY {pg_schema}.t TO STDOUT", f"copy (select 1) to stdout with (format csv)",
                f"COPY {pg_schema}.t FROM STDIN", f"COPY {pg_schema}.t FROM '/etc/passwd'"):
        e = copy_error(rs, sql)
        assert e.pgcode == "0A000", (sql, e)
    with rs.cursor() as cur, pytest.raises(psycopg2.Error, match="not supported"):
        cur.copy_expert(f"COPY {pg_schema}.t TO STDOUT", io.StringIO())
    e = copy_error(rs, f"select 1; COPY {pg_schema}.t FROM 's3://b/p' {IAM}")
    assert "single statement" in e.diag.message_primary
    # inside a transaction block, a refused statement aborts it, as on Redshift
    cp = redshift.psql(f"BEGIN; COPY {pg_schema}.t TO STDOUT; COMMIT;", check=False)
    assert cp.returncode != 0 and "not supported" in cp.stderr


def test_unload_round_trip(pg, s3, bucket, pg_schema, rs):
    t = f"{pg_schema}.u"
    pg.psql(f"create table {t} (id int, s text); insert into {t} "
            "select i, case when i % 7 = 0 then null else 'v''' || i || E',\\n\"' end from generate_series(1, 1000) i")
    query = f"select id, s from {t} where s is null or s <> ''nothing'' order by id"
    sql = f"UNLOAD ('{query}') TO 's3://{bucket}/unl/run1_' {IAM} FORMAT AS CSV HEADER GZIP MANIFEST PARALLEL ON"
    execute(rs, sql)
    objs = s3.list_objects(bucket, "unl/")
    assert set(objs) == {"unl/run1_0000_part_00.gz", "unl/run1_0001_part_00.gz", "unl/run1_manifest"}
    man = json.loads(s3.get(bucket, "unl/run1_manifest"))
    assert [(e["url"], e["meta"]["content_length"]) for e in man["entries"]] == [
        (f"s3://{bucket}/{k}", objs[k][0]) for k in ("unl/run1_0000_part_00.gz", "unl/run1_0001_part_00.gz")]
    got = []
    for k in ("unl/run1_0000_part_00.gz", "unl/run1_0001_part_00.gz"):
        recs = list(csv.reader(io.StringIO(gzip.decompress(s3.get(bucket, k)).decode(), newline="")))
        assert recs[0] == ["id", "s"] and len(recs) > 400
        got += [(int(i), s if s != "" else None) for i, s in recs[1:]]
    assert sorted(got) == rows(pg, f"select id, s from {t} order by id")
    # again: refused unless ALLOWOVERWRITE
    e = copy_error(rs, sql)
    assert "not empty" in e.diag.message_primary
    execute(rs, sql + " ALLOWOVERWRITE")
    # and back in through COPY ... MANIFEST: UNLOAD writes NULL as an empty
    # field, which COPY loads as '' into a text column unless EMPTYASNULL
    pg.psql(f"create table {t}2 (id int, s text)")
    load = f"COPY {t}2 FROM 's3://{bucket}/unl/run1_manifest' {IAM} MANIFEST CSV GZIP IGNOREHEADER 1"
    execute(rs, load)
    assert rows(pg, f"select count(*) from {t}2 where s = ''") == [(142,)]
    execute(rs, f"TRUNCATE {t}2")
    execute(rs, load + " EMPTYASNULL")
    assert rows(pg, f"select id, s from {t}2 order by id") == rows(pg, f"select id, s from {t} order by id")
    # PARALLEL OFF: one file
    execute(rs, f"UNLOAD ('select 1') TO 's3://{bucket}/unl2/x_' {keys(s3)} CSV PARALLEL OFF")
    assert s3.get(bucket, "unl2/x_000") == b"1\n"


def test_big_select_same_bytes(pg, redshift):
    sql = "select i, repeat(md5(i::text), 3), i * 0.5 from generate_series(1, 500000) i"

    def fetch(server):
        cp = subprocess.run([PSQL, "-X", "-At", "-c", sql], env=server.env(), capture_output=True, timeout=120)
        assert cp.returncode == 0, cp.stderr
        return len(cp.stdout), hashlib.sha256(cp.stdout).hexdigest()

    direct = fetch(pg)
    assert direct[0] > 50_000_000
    assert fetch(redshift) == direct


def test_emulator_log_is_clean(redshift):
    """Runs last (file order): no tracebacks in the emulator's stderr."""
    log = redshift.log()
    assert "Traceback" not in log, log[-4000:]


def test_stv_slices(redshift, rs):
    """stv_slices counts the emulator's --slices (4 unless the test asks)."""
    assert execute(rs, "SELECT COUNT(*) FROM stv_slices") == [(redshift.slices,)]
    assert execute(rs, "SELECT count(*) FROM pg_catalog.stv_slices s WHERE s.slice >= 0") == [(redshift.slices,)]


def test_manifest_of_gzip_parts(pg, s3, bucket, pg_schema, rs):
    pg.psql(f"create table {pg_schema}.t (a int, b text)")
    s3.put(bucket, "p/part0.gz", gzip.compress(b'1,"x\ny"\n2,b\n'))
    s3.put(bucket, "p/part1.gz", gzip.compress(b"3,c\n"))
    man = {"entries": [{"url": f"s3://{bucket}/p/part{i}.gz", "mandatory": True} for i in range(2)]}
    s3.put(bucket, "p/manifest", json.dumps(man).encode())
    execute(rs, f"COPY {pg_schema}.t (a, b) FROM 's3://{bucket}/p/manifest' {IAM} FORMAT AS CSV NULL AS '' "
                "GZIP MANIFEST")
    assert rows(pg, f"select a, b from {pg_schema}.t order by a") == [(1, "x\ny"), (2, "b"), (3, "c")]
    # A bad row in the second part: stl_load_errors names that part and its line.
    s3.put(bucket, "p/part1.gz", gzip.compress(b"4,d\nnope,e\n"))
    e = copy_error(rs, f"COPY {pg_schema}.t (a, b) FROM 's3://{bucket}/p/manifest' {IAM} FORMAT AS CSV "
                       "NULL AS '' GZIP MANIFEST")
    assert e is not None
    (line, _col, _val, _why, fname), = execute(rs, STL_QUERY)
    assert fname.strip() == f"s3://{bucket}/p/part1.gz" and line == 2
