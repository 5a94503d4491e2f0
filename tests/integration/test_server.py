"""The harness itself: the test S3 server is a real one that checks SigV4,
so that the odofs tests built on it mean something."""

import base64
import hashlib
import json
import os
import re
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

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


# --------------------------------------------------------------------------
# Writes: the operations odofs's uploader relies on, which server.js adds to or
# fixes in s3rver so that it answers as AWS S3 does.


def error_of(excinfo):
    """(HTTP status, S3 error code) of a boto3 ClientError."""
    err = excinfo.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]


def b64md5(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def upload_ids(s3, bucket, **kw):
    """{upload id: key} of the uploads in progress, from boto3."""
    r = s3.client.list_multipart_uploads(Bucket=bucket, **kw)
    assert r["IsTruncated"] is False
    return {u["UploadId"]: u["Key"] for u in r.get("Uploads", [])}


def upload_dir(s3, bucket, upload_id):
    return s3.datadir / bucket / "._S3rver_uploads" / upload_id


def test_abort_multipart_upload(s3, bucket):
    c = s3.client
    uid = c.create_multipart_upload(Bucket=bucket, Key="dir/aborted.bin")["UploadId"]
    c.upload_part(Bucket=bucket, Key="dir/aborted.bin", UploadId=uid, PartNumber=1, Body=b"x" * 1000)
    assert upload_ids(s3, bucket) == {uid: "dir/aborted.bin"}
    assert (upload_dir(s3, bucket, uid) / "1").exists()

    r = c.abort_multipart_upload(Bucket=bucket, Key="dir/aborted.bin", UploadId=uid)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert upload_ids(s3, bucket) == {}
    assert not upload_dir(s3, bucket, uid).exists()
    assert "Contents" not in c.list_objects_v2(Bucket=bucket)

    # Gone: a second abort, a late part and a completion are all NoSuchUpload.
    with pytest.raises(ClientError) as e:
        c.abort_multipart_upload(Bucket=bucket, Key="dir/aborted.bin", UploadId=uid)
    assert error_of(e) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as e:
        c.upload_part(Bucket=bucket, Key="dir/aborted.bin", UploadId=uid, PartNumber=2, Body=b"y")
    assert error_of(e) == (404, "NoSuchUpload")
    assert not upload_dir(s3, bucket, uid).exists()
    with pytest.raises(ClientError) as e:
        c.complete_multipart_upload(Bucket=bucket, Key="dir/aborted.bin", UploadId=uid,
                                    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]})
    assert error_of(e) == (404, "NoSuchUpload")
    # An id that never existed, or one that is not an upload id at all.
    for bad in ("0" * 32, "../../etc"):
        with pytest.raises(ClientError) as e:
            c.abort_multipart_upload(Bucket=bucket, Key="dir/aborted.bin", UploadId=bad)
        assert error_of(e) == (404, "NoSuchUpload")

    # The aws CLI, too; and an upload belongs to its key.
    uid = c.create_multipart_upload(Bucket=bucket, Key="cli.bin")["UploadId"]
    with pytest.raises(ClientError) as e:
        c.abort_multipart_upload(Bucket=bucket, Key="other.bin", UploadId=uid)
    assert error_of(e) == (404, "NoSuchUpload")
    s3.aws("s3api", "abort-multipart-upload", "--bucket", bucket, "--key", "cli.bin", "--upload-id", uid)
    assert upload_ids(s3, bucket) == {}


