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
    assert f.stat().st_size > 0
    assert f.read_text() == "id,name\n1,a\n"
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
