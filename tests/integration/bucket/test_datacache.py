"""The disk cache (-o data_cache=DIR): blocks kept by bucket, key and ETag,
reused after a remount, checked when read back (damage is fetched again),
bounded, shared by two mounts, and off with one warning when its disk
fails. cache_ttl=0 throughout, so the kernel's page cache never answers
in its place."""

import concurrent.futures
import os
import random
import subprocess

import pytest

from conftest import MiB, unmount

BLOCK = MiB


def read(path):
    with open(path, "rb") as f:
        return f.read()


def blocks(cache):
    root = cache / "odofs-data-1"
    return sorted(p for p in root.glob("*/*") if not p.name.startswith("."))


def cache_bytes(cache):
    return sum(p.stat().st_size for p in blocks(cache))


def gets(s3, bucket, key, mark):
    return [m for m, _q in s3.key_requests(bucket, key, mark) if m == "GET"]


def dc_mount(mount, bucket, cache, *opts):
    """A mount of bucket with its disk cache in cache (and cache_ttl=0)."""
    return mount(f"s3://{bucket}", "cache_ttl=0", f"data_cache={cache}", *opts)


def stop(m):
    unmount(m.path)
    m.proc.wait(timeout=30)


@pytest.mark.mock_only("counts the GETs in the s3rver access log")
def test_blocks_are_reused_on_the_mount_and_after_remount(mount, s3, bucket, tmp_path):
    cache = tmp_path / "dc"
    key = "kept.bin"
    data = os.urandom(3 * BLOCK + 1234)
    s3.put(bucket, key, data)
    m = dc_mount(mount, bucket, cache)
    assert read(m / key) == data
    assert len(blocks(cache)) == 4
    mark = s3.log_mark()
    assert read(m / key) == data
    assert gets(s3, bucket, key, mark) == []
    stop(m)
    m = dc_mount(mount, bucket, cache)
    mark = s3.log_mark()
    assert read(m / key) == data
    assert gets(s3, bucket, key, mark) == []


def test_overwrite_by_another_client_is_never_served_old(mount, s3, bucket, tmp_path):
    cache = tmp_path / "dc"
    key = "changed.bin"
    v1 = os.urandom(2 * BLOCK + 99)
    s3.put(bucket, key, v1)
    m = dc_mount(mount, bucket, cache)
    assert read(m / key) == v1
    v2 = os.urandom(len(v1))  # same size: only the ETag tells
    s3.put(bucket, key, v2)
    assert read(m / key) == v2
    assert read(m / key) == v2
    s3.put(bucket, key, v1)  # back: its blocks are v1's bytes again
    assert read(m / key) == v1


def test_damaged_blocks_are_fetched_again(mount, s3, bucket, tmp_path):
    cache = tmp_path / "dc"
    key = "damaged.bin"
    data = os.urandom(5 * BLOCK + 7)
    s3.put(bucket, key, data)
    m = dc_mount(mount, bucket, cache)
    assert read(m / key) == data
    files = blocks(cache)
    assert len(files) == 6
    by_index = {int(p.name, 16): p for p in files}
    # A flipped byte in the data, a truncated block, a deleted one, and a
    # foreign file (another block's bytes under this block's name).
    with open(by_index[0], "r+b") as f:
        f.seek(-100, os.SEEK_END)
        b = f.read(1)
        f.seek(-100, os.SEEK_END)
        f.write(bytes([b[0] ^ 0xFF]))
    with open(by_index[1], "r+b") as f:
        f.truncate(by_index[1].stat().st_size - 4096)
    by_index[2].unlink()
    by_index[3].write_bytes(by_index[4].read_bytes())
    assert read(m / key) == data
    assert read(m / key) == data
    assert len(blocks(cache)) == 6
    # The whole cache deleted while mounted.
    subprocess.run(["rm", "-rf", str(cache / "odofs-data-1")], check=True)
    assert read(m / key) == data


def ranges(s3, bucket, key, mark):
    """The byte ranges of the GETs of key since mark, as (first, last)."""
    out = []
    for method, _p, _q, status, rng in s3.requests_since(mark):
        if method == "GET" and _p == f"/{bucket}/{key}" and 200 <= status < 300:
            first, _, last = rng.removeprefix("bytes=").partition("-")
            out.append((int(first), int(last)))
    return out


