"""The harness itself: the test S3 server is a real one that checks SigV4,
so that the odofs tests built on it mean something."""

import re
import urllib.error
import urllib.request

from conftest import ODD_FILE_NAMES


def test_server_checks_signatures(s3, bucket):
    s3.put(bucket, "k.txt", b"hello\n")
    assert s3.aws("s3", "ls", f"s3://{bucket}/").stdout.split()[-1] == "k.txt"

    env = s3.env()
    env["AWS_SECRET_ACCESS_KEY"] = s3.secret[:-1] + ("x" if s3.secret[-1] != "x" else "y")
    cp = s3.aws("s3", "ls", f"s3://{bucket}/", env=env, check=False)
    assert cp.returncode != 0
    assert "SignatureDoesNotMatch" in cp.stderr

    env = s3.env()
    env["AWS_ACCESS_KEY_ID"] = "AKIANOSUCHKEY0000000"
    cp = s3.aws("s3", "ls", f"s3://{bucket}/", env=env, check=False)
    assert cp.returncode != 0
    assert "InvalidAccessKeyId" in cp.stderr


def test_server_allows_unsigned(s3, bucket):
    s3.put(bucket, "pub.txt", b"public\n")
    with urllib.request.urlopen(f"{s3.endpoint}/{bucket}/pub.txt", timeout=10) as r:
        assert r.read() == b"public\n"
    try:
        urllib.request.urlopen(f"{s3.endpoint}/{bucket}/missing", timeout=10)
        raise AssertionError("GET of a missing key succeeded")
    except urllib.error.HTTPError as e:
        assert e.code == 404


def test_server_paginates_listings(s3, bucket):
    # s3rver's continuation tokens need single DES, absent from OpenSSL 3's
    # default provider; server.js supplies it (see there).
    s3.put_many(bucket, [(f"p/k{i:04d}", b"") for i in range(25)])
    pages = s3.client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix="p/", PaginationConfig={"PageSize": 10})
    keys = [o["Key"] for page in pages for o in page["Contents"]]
    assert keys == [f"p/k{i:04d}" for i in range(25)]
    page = s3.client.list_objects_v2(Bucket=bucket, Prefix="p/", MaxKeys=10)
    assert page["IsTruncated"] and page["NextContinuationToken"]


def test_server_ranges(s3, bucket):
    s3.put(bucket, "r.bin", bytes(range(256)))
    r = s3.client.get_object(Bucket=bucket, Key="r.bin", Range="bytes=10-19")
    assert r["Body"].read() == bytes(range(10, 20))
    assert r["ContentRange"] == "bytes 10-19/256"


def test_odd_names_round_trip_through_aws(s3, bucket, tmp_path):
    src = tmp_path / "odd"
    src.mkdir()
    for name in ODD_FILE_NAMES:
        (src / name).write_bytes(name.encode())
    s3.aws("s3", "cp", "--recursive", "--only-show-errors", str(src), f"s3://{bucket}/odd/")
    listed = {re.match(r"\S+ \S+\s+\d+ (.*)$", line).group(1) for line in
              s3.aws("s3", "ls", "--recursive", f"s3://{bucket}/").stdout.splitlines()}
    assert listed == {f"odd/{n}" for n in ODD_FILE_NAMES}
    for name in ODD_FILE_NAMES:
        body = s3.client.get_object(Bucket=bucket, Key=f"odd/{name}")["Body"].read()
        assert body == name.encode()
