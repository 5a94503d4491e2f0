"""Requests per operation: counts, never timings (issue 14).

The s3rver mock's access log gives each request (those tests are
mock_only); connection reuse is counted through linkem, on any server.
"""
import io
import os
import signal
import subprocess
import tarfile
import time
import urllib.parse
from pathlib import Path

import pytest

LINKEM_C = Path(__file__).resolve().parents[2] / "linkem" / "linkem.c"


def _objects(reqs):
    """Requests that are not listings."""
    return [r for r in reqs if "list-type" not in r[2]]


@pytest.mark.mock_only("counts requests in the server's access log")
def test_cat_of_a_listed_small_file_is_one_get(mount, s3, bucket):
    for i in range(3):
        s3.put(bucket, f"d/small-{i}", bytes([65 + i]) * 1000)
    m = mount(f"s3://{bucket}")
    assert sorted(os.listdir(m / "d")) == ["small-0", "small-1", "small-2"]
    mark = s3.log_mark()
    assert (m / "d" / "small-1").read_bytes() == b"B" * 1000
    reqs = s3.requests_since(mark)
    # The open's GET of the first bytes tells what a HEAD would, and holds
    # the whole small file: no HEAD, no second GET.
    assert len(reqs) == 1, reqs
    method, path, _, status, rng = reqs[0]
    assert (method, path, status) == ("GET", f"/{bucket}/d/small-1", 206)
    assert rng and rng.startswith("bytes=0-")


@pytest.mark.mock_only("counts requests in the server's access log")
def test_a_large_file_read_once_whole(mount, s3, bucket):
    # The open's first bytes are not fetched again by the read-ahead.
    data = os.urandom(3 * 1024 * 1024 + 5)
    s3.put(bucket, "big.bin", data)
    m = mount(f"s3://{bucket}")
    os.listdir(m)
    mark = s3.log_mark()
    assert (m / "big.bin").read_bytes() == data
    reqs = s3.requests_since(mark)
    gets = [r for r in reqs if r[0] == "GET" and "list-type" not in r[2]]
    covered = 0
    for r in gets:
        lo, hi = r[4].split("=")[1].split("-")
        covered += min(int(hi), len(data) - 1) - int(lo) + 1
    assert covered == len(data), gets
    assert not [r for r in reqs if r[0] == "HEAD"]


def _bdi_read_ahead_kb(path):
    st = os.stat(path)
    with open(f"/sys/class/bdi/{os.major(st.st_dev)}:{os.minor(st.st_dev)}/read_ahead_kb") as f:
        return int(f.read())


@pytest.mark.mock_only("counts requests in the server's access log")
@pytest.mark.parametrize("opts,kb", [((), 4096), (("kernel_readahead=16M",), 16384),
                                     (("kernel_readahead=0",), 128)])
def test_a_sequential_read_fetches_each_byte_once(mount, s3, bucket, opts, kb):
    # With the kernel's read-ahead raised, its 1 MiB reads reach odofs's
    # threads out of order; none of them may restart the read-ahead.
    data = os.urandom(48 * 1024 * 1024 + 4321)
    s3.put(bucket, "seq.bin", data)
    m = mount(f"s3://{bucket}", *opts)
    os.listdir(m)
    assert _bdi_read_ahead_kb(m) == kb
    mark = s3.log_mark()
    cp = subprocess.run(["dd", f"if={m / 'seq.bin'}", "bs=1M", "status=none"], capture_output=True,
                        timeout=300)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == data
    gets = [r for r in s3.requests_since(mark) if r[0] == "GET" and "list-type" not in r[2]]
    fetched = 0
    for r in gets:
        lo, hi = r[4].split("=")[1].split("-")
        fetched += min(int(hi), len(data) - 1) - int(lo) + 1
    assert fetched == len(data), gets


@pytest.mark.mock_only("counts requests in the server's access log")
def test_a_new_file_in_a_listed_folder_is_one_put(mount, s3, bucket):
    s3.put(bucket, "d/old", b"x")
    m = mount(f"s3://{bucket}")
    assert os.listdir(m / "d") == ["old"]
    for i in range(3):
        mark = s3.log_mark()
        (m / "d" / f"new-{i}").write_bytes(b"y" * 100)
        reqs = s3.requests_since(mark)
        # Known missing from the listing (still good for the other names
        # after the first new file): no HEAD, one PUT.  The first may meet
        # a listing the mount did not keep (seen once in ten runs: one
        # full listing of the folder first; not yet explained).
        puts = [(r[0], r[1]) for r in reqs if r[0] != "GET" or "list-type" not in r[2]]
        assert puts == [("PUT", f"/{bucket}/d/new-{i}")], reqs
        assert len(reqs) <= (2 if i == 0 else 1), reqs
    # ... and the folder lists them all (readdir does not trust a listing
    # a change made stale).
    assert sorted(os.listdir(m / "d")) == ["new-0", "new-1", "new-2", "old"]