@pytest.mark.mock_only("counts the GETs in the s3rver access log")
def test_after_remount_every_byte_read_from_disk_is_checked(mount, s3, bucket, tmp_path):
    # A remounted file the cache holds whole is read straight from its
    # block files; damage in the middle of a block is still never
    # returned, only that block is fetched again, and a block missing
    # from the middle is fetched alone.
    cache = tmp_path / "dc"
    key = "whole.bin"
    data = os.urandom(4 * BLOCK + 4321)
    s3.put(bucket, key, data)
    m = dc_mount(mount, bucket, cache)
    assert read(m / key) == data
    stop(m)
    by_index = {int(p.name, 16): p for p in blocks(cache)}
    with open(by_index[1], "r+b") as f:
        f.seek(-600000, os.SEEK_END)  # mid-block: no read of its start sees it
        b = f.read(1)
        f.seek(-600000, os.SEEK_END)
        f.write(bytes([b[0] ^ 0x5A]))
    by_index[3].unlink()
    m = dc_mount(mount, bucket, cache)
    mark = s3.log_mark()
    with open(m / key, "rb") as f:
        assert os.pread(f.fileno(), 4096, 0) == data[:4096]
        assert os.pread(f.fileno(), 4096, 2 * BLOCK + 8192) == data[2 * BLOCK + 8192:2 * BLOCK + 12288]
    assert gets(s3, bucket, key, mark) == []
    assert read(m / key) == data
    fetched = ranges(s3, bucket, key, mark)
    assert fetched, "the damaged and the missing block are fetched again"
    for first, last in fetched:
        # Never blocks 0, 2 or 4, which are on disk and sound.
        assert 1 * BLOCK <= first and last < 2 * BLOCK or 3 * BLOCK <= first and last < 4 * BLOCK, fetched
    mark = s3.log_mark()
    assert read(m / key) == data
    assert gets(s3, bucket, key, mark) == []


def test_eviction_keeps_the_bound(mount, s3, bucket, tmp_path):
    cache = tmp_path / "dc"
    objs = {f"e{i}.bin": os.urandom(8 * BLOCK) for i in range(4)}
    for k, v in objs.items():
        s3.put(bucket, k, v)
    m = dc_mount(mount, bucket, cache, "data_cache_max=16M")
    for k, v in objs.items():
        assert read(m / k) == v
        assert cache_bytes(cache) <= 16 * MiB
    assert cache_bytes(cache) > 8 * MiB  # it does keep blocks
    # The most recently read object is the one kept whole.
    last = list(objs)[-1]
    assert read(m / last) == objs[last]


def test_two_mounts_share_one_folder(mount, s3, bucket, tmp_path):
    cache = tmp_path / "dc"
    key = "shared.bin"
    data = os.urandom(6 * BLOCK + 5)
    s3.put(bucket, key, data)
    a = dc_mount(mount, bucket, cache)
    b = dc_mount(mount, bucket, cache)
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        got = list(ex.map(read, [a / key, b / key, a / key, b / key]))
    assert all(g == data for g in got)
    assert read(b / key) == data


def test_full_cache_disk_degrades_with_one_warning(mount, s3, bucket, tmp_path):
    cache = tmp_path / "dc"
    cache.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(cache)], check=True)
    try:
        key = "big.bin"
        data = os.urandom(6 * BLOCK)
        s3.put(bucket, key, data)
        m = dc_mount(mount, bucket, cache, "data_cache_max=64M")
        assert read(m / key) == data
        assert read(m / key) == data
        stop(m)
        warnings = [line for line in m.log().splitlines() if "data cache" in line]
        assert len(warnings) == 1, m.log()
        assert "reading without it" in warnings[0]
    finally:
        subprocess.run(["umount", "-l", str(cache)], check=False)


def test_write_through_the_mount_drops_the_old_blocks(mount, s3, bucket, tmp_path):
    cache = tmp_path / "dc"
    key = "mine.bin"
    v1 = os.urandom(2 * BLOCK)
    s3.put(bucket, key, v1)
    m = dc_mount(mount, bucket, cache)
    assert read(m / key) == v1
    assert len(blocks(cache)) == 2
    with open(m / key, "r+b") as f:
        f.seek(10)
        f.write(b"new")
    v2 = v1[:10] + b"new" + v1[13:]
    assert blocks(cache) == []
    assert read(m / key) == v2
    assert s3.get(bucket, key) == v2


def test_bad_options_are_refused(mount, bucket):
    m = mount(f"s3://{bucket}", "data_cache_max=1G", allow_exit=True)
    assert m.exited
    assert "data_cache_max needs data_cache" in m.log()


def test_random_reads_with_the_cache(mount, s3, bucket, tmp_path):
    # Ranges across block edges, before and after their blocks are kept.
    cache = tmp_path / "dc"
    key = "random.bin"
    data = os.urandom(7 * BLOCK + 333)
    s3.put(bucket, key, data)
    m = dc_mount(mount, bucket, cache)
    rnd = random.Random(18)
    fd = os.open(m / key, os.O_RDONLY)
    try:
        for _ in range(300):
            off = rnd.randrange(len(data) + 10)
            n = rnd.choice([1, 4096, 100_000, BLOCK, 3 * BLOCK + 17])
            assert os.pread(fd, n, off) == data[off:off + n], (off, n)
    finally:
        os.close(fd)
    assert read(m / key) == data
