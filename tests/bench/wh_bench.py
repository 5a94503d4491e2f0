#!/usr/bin/python3
"""Warehouse benchmark: odofs's PostgreSQL and Redshift mounts beside the
usual command-line ways of loading and exporting a table.

One run, one throwaway PostgreSQL 15 server, one local s3rver and the
project's Redshift emulator in front of that PostgreSQL, and one generated CSV
file (WH_BENCH_MB, 256 MB by default: id bigint, name text, amount double
precision, flag boolean, day date, note text with commas, doubled quotes and
empty values) for every measurement:

  1. PostgreSQL load into an existing, empty table:
       odofs  `cp data.csv MNT/bench/rows/` (PostgreSQL mount)
       psql   `psql -c "\\copy bench.rows FROM 'data.csv' CSV HEADER"`
  2. Redshift load (through the emulator) into the same, emptied table:
       odofs  `cp data.csv MNT/bench/rows/` (Redshift mount, staging in S3):
              the rows in gzip'd parts, one per slice (the emulator's
              stv_slices counts WH_BENCH_SLICES), one COPY ... MANIFEST GZIP;
              the parts used and the bytes staged (gzip'd vs raw) are read
              from the daemon's log (log_level=info)
       ref    `aws s3 cp data.csv s3://wh-bench/ref-N/` then, with psql through
              the emulator, `COPY bench.rows FROM 's3://wh-bench/ref-N/'
              CREDENTIALS '...' FORMAT AS CSV IGNOREHEADER 1`; both timed
              together, as one load
  3. Export of the loaded table:
       odofs  `cat MNT/bench/rows.csv > /dev/null` on a fresh PostgreSQL mount
              (so the export is made by that cat, never an earlier snapshot)
       psql   `psql -c "COPY bench.rows TO STDOUT CSV HEADER" > /dev/null`
     and the same cat on a fresh Redshift mount (which SELECTs the rows through
     the emulator and writes the CSV itself), with two references, info only:
     the psql above (straight to PostgreSQL), and `psql --csv -v
     FETCH_COUNT=100000 -c "SELECT * FROM bench.rows"` through the emulator
     (which, like Redshift, refuses COPY TO STDOUT). Before the timed runs the
     SHA-256 of each odofs export is compared with psql's COPY output once.
  4. peak RSS of the odofs daemon during each of its operations, and for the
     exports the peak disk of its cache_dir (the spool: at most one copy of
     the table) and the first-byte time: `head -c 100 MNT/bench/rows.csv` on
     a fresh mount, from the open to the first bytes (the table's export
     streams; head's close cancels it).

The table is emptied (TRUNCATE, then CHECKPOINT and sync, untimed) before
each load, and after each load its row count must equal the CSV's. Every
figure is the median of BENCH_RUNS runs; every odofs measurement uses a fresh
mount (mounted, measured, unmounted; the mount is not timed). The script
prints figures and the ratios odofs / reference with the target of <= 1.15x;
it never fails because something is slow (exit 0), only when something broke
(exit 1: a mount, a load, a wrong row count, different export bytes; the
measurement is reported as "FAILED: reason" with the daemon's last log lines
and the others carry on) or it cannot start (exit 2).

Environment (all optional):
  ODOFS              odofs binary (default: build/odofs in the repository)
  BENCH_RUNS         runs per figure (default 3)
  WH_BENCH_MB        size of the generated CSV in MB (10^6 bytes; default 256)
  BENCH_ONLY         "pg", "redshift" or "export" to run one part only
  BENCH_EXPORT_PG_ONLY  1: the export part measures the PostgreSQL mount only
                     (the Redshift emulator's SELECT path is slow on 1 GB)
  WH_BENCH_SLICES    slices the emulator's stv_slices counts (default 4)
  BENCH_ODOFS_OPTS   extra odofs -o options for both mounts
  BENCH_OP_TIMEOUT   seconds before a single timed operation counts as hung (300)
  ODOFS_PG_BIN       PostgreSQL's bin folder (default /usr/lib/postgresql/15/bin)
  NODE               node binary for the S3 server (default: node on PATH)

Uses the standard library, benchlib.py (beside this file) and
tests/integration/pgserver.py (which needs pytest, psycopg2, and boto3 for the
emulator: run it with Debian's /usr/bin/python3).
"""

