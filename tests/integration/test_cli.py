"""The command line: --help, --version, and refusals before mounting."""

import os

import pytest

from conftest import is_mounted


def test_help(odofs_run):
    cp, _ = odofs_run("--help")
    assert cp.returncode == 0, cp.stderr
    text = cp.stdout + cp.stderr
    assert "odofs" in text
    for word in ("s3://", "endpoint=", "cache_ttl=", "timeout="):
        assert word in text, f"--help does not mention {word}"


def test_version(odofs_run):
    cp, _ = odofs_run("--version")
    assert cp.returncode == 0, cp.stderr
    assert "odofs" in (cp.stdout + cp.stderr).lower()


@pytest.mark.parametrize(
    "source, opts",
    [
        ("s3://{bucket}", "bogus"),
        ("s3://{bucket}", "cache_ttl=abc"),
        ("s3://{bucket}", "cache_ttl=-1"),
        ("s3://{bucket}", "cache_ttl=nan"),
        ("s3://{bucket}", "timeout=inf"),
        ("s3://{bucket}", "timeout=soon"),
        ("s3://{bucket}", "retries=many"),
        ("s3://{bucket}", "readahead=lots"),
        ("s3://{bucket}", "log_level=loud"),
        ("s3://{bucket}", "uid=nobody-such-number"),
        ("s3://{bucket}", "endpoint=not a url"),
        ("s3://{bucket}", "uid=-5"),
        ("s3://{bucket}", "gid=-1"),
        ("s3://{bucket}", "umask=999"),
        ("s3://{bucket}", "anonymous,profile=prod"),
        ("s3://{bucket}", "staging=s3://other/tmp/"),
        ("s3://{bucket}", "no_verify_ssl=yes"),
        ("s3://{bucket}/x*y*z", ""),
        ("s3://Bad_Bucket!", ""),
        ("s3://ab", ""),  # bucket names have 3 to 63 characters
        ("notascheme://x", ""),
        ("/just/a/path", ""),
        ("", ""),
    ],
)
def test_refused_before_mounting(odofs_run, s3, bucket, tmp_path, source, opts):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    optlist = [] if opts.startswith("endpoint=") else [f"endpoint={s3.endpoint}"]
    optlist += [opts] if opts else []
    args = [source.format(bucket=bucket), str(mnt), "-f", "-o", ",".join(optlist)]
    cp, secs = odofs_run(*args, timeout=60)
    assert cp.returncode == 1, f"exit {cp.returncode}, stderr: {cp.stderr!r}"
    lines = [line for line in cp.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"want one line on stderr, got: {cp.stderr!r}"
    assert cp.stdout == ""
    # Refused at once, before any network wait (the default timeout, 30 s,
    # is the hang this guards against); 15 s allows a slow process start.
    assert secs < 15, f"took {secs:.1f} s to refuse"
    assert not is_mounted(mnt)
    assert os.listdir(mnt) == []


def test_missing_mountpoint(odofs_run, bucket):
    cp, secs = odofs_run(f"s3://{bucket}")
    assert cp.returncode != 0
    assert cp.stderr.strip()
    assert secs < 15  # not after a network wait (30 s by default)


def test_fstab_words_accepted(mount, tree):
    # Words only fstab and mount(8) use, and the generic mount flags that
    # mount.fuse3 passes on (see test_mount_cmd.py), must not be refused.
    m = mount(f"s3://{tree.bucket}/top/deep/", "_netdev", "auto", "noauto", "nofail", "user", "users",
              "ro", "nosuid", "nodev", "noexec")
    assert sorted(os.listdir(m)) == ["a", "b"]


@pytest.mark.parametrize("flag", ["-s", "-d"])
def test_fuse_flags(mount, tree, flag):
    # -s: single-threaded; -d: libfuse's request trace on stderr as well.
    m = mount(f"s3://{tree.bucket}/top/deep/", args=(flag,))
    assert sorted(os.listdir(m)) == ["a", "b"]
    assert (m / "a/x/1/leaf-ax1.dat").read_bytes() == tree.files["top/deep/a/x/1/leaf-ax1.dat"].read_bytes()
