"""Sharp edges of loads a new user trips on (issue 17, part 2), on
PostgreSQL and through the Redshift emulator: `>>` onto a table file that
was stat'ed, missing privileges, type inference that must not change data,
long column names, `\\.` lines, names that collide with the `.csv` suffix,
generated columns, and the emulator's own bugs that hid odofs behaviour.
"""

import contextlib
import os

import pytest

from conftest import C_LOCALE_ENV, run
# The fixtures wh (both backends), pgwh and rswh come with their module.
from test_warehouse import Warehouse, cp_cmd, pgwh, rswh, wh  # noqa: F401

LOAD_WARNING = [r"load of"]


def sh(cmd, check=True):
    return run(["sh", "-c", cmd], check=check, env=C_LOCALE_ENV, timeout=120)


# --------------------------------------------------------------------------
# 1. `>>` onto a table file after a stat or a read


def test_append_after_stat_and_read(wh):
    wh.psql(f"CREATE TABLE {wh.qt('ap')} (id int, name text); "
            f"INSERT INTO {wh.qt('ap')} VALUES (1, 'a')")
    m = wh.mount()
    f = m / wh.schema / "ap.csv"
    # A stat before any read shows 0 (no export yet); after the read it is
    # the export's exact size, where O_APPEND then writes.
    assert f.read_text() == "id,name\n1,a\n"
    assert f.stat().st_size == len("id,name\n1,a\n")
    sh(f"printf 'id,name\\n2,b\\n' >> '{f}'")
    assert wh.rows("ap") == ["1|a", "2|b"]
    # Again, right after a read of the grown table, and with os.write in
    # two pieces through one O_APPEND descriptor.
    assert f.read_text() == "id,name\n1,a\n2,b\n"
    fd = os.open(f, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"id,name\n3,")
        os.write(fd, b"c\n")
    finally:
        os.close(fd)
    assert wh.rows("ap") == ["1|a", "2|b", "3|c"]


# --------------------------------------------------------------------------
# 2. missing privileges are EACCES, and show in the files' modes


def mount_as(wh, user, password, *opts, **kw):
    """A mount of wh's kind as another role."""
    import urllib.parse

    q = urllib.parse.quote
    if wh.kind == "redshift":
        url = wh.emulator.url(user, password, wh.pg.dbname)
        opts = (*opts, "staging=" + wh.staging())
    else:
        url = f"postgresql://{q(user, safe='')}:{q(password, safe='')}@{wh.pg.host}:{wh.pg.port}/{wh.pg.dbname}"
    return wh._mount(url, *opts, **kw)


@pytest.fixture
def role(pg):
    """A role without superuser, logging in with a password; dropped after."""
    import secrets

    name = "r_" + secrets.token_hex(5)
    pw = secrets.token_urlsafe(12)
    pg.psql(f"CREATE ROLE {name} LOGIN PASSWORD '{pw}'")
    yield name, pw
    pg.psql(f"DROP OWNED BY {name}; DROP ROLE {name}")