import datetime
import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time

import benchlib as bl
from benchlib import MB, RUNS, ONLY, OP_TIMEOUT, BenchError, log

sys.path.insert(0, os.path.join(bl.REPO, "tests", "integration"))
import pgserver  # noqa: E402  (after the path: it lives beside the integration tests)

SCHEMA, TABLE = "bench", "rows"
QT = f"{SCHEMA}.{TABLE}"
BUCKET = "wh-bench"  # odofs's staging prefix tmp/ and the reference's ref-N/
SIZE = int(float(os.environ.get("WH_BENCH_MB") or 256) * MB)
AWS = "/usr/bin/aws"
PSQL = pgserver.PSQL
TARGET = 1.15  # odofs time / reference time
SLICES = int(os.environ.get("WH_BENCH_SLICES") or 4)
STAGED_RE = re.compile(r"(\d+) of (\d+) parts staged, (\d+) bytes gzip'd from (\d+)")

CREATE_TABLE = (f"CREATE SCHEMA {SCHEMA};\n"
                f"CREATE TABLE {QT} (id bigint, name text, amount double precision, flag boolean, "
                f"day date, note text);\n")


# --------------------------------------------------------------------------
# data


def make_csv(path, size):
    """A CSV with a header, at least `size` bytes; returns its row count.
    Rows are built 50,000 at a time from small tables of precomputed values
    (indexed by the row number with co-prime moduli, so neighbouring rows
    differ): about 5 s for 256 MB, where formatting every value would take
    several times that."""
    rnd = random.Random(7)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "kilo"]
    names = [f"{rnd.choice(words)}-{rnd.choice(words)} {k}" for k in range(1009)]

    def note(k):
        a, b = rnd.choice(words), rnd.choice(words)
        return ("",  # empty, unquoted: NULL
                f'"{a}, {b} and more"',  # a comma inside quotes
                f'"she said ""{a}"", then {b}"',  # doubled quotes
                f"{a} {b} {k}",
                f"{a}-{k}")[k % 5]

    notes = [note(k) for k in range(997)]
    base = datetime.date(2000, 1, 1)
    days = [(base + datetime.timedelta(days=k)).isoformat() for k in range(9001)]
    amounts = [f"{rnd.uniform(-1e5, 1e5):.2f}" for _ in range(10007)]
    flags = ["true", "false", "false"]
    rows, written, chunk = 0, 0, 50000
    with open(path + ".tmp", "wb") as f:
        f.write(b"id,name,amount,flag,day,note\n")
        while written < size:
            block = "".join([f"{j},{names[j % 1009]},{amounts[j % 10007]},{flags[j % 3]},"
                             f"{days[j % 9001]},{notes[j % 997]}\n"
                             for j in range(rows + 1, rows + chunk + 1)]).encode()
            f.write(block)
            written += len(block)
            rows += chunk
    os.replace(path + ".tmp", path)
    return rows


# --------------------------------------------------------------------------
# running things


