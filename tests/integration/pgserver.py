"""PostgreSQL and Redshift-emulator fixtures for odofs's integration tests.

conftest.py imports everything here (`from pgserver import *`), so the
fixtures below are visible to every test:

  pg          (session) a throwaway PostgreSQL 15 cluster (PgServer)
  redshift    (session) tests/redshift/emulator.py in front of `pg`, fetching
              from the session's `s3` server (RedshiftEmulator)
  pg_schema   (function) a fresh schema in `pg` with a random name, dropped
              (CASCADE) afterwards; tests isolate their tables by schema

We run as root and postgres refuses root, so initdb, pg_ctl and the server run
as the `postgres` user (runuser), in a folder under /tmp that user owns.
"""

import contextlib
import os
import re
import secrets
import select
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest

__all__ = ["PgServer", "RedshiftEmulator", "wait_listening", "stop_process", "pg", "redshift", "pg_schema", "PG_BIN", "PSQL"]

REPO = Path(__file__).resolve().parents[2]
EMULATOR_PY = REPO / "tests" / "redshift" / "emulator.py"
PG_BIN = Path(os.environ.get("ODOFS_PG_BIN") or "/usr/lib/postgresql/15/bin")
PSQL = "/usr/bin/psql" if os.path.exists("/usr/bin/psql") else (shutil.which("psql") or "psql")
# Debian's interpreter: it has boto3 (a `python3` earlier on PATH may not).
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
START_TIMEOUT_S = 20


def wait_listening(proc, timeout):
    """The port in a server's first stdout line, `listening PORT` (how
    tests/s3rver/server.js and tests/redshift/emulator.py announce they are
    up), or None if the process exits or says nothing in time."""
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            return None
        r, _, _ = select.select([proc.stdout], [], [], left)
        if r:
            b = os.read(proc.stdout.fileno(), 256)
            if not b:
                continue
            line += b
    m = re.match(rb"listening (\d+)\n", line)
    assert m, f"unexpected first line from a test server: {line!r}"
    return int(m.group(1))


def stop_process(proc):
    """Stop a test server started with stdout=PIPE: SIGCONT first (a
    stopped process cannot act on SIGTERM), SIGTERM, SIGKILL after 10 s."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    proc.stdout.close()


def _random_name(prefix, n=10):
    alphabet = string.ascii_lowercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd, *, timeout=60, check=True, env=None, input=None):
    cp = subprocess.run([str(c) for c in cmd], env=env, input=input, capture_output=True, text=True,
                        timeout=timeout)
    if check and cp.returncode != 0:
        raise AssertionError(f"command failed ({cp.returncode}): {' '.join(map(str, cmd))}\n"
                             f"stdout:\n{cp.stdout[-4000:]}\nstderr:\n{cp.stderr[-4000:]}")
    return cp


def _quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def _libpq_value(v):
    return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"


class _Client:
    """What PgServer and RedshiftEmulator share: psql and psycopg2 clients
    for (host, port, user, password, dbname)."""

    host = "127.0.0.1"

    def _dsn(self, user=None, password=None, db=None, **extra):
        kv = {"host": self.host, "port": self.port, "user": user or self.user,
              "password": self.password if password is None else password,
              "dbname": db or self.dbname, "sslmode": "disable", "connect_timeout": 10, **extra}
        return " ".join(f"{k}={_libpq_value(v)}" for k, v in kv.items())

    @property
    def dsn(self):
        """libpq keyword/value connection string."""
        return self._dsn()

    def env(self, user=None, password=None, db=None):
        """os.environ plus PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE, for psql
        and odofs; PGSERVICE/PGPASSFILE and the like are dropped."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(PGHOST=self.host, PGPORT=str(self.port), PGUSER=user or self.user,
                   PGPASSWORD=self.password if password is None else password,
                   PGDATABASE=db or self.dbname, PGSSLMODE="disable", PGCONNECT_TIMEOUT="10",
                   PGCLIENTENCODING="UTF8", PGTZ="UTC", LC_ALL="C.UTF-8")
        return env

    def psql(self, sql, db=None, check=True, user=None, password=None, timeout=60):
        """Run `sql` (one or more statements, read from stdin) with
        psql -X -v ON_ERROR_STOP=1 -At. Returns stdout; with check=False the
        CompletedProcess (returncode, stdout, stderr) instead."""
        cp = _run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-f", "-"], input=sql, check=check,
                  env=self.env(user=user, password=password, db=db), timeout=timeout)
        return cp.stdout if check else cp

    def connect(self, db=None, user=None, password=None, autocommit=True):
        """A psycopg2 connection (autocommit unless told otherwise)."""
        import psycopg2

        conn = psycopg2.connect(self._dsn(user=user, password=password, db=db))
        conn.autocommit = autocommit
        return conn