def test_missing_privileges_are_eacces(wh, role, tmp_path):
    user, pw = role
    other = wh.schema + "_nousage"
    wh.psql(f"CREATE TABLE {wh.qt('ro')} (id int, v text); INSERT INTO {wh.qt('ro')} VALUES (1, 'a');"
            f"CREATE TABLE {wh.qt('rw')} (id int, v text);"
            f"CREATE TABLE {wh.qt('none')} (id int, v text);"
            f"CREATE TABLE {wh.qt('somecols')} (id int, secret text);"
            f"GRANT USAGE ON SCHEMA {wh.q(wh.schema)} TO {user};"
            f"GRANT SELECT ON {wh.qt('ro')} TO {user};"
            f"GRANT SELECT, INSERT, DELETE ON {wh.qt('rw')} TO {user};"
            f"GRANT SELECT (id) ON {wh.qt('somecols')} TO {user};"
            f"CREATE SCHEMA {wh.q(other)}; CREATE TABLE {wh.q(other)}.t (id int);"
            f"GRANT SELECT, INSERT ON {wh.q(other)}.t TO {user}")
    try:
        m = mount_as(wh, user, pw, expect_errors=[r"load of", r"cannot export", r"permission denied"])
        d = m / wh.schema
        modes = {p.name: p.stat().st_mode & 0o777 for p in d.iterdir()}
        # (The mount's umask, 022, takes the group's and others' w.)
        assert modes["ro.csv"] == 0o444, oct(modes["ro.csv"])
        assert modes["rw.csv"] == 0o644, oct(modes["rw.csv"])
        assert modes["none.csv"] == 0, oct(modes["none.csv"])
        assert modes["somecols.csv"] == 0, oct(modes["somecols.csv"])
        assert modes["ro"] == 0o555 and modes["rw"] == 0o755, modes
        assert (m / other / "t.csv").stat().st_mode & 0o777 == 0
        assert (d / "ro.csv").read_text() == "id,v\n1,a\n"

        def errno_of(fn):
            with pytest.raises(OSError) as ei:
                fn()
            return ei.value.errno

        import errno
        assert errno_of(lambda: (d / "none.csv").read_bytes()) == errno.EACCES
        assert errno_of(lambda: (d / "somecols.csv").read_bytes()) == errno.EACCES
        assert errno_of(lambda: (m / other / "t.csv").read_bytes()) == errno.EACCES
        src = tmp_path / "in.csv"
        src.write_text("id,v\n2,b\n")
        for target in (d / "ro.csv", d / "ro" / "in.csv"):
            r = cp_cmd(src, target, check=False)
            assert r.returncode != 0 and "Permission denied" in r.stderr, (target, r.stderr)
        r = sh(f"cat '{src}' >> '{d / 'ro.csv'}'", check=False)
        assert r.returncode != 0 and "Permission denied" in r.stderr, r.stderr
        assert "permission denied" in (d / "ro" / ".errors").read_text()
        # A new table needs CREATE on the schema.
        r = cp_cmd(src, d / "fresh.csv", check=False)
        assert r.returncode != 0 and "Permission denied" in r.stderr, r.stderr
        # What the role may do still works.
        cp_cmd(src, d / "rw.csv")
        assert wh.rows("rw") == ["2|b"]
        assert wh.rows("ro") == ["1|a"]
    finally:
        wh.psql(f"DROP SCHEMA {wh.q(other)} CASCADE")


# --------------------------------------------------------------------------
# 3. type inference never changes a value


def column_types(wh, table):
    return wh.psql("SELECT column_name || ':' || format_type(a.atttypid, a.atttypmod) "
                   "FROM information_schema.columns c JOIN pg_attribute a ON "
                   "a.attrelid = (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass "
                   "AND a.attname = c.column_name "
                   f"WHERE table_schema = '{wh.schema}' AND table_name = '{table}' "
                   "ORDER BY ordinal_position").splitlines()


