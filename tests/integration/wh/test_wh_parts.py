"""Redshift loads split across the cluster's slices (issue 17, part 1): a
plain CSV's rows go in gzip'd parts, one per slice (stv_slices, or -o
load_parts=N), cut at record ends, and load with one COPY ... MANIFEST GZIP;
.errors names the line of the user's file; staging ends empty.
"""

import re

import pytest

from test_warehouse import cp_cmd, rswh  # noqa: F401

PARTS_RE = re.compile(r"(\d+) of (\d+) parts staged, (\d+) bytes gzip'd from (\d+)")


def big_csv(path, rows, bad_at=None):
    """id,v rows, every 7th v quoted with a line end and a comma inside, so
    cuts must respect quotes; row bad_at (1-based) has a non-integer id.
    Returns the file's line of that row."""
    lines = ["id,v\n"]
    line = 2
    bad_line = None
    for i in range(1, rows + 1):
        v = f'"multi\nline, {i}"' if i % 7 == 0 else f"value number {i} " + "x" * 20
        ident = "oops" if i == bad_at else str(i)
        if i == bad_at:
            bad_line = line
        lines.append(f"{ident},{v}\n")
        line += 2 if i % 7 == 0 else 1
    path.write_text("".join(lines))
    return bad_line


def staged(m):
    found = PARTS_RE.findall(m.log())
    assert found, m.log()[-2000:]
    return [tuple(int(x) for x in f) for f in found]


def test_load_in_parts_one_per_slice(rswh, tmp_path):
    wh = rswh
    wh.psql(f"CREATE TABLE {wh.qt('t')} (id int, v text)")
    src = tmp_path / "big.csv"
    n = 90000  # about 3.5 MB: a few 1 MiB chunks
    big_csv(src, n)
    m = wh.mount("log_level=info")
    cp_cmd(src, m / wh.schema / "t" / "big.csv")
    assert wh.psql(f"SELECT count(*), count(DISTINCT id), sum(id) FROM {wh.qt('t')}") == f"{n}|{n}|{n * (n + 1) // 2}"
    assert wh.psql(f"SELECT v FROM {wh.qt('t')} WHERE id = 7") == '"multi\nline, 7"'.strip('"')
    used, total, packed, raw = staged(m)[-1]
    assert total == wh.emulator.slices and used == total, (used, total)
    assert raw == src.stat().st_size - len("id,v\n") and packed < raw
    assert wh.staged_keys() == {}
    # The table file, replaced through O_TRUNC, goes the same way.
    cp_cmd(src, m / wh.schema / "t.csv")
    assert wh.psql(f"SELECT count(*) FROM {wh.qt('t')}") == str(n)


def test_a_bad_row_names_the_files_line(rswh, tmp_path):
    wh = rswh
    wh.psql(f"CREATE TABLE {wh.qt('t')} (id int, v text)")
    src = tmp_path / "bad.csv"
    bad_line = big_csv(src, 80000, bad_at=61234)
    m = wh.mount("log_level=info", expect_errors=[r"load of"])
    r = cp_cmd(src, m / wh.schema / "t" / "bad.csv", check=False)
    assert r.returncode != 0
    errors = (m / wh.schema / "t" / ".errors").read_text()
    assert f"line {bad_line}," in errors and "oops" in errors, (bad_line, errors)
    assert wh.psql(f"SELECT count(*) FROM {wh.qt('t')}") == "0"
    assert wh.staged_keys() == {}


def test_load_parts_option(rswh, tmp_path):
    wh = rswh
    wh.psql(f"CREATE TABLE {wh.qt('t')} (id int, v text)")
    src = tmp_path / "small.csv"
    big_csv(src, 30)
    m = wh.mount("log_level=info", "load_parts=3")
    cp_cmd(src, m / wh.schema / "t" / "small.csv")
    assert wh.psql(f"SELECT count(*) FROM {wh.qt('t')}") == "30"
    # A small file fills one part of the three; only that one is staged.
    assert staged(m)[-1][:2] == (1, 3)
    # A new table goes in parts too.
    cp_cmd(src, m / wh.schema / "fresh.csv")
    assert wh.psql(f"SELECT count(*) FROM {wh.qt('fresh')}") == "30"
    assert wh.staged_keys() == {}