def test_list_multipart_uploads(s3, bucket):
    c = s3.client
    keys = ["a/first.bin", "b/second & <odd> +#?.bin"]
    ids = {c.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"]: k for k in keys}
    c.upload_part(Bucket=bucket, Key=keys[0], UploadId=next(iter(ids)), PartNumber=1, Body=b"p")

    def cli(*args):
        return json.loads(s3.aws("s3api", "list-multipart-uploads", "--bucket", bucket, *args).stdout or "{}")

    out = cli()  # the CLI pages, and prints only the uploads
    assert {u["UploadId"]: u["Key"] for u in out["Uploads"]} == ids
    assert [u["Key"] for u in out["Uploads"]] == sorted(keys)  # key order
    out = cli("--no-paginate")
    assert out["Bucket"] == bucket and out["IsTruncated"] is False and len(out["Uploads"]) == 2
    assert [u["Key"] for u in cli("--prefix", "b/")["Uploads"]] == [keys[1]]

    r = c.list_multipart_uploads(Bucket=bucket)
    assert r["Bucket"] == bucket and r["IsTruncated"] is False and r["MaxUploads"] == 1000
    assert r["KeyMarker"] == "" and r["UploadIdMarker"] == ""
    for u in r["Uploads"]:
        assert abs(u["Initiated"].timestamp() - time.time()) < 120
    assert upload_ids(s3, bucket, Prefix="b/") == {i: k for i, k in ids.items() if k.startswith("b/")}
    assert upload_ids(s3, bucket, Prefix="c/") == {}

    d = c.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert "Uploads" not in d
    assert [p["Prefix"] for p in d["CommonPrefixes"]] == ["a/", "b/"]

    # Pages of one: every upload once, in order, through the paginator.
    ids[c.create_multipart_upload(Bucket=bucket, Key=keys[0])["UploadId"]] = keys[0]
    pages = list(c.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 1}))
    assert len(pages) == 3 and pages[0]["IsTruncated"] is True
    assert [u["Key"] for p in pages for u in p["Uploads"]] == [keys[0], keys[0], keys[1]]
    assert sorted(u["UploadId"] for p in pages for u in p["Uploads"]) == sorted(ids)
    assert len(cli("--page-size", "1")["Uploads"]) == 3
    pages = list(c.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1}))
    assert [[p["Prefix"] for p in page["CommonPrefixes"]] for page in pages] == [["a/"], ["b/"]]

    # Completing or aborting takes an upload off the list.
    first = next(iter(ids))
    etag = c.upload_part(Bucket=bucket, Key=ids[first], UploadId=first, PartNumber=1, Body=b"done")["ETag"]
    c.complete_multipart_upload(Bucket=bucket, Key=ids[first], UploadId=first,
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert first not in upload_ids(s3, bucket)
    for uid, key in ids.items():
        if uid != first:
            c.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=uid)
    assert cli().get("Uploads", []) == []


def test_put_with_wrong_content_md5_is_refused(s3, bucket):
    c = s3.client
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket=bucket, Key="new.txt", Body=b"what was sent", ContentMD5=b64md5(b"something else"))
    assert error_of(e) == (400, "BadDigest")
    with pytest.raises(ClientError) as e:
        c.head_object(Bucket=bucket, Key="new.txt")
    assert error_of(e)[0] == 404
    assert "Contents" not in c.list_objects_v2(Bucket=bucket)
    assert os.listdir(s3.datadir / bucket) == []  # no object, no temporary file

    c.put_object(Bucket=bucket, Key="dir/kept.txt", Body=b"original", Metadata={"m": "1"})
    etag = c.head_object(Bucket=bucket, Key="dir/kept.txt")["ETag"]
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket=bucket, Key="dir/kept.txt", Body=b"replacement", ContentMD5=b64md5(b"other"))
    assert error_of(e) == (400, "BadDigest")
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket=bucket, Key="dir/kept.txt", Body=b"replacement", ContentMD5="not base64 md5")
    assert error_of(e) == (400, "InvalidDigest")
    r = c.get_object(Bucket=bucket, Key="dir/kept.txt")
    assert r["Body"].read() == b"original" and r["ETag"] == etag and r["Metadata"] == {"m": "1"}

    # A right digest is accepted (boto3 sends one on every put by itself).
    c.put_object(Bucket=bucket, Key="dir/kept.txt", Body=b"replacement", ContentMD5=b64md5(b"replacement"))
    assert c.get_object(Bucket=bucket, Key="dir/kept.txt")["Body"].read() == b"replacement"