def test_new_table_reads_back_its_values(wh, tmp_path):
    rows = [["zip", "big", "max", "amount", "ratio", "plus", "mixed"],
            ["02134", "9223372036854775808", "9223372036854775807", "1.50", "1e+20", "+5", "1"],
            ["00501", "-9223372036854775809", "-9223372036854775808", "2.25", "0.5", "6", "2.5"],
            ["12345", "1", "0", "-0.10", "1.5e-05", "7", "3"]]
    text = "".join(",".join(r) + "\n" for r in rows)
    src = tmp_path / "in.csv"
    # The ZIP codes quoted in the file: still text.
    src.write_text(text.replace("02134", '"02134"'))
    m = wh.mount()
    cp_cmd(src, m / wh.schema / "fresh.csv")
    assert (m / wh.schema / "fresh.csv").read_text() == text
    types = column_types(wh, "fresh")
    if wh.kind == "postgresql":
        assert types == ["zip:character varying(5)", "big:numeric", "max:bigint", "amount:numeric",
                         "ratio:double precision", "plus:character varying(2)", "mixed:numeric"], types
    else:
        assert types == ["zip:character varying(5)", "big:numeric(38,0)", "max:bigint",
                         "amount:numeric(38,2)", "ratio:double precision",
                         "plus:character varying(2)", "mixed:double precision"], types
    # JSON strings with leading zeros stay text too.
    os.mkdir(m / wh.schema / "j")
    jl = tmp_path / "z.jsonl"
    jl.write_text('{"zip": "02134", "n": 5}\n{"zip": "10001", "n": 6}\n')
    cp_cmd(jl, m / wh.schema / "j" / "z.jsonl")
    assert (m / wh.schema / "j.csv").read_text() == "zip,n\n02134,5\n10001,6\n"


# --------------------------------------------------------------------------
# 4. column names longer than the database keeps


def test_long_column_names_are_refused(wh, tmp_path):
    # 63 bytes on both (Redshift keeps 127, but one rule for both).
    limit = 63
    ok_name = "k" * limit
    long_a = "a" * limit + "_first"
    long_b = "a" * limit + "_second"
    src = tmp_path / "long.csv"
    src.write_text(f"id,{long_a},{long_b}\n1,x,y\n")
    m = wh.mount(expect_errors=[r"load of"])
    r = cp_cmd(src, m / wh.schema / "long.csv", check=False)
    assert r.returncode != 0
    errors = (m / wh.schema / "long" / ".errors").read_text()
    assert "column 2's name" in errors and f"at most {limit}" in errors, errors
    with contextlib.closing(wh.pg.connect()) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = 'long'",
                    (wh.schema,))
        assert cur.fetchone()[0] == 0
    # A name of exactly the limit is kept whole.
    src.write_text(f"id,{ok_name}\n1,x\n")
    cp_cmd(src, m / wh.schema / "fits.csv")
    assert (m / wh.schema / "fits.csv").read_text() == f"id,{ok_name}\n1,x\n"


# --------------------------------------------------------------------------
# 5. a line that is `\.` alone is data


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_backslash_dot_line_loads_as_data(wh, tmp_path, eol):
    wh.psql(f"CREATE TABLE {wh.qt('one')} (v text)")
    m = wh.mount()
    src = tmp_path / "dot.csv"
    src.write_bytes(eol.join(["v", "a", "\\.", "b", "\\."]).encode())
    cp_cmd(src, m / wh.schema / "one" / "dot.csv")
    assert sorted(wh.rows("one")) == ["\\.", "\\.", "a", "b"]
    # A quoted one, one in a quoted field, and a new table.
    src.write_bytes(eol.join(["v", '"\\."', '"x', '\\.', 'y"', "\\.", "c", ""]).encode())
    cp_cmd(src, m / wh.schema / "fresh.csv")
    assert wh.psql(f"SELECT count(*) FROM {wh.qt('fresh')}") == "4"
    assert wh.psql(f"SELECT count(*) FROM {wh.qt('fresh')} WHERE v = '\\.'") == "2"
    assert (m / wh.schema / "fresh.csv").read_bytes().count(b'"\\."') == 2


# --------------------------------------------------------------------------
# 8. the emulator's own bugs: NUL bytes in stl_load_errors, CRLF endings


