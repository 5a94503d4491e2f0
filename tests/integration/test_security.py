"""Security: TLS certificates are verified (tests/tls: a throwaway CA and a
TLS front in front of the session's s3rver), secrets files others can read
draw a warning, allow_other never hands every local user the mount's write
access silently, and secrets never leak into logs, .errors files, ps or the
mount table."""

import base64
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

import pytest

from conftest import MOUNT_TIMEOUT_S, REPO, C_LOCALE_ENV, random_name, run, unmount
from pgserver import PYTHON, stop_process, wait_listening

sys.path.insert(0, str(REPO / "tests" / "tls"))
from tlsfront import make_certs  # noqa: E402

TLSFRONT = REPO / "tests" / "tls" / "tlsfront.py"


# --------------------------------------------------------------------------
# TLS


class TlsFront:
    """tests/tls/tlsfront.py relaying https://localhost:PORT to s3rver."""

    def __init__(self, cert, key, backend_port, workdir):
        self.stderr_path = Path(workdir) / f"tlsfront-{cert.stem}.stderr"
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [PYTHON, str(TLSFRONT), "--cert", str(cert), "--key", str(key),
             "--backend-port", str(backend_port)],
            stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL)
        self.port = wait_listening(self.proc, 20)
        if self.port is None:
            self.stop()
            pytest.fail(f"tlsfront did not start: {self.stderr_path.read_text()}")

    @property
    def endpoint(self):
        return f"https://localhost:{self.port}"

    def stop(self):
        stop_process(self.proc)
        self._stderr.close()


@pytest.fixture(scope="module")
def tls(s3, tmp_path_factory):
    """(ca.pem, front with a good certificate, front whose certificate
    names another host), all made for this run."""
    d = tmp_path_factory.mktemp("tls")
    ca, cert, key = make_certs(d)
    _, wcert, wkey = make_certs(d, names=("wrong.example.invalid",), stem="wronghost")
    good = TlsFront(cert, key, s3.port, d)
    wrong = TlsFront(wcert, wkey, s3.port, d)
    yield ca, good, wrong
    good.stop()
    wrong.stop()


@pytest.fixture(scope="module")
def tls_bucket(s3):
    b = s3.make_bucket()
    s3.put(b, "hello.txt", b"hello over tls\n")
    return b


CERT_ERRORS = (r"(?i)certificate|SSL",)


def refused_mount(odofs_run, src, tmp_path, *opts, env=None):
    d = tmp_path / random_name("m")
    d.mkdir()
    cp, secs = odofs_run(src, str(d), "-f", "-o", ",".join(opts), env=env)
    assert cp.returncode != 0, "mounted despite an untrusted certificate"
    # A certificate error is not retried until the timeout (30 s by
    # default), the hang this guards against.
    assert secs < 20, f"took {secs:.1f} s to refuse"
    assert not os.listdir(d)
    return cp.stderr


def test_untrusted_certificate_refuses_the_mount(odofs_run, s3, tls, tls_bucket, tmp_path):
    _ca, good, _ = tls
    err = refused_mount(odofs_run, f"s3://{tls_bucket}", tmp_path, "endpoint=" + good.endpoint)
    # What the user reads: which server, that its certificate is the
    # problem, curl's reason, and what to do.
    assert f"TLS certificate of {good.endpoint} is not trusted" in err, err
    assert "self-signed certificate" in err or "unable to get local issuer" in err, err
    assert "ca_bundle=" in err and "AWS_CA_BUNDLE" in err, err


def test_certificate_for_another_host_is_refused(odofs_run, s3, tls, tls_bucket, tmp_path):
    ca, _, wrong = tls
    # The CA is trusted; the name is not the one the client asked for.
    err = refused_mount(odofs_run, f"s3://{tls_bucket}", tmp_path, "endpoint=" + wrong.endpoint,
                        f"ca_bundle={ca}")
    assert "not trusted" in err and "localhost" in err, err


