"""Reading: whole files and ranges equal the source, EOF, changed objects,
and a mount made with -o ro refuses every change."""

import concurrent.futures
import errno
import os
import random
import subprocess

import pytest

from conftest import MiB, run, sha256_bytes, sha256_file, walk_mount


def sha256sum(paths, timeout=300):
    """{path: digest} from one `sha256sum -z` run (-z: no escaping of odd
    names, NUL-terminated lines)."""
    cp = subprocess_run(["sha256sum", "-z", "--", *map(str, paths)], timeout=timeout)
    out = {}
    for rec in cp.stdout.split(b"\0"):
        if rec:
            digest, name = rec.split(b"  ", 1)
            out[os.fsdecode(name)] = digest.decode()
    return out


def subprocess_run(cmd, timeout):
    cp = subprocess.run(cmd, capture_output=True, timeout=timeout)
    assert cp.returncode == 0, f"{cmd[0]} failed: {cp.stderr.decode(errors='replace')}"
    return cp


def dd_range(path, offset, length, timeout=120):
    cp = subprocess_run(["dd", f"if={path}", f"skip={offset}", f"count={length}",
                         "iflag=skip_bytes,count_bytes,fullblock", "bs=1M", "status=none"], timeout)
    return cp.stdout


def test_whole_files(mount, tree):
    m = mount(f"s3://{tree.bucket}")
    walk_mount(m)  # list parents first: see ODD_FILE_NAMES on ( ) ! * '
    got = sha256sum([m / key for key in tree.files])
    for key, local in tree.files.items():
        assert got[str(m / key)] == sha256_file(local), key


def test_cat_of_odd_names(mount, tree):
    m = mount(f"s3://{tree.bucket}/top/odd")
    for name in os.listdir(m):
        cp = subprocess_run(["cat", "--", str(m / name)], timeout=30)
        assert cp.stdout == (tree.local_dir / "top" / "odd" / name).read_bytes(), name


@pytest.mark.heavy("moves the big object (range reads also in the smaller tests)")
def test_big_file_whole(mount, big_object):
    bucket, key, local = big_object
    m = mount(f"s3://{bucket}")
    assert os.stat(m / key).st_size == os.stat(local).st_size
    assert sha256sum([m / key])[str(m / key)] == sha256_file(local)


def test_big_file_cp(mount, big_object, tmp_path):
    bucket, key, local = big_object
    m = mount(f"s3://{bucket}/data/")
    copy = tmp_path / "copy.bin"
    try:
        run(["cp", m / "big.bin", copy], timeout=300)
        assert sha256_file(copy) == sha256_file(local)
    finally:
        copy.unlink(missing_ok=True)  # pytest keeps the last runs' tmp folders


def test_big_file_ranges(mount, big_object):
    bucket, key, local = big_object
    size = os.stat(local).st_size
    m = mount(f"s3://{bucket}")
    rnd = random.Random(20240602)
    ranges = [(0, 1), (0, 4096), (size - 1, 1), (size - 4097, 4097), (size - 10, 100),
              (64 * MiB - 3, 6), (128 * MiB + 1, 3 * MiB)]
    ranges += [(rnd.randrange(size), rnd.choice([1, 17, 4096, 65537, MiB, 9 * MiB + 7])) for _ in range(14)]
    for off, length in ranges:
        got = dd_range(m / key, off, length)
        want_len = max(0, min(length, size - off))
        assert len(got) == want_len, (off, length)
        assert sha256_bytes(got) == sha256_file(local, off, length), (off, length)


def test_random_reader(mount, big_object):
    # pread at scattered offsets on one open file, like a database would.
    bucket, key, local = big_object
    size = os.stat(local).st_size
    m = mount(f"s3://{bucket}")
    rnd = random.Random(7)
    fd = os.open(m / key, os.O_RDONLY)
    try:
        with open(local, "rb") as src:
            for _ in range(200):
                off = rnd.randrange(size)
                n = rnd.choice([1, 512, 4096, 70000, 300000])
                src.seek(off)
                assert os.pread(fd, n, off) == src.read(n), (off, n)
    finally:
        os.close(fd)


def test_concurrent_readers(mount, tree, big_object):
    bucket, key, local = big_object
    m = mount("s3://")
    paths = [m / bucket / key, m / bucket / key, m / tree.bucket / "top/medium.bin",
             m / tree.bucket / "top/sizes/s08-3145733.bin"]
    want = [sha256_file(local), sha256_file(local), sha256_file(tree.files["top/medium.bin"]),
            sha256_file(tree.files["top/sizes/s08-3145733.bin"])]
    with concurrent.futures.ThreadPoolExecutor(len(paths)) as pool:
        got = list(pool.map(lambda p: sha256sum([p])[str(p)], paths))
    assert got == want