class PgServer(_Client):
    """A PostgreSQL 15 cluster of its own: initdb'd in a folder under /tmp
    owned by `postgres`, listening on 127.0.0.1 on a random port (its unix
    socket inside the data folder), scram-sha-256 for TCP connections, one
    superuser `odofs` with a random password and a database `odofs_test`.
    Tuned for tests (fsync off), not for keeping data."""

    def __init__(self):
        self.user = "odofs"
        self.password = secrets.token_urlsafe(18)
        self.dbname = "odofs_test"
        self.port = None
        self.workdir = None
        self.datadir = None

    def _as_postgres(self, *cmd, timeout=60, check=True):
        return _run(["runuser", "-u", "postgres", "--", *cmd], timeout=timeout, check=check,
                    env={**os.environ, "LC_ALL": "C.UTF-8", "TZ": "UTC"})

    def start(self):
        if not (PG_BIN / "initdb").exists():
            pytest.fail(f"{PG_BIN}/initdb missing: install Debian's postgresql (tests/setup.sh)")
        # mkdtemp: 0700 and ours; handing it to postgres makes every path
        # below traversable for the server (/tmp itself is 1777).
        self.workdir = Path(tempfile.mkdtemp(prefix="odofs-pg-", dir="/tmp"))
        shutil.chown(self.workdir, "postgres", "postgres")
        self.datadir = self.workdir / "data"
        self.logfile = self.workdir / "postgres.log"
        pwfile = self.workdir / "pw"
        pwfile.write_text(self.password + "\n")
        shutil.chown(pwfile, "postgres", "postgres")
        pwfile.chmod(0o600)
        self._as_postgres(PG_BIN / "initdb", "-D", self.datadir, "-U", self.user, f"--pwfile={pwfile}",
                          "--auth-host=scram-sha-256", "--auth-local=trust", "--encoding=UTF8",
                          "--locale=C.UTF-8", "--no-sync", "--no-instructions", timeout=60)
        pwfile.unlink()
        with open(self.datadir / "postgresql.conf", "a") as f:
            f.write("\n# odofs tests\n"
                    "listen_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.datadir}'\n"
                    "password_encryption = 'scram-sha-256'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                    "shared_buffers = 32MB\nmax_connections = 100\n"
                    "max_wal_size = 1GB\ncheckpoint_timeout = 30min\n"
                    "log_min_messages = warning\nlog_line_prefix = '%m [%p] '\n"
                    "timezone = 'UTC'\n")
        for attempt in range(3):
            self.port = _free_port()
            cp = self._as_postgres(PG_BIN / "pg_ctl", "-D", self.datadir, "-l", self.logfile, "-w",
                                   "-t", str(START_TIMEOUT_S), "-o", f"-p {self.port}", "start",
                                   timeout=START_TIMEOUT_S + 10, check=False)
            if cp.returncode == 0:
                break
            if attempt == 2:
                log = self.logfile.read_text(errors="replace")[-3000:] if self.logfile.exists() else ""
                self.stop()
                pytest.fail(f"postgres did not start: {cp.stderr}\n{log}")
        with contextlib.closing(self.connect(db="postgres")) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {self.dbname}")
        return self

    def stop(self):
        self.resume()
        if self.datadir is not None and (self.datadir / "postmaster.pid").exists():
            self._as_postgres(PG_BIN / "pg_ctl", "-D", self.datadir, "-m", "immediate", "-w", "stop",
                              timeout=30, check=False)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def log(self):
        try:
            return self.logfile.read_text(errors="replace")
        except (AttributeError, FileNotFoundError):
            return ""

    # Faults (tests/integration/test_wh_faults.py): stop and continue the
    # whole server, or kill it and start it again on the same port.

    def pids(self):
        """The postmaster's pid first, then its children's (backends and
        background processes)."""
        pm = int((self.datadir / "postmaster.pid").read_text().split()[0])
        kids = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    # pid (comm) state ppid ...; comm may hold spaces
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pm:
                kids.append(int(d))
        return [pm] + kids

    def pause(self):
        """SIGSTOP the postmaster and every backend: connections stay open
        and new ones are accepted by the kernel, but nothing answers."""
        self._paused = self.pids()
        for pid in self._paused:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def resume(self):
        for pid in getattr(self, "_paused", None) or []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._paused = None

    def kill(self):
        """Stop the server at once (pg_ctl -m immediate: backends die,
        clients see their connections closed)."""
        self.resume()
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.datadir, "-m", "immediate", "-w", "stop",
                          timeout=30)

    def restart(self):
        """Start the killed server again on the same port (crash recovery
        runs first, so only committed work is there)."""
        cp = self._as_postgres(PG_BIN / "pg_ctl", "-D", self.datadir, "-l", self.logfile, "-w",
                               "-t", str(START_TIMEOUT_S), "-o", f"-p {self.port}", "start",
                               timeout=START_TIMEOUT_S + 10, check=False)
        assert cp.returncode == 0, f"postgres did not restart: {cp.stderr}\n{self.log()[-3000:]}"

    @property
    def url(self):
        """postgresql://user:pass@127.0.0.1:port/db (user and password
        percent-encoded)."""
        q = urllib.parse.quote
        return (f"postgresql://{q(self.user, safe='')}:{q(self.password, safe='')}@{self.host}:{self.port}"
                f"/{self.dbname}")