def round_trip(m, s3, bucket, tmp_path):
    assert "hello.txt" in os.listdir(m)
    assert (m / "hello.txt").read_bytes() == b"hello over tls\n"
    src = tmp_path / "up.bin"
    src.write_bytes(os.urandom(300_000))
    name = random_name("up-") + ".bin"
    run(["cp", src, m / name])
    assert s3.get(bucket, name) == src.read_bytes()
    assert (m / name).read_bytes() == src.read_bytes()


@pytest.mark.parametrize("how", ["AWS_CA_BUNDLE", "ca_bundle"])
def test_trusted_ca_mounts(mount, s3, tls, tls_bucket, tmp_path, how):
    ca, good, _ = tls
    env = s3.env(tmp_path)
    opts = ["endpoint=" + good.endpoint]
    if how == "AWS_CA_BUNDLE":
        env["AWS_CA_BUNDLE"] = str(ca)
    else:
        opts.append(f"ca_bundle={ca}")
    m = mount(f"s3://{tls_bucket}", *opts, env=env)
    round_trip(m, s3, tls_bucket, tmp_path)
    assert "warning" not in m.log()


def test_no_verify_ssl_mounts_and_warns(mount, s3, tls, tls_bucket, tmp_path):
    _, _, wrong = tls
    # Neither the issuer nor the host name is checked.
    m = mount(f"s3://{tls_bucket}", "endpoint=" + wrong.endpoint, "no_verify_ssl")
    round_trip(m, s3, tls_bucket, tmp_path)
    warnings = [line for line in m.log().splitlines() if "warning: no_verify_ssl" in line]
    assert len(warnings) == 1, m.log()
    assert wrong.endpoint in warnings[0] and "not verified" in warnings[0]


@pytest.mark.parametrize("where", ["option", "env"])
def test_unreadable_ca_bundle_is_refused_at_start(odofs_run, s3, tls_bucket, tmp_path, where):
    missing = tmp_path / "no-such-ca.pem"
    env = s3.env(tmp_path)
    opts = ["endpoint=https://localhost:1"]
    if where == "env":
        env["AWS_CA_BUNDLE"] = str(missing)
    else:
        opts.append(f"ca_bundle={missing}")
    d = tmp_path / "m"
    d.mkdir()
    cp, secs = odofs_run(f"s3://{tls_bucket}", str(d), "-f", "-o", ",".join(opts), env=env)
    # Refused at start, not after retrying until the timeout (30 s).
    assert cp.returncode != 0 and secs < 15
    name = "AWS_CA_BUNDLE" if where == "env" else "ca_bundle"
    assert f"{name}={missing}: No such file or directory" in cp.stderr, cp.stderr


# --------------------------------------------------------------------------
# secrets files that others can read


CREDS_FILES = {
    "credentials": ("AWS_SHARED_CREDENTIALS_FILE", "[default]\n"),
    "config": ("AWS_CONFIG_FILE", "[default]\n"),
    "boto": ("BOTO_CONFIG", "[Credentials]\n"),
}


@pytest.mark.parametrize("kind", sorted(CREDS_FILES))
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o600])
def test_credentials_file_readable_by_others_warns(mount, s3, tls_bucket, tmp_path, kind, mode):
    var, head = CREDS_FILES[kind]
    f = tmp_path / f"aws-{kind}"
    f.write_text(f"{head}aws_access_key_id = {s3.key_id}\naws_secret_access_key = {s3.secret}\n")
    f.chmod(mode)
    env = s3.env(tmp_path, creds=False)
    env[var] = str(f)
    m = mount(f"s3://{tls_bucket}", env=env)
    # The keys are still used: warn, keep working (as ssh and s3fs do).
    assert (m / "hello.txt").read_bytes() == b"hello over tls\n"
    warnings = [line for line in m.log().splitlines() if "warning:" in line]
    if mode == 0o600:
        assert warnings == []
    else:
        assert len(warnings) == 1, m.log()
        # HOME is tmp_path: the file is shown as ~/NAME.
        assert f"~/{f.name} holds AWS keys" in warnings[0], warnings[0]
        assert f"chmod 600 ~/{f.name}" in warnings[0] and f"{mode:04o}" in warnings[0], warnings[0]
    assert s3.secret not in m.log()