def test_upload_part_with_wrong_content_md5_is_refused(s3, bucket):
    c = s3.client
    uid = c.create_multipart_upload(Bucket=bucket, Key="mp.bin")["UploadId"]
    with pytest.raises(ClientError) as e:
        c.upload_part(Bucket=bucket, Key="mp.bin", UploadId=uid, PartNumber=1, Body=b"sent",
                      ContentMD5=b64md5(b"not sent"))
    assert error_of(e) == (400, "BadDigest")
    assert sorted(os.listdir(upload_dir(s3, bucket, uid))) == ["key", "metadata"]

    p1 = c.upload_part(Bucket=bucket, Key="mp.bin", UploadId=uid, PartNumber=1, Body=b"good part")["ETag"]
    with pytest.raises(ClientError) as e:
        c.upload_part(Bucket=bucket, Key="mp.bin", UploadId=uid, PartNumber=1, Body=b"bad part",
                      ContentMD5=b64md5(b"nope"))
    assert error_of(e) == (400, "BadDigest")
    with pytest.raises(ClientError) as e:
        c.upload_part(Bucket=bucket, Key="mp.bin", UploadId=uid, PartNumber=1, Body=b"bad part",
                      ContentMD5="AAAA")
    assert error_of(e) == (400, "InvalidDigest")
    c.complete_multipart_upload(Bucket=bucket, Key="mp.bin", UploadId=uid,
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1}]})
    assert c.get_object(Bucket=bucket, Key="mp.bin")["Body"].read() == b"good part"


# Every character the copy-source header percent-encodes that decodeURI keeps.
ODD_COPY_KEY = "odd dir/a # $ & + , : ; = ? @ b%20c.txt"