def timed(cmd, env=None, stdout=subprocess.DEVNULL):
    """bl.timed with an environment (aws and psql need theirs): (seconds,
    returncode, stderr). Registered with benchlib, so a child stuck in a FUSE
    request past BENCH_OP_TIMEOUT is left to benchlib's cleanup to kill."""
    with open(os.path.join(bl.tmpdir(), "timed.err"), "w+") as errf:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=errf)
        bl._procs.append(p)
        try:
            rc = p.wait(timeout=OP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise BenchError(f"{os.path.basename(cmd[0])} did not finish within {OP_TIMEOUT:.0f} s")
        dt = time.monotonic() - t0
        bl._procs.remove(p)
        errf.seek(0)
        return dt, rc, errf.read().strip()


def digest(cmd, env=None, keep=None):
    """(sha256 hex, bytes) of what cmd writes on stdout; killed after
    BENCH_OP_TIMEOUT (a read stuck in FUSE is killable). keep: also write the
    bytes there (to find the first difference when two digests differ)."""
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    bl._procs.append(p)
    killer = threading.Timer(OP_TIMEOUT, p.kill)
    killer.start()
    h, n = hashlib.sha256(), 0
    out = open(keep, "wb") if keep else None
    try:
        while True:
            b = p.stdout.read(1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
            if out:
                out.write(b)
        rc = p.wait()
        err = p.stderr.read().decode(errors="replace").strip()
    finally:
        killer.cancel()
        if out:
            out.close()
        bl.stop_proc(p)
    if rc != 0:
        raise BenchError(f"{' '.join(cmd[:1])} failed ({rc}): {err[-500:]}")
    return h.hexdigest(), n


def first_difference(a, b):
    """'line N: ... vs ...' for the first line where files a and b differ."""
    with open(a, "rb") as fa, open(b, "rb") as fb:
        for n, (la, lb) in enumerate(zip(fa, fb), 1):
            if la != lb:
                return f"line {n}: {la[:200]!r} vs {lb[:200]!r}"
    return "one is a prefix of the other"


class DiskWatch:
    """Polls the disk the files in folder hold (st_blocks) every 20 ms."""

    def __init__(self, folder):
        self.folder, self.peak = folder, 0
        self.stop_ev = threading.Event()
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _used(self):
        n = 0
        try:
            names = os.listdir(self.folder)
        except OSError:
            return 0
        for name in names:
            try:
                n += os.stat(os.path.join(self.folder, name)).st_blocks * 512
            except OSError:
                pass
        return n

    def _run(self):
        while not self.stop_ev.is_set():
            self.peak = max(self.peak, self._used())
            self.stop_ev.wait(0.02)

    def peak_mb(self):
        self.stop_ev.set()
        self.th.join()
        return max(self.peak, self._used()) / MB


class Warehouse:
    """The servers of one run and what the measurements do with them."""

    def __init__(self, pg, emu, s3, key_id, secret, s3_endpoint):
        self.pg, self.emu, self.s3 = pg, emu, s3
        self.key_id, self.secret, self.s3_endpoint = key_id, secret, s3_endpoint
        self.home = os.path.join(bl.tmpdir(), "home")
        self.cache = os.path.join(bl.tmpdir(), "cache")
        os.makedirs(self.home, exist_ok=True)
        self.n = 0
        # aws: the run's key pair only, no config or credentials files of the
        # machine's, no instance metadata.
        self.aws_env = bl.clean_env(self.home, AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret,
                                    AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
                                    AWS_SHARED_CREDENTIALS_FILE="/dev/null")

    # ---- mounts

    def mount(self, kind):
        """A fresh odofs mount of the PostgreSQL server ("pg") or of the
        emulator ("rs"); returns (mount dir, daemon Popen, log path). The
        mount is registered with benchlib, which unmounts it at exit."""
        self.n += 1
        mnt = os.path.join(bl.tmpdir(), f"mnt-{self.n:03d}-{kind}")
        os.makedirs(mnt)
        opts = f"cache_dir={self.cache}"
        if kind == "pg":
            source = self.pg.url
            env = bl.clean_env(self.home)
        else:
            source = self.emu.url()
            opts = f"staging=s3://{BUCKET}/tmp/,endpoint={self.s3_endpoint},log_level=info," + opts
            env = bl.clean_env(self.home, AWS_ACCESS_KEY_ID=self.key_id, AWS_SECRET_ACCESS_KEY=self.secret,
                               AWS_DEFAULT_REGION="us-east-1")
        if bl.ODOFS_OPTS:
            opts += "," + bl.ODOFS_OPTS
        cmd = [bl.ODOFS, source, mnt, "-f", "-o", opts]
        logpath = os.path.join(bl.tmpdir(), f"odofs-{self.n:03d}-{kind}.log")
        with open(logpath, "w") as logf:
            p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        bl._procs.append(p)
        bl._mounts[mnt] = p
        why = bl.wait_mounted(mnt, p)
        if why:
            raise BenchError(f"odofs ({kind}) {why}\n{bl.tail(logpath)}")
        return mnt, p, logpath

    def odofs_op(self, kind, cmd_of, disk=None):
        """Fresh mount, run cmd_of(mnt) timed; returns (seconds, peak RSS MiB,
        daemon CPU seconds). Any failure carries the daemon's log tail.
        disk: a list that gets the peak MB the cache_dir held."""
        mnt, p, logpath = self.mount(kind)
        try:
            watch = bl.RssWatch(p.pid)
            dwatch = DiskWatch(self.cache)
            cpu0 = bl.cpu_seconds(p.pid)
            try:
                dt, rc, err = timed(cmd_of(mnt))
            except BenchError as e:
                raise BenchError(f"{e}\n{bl.tail(logpath)}")
            finally:
                cpu = bl.cpu_seconds(p.pid) - cpu0
                rss = watch.peak_mib()
                if disk is not None:
                    disk.append(dwatch.peak_mb())
                else:
                    dwatch.peak_mb()
            if rc != 0:
                raise BenchError(f"{' '.join(cmd_of(mnt))} failed ({rc}): {err[-500:]}\n{bl.tail(logpath)}")
            if p.poll() is not None:
                raise BenchError(f"odofs exited ({p.returncode}) during the operation\n{bl.tail(logpath)}")
            self.last_log = logpath
            return dt, rss, cpu
        finally:
            bl.unmount(mnt)

    # ---- the table

    def count(self):
        return int(self.pg.psql(f"SELECT count(*) FROM {QT}").strip())

    def empty_table(self):
        """TRUNCATE, then flush what earlier steps left dirty (PostgreSQL's
        buffers and the kernel's), so it does not land on the next timing."""
        self.pg.psql(f"TRUNCATE {QT}; CHECKPOINT;")
        os.sync()

    def check_count(self, want, what, logpath=None):
        got = self.count()
        if got != want:
            raise BenchError(f"{what}: the table holds {got} rows after the load, the CSV {want}"
                             + (f"\n{bl.tail(logpath)}" if logpath else ""))

    def settle(self):
        """After a load: its writes flushed (untimed) before the next step."""
        self.pg.psql("CHECKPOINT;")
        os.sync()

    # ---- psql

    def psql_cmd(self, target, sql):
        """psql running one statement against PostgreSQL or the emulator. The
        connection string (with the throwaway password) is on the command
        line, as the integration tests do; the run's S3 keys never are (see
        rs_ref)."""
        dsn = (self.pg if target == "pg" else self.emu).dsn
        return [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", sql]

    def psql_env(self):
        return self.pg.env()  # client encoding, time zone, locale; PG* of the host dropped


# --------------------------------------------------------------------------
# the measurements


def pg_load_odofs(wh, data, rows):
    wh.empty_table()
    dt, rss, cpu = wh.odofs_op("pg", lambda mnt: ["cp", data, os.path.join(mnt, SCHEMA, TABLE) + "/"])
    wh.check_count(rows, "odofs cp (PostgreSQL)", wh.last_log)
    wh.settle()
    return dt, rss, cpu


def pg_load_psql(wh, data, rows):
    wh.empty_table()
    dt, rc, err = timed(wh.psql_cmd("pg", f"\\copy {QT} FROM '{data}' CSV HEADER"), env=wh.psql_env())
    if rc != 0:
        raise BenchError(f"psql \\copy failed ({rc}): {err[-500:]}")
    wh.check_count(rows, "psql \\copy")
    wh.settle()
    return dt


def rs_load_odofs(wh, data, rows):
    wh.empty_table()
    wh.s3.empty()
    dt, rss, cpu = wh.odofs_op("rs", lambda mnt: ["cp", data, os.path.join(mnt, SCHEMA, TABLE) + "/"])
    wh.check_count(rows, "odofs cp (Redshift)", wh.last_log)
    # odofs deletes its staging objects after the COPY; say so if some stay
    # (not a failure of the load, which the row count has checked).
    left, _ = wh.s3.list("tmp/")
    if left:
        log(f"    note: {len(left)} staging object(s) left under s3://{BUCKET}/tmp/, e.g. {left[0][0]}")
    wh.s3.empty()
    wh.settle()
    with open(wh.last_log, errors="replace") as f:
        staged = STAGED_RE.findall(f.read())
    # (used parts, parts, bytes uploaded gzip'd, raw bytes of the rows)
    parts = tuple(int(x) for x in staged[-1]) if staged else None
    return dt, rss, cpu, parts


def rs_load_ref(wh, data, rows, n):
    """aws s3 cp, then COPY through the emulator; the two timed as one load.
    The COPY statement holds the key pair, so psql reads it from a 0600 file
    rather than the command line."""
    wh.empty_table()
    wh.s3.empty()
    prefix = f"s3://{BUCKET}/ref-{n}/"
    dt1, rc, err = timed([AWS, "--endpoint-url", wh.s3_endpoint, "--no-progress", "s3", "cp", data, prefix],
                         env=wh.aws_env)
    if rc != 0:
        raise BenchError(f"aws s3 cp failed ({rc}): {err[-500:]}")
    sql = os.path.join(bl.tmpdir(), "copy.sql")
    with open(os.open(sql, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(f"COPY {QT} FROM '{prefix}' CREDENTIALS "
                f"'aws_access_key_id={wh.key_id};aws_secret_access_key={wh.secret}' "
                f"FORMAT AS CSV IGNOREHEADER 1;\n")
    cmd = wh.psql_cmd("rs", "")[:-2] + ["-f", sql]
    dt2, rc, err = timed(cmd, env=wh.psql_env())
    if rc != 0:
        raise BenchError(f"COPY through the emulator failed ({rc}): {err[-500:]}\n"
                         + "\n".join("    | " + ln for ln in wh.emu.log().splitlines()[-10:]))
    wh.check_count(rows, "aws s3 cp + COPY")
    wh.s3.empty()
    wh.settle()
    return dt1 + dt2, dt1, dt2


def export_odofs(wh, kind, disk=None):
    return wh.odofs_op(kind, lambda mnt: ["cat", os.path.join(mnt, SCHEMA, TABLE + ".csv")], disk=disk)


def first_byte_odofs(wh, kind):
    """Seconds from the open of the table file to its first bytes, on a fresh
    mount (no export made before): head -c 100, whose close then cancels the
    export (the release is not timed)."""
    return wh.odofs_op(kind, lambda mnt: ["head", "-c", "100", os.path.join(mnt, SCHEMA, TABLE + ".csv")])


def export_psql(wh, target):
    """psql's export: COPY TO STDOUT from PostgreSQL. Redshift (and so the
    emulator) refuses COPY TO STDOUT, so through the emulator it is psql's own
    CSV output of a SELECT, fetched 100,000 rows at a time through a cursor
    (FETCH_COUNT; without it psql would hold the whole result in memory).
    That CSV writes NULL and '' alike, so its bytes are not COPY's."""
    if target == "pg":
        cmd = wh.psql_cmd("pg", f"COPY {QT} TO STDOUT CSV HEADER")
    else:
        cmd = wh.psql_cmd("rs", f"SELECT * FROM {QT}")
        cmd[1:1] = ["--csv", "-v", "FETCH_COUNT=100000"]
    dt, rc, err = timed(cmd, env=wh.psql_env())
    if rc != 0:
        raise BenchError(f"psql export ({target}) failed ({rc}): {err[-500:]}")
    return dt


def check_exports(wh):
    """Once, untimed: each odofs export byte for byte against psql's COPY TO
    STDOUT. Also reads the whole table once, so that its first scan (which
    sets PostgreSQL's hint bits and writes the pages back) is not timed."""
    ref = os.path.join(bl.tmpdir(), "export-psql.csv")
    want, size = digest(wh.psql_cmd("pg", f"COPY {QT} TO STDOUT CSV HEADER"), env=wh.psql_env(), keep=ref)
    log(f"  psql COPY TO STDOUT: {size} bytes, sha256 {want[:16]}…")
    broken = []
    for kind, label in (("pg", "PostgreSQL"), ("rs", "Redshift")):
        mnt, p, logpath = wh.mount(kind)
        got_path = os.path.join(bl.tmpdir(), f"export-{kind}.csv")
        try:
            got, n = digest(["cat", os.path.join(mnt, SCHEMA, TABLE + ".csv")], keep=got_path)
        except BenchError as e:
            broken.append(f"{label} mount: {e}\n{bl.tail(logpath)}")
            continue
        finally:
            bl.unmount(mnt)
        if got == want:
            log(f"  odofs {label} export: {n} bytes, same sha256")
        else:
            broken.append(f"{label} mount: the export differs from COPY TO STDOUT: {n} bytes vs {size}, "
                          f"sha256 {got[:16]}… vs {want[:16]}…; first difference at "
                          f"{first_difference(got_path, ref)}\n{bl.tail(logpath)}")
        os.unlink(got_path)
    os.unlink(ref)
    return broken


# --------------------------------------------------------------------------
# main


def prereqs():
    if not os.access(bl.ODOFS, os.X_OK):
        return f"odofs binary not found at {bl.ODOFS} (build it, or set ODOFS=)"
    if not (pgserver.PG_BIN / "initdb").exists():
        return f"{pgserver.PG_BIN}/initdb not found (tests/setup.sh installs PostgreSQL 15)"
    for exe, hint in ((PSQL, "apt-get install postgresql-client"), (AWS, "apt-get install awscli"),
                      ("fusermount3", "apt-get install fuse3"), (bl.NODE, "apt-get install nodejs"),
                      ("runuser", "util-linux")):
        if not shutil.which(exe):
            return f"{exe} not found ({hint})"
    if not os.path.isdir(os.path.join(os.path.dirname(bl.SERVER_JS), "node_modules", "@20minutes", "s3rver")):
        return "s3rver is not installed: npm install --prefix tests/s3rver --no-audit --no-fund"
    return None


def main():
    if ONLY not in ("", "pg", "redshift", "export"):
        log(f"BENCH_ONLY must be 'pg', 'redshift' or 'export', not {ONLY!r}")
        return 2
    why = prereqs()
    if why:
        log(why)
        return 2

    log("odofs warehouse benchmark (PostgreSQL and Redshift-emulator mounts)")
    log(f"  odofs   {bl.ODOFS}: {bl.version([bl.ODOFS, '--version'])}"
        + (f" -o {bl.ODOFS_OPTS}" if bl.ODOFS_OPTS else ""))
    log(f"  psql    {bl.version([PSQL, '--version'])}")
    log(f"  aws     {bl.version([AWS, '--version'])}")
    log(f"  runs {RUNS} (median)")

    # ---- servers: S3, PostgreSQL, the emulator between them. Stopped in the
    # finally below (benchlib's cleanup, which runs after it, knows only the
    # S3 server, the mounts and the temporary folder).
    key_id, secret = bl.new_key_pair()
    s3dir = os.path.join(bl.tmpdir(), "s3")
    os.makedirs(s3dir)
    server, port = bl.start_server(s3dir, key_id, secret)
    s3_endpoint = f"http://127.0.0.1:{port}"
    s3 = bl.S3Curl(s3_endpoint, BUCKET, key_id, secret)
    s3.create_bucket()
    pg = pgserver.PgServer()
    emu = pgserver.RedshiftEmulator(pg, s3_endpoint, key_id, secret, os.path.join(bl.tmpdir(), "emulator"),
                                    slices=SLICES)
    try:
        try:
            pg.start()
            emu.start()
        except (pgserver.pytest.fail.Exception, AssertionError) as e:  # what pgserver raises when it cannot start
            log(f"cannot start the servers: {e}")
            return 2
        log(f"  S3      {s3_endpoint} (pid {server.pid}), bucket {BUCKET}")
        log(f"  pg      {pg.psql('SHOW server_version').strip()} on 127.0.0.1:{pg.port} "
            f"(fsync off, as the tests run it)")
        log(f"  emu     Redshift emulator on 127.0.0.1:{emu.port}")
        pg.psql(CREATE_TABLE)
        wh = Warehouse(pg, emu, s3, key_id, secret, s3_endpoint)
        return measure(wh)
    finally:
        for mnt in list(bl._mounts):  # before the servers they mount
            bl.unmount(mnt)
        emu.stop()  # each does nothing if it did not start
        pg.stop()


def measure(wh):
    data = os.path.join(bl.tmpdir(), "data.csv")
    t0 = time.monotonic()
    rows = make_csv(data, SIZE)
    size = os.path.getsize(data)
    log(f"  data    {data}: {size / MB:.1f} MB, {rows} rows, made in {time.monotonic() - t0:.1f} s")
    subprocess.run(["cat", data], stdout=subprocess.DEVNULL, check=True)  # every load reads it from the page cache

    do_pg, do_rs, do_export = (ONLY in ("", part) for part in ("pg", "redshift", "export"))
    secs = {}  # label -> [seconds]
    staged_info = []  # Redshift loads: (parts used, parts, gzip'd bytes, raw bytes)
    rss = {}  # label -> [MiB]
    disk = {}  # "pg"/"rs" -> [peak MB of the cache_dir during a cat]
    attempt = bl.Attempts("FAILED")

    def keep(label, dt, mib=None, cpu=None, extra=""):
        secs.setdefault(label, []).append(dt)
        line = f"    {label:22} {dt:7.2f} s  {size / dt / MB:6.1f} MB/s"
        if mib is not None:
            rss.setdefault(label, []).append(mib)
            line += f"  peak RSS {mib:6.1f} MiB  daemon CPU {cpu:5.2f} s"
        log(line + extra)

    # ---- 1. PostgreSQL load
    if do_pg:
        log("")
        log(f"1. PostgreSQL load of {size / MB:.0f} MB ({rows} rows) into the empty table {QT}")
        for r in range(1, RUNS + 1):
            log(f"  run {r}/{RUNS}")
            res = attempt("odofs pg load", lambda: pg_load_odofs(wh, data, rows))
            if res:
                keep("odofs cp", *res)
            dt = attempt("psql \\copy", lambda: pg_load_psql(wh, data, rows))
            if dt:
                keep("psql \\copy", dt)

    # ---- 2. Redshift load
    if do_rs:
        log("")
        log("2. Redshift load (emulator) of the same file into the emptied table")
        for r in range(1, RUNS + 1):
            log(f"  run {r}/{RUNS}")
            res = attempt("odofs rs load", lambda: rs_load_odofs(wh, data, rows))
            if res:
                parts = res[3]
                extra = (f"  ({parts[0]} of {parts[1]} parts, {parts[2] / MB:.1f} MB uploaded gzip'd"
                         f" for {parts[3] / MB:.1f} MB of rows, {100 * parts[2] / max(parts[3], 1):.0f}%)"
                         if parts else "  (no staging line in the log)")
                if parts:
                    staged_info.append(parts)
                keep("odofs cp (rs)", *res[:3], extra=extra)
            res = attempt("aws s3 cp + COPY", lambda: rs_load_ref(wh, data, rows, r))
            if res:
                keep("aws s3 cp + COPY", res[0], extra=f"  (aws {res[1]:.2f} s + COPY {res[2]:.2f} s)")

    # ---- 3. export
    if do_export:
        log("")
        log(f"3. export of {QT} (cold: a fresh mount for every odofs run)")
        if wh.count() != rows:  # a load above failed, or was not run: load with psql, untimed
            wh.empty_table()
            cp = subprocess.run(wh.psql_cmd("pg", f"\\copy {QT} FROM '{data}' CSV HEADER"), env=wh.psql_env(),
                                capture_output=True, text=True, timeout=OP_TIMEOUT)
            if cp.returncode != 0:
                raise BenchError(f"cannot load the table for the export: {cp.stderr.strip()}")
            wh.check_count(rows, "psql \\copy (before the export)")
        wh.settle()
        for e in check_exports(wh):
            attempt.failed.add("export check")
            attempt.errors.append(f"export check: {e}")
            log(f"    export check: FAILED: {e}")
        pg_only = os.environ.get("BENCH_EXPORT_PG_ONLY") == "1"
        for r in range(1, RUNS + 1):
            log(f"  run {r}/{RUNS}")
            for label, fn in (("odofs first byte (pg)", lambda: first_byte_odofs(wh, "pg")),
                              ("odofs cat (pg)", lambda: export_odofs(wh, "pg", disk.setdefault("pg", []))),
                              ("psql COPY TO STDOUT", lambda: export_psql(wh, "pg")),
                              ("odofs first byte (rs)", lambda: first_byte_odofs(wh, "rs")),
                              ("odofs cat (rs)", lambda: export_odofs(wh, "rs", disk.setdefault("rs", []))),
                              ("psql --csv via emu", lambda: export_psql(wh, "rs"))):
                if pg_only and ("(rs)" in label or "emu" in label):
                    continue
                res = attempt(label, fn)
                if isinstance(res, tuple):  # odofs: (seconds, RSS, CPU)
                    keep(label, *res)
                elif res is not None:  # psql: seconds
                    keep(label, res)
            for kind in disk:
                if disk[kind]:
                    log(f"    peak disk of the spool ({kind})  {disk[kind][-1]:8.1f} MB")

    # ---- results
    med = {k: bl.median(secs, k) for k in secs}
    rss_med = {k: bl.median(rss, k) for k in rss}
    log("")
    log(f"medians of {RUNS} ({size / MB:.0f} MB, {rows} rows):")
    for k, v in med.items():
        log(f"  {k:22} {v:7.2f} s  {size / v / MB:6.1f} MB/s"
            + (f"  peak RSS {rss_med[k]:6.1f} MiB" if k in rss_med else ""))

    summary = bl.Summary()

    def row(metric, a, b, target=True, goal=TARGET):
        o = med.get(a)
        fig = f"{o:.2f} s vs {med[b]:.2f} s" if o is not None and b in med else (f"{o:.2f} s" if o else "n/a")
        if target:
            summary.ratio_row(metric, fig, bl.ratio(o, med.get(b)), f"<= {goal}x", "<=", goal)
        else:
            summary.ratio_row(metric, fig, bl.ratio(o, med.get(b)), "-")

    if do_pg:
        row("pg load: odofs cp / psql \\copy", "odofs cp", "psql \\copy")
    if do_rs:
        row("rs load: odofs cp / aws s3 cp + COPY", "odofs cp (rs)", "aws s3 cp + COPY")
        if staged_info:
            used, total, packed, raw = staged_info[-1]
            summary.row("rs load: parts staged (of slices)", f"{used} of {total}", "-", "-", "info")
            summary.row("rs load: bytes uploaded, odofs gzip'd vs aws s3 cp raw",
                        f"{packed / MB:.1f} MB vs {size / MB:.1f} MB ({100 * packed / size:.0f}%)", "-", "-",
                        "info")
    if do_export:
        # issue 16: a whole sequential read within 1.1x of psql
        row("pg export: odofs cat / psql COPY TO STDOUT", "odofs cat (pg)", "psql COPY TO STDOUT", goal=1.1)
        row("rs export: odofs cat / psql COPY (to pg)", "odofs cat (rs)", "psql COPY TO STDOUT", target=False)
        row("rs export: odofs cat / psql --csv via emu", "odofs cat (rs)", "psql --csv via emu", target=False)
    for kind in ("pg", "rs"):
        fb = med.get(f"odofs first byte ({kind})")
        if fb is not None:
            summary.limit_row(f"{kind} export: first byte (head -c 100)", fb, "s", 1)
        if disk.get(kind):
            peak = max(disk[kind])
            summary.row(f"{kind} export: peak spool disk / table", f"{peak:.0f} MB / {size / MB:.0f} MB",
                        "-", "<= 1 copy", "info")
    for k, label in (("odofs cp", "pg load"), ("odofs cp (rs)", "rs load"), ("odofs cat (pg)", "pg export"),
                     ("odofs cat (rs)", "rs export")):
        if k in rss_med:
            summary.row(f"odofs peak RSS, {label}", f"{rss_med[k]:.1f} MiB", "-", "-", "info")
    summary.print(RUNS)
    return attempt.report()


if __name__ == "__main__":
    bl.run(main)