@pytest.fixture
def pgtable(pg, pg_schema):
    pg.psql(f'CREATE TABLE "{pg_schema}".t (x int); INSERT INTO "{pg_schema}".t VALUES (7)')
    return pg_schema


def test_open_pgpass_is_ignored_by_libpq_and_odofs_says_why(odofs_run, mount, pg, pgtable, s3,
                                                            tmp_path):
    bare = f"postgresql://{pg.user}@{pg.host}:{pg.port}/{pg.dbname}?sslmode=disable"
    home = tmp_path / "home"
    home.mkdir()
    pgpass = home / ".pgpass"
    pgpass.write_text(f"{pg.host}:{pg.port}:{pg.dbname}:{pg.user}:{pg.password}\n")
    pgpass.chmod(0o644)
    env = {**s3.env(home), "LC_ALL": "C"}
    for k in list(env):
        if k.startswith("PG"):
            del env[k]
    d = tmp_path / "m"
    d.mkdir()
    cp, _ = odofs_run(bare, str(d), "-f", env=env)
    # libpq skipped the file, so there was no password: the mount is refused,
    # and the log says why, naming the file and the fix.
    assert cp.returncode != 0
    assert f"password file {pgpass} is accessible by group or others (mode 0644)" in cp.stderr
    assert f"chmod 600 {pgpass}" in cp.stderr
    assert pg.password not in cp.stderr
    # The same file given with passfile=.
    cp, _ = odofs_run(bare, str(d), "-f", "-o", f"passfile={pgpass}", env=env)
    assert cp.returncode != 0 and f"chmod 600 {pgpass}" in cp.stderr
    # Fixed: it mounts, without the warning.
    pgpass.chmod(0o600)
    m = mount(bare, env=env)
    assert (m / pgtable / "t.csv").read_text() == "x\n7\n"
    assert "warning" not in m.log()


# --------------------------------------------------------------------------
# allow_other


@pytest.fixture
def shared_base():
    """A folder nobody (65534) can traverse, for mount points others use."""
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is missing")
    base = Path(tempfile.mkdtemp(prefix="odofs-sec-"))
    base.chmod(0o755)
    yield base
    for p in base.iterdir():
        unmount(p)
    shutil.rmtree(base, ignore_errors=True)


def as_nobody(*cmd):
    return run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd], timeout=30,
               check=False, env=C_LOCALE_ENV)


def super_options(path):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == str(path):
                return fields[-1].split(",")
    raise AssertionError(f"{path} not in mountinfo")


def test_allow_other_read_write_implies_default_permissions(mount, s3, shared_base, tmp_path):
    b = s3.make_bucket()
    s3.put(b, "f.txt", b"shared\n")
    m = mount(f"s3://{b}", "allow_other", mountpoint=shared_base / "rw")
    assert "default_permissions" in super_options(m.path)
    assert "default_permissions turned on" in m.log()
    assert "warning" not in m.log()
    # Others read what the modes let them read (0644 files, 0755 folders)...
    cp = as_nobody("cat", m / "f.txt")
    assert cp.returncode == 0 and cp.stdout == "shared\n", cp.stderr
    # ...but cannot change or remove with the mount's credentials.
    cp = as_nobody("sh", "-c", f"echo x > '{m}/evil.txt'")
    assert cp.returncode != 0 and "Permission denied" in cp.stderr
    cp = as_nobody("rm", "-f", m / "f.txt")
    assert cp.returncode != 0 and "Permission denied" in cp.stderr
    assert sorted(s3.list_objects(b)) == ["f.txt"]
    # The owner (root here) still writes.
    (m / "mine.txt").write_text("mine\n")
    assert s3.get(b, "mine.txt") == b"mine\n"


