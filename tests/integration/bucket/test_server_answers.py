"""Writes whose success hangs on answers that differ between S3 servers.

Ceph RGW answers CompleteMultipartUpload with an empty ETag and refuses an
UploadPartCopy without Content-Length (411); AWS and s3rver do neither.
Each test here checks what a program sees (close() succeeding, the bytes
S3 holds) and that a good upload leaves nothing behind in cache_dir. They
run against every test server (ODOFS_TEST_S3); on RGW they failed before
the fixes.
"""

import os
import subprocess

from conftest import MiB, sha256_bytes

PART = 16 * MiB  # odofs's default part size


def spool_files(cache):
    return [os.path.join(d, f) for d, _, files in os.walk(cache) for f in files]


def write_and_close(path, data, flags):
    """write() then close(), each checked: close() is where an upload's
    failure reaches the program."""
    fd = os.open(path, flags, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    finally:
        os.close(fd)


def test_multipart_write_closes_cleanly(mount, s3, bucket, tmp_path):
    data = os.urandom(3 * PART + 12345)
    cache = tmp_path / "cache"
    m = mount(f"s3://{bucket}", f"cache_dir={cache}")
    write_and_close(m / "big.bin", data, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    assert s3.sha256(bucket, "big.bin") == (len(data), sha256_bytes(data))
    assert spool_files(cache) == []


def test_change_in_place_closes_cleanly(mount, s3, bucket, tmp_path):
    # A write into the middle goes to a spool, uploaded whole at close as a
    # multipart upload; the spool goes once S3 has the object.
    old = bytearray(os.urandom(2 * PART + 99))
    s3.put(bucket, "mid.bin", bytes(old))
    cache = tmp_path / "cache"
    m = mount(f"s3://{bucket}", f"cache_dir={cache}")
    patch = os.urandom(4096)
    subprocess.run(["dd", f"of={m / 'mid.bin'}", "bs=4096", "seek=1000", "conv=notrunc",
                    "status=none"], input=patch, check=True, timeout=300)
    old[1000 * 4096:1001 * 4096] = patch
    assert s3.sha256(bucket, "mid.bin") == (len(old), sha256_bytes(bytes(old)))
    assert spool_files(cache) == []


def test_truncate_past_a_part_closes_cleanly(mount, s3, bucket, tmp_path):
    s3.put(bucket, "grow.bin", b"head")
    cache = tmp_path / "cache"
    m = mount(f"s3://{bucket}", f"cache_dir={cache}")
    os.truncate(m / "grow.bin", PART + MiB)
    want = b"head" + bytes(PART + MiB - 4)
    assert s3.sha256(bucket, "grow.bin") == (len(want), sha256_bytes(want))
    assert spool_files(cache) == []


def test_append_to_object_past_5_mib_closes_cleanly(mount, s3, bucket, tmp_path):
    # The old bytes become part 1 by UploadPartCopy, a PUT with no body,
    # so nothing is downloaded. Were that refused, odofs would fall back to
    # a spool holding the whole object: a 1 MiB spool_max makes that fail.
    old = os.urandom(5 * MiB + 17)
    s3.put(bucket, "log.bin", old)
    cache = tmp_path / "cache"
    m = mount(f"s3://{bucket}", f"cache_dir={cache}", "spool_max=1M")
    more = os.urandom(MiB + 3)
    write_and_close(m / "log.bin", more, os.O_WRONLY | os.O_APPEND)
    want = old + more
    assert s3.sha256(bucket, "log.bin") == (len(want), sha256_bytes(want))
    assert os.stat(m / "log.bin").st_size == len(want)
    assert spool_files(cache) == []