@pytest.mark.mock_only("counts requests in the server's access log")
def test_stat_of_a_missing_name_is_one_request_then_cached(mount, s3, bucket):
    s3.put(bucket, "e/there", b"x")
    m = mount(f"s3://{bucket}")
    mark = s3.log_mark()
    with pytest.raises(FileNotFoundError):
        os.stat(m / "e" / "missing")
    # The folder e: its listing, and a HEAD of its marker for the folder's
    # own attributes (issue 15); the name: one listing.
    assert len(s3.requests_since(mark)) <= 3, "the folder e (two) and the name (one)"
    mark = s3.log_mark()
    with pytest.raises(FileNotFoundError):
        os.stat(m / "e" / "missing-too")
    assert len(s3.requests_since(mark)) == 1
    mark = s3.log_mark()
    for _ in range(3):
        with pytest.raises(FileNotFoundError):
            os.stat(m / "e" / "missing-too")
    assert s3.requests_since(mark) == [], "a negative answer is kept for the TTL"
    # A folder and a file are still told apart, each found.
    s3.put(bucket, "e/sub/x", b"x")
    assert (m / "e" / "sub").is_dir()
    assert os.stat(m / "e" / "there").st_size == 1


@pytest.mark.mock_only("counts requests in the server's access log")
def test_tar_x_costs_about_one_request_per_file(mount, s3, bucket, tmp_path):
    n_dirs, per = 2, 50
    tar = tmp_path / "t.tar"
    with tarfile.open(tar, "w", format=tarfile.GNU_FORMAT) as tf:
        for d in range(n_dirs):
            ti = tarfile.TarInfo(f"d{d}")
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            tf.addfile(ti)
            for i in range(per):
                body = os.urandom(100 + i)
                ti = tarfile.TarInfo(f"d{d}/f{i:03d}")
                ti.size, ti.mode = len(body), 0o644
                tf.addfile(ti, io.BytesIO(body))
    m = mount(f"s3://{bucket}")
    os.mkdir(m / "t")
    mark = s3.log_mark()
    subprocess.run(["tar", "-x", "-f", str(tar), "-C", str(m / "t")], check=True, timeout=120)
    reqs = s3.requests_since(mark)
    files = n_dirs * per
    puts = [r for r in reqs if r[0] == "PUT" and "/f" in r[1]]
    # Each file: one PUT, no lookup (its folder was made here, so known
    # empty, and stays known after each new file).
    assert len(puts) == files
    # Each folder: its marker, and tar's utimes, chmod and chown of it
    # (after mkdir and at the end), each a lookup, a HEAD of the marker
    # (its stored attributes, issue 15) and a marker rewrite: 18 in all
    # today, a cost per folder, never per file.
    extra = [(r[0], r[1], r[2].get("prefix"), r[3]) for r in reqs if r not in puts]
    assert not [r for r in extra if "/f" in r[1]], extra
    assert len(extra) <= 18 * n_dirs + 1, "\n".join(map(str, extra))
    assert sorted(os.listdir(m / "t" / "d1")) == [f"f{i:03d}" for i in range(per)]


# --------------------------------------------------------------------------
# connections, through linkem


@pytest.fixture(scope="module")
def linkem_bin(tmp_path_factory):
    if os.environ.get("LINKEM_BIN"):
        return os.environ["LINKEM_BIN"]
    out = tmp_path_factory.mktemp("linkem") / "linkem"
    subprocess.run(["cc", "-O2", "-std=gnu11", "-o", str(out), str(LINKEM_C)], check=True, timeout=120)
    return str(out)


def _linkem_stats(proc, path):
    path.unlink(missing_ok=True)
    proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 30
    while not path.exists():
        assert time.monotonic() < deadline, "linkem wrote no stats"
        time.sleep(0.01)
    return {k: int(v) for k, v in (ln.split() for ln in path.read_text().splitlines())}


def test_a_second_read_opens_no_new_connection(mount, s3, bucket, linkem_bin, tmp_path):
    u = urllib.parse.urlsplit(s3.endpoint)
    if u.scheme != "http" or u.hostname not in ("127.0.0.1", "localhost"):
        pytest.skip("linkem proxies plain HTTP on loopback only")
    data = os.urandom(6 * 1024 * 1024)
    for i in range(3):
        s3.put(bucket, f"f{i}.bin", data)
    stats = tmp_path / "linkem.stats"
    proc = subprocess.Popen([linkem_bin, "--profile", "none", "--target", f"127.0.0.1:{u.port}",
                             "--stats", str(stats)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
        m = mount(f"s3://{bucket}", f"endpoint=http://127.0.0.1:{port}")
        # Three files alike (not one read thrice: the page cache could
        # answer a re-read of the same file without the daemon).
        assert (m / "f0.bin").read_bytes() == data
        assert (m / "f1.bin").read_bytes() == data
        before = _linkem_stats(proc, stats)
        assert (m / "f2.bin").read_bytes() == data
        after = _linkem_stats(proc, stats)
        assert after["requests"] > before["requests"], "the read reached the server"
        # Every pooled handle keeps its connection: a read like the ones
        # before finds them open (the server keeps idle ones 5 s at least).
        assert after["connections_accepted"] == before["connections_accepted"], (before, after)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