def test_allow_other_read_only_warns(mount, s3, shared_base):
    b = s3.make_bucket()
    s3.put(b, "f.txt", b"shared\n")
    m = mount(f"s3://{b}", "ro", "allow_other", mountpoint=shared_base / "ro")
    assert "default_permissions" not in super_options(m.path)
    warnings = [line for line in m.log().splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "allow_other without default_permissions" in warnings[0]
    assert "every local user can read" in warnings[0]
    cp = as_nobody("cat", m / "f.txt")
    assert cp.returncode == 0 and cp.stdout == "shared\n", cp.stderr


def test_allow_other_with_default_permissions_is_quiet(mount, s3, shared_base):
    b = s3.make_bucket()
    s3.put(b, "f.txt", b"shared\n")
    m = mount(f"s3://{b}", "ro", "allow_other", "default_permissions", "umask=077",
              mountpoint=shared_base / "dp")
    assert "default_permissions" in super_options(m.path)
    assert "warning" not in m.log() and "default_permissions turned on" not in m.log()
    # The modes now decide: umask=077 keeps others out.
    cp = as_nobody("cat", m / "f.txt")
    assert cp.returncode != 0 and "Permission denied" in cp.stderr


# --------------------------------------------------------------------------
# secrets never leak


def encoded_forms(secret):
    """The secret as it could be written: as is, percent-encoded, and in
    base64 at each of the three alignments it can take inside a longer
    encoded string (the middle part, which does not depend on neighbours)."""
    raw = secret.encode()
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    for pad in range(3):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            e = enc(b"\0" * pad + raw).decode()
            forms.add(e[4 if pad else 0:-4])
    return {f for f in forms if len(f) >= 12}


def find_secrets(secrets, texts):
    """[(secret name, where)] for every form of every secret found."""
    found = []
    for name, secret in secrets.items():
        for form in encoded_forms(secret):
            for where, text in texts.items():
                if form in text:
                    found.append((name, where))
    return sorted(set(found))


def test_secrets_never_leak(private_s3, mount, s3, pg, redshift, pg_schema, tmp_path):
    # No "=": whsql.c refuses it in a COPY credentials string (see the report).
    token = "IQoJb3JpZ2luX2Vj/odofs+Sess10nToken/" + random_name("", 24)
    secrets_ = {"AWS secret": s3.secret, "private S3 secret": private_s3.secret,
                "session token": token, "database password": pg.password}
    env = s3.env(tmp_path)
    env["AWS_SESSION_TOKEN"] = token
    penv = private_s3.env(tmp_path)
    penv["AWS_SESSION_TOKEN"] = token
    debug = ("-d",)
    texts = {}
    mounts = []

    # S3: reads, writes, a write that fails at close (the server is gone).
    b = s3.make_bucket()
    s3.put(b, "in.txt", b"in\n")
    m = mount(f"s3://{b}", args=debug, env=env)
    mounts.append(m)
    assert (m / "in.txt").read_bytes() == b"in\n"
    (m / "out.txt").write_bytes(os.urandom(100_000))
    os.rename(m / "out.txt", m / "moved.txt")
    assert not os.path.exists(m / "missing.txt")

    pb = private_s3.make_bucket()
    pm = mount(f"s3://{pb}", "timeout=3", "retries=1", "connect_timeout=1", server=private_s3,
               env=penv, args=debug, expect_errors=(r".",))
    mounts.append(pm)
    f = open(pm / "doomed.bin", "wb")
    f.write(os.urandom(50_000))
    private_s3.kill()
    with pytest.raises(OSError):
        f.close()

    # PostgreSQL and Redshift (whose COPY carries the AWS keys and token):
    # a table read, a load that fails (so .errors is written), one that works.
    qs = f'"{pg_schema}"'
    pg.psql(f"CREATE TABLE {qs}.t (id int, v text); INSERT INTO {qs}.t VALUES (1, 'one')")
    staging = s3.make_bucket(random_name("stage-"))
    good = tmp_path / "good.csv"
    good.write_text("id,v\n2,two\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,v\nnot-a-number,x\n")
    for kind, src in (("postgresql", pg.url), ("redshift", redshift.url())):
        opts = [f"staging=s3://{staging}/tmp/"] if kind == "redshift" else []
        dm = mount(src, *opts, env=env, args=debug, expect_errors=(r"load of|cannot|invalid",))
        mounts.append(dm)
        assert (dm / pg_schema / "t.csv").read_text().startswith("id,v\n1,one\n")
        cp = run(["cp", bad, dm / pg_schema / "t" / "bad.csv"], check=False)
        assert cp.returncode != 0, f"{kind}: the bad load succeeded"
        errors = (dm / pg_schema / "t" / ".errors").read_text()
        assert errors, f"{kind}: no .errors after a failed load"
        texts[f"{kind} .errors"] = errors
        run(["cp", good, dm / pg_schema / "t" / "good.csv"])
        pg.psql(f"DELETE FROM {qs}.t WHERE id = 2")
        texts[f"{kind} mountinfo"] = open("/proc/self/mountinfo").read()

    # Everything a local user or an administrator can see while mounted.
    ps = run(["ps", "-eo", "args"]).stdout.splitlines()
    # The test servers themselves get their key pairs on their command line.
    texts["ps -eo args"] = "\n".join(line for line in ps if "server.js" not in line
                                     and "emulator.py" not in line)
    for i, mm in enumerate(mounts):
        if mm.proc.poll() is None:
            texts[f"/proc/{mm.proc.pid}/cmdline"] = open(f"/proc/{mm.proc.pid}/cmdline", "rb") \
                .read().decode(errors="replace")
    texts["mountinfo"] = open("/proc/self/mountinfo").read()
    for mm in mounts:
        unmount(mm.path)
    for i, mm in enumerate(mounts):
        mm.proc.wait(timeout=MOUNT_TIMEOUT_S)
        texts[f"daemon log {i} ({mm.source.split(':')[0]})"] = mm.log()
    texts["PostgreSQL server log"] = pg.log()
    texts["Redshift emulator log"] = redshift.log()

    # The test must have looked at something: debug logs of every request.
    assert all(len(texts[k]) > 200 for k in texts if k.startswith("daemon log"))
    assert "COPY" in texts["Redshift emulator log"]
    assert find_secrets(secrets_, texts) == []


# --------------------------------------------------------------------------
# the database side of TLS: libpq's sslmode, passed through from the URL


def test_sslmode_from_the_url_reaches_libpq(odofs_run, mount, pg, pgtable, s3, tmp_path):
    # The test server has no TLS: sslmode=require must refuse it (libpq's
    # default, prefer, would silently fall back to plain text).
    d = tmp_path / "m"
    d.mkdir()
    cp, _ = odofs_run(pg.url + "?sslmode=require", str(d), "-f", env={**s3.env(tmp_path), "LC_ALL": "C"})
    assert cp.returncode != 0
    assert "server does not support SSL, but SSL was required" in cp.stderr, cp.stderr
    assert pg.password not in cp.stderr
    m = mount(pg.url + "?sslmode=disable")
    assert (m / pgtable / "t.csv").read_text() == "x\n7\n"


def test_tls_options_are_refused_on_postgresql_mounts(odofs_run, pg, tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    for opt in ("no_verify_ssl", f"ca_bundle={d}"):
        cp, _ = odofs_run(pg.url, str(d), "-f", "-o", opt)
        assert cp.returncode != 0 and "sslmode=verify-full&sslrootcert=FILE" in cp.stderr, cp.stderr