def test_copy_keys_with_reserved_characters(s3, bucket):
    c = s3.client
    data = os.urandom(3000)
    c.put_object(Bucket=bucket, Key=ODD_COPY_KEY, Body=data)
    c.put_object(Bucket=bucket, Key="odd dir/a ", Body=b"decoy: what decodeURI finds for '#'")

    c.copy_object(Bucket=bucket, Key="copy/" + ODD_COPY_KEY, CopySource={"Bucket": bucket, "Key": ODD_COPY_KEY})
    assert c.get_object(Bucket=bucket, Key="copy/" + ODD_COPY_KEY)["Body"].read() == data
    # With ?versionId= (s3rver keeps no versions; "null" is the only one).
    c.copy_object(Bucket=bucket, Key="copy/v", CopySource={"Bucket": bucket, "Key": ODD_COPY_KEY, "VersionId": "null"})
    assert c.get_object(Bucket=bucket, Key="copy/v")["Body"].read() == data
    # The string form, and the aws CLI.
    c.copy_object(Bucket=bucket, Key="copy/s", CopySource=f"{bucket}/{ODD_COPY_KEY}")
    assert c.get_object(Bucket=bucket, Key="copy/s")["Body"].read() == data
    s3.aws("s3", "cp", "--only-show-errors", f"s3://{bucket}/{ODD_COPY_KEY}", f"s3://{bucket}/cli/{ODD_COPY_KEY}")
    assert c.get_object(Bucket=bucket, Key="cli/" + ODD_COPY_KEY)["Body"].read() == data

    uid = c.create_multipart_upload(Bucket=bucket, Key="copy/part")["UploadId"]
    r = c.upload_part_copy(Bucket=bucket, Key="copy/part", UploadId=uid, PartNumber=1,
                           CopySource={"Bucket": bucket, "Key": ODD_COPY_KEY})
    c.complete_multipart_upload(Bucket=bucket, Key="copy/part", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"]}]})
    assert c.get_object(Bucket=bucket, Key="copy/part")["Body"].read() == data

    with pytest.raises(ClientError) as e:
        c.copy_object(Bucket=bucket, Key="copy/x", CopySource={"Bucket": bucket, "Key": ODD_COPY_KEY + "x"})
    assert error_of(e) == (404, "NoSuchKey")


def test_copy_source_if_match(s3, bucket):
    c = s3.client
    c.put_object(Bucket=bucket, Key="src.txt", Body=b"source")
    etag = c.head_object(Bucket=bucket, Key="src.txt")["ETag"]
    src = {"Bucket": bucket, "Key": "src.txt"}

    with pytest.raises(ClientError) as e:
        c.copy_object(Bucket=bucket, Key="dst.txt", CopySource=src, CopySourceIfMatch='"0123456789abcdef0123456789abcdef"')
    assert error_of(e) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as e:
        c.head_object(Bucket=bucket, Key="dst.txt")
    assert error_of(e)[0] == 404
    with pytest.raises(ClientError) as e:
        c.copy_object(Bucket=bucket, Key="dst.txt", CopySource=src, CopySourceIfNoneMatch=etag)
    assert error_of(e) == (412, "PreconditionFailed")
    c.copy_object(Bucket=bucket, Key="dst.txt", CopySource=src, CopySourceIfMatch=etag)
    assert c.get_object(Bucket=bucket, Key="dst.txt")["Body"].read() == b"source"

    uid = c.create_multipart_upload(Bucket=bucket, Key="mp.txt")["UploadId"]
    with pytest.raises(ClientError) as e:
        c.upload_part_copy(Bucket=bucket, Key="mp.txt", UploadId=uid, PartNumber=1, CopySource=src,
                           CopySourceIfMatch='"0123456789abcdef0123456789abcdef"')
    assert error_of(e) == (412, "PreconditionFailed")
    assert sorted(os.listdir(upload_dir(s3, bucket, uid))) == ["key", "metadata"]
    r = c.upload_part_copy(Bucket=bucket, Key="mp.txt", UploadId=uid, PartNumber=1, CopySource=src,
                           CopySourceIfMatch=etag)
    assert r["CopyPartResult"]["ETag"] == etag


def test_metadata_through_multipart_copy_and_head(s3, bucket):
    c = s3.client
    uid = c.create_multipart_upload(Bucket=bucket, Key="mp.txt", Metadata={"origin": "multipart", "n": "2"},
                                    ContentType="text/plain")["UploadId"]
    parts = [{"PartNumber": n, "ETag": c.upload_part(Bucket=bucket, Key="mp.txt", UploadId=uid, PartNumber=n,
                                                      Body=f"part {n}\n".encode())["ETag"]} for n in (1, 2)]
    c.complete_multipart_upload(Bucket=bucket, Key="mp.txt", UploadId=uid, MultipartUpload={"Parts": parts})
    h = c.head_object(Bucket=bucket, Key="mp.txt")
    assert h["Metadata"] == {"origin": "multipart", "n": "2"}
    assert h["ContentType"] == "text/plain" and h["ContentLength"] == 14

    # COPY (the default) keeps the metadata.
    c.copy_object(Bucket=bucket, Key="kept.txt", CopySource={"Bucket": bucket, "Key": "mp.txt"})
    assert c.head_object(Bucket=bucket, Key="kept.txt")["Metadata"] == {"origin": "multipart", "n": "2"}

    # REPLACE: new metadata, same content; onto an existing key as well.
    c.put_object(Bucket=bucket, Key="replaced.txt", Body=b"older, different content", Metadata={"old": "y"})
    for dst in ("new.txt", "replaced.txt", "mp.txt"):
        c.copy_object(Bucket=bucket, Key=dst, CopySource={"Bucket": bucket, "Key": "mp.txt"},
                      MetadataDirective="REPLACE", Metadata={"fresh": dst})
        r = c.get_object(Bucket=bucket, Key=dst)
        assert r["Metadata"] == {"fresh": dst}
        body = r["Body"].read()
        assert body == b"part 1\npart 2\n"
        assert r["ETag"] == c.head_object(Bucket=bucket, Key=dst)["ETag"]
        assert r["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
        assert r["ETag"] == [o["ETag"] for o in c.list_objects_v2(Bucket=bucket, Prefix=dst)["Contents"]][0]

    # And the aws CLI sees it.
    out = json.loads(s3.aws("s3api", "head-object", "--bucket", bucket, "--key", "new.txt").stdout)
    assert out["Metadata"] == {"fresh": "new.txt"}


def test_upload_part_copy_range(s3, bucket):
    c = s3.client
    data = os.urandom(10000)
    c.put_object(Bucket=bucket, Key="src.bin", Body=data)
    src = {"Bucket": bucket, "Key": "src.bin"}
    uid = c.create_multipart_upload(Bucket=bucket, Key="dst.bin")["UploadId"]
    ranges = [(1000, 4999), (0, 0), (9999, 9999), (1, 2)]
    parts = []
    for n, (a, b) in enumerate(ranges, 1):
        r = c.upload_part_copy(Bucket=bucket, Key="dst.bin", UploadId=uid, PartNumber=n, CopySource=src,
                               CopySourceRange=f"bytes={a}-{b}")
        assert r["CopyPartResult"]["ETag"] == '"%s"' % hashlib.md5(data[a:b + 1]).hexdigest()
        parts.append({"PartNumber": n, "ETag": r["CopyPartResult"]["ETag"]})
    with pytest.raises(ClientError) as e:
        c.upload_part_copy(Bucket=bucket, Key="dst.bin", UploadId=uid, PartNumber=9, CopySource=src,
                           CopySourceRange="bytes=9000-10000")
    assert error_of(e) == (400, "InvalidArgument")
    c.complete_multipart_upload(Bucket=bucket, Key="dst.bin", UploadId=uid, MultipartUpload={"Parts": parts})
    assert c.get_object(Bucket=bucket, Key="dst.bin")["Body"].read() == b"".join(data[a:b + 1] for a, b in ranges)
    # A plain GET of one byte at 0 is one byte, too.
    r = c.get_object(Bucket=bucket, Key="src.bin", Range="bytes=0-0")
    assert r["Body"].read() == data[:1] and r["ContentRange"] == "bytes 0-0/10000"


def test_complete_with_wrong_parts_is_refused(s3, bucket):
    c = s3.client
    uid = c.create_multipart_upload(Bucket=bucket, Key="mp.bin")["UploadId"]
    etags = [c.upload_part(Bucket=bucket, Key="mp.bin", UploadId=uid, PartNumber=n, Body=bytes([n]) * 100)["ETag"]
             for n in (1, 2)]

    def complete(parts):
        with pytest.raises(ClientError) as e:
            c.complete_multipart_upload(Bucket=bucket, Key="mp.bin", UploadId=uid, MultipartUpload={
                "Parts": [{"PartNumber": n, "ETag": t} for n, t in parts]})
        return error_of(e)

    assert complete([(1, etags[0]), (2, '"0123456789abcdef0123456789abcdef"')]) == (400, "InvalidPart")
    assert complete([(1, etags[1]), (2, etags[0])]) == (400, "InvalidPart")
    assert complete([(1, etags[0]), (3, etags[1])]) == (400, "InvalidPart")  # never uploaded
    assert complete([(2, etags[1]), (1, etags[0])]) == (400, "InvalidPartOrder")
    # Nothing was assembled, and the upload is still there to be completed.
    with pytest.raises(ClientError) as e:
        c.head_object(Bucket=bucket, Key="mp.bin")
    assert error_of(e)[0] == 404
    assert upload_ids(s3, bucket) == {uid: "mp.bin"}
    c.complete_multipart_upload(Bucket=bucket, Key="mp.bin", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": etags[0]}, {"PartNumber": 2, "ETag": etags[1].strip('"')}]})
    assert c.get_object(Bucket=bucket, Key="mp.bin")["Body"].read() == b"\x01" * 100 + b"\x02" * 100
    assert upload_ids(s3, bucket) == {}


def test_multipart_etag_is_s3s_composite_form(s3, bucket):
    # S3's ETag of a completed multipart upload: the MD5 of the parts' binary
    # MD5s, "-", the number of parts; in the completion's answer, HEAD and
    # listings alike. A copy of it is one object: the MD5 of its bytes.
    if s3.kind != "s3rver":
        pytest.skip("checks the mock's own answers")
    c = s3.client
    bodies = [os.urandom(5 << 20), b"tail"]
    uid = c.create_multipart_upload(Bucket=bucket, Key="mp.bin")["UploadId"]
    parts = [{"PartNumber": n, "ETag": c.upload_part(Bucket=bucket, Key="mp.bin", UploadId=uid, PartNumber=n,
                                                      Body=b)["ETag"]} for n, b in enumerate(bodies, 1)]
    r = c.complete_multipart_upload(Bucket=bucket, Key="mp.bin", UploadId=uid, MultipartUpload={"Parts": parts})
    want = '"%s-2"' % hashlib.md5(b"".join(hashlib.md5(b).digest() for b in bodies)).hexdigest()
    assert r["ETag"] == want
    assert c.head_object(Bucket=bucket, Key="mp.bin")["ETag"] == want
    assert c.list_objects_v2(Bucket=bucket)["Contents"][0]["ETag"] == want
    r = c.copy_object(Bucket=bucket, Key="copy.bin", CopySource={"Bucket": bucket, "Key": "mp.bin"})
    assert r["CopyObjectResult"]["ETag"] == '"%s"' % hashlib.md5(b"".join(bodies)).hexdigest()