class RedshiftEmulator(_Client):
    """tests/redshift/emulator.py run against `pg` and the S3 server: the
    PostgreSQL wire protocol on 127.0.0.1:port, passing everything through to
    `pg` and running Redshift's COPY/UNLOAD itself. Same user, password and
    databases as `pg` (authentication is relayed to it)."""

    def __init__(self, pg, s3_endpoint, iam_key_id, iam_secret, workdir, region="us-east-1", slices=4):
        self.pg = pg
        self.user, self.password, self.dbname = pg.user, pg.password, pg.dbname
        self.s3_endpoint = s3_endpoint
        self.iam_key_id = iam_key_id
        self.iam_secret = iam_secret
        self.region = region
        self.slices = slices  # what stv_slices counts
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = self.workdir / "emulator.stderr"
        self.proc = None
        self.port = None

    def start(self, timeout=START_TIMEOUT_S):
        cmd = [PYTHON, EMULATOR_PY, "--listen", self.host, "--port", "0", "--pg-host", self.pg.host,
               "--pg-port", str(self.pg.port), f"--s3-endpoint={self.s3_endpoint}",
               # NAME=VALUE: a random secret may begin with '-', which
               # argparse would take for an option.
               f"--iam-key-id={self.iam_key_id}", f"--iam-secret={self.iam_secret}",
               "--region", self.region, "--slices", str(self.slices)]
        # No AWS_* or BOTO* settings leak in: the statement's credentials only.
        env = {k: v for k, v in os.environ.items() if not (k.startswith("AWS_") or k.startswith("BOTO"))}
        env.update(HOME=str(self.workdir), AWS_EC2_METADATA_DISABLED="true", PYTHONUNBUFFERED="1")
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL, env=env)
        self.port = wait_listening(self.proc, timeout)
        if self.port is None:
            self.stop()
            pytest.fail(f"the Redshift emulator did not start:\n{self.log()[-3000:]}")
        return self

    def stop(self):
        if self.proc is None:
            return
        stop_process(self.proc)
        self._stderr.close()
        self.proc = None

    def log(self):
        """The emulator's stderr: one line per intercepted statement
        (credentials masked), and tracebacks if it broke."""
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def url(self, user=None, password=None, db=None):
        """redshift://user:pass@127.0.0.1:port/db, user and password
        percent-encoded; defaults: pg's superuser, password and database."""
        q = urllib.parse.quote
        user = user or self.user
        password = self.password if password is None else password
        auth = q(user, safe="") + (":" + q(password, safe="") if password != "" else "")
        return f"redshift://{auth}@{self.host}:{self.port}/{q(db or self.dbname, safe='')}"


@pytest.fixture(scope="session")
def pg():
    """The session's PostgreSQL server (see PgServer)."""
    server = PgServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redshift(pg, s3, tmp_path_factory):
    """The session's Redshift emulator in front of `pg`; IAM_ROLE statements
    are signed with the `s3` server's key pair."""
    emu = RedshiftEmulator(pg, s3.endpoint, s3.key_id, s3.secret, tmp_path_factory.mktemp("redshift")).start()
    yield emu
    emu.stop()


@pytest.fixture
def pg_schema(pg):
    """A fresh schema in `pg` (random name), dropped with CASCADE after the
    test. Returns its name."""
    name = _random_name("t_")
    with contextlib.closing(pg.connect()) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {_quote_ident(name)}")
    yield name
    with contextlib.closing(pg.connect()) as conn, conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {_quote_ident(name)} CASCADE")
