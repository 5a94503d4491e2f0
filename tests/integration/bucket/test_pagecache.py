"""The kernel's page cache across opens: kept while the object is unchanged
(its ETag and size), dropped when another client or this mount changes
it, and never kept with cache_ttl=0."""

import os
import time

import pytest

from conftest import MiB


def read(path):
    with open(path, "rb") as f:
        return f.read()


def gets(s3, bucket, key, mark):
    return [m for m, _q in s3.key_requests(bucket, key, mark) if m == "GET"]


@pytest.mark.mock_only("counts the GETs in the s3rver access log")
def test_second_read_of_unchanged_file_sends_no_get(mount, s3, bucket):
    key = "same.bin"
    data = os.urandom(3 * MiB + 777)
    s3.put(bucket, key, data)
    m = mount(f"s3://{bucket}")
    mark = s3.log_mark()
    assert read(m / key) == data
    assert gets(s3, bucket, key, mark), "the first read sent no GET"
    mark = s3.log_mark()
    assert read(m / key) == data
    assert read(m / key) == data
    assert gets(s3, bucket, key, mark) == []


@pytest.mark.mock_only("counts the GETs in the s3rver access log")
def test_cache_ttl_0_reads_s3_on_every_open(mount, s3, bucket):
    key = "strict.bin"
    data = os.urandom(MiB)
    s3.put(bucket, key, data)
    m = mount(f"s3://{bucket}", "cache_ttl=0")
    assert read(m / key) == data
    mark = s3.log_mark()
    assert read(m / key) == data
    assert gets(s3, bucket, key, mark), "cache_ttl=0 kept the pages"


@pytest.mark.parametrize("same_size", [True, False])
def test_overwrite_by_another_client_is_read_whole(mount, s3, bucket, same_size):
    key = "other.bin"
    v1 = os.urandom(2 * MiB)
    s3.put(bucket, key, v1)
    m = mount(f"s3://{bucket}", "cache_ttl=1")
    assert read(m / key) == v1
    assert read(m / key) == v1  # now from the kept pages
    v2 = os.urandom(len(v1) if same_size else len(v1) + 12345)
    s3.put(bucket, key, v2)
    # Within the TTL either version may be seen, whole (or v2 cut to v1's
    # size, while the kernel holds that size); past it, v2.
    got = read(m / key)
    assert got in (v1, v2, v2[:len(v1)]), "read a mix of two versions"
    time.sleep(1.5)  # the TTL (1 s) is the behaviour under test
    assert read(m / key) == v2
    assert read(m / key) == v2


def test_pages_read_by_an_older_open_are_not_kept(mount, s3, bucket):
    # A file still open on v1 may read v1 bytes (already fetched ahead)
    # into the pages after an open of v2 dropped them: the next open must
    # not keep those.
    key = "two-opens.bin"
    v1 = os.urandom(16 * MiB)
    s3.put(bucket, key, v1)
    # A server that honours If-Match (RGW, S3) answers the old open's next
    # GET 412, and odofs says so before the read fails.
    m = mount(f"s3://{bucket}", "cache_ttl=1",
              expect_errors=(r"changed or was deleted", r"changed on the server since it was opened"))
    old = open(m / key, "rb", buffering=0)
    try:
        assert old.read(4 * MiB) == v1[:4 * MiB]  # and more fetched ahead
        v2 = os.urandom(len(v1))
        s3.put(bucket, key, v2)
        with open(m / key, "rb", buffering=0) as new:
            assert new.read(64 * 1024) in (v1[:64 * 1024], v2[:64 * 1024])
        try:
            while old.read(MiB):
                pass
        except OSError:
            pass  # EIO once it needs bytes of v1 that S3 no longer has
    finally:
        old.close()
    time.sleep(1.5)  # the TTL (1 s) is the behaviour under test
    assert read(m / key) == v2
    assert read(m / key) == v2


def test_write_through_mount_then_read(mount, s3, bucket):
    key = "mine.bin"
    v1 = os.urandom(2 * MiB)
    s3.put(bucket, key, v1)
    m = mount(f"s3://{bucket}")
    assert read(m / key) == v1
    assert read(m / key) == v1
    # In place: a spool, published at close.
    with open(m / key, "r+b") as f:
        f.seek(MiB - 10)
        f.write(b"x" * 100)
    v2 = v1[:MiB - 10] + b"x" * 100 + v1[MiB + 90:]
    assert read(m / key) == v2
    assert s3.get(bucket, key) == v2
    # Replaced by a shorter file.
    v3 = os.urandom(MiB // 2)
    with open(m / key, "wb") as f:
        f.write(v3)
    assert read(m / key) == v3
    assert read(m / key) == v3
    assert s3.get(bucket, key) == v3