def test_load_errors_after_a_nul_byte_row(wh, tmp_path):
    wh.psql(f"CREATE TABLE {wh.qt('n')} (id int, v text)")
    m = wh.mount(expect_errors=[r"load of"])
    bad = tmp_path / "nul.csv"
    bad.write_bytes(b"id,v\n1,a\n2,b\x00c\n")
    assert cp_cmd(bad, m / wh.schema / "n" / "nul.csv", check=False).returncode != 0
    assert "line 3" in (m / wh.schema / "n" / ".errors").read_text()
    again = tmp_path / "again.csv"
    again.write_text("id,v\n1,a\n2,b\nnope,c\n")
    assert cp_cmd(again, m / wh.schema / "n" / "again.csv", check=False).returncode != 0
    errors = (m / wh.schema / "n" / ".errors").read_text()
    assert "again.csv" in errors and "line 4" in errors, errors


def test_crlf_file_without_final_newline(wh, tmp_path):
    wh.psql(f"CREATE TABLE {wh.qt('c')} (id int, v text)")
    m = wh.mount()
    src = tmp_path / "crlf.csv"
    src.write_bytes(b"id,v\r\n1,a\r\n2,b")
    cp_cmd(src, m / wh.schema / "c" / "crlf.csv")
    assert wh.rows("c") == ["1|a", "2|b"]
    src.write_bytes(b"id,v\r\n3,c")
    cp_cmd(src, m / wh.schema / "c" / "one.csv")
    assert wh.rows("c") == ["1|a", "2|b", "3|c"]


# --------------------------------------------------------------------------
# 6. a table named x.csv beside a table x


def test_table_named_like_a_table_file(wh, tmp_path):
    wh.psql(f"CREATE TABLE {wh.qt('x')} (v text); INSERT INTO {wh.qt('x')} VALUES ('plain');"
            f"CREATE TABLE {wh.qt('x.csv')} (v text); INSERT INTO {wh.qt('x.csv')} VALUES ('dotted');"
            f"CREATE TABLE {wh.qt('y.csv')} (v text)")
    m = wh.mount()
    d = m / wh.schema
    names = os.listdir(d)
    assert len(names) == len(set(names)), sorted(names)
    assert sorted(names) == ["x", "x.csv", "x.csv.csv", "y.csv", "y.csv.csv"], sorted(names)
    # x.csv is the file of table x (a file wins over a folder);
    # table x.csv is its file x.csv.csv, read and written.
    assert (d / "x.csv").is_file() and (d / "x").is_dir()
    assert (d / "x.csv").read_text() == "v\nplain\n"
    assert (d / "x.csv.csv").read_text() == "v\ndotted\n"
    sh(f"printf 'v\\nmore\\n' >> '{d / 'x.csv.csv'}'")
    assert sorted(wh.rows("x.csv")) == ["dotted", "more"]
    assert wh.rows("x") == ["plain"]
    # Without a table y, table y.csv keeps its load folder y.csv/.
    assert (d / "y.csv").is_dir()
    src = tmp_path / "in.csv"
    src.write_text("v\nloaded\n")
    cp_cmd(src, d / "y.csv" / "in.csv")
    assert wh.rows("y.csv") == ["loaded"]


# --------------------------------------------------------------------------
# 7. generated columns: the export is what a load can take back


def test_generated_columns_round_trip(pgwh, tmp_path):
    wh = pgwh
    wh.psql(f"CREATE TABLE {wh.qt('g')} (a int, b int GENERATED ALWAYS AS (a * 2) STORED, c text);"
            f"INSERT INTO {wh.qt('g')} (a, c) VALUES (1, 'x'), (2, 'y')")
    m = wh.mount()
    f = m / wh.schema / "g.csv"
    data = f.read_bytes()
    # Exactly COPY table TO STDOUT (FORMAT csv, HEADER): no generated column.
    assert data == wh.copy_out("g") == b"a,c\n1,x\n2,y\n"
    src = tmp_path / "g.csv"
    src.write_bytes(data)
    cp_cmd(src, f)
    assert wh.rows("g") == ["1|2|x", "2|4|y"]
    sh(f"tail -n 1 '{src}' | sed 's/^/a,c\\n/' >> '{f}'")
    assert wh.psql(f"SELECT count(*) FROM {wh.qt('g')}") == "3"