def test_medium_file_ranges(mount, tree):
    local = tree.files["top/medium.bin"]
    size = os.stat(local).st_size
    m = mount(f"s3://{tree.bucket}/top")
    rnd = random.Random(99)
    for _ in range(20):
        off = rnd.randrange(size)
        length = rnd.randrange(1, 3 * MiB)
        assert sha256_bytes(dd_range(m / "medium.bin", off, length)) == sha256_file(local, off, length)


def test_read_at_eof(mount, tree):
    m = mount(f"s3://{tree.bucket}/top/sizes")
    name = "s03-4096.bin"
    data = tree.files[f"top/sizes/{name}"].read_bytes()
    fd = os.open(m / name, os.O_RDONLY)
    try:
        assert os.pread(fd, 100, 4096) == b""
        assert os.pread(fd, 100, 4096 + 12345) == b""
        assert os.pread(fd, 100, 4090) == data[4090:]
        assert os.pread(fd, 4096, 0) == data
        os.lseek(fd, 0, os.SEEK_END)
        assert os.read(fd, 10) == b""
    finally:
        os.close(fd)
    assert (m / "s00-0.bin").read_bytes() == b""
    assert os.stat(m / "s00-0.bin").st_size == 0


def test_new_open_sees_changed_object(mount, s3, bucket):
    key = "changing.bin"
    v1 = os.urandom(MiB)
    s3.put(bucket, key, v1)
    m = mount(f"s3://{bucket}", "cache_ttl=0")
    assert (m / key).read_bytes() == v1
    v2 = os.urandom(MiB + 4321)  # another size
    s3.put(bucket, key, v2)
    assert os.stat(m / key).st_size == len(v2)
    assert (m / key).read_bytes() == v2
    v3 = os.urandom(len(v2))  # same size, other bytes: only the ETag tells
    s3.put(bucket, key, v3)
    assert (m / key).read_bytes() == v3
    s3.client.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(FileNotFoundError):
        (m / key).read_bytes()


@pytest.mark.parametrize("change", ["overwrite", "delete"])
def test_open_file_never_mixes_versions(mount, s3, bucket, change):
    # An open file keeps reading the version it opened, or fails with EIO.
    # (s3rver ignores If-Match, so odofs can only tell by the ETag of each
    # response.)
    key = "versioned.bin"
    v1 = os.urandom(32 * MiB)
    s3.put(bucket, key, v1)
    m = mount(f"s3://{bucket}", "cache_ttl=0", expect_errors=(r".",))
    with open(m / key, "rb", buffering=0) as f:
        head = f.read(64 * 1024)
        if change == "overwrite":
            s3.put(bucket, key, os.urandom(len(v1)))
        else:
            s3.client.delete_object(Bucket=bucket, Key=key)
        try:
            rest = b""
            while True:
                b = f.read(4 * MiB)
                if not b:
                    break
                rest += b
        except OSError as e:
            assert e.errno == errno.EIO, e
        else:
            assert head + rest == v1, "read a mix of two versions"


def test_read_only(mount, s3, bucket, tmp_path):
    s3.put(bucket, "keep.txt", b"keep\n")
    s3.put(bucket, "dir/inner.txt", b"inner\n")
    m = mount(f"s3://{bucket}", "ro")
    for attempt in (
        lambda: open(m / "new.txt", "wb").close(),
        lambda: open(m / "keep.txt", "r+b").close(),
        lambda: open(m / "keep.txt", "ab").close(),
        lambda: os.truncate(m / "keep.txt", 0),
        lambda: os.unlink(m / "keep.txt"),
        lambda: os.mkdir(m / "newdir"),
        lambda: os.rmdir(m / "dir"),
        lambda: os.rename(m / "keep.txt", m / "moved.txt"),
        lambda: os.chmod(m / "keep.txt", 0o600),
        lambda: os.symlink("keep.txt", m / "link"),
    ):
        with pytest.raises(OSError) as e:
            attempt()
        assert e.value.errno == errno.EROFS, e.value
    src = tmp_path / "src.txt"
    src.write_bytes(b"new\n")
    cp = run(["cp", src, m / "copied.txt"], timeout=30, check=False)
    assert cp.returncode != 0
    assert set(s3.list_objects(bucket)) == {"keep.txt", "dir/inner.txt"}
    assert (m / "keep.txt").read_bytes() == b"keep\n"
