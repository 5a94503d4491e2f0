"""The folder tree: what a mount shows equals what S3 lists."""

import calendar
import errno
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from conftest import MANY_COUNT, expected_tree, ls_l, many_size, run, unmount, walk_mount


def aws_ls_recursive(s3, bucket, prefix=""):
    """{key relative to prefix: (size, mtime)} as `aws s3 ls --recursive` says."""
    out = {}
    cp = s3.aws("s3", "ls", "--recursive", f"s3://{bucket}/{prefix}")
    for line in cp.stdout.splitlines():
        # "2024-06-01 12:00:00       1234 key": one space before the key,
        # which may itself start with spaces.
        m = re.match(r"(\S+) (\S+)\s+(\d+) (.*)$", line)
        assert m, f"cannot parse aws s3 ls line: {line!r}"
        day, clock, size, key = m.groups()
        # aws prints local time; the env has TZ=UTC.
        mtime = calendar.timegm(time.strptime(f"{day} {clock}", "%Y-%m-%d %H:%M:%S"))
        out[key] = (int(size), mtime, None)
    return out


def test_bucket_listing_equals_aws(mount, s3, tree):
    m = mount(f"s3://{tree.bucket}")
    files, dirs = walk_mount(m)
    want_files, want_dirs = expected_tree(aws_ls_recursive(s3, tree.bucket))
    assert files == want_files
    assert dirs == want_dirs


def test_bucket_listing_equals_list_objects(mount, s3, tree):
    m = mount(f"s3://{tree.bucket}")
    files, dirs = walk_mount(m)
    want_files, want_dirs = expected_tree(s3.list_objects(tree.bucket))
    assert files == want_files
    assert dirs == want_dirs


def test_stat_of_files(mount, s3, tree):
    m = mount(f"s3://{tree.bucket}")
    objects = s3.list_objects(tree.bucket)
    walk_mount(m)  # list parents first: see ODD_FILE_NAMES on ( ) ! * '
    for key in tree.files:
        st = os.stat(m / key)
        size, mtime, _ = objects[key]
        assert st.st_size == size, key
        assert int(st.st_mtime) == mtime, key
        assert (st.st_mode & 0o170000) == 0o100000, key


def test_stat_without_listing_first(mount, s3, tree):
    # A path never listed is resolved by itself (HEAD + list of "name/").
    m = mount(f"s3://{tree.bucket}", "cache_ttl=0")
    objects = s3.list_objects(tree.bucket)
    key = "top/deep/b/y/2/leaf-by2.dat"
    st = os.stat(m / key)
    assert st.st_size == objects[key][0]
    assert os.path.isdir(m / "top/deep/b/y")
    with pytest.raises(FileNotFoundError):
        os.stat(m / "top/deep/no-such-file")
    with pytest.raises(FileNotFoundError):
        os.stat(m / "no-such-dir/x")


def test_uid_gid_umask(mount, tree):
    m = mount(f"s3://{tree.bucket}/top/deep/", "uid=1234", "gid=5678", "umask=027")
    for path in (m.path, m / "a", m / "a/x/1/leaf-ax1.dat"):
        st = os.stat(path)
        assert (st.st_uid, st.st_gid) == (1234, 5678), path
        assert st.st_mode & 0o027 == 0, f"{path}: mode {st.st_mode:o}"
        assert st.st_mode & 0o400, f"{path}: mode {st.st_mode:o}"
    assert os.stat(m / "a").st_mode & 0o100
    # Read-write by default: the owner may write, the umask takes the rest.
    assert os.stat(m / "a/x/1/leaf-ax1.dat").st_mode & 0o777 == 0o640


def test_allow_other(mount, tree, tmp_path):
    # Without allow_other only the mounting user sees into the mount; with it,
    # others do (here nobody, 65534). The mount point's parents must let
    # nobody through, unlike pytest's private tmp folders.
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is missing")
    base = Path(tempfile.mkdtemp(prefix="odofs-allow-other-"))
    try:
        base.chmod(0o755)
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "ls"]
        m = mount(f"s3://{tree.bucket}/top/deep/", mountpoint=base / "private")
        cp = run([*as_nobody, m], timeout=30, check=False, env={**os.environ, "LC_ALL": "C"})
        assert cp.returncode != 0 and "Permission denied" in cp.stderr
        m = mount(f"s3://{tree.bucket}/top/deep/", "allow_other", mountpoint=base / "shared")
        cp = run([*as_nobody, m], timeout=30, check=False, env={**os.environ, "LC_ALL": "C"})
        assert cp.returncode == 0, cp.stderr
        assert cp.stdout.split() == ["a", "b"]
    finally:
        for d in ("private", "shared"):
            unmount(base / d)
        shutil.rmtree(base, ignore_errors=True)


def test_ls_l_sizes(mount, s3, tree):
    m = mount(f"s3://{tree.bucket}/top/odd/")
    listed = ls_l(m.path)
    objects = s3.list_objects(tree.bucket, "top/odd/")
    assert {name: size for name, (_t, size) in listed.items()} == \
        {k[len("top/odd/"):]: v[0] for k, v in objects.items()}
    assert all(t == "-" for t, _ in listed.values())


@pytest.mark.parametrize("prefix", ["top/deep/", "top/deep", "top/odddirs/dir with space/", "top/odddirs/dïr-ünicode-日本"])
def test_prefix_mount(mount, s3, tree, prefix):
    m = mount(f"s3://{tree.bucket}/{prefix}")
    files, dirs = walk_mount(m)
    want_files, want_dirs = expected_tree(s3.list_objects(tree.bucket), prefix.rstrip("/") + "/")
    assert files and files == want_files
    assert dirs == want_dirs


def test_prefix_mount_of_prefix_not_there_yet(mount, s3, tree):
    # Nothing below the prefix yet: an empty folder (S3 has no folders to be
    # missing), which fills once keys appear.
    m = mount(f"s3://{tree.bucket}/not-yet/", "cache_ttl=0")
    assert os.listdir(m) == []
    s3.put(tree.bucket, "not-yet/now.txt", b"now\n")
    try:
        assert os.listdir(m) == ["now.txt"]
        assert (m / "now.txt").read_bytes() == b"now\n"
    finally:
        s3.client.delete_object(Bucket=tree.bucket, Key="not-yet/now.txt")


def test_all_buckets_mount(mount, s3, tree):
    m = mount("s3://")
    want = {b["Name"] for b in s3.client.list_buckets()["Buckets"]}
    assert set(os.listdir(m)) == want
    for name in want:
        assert os.path.isdir(m / name)
    assert (m / tree.bucket / "rootfile.txt").read_bytes() == tree.files["rootfile.txt"].read_bytes()
    files, dirs = walk_mount(m / tree.bucket / "top" / "deep")
    want_files, want_dirs = expected_tree(s3.list_objects(tree.bucket), "top/deep/")
    assert files == want_files and dirs == want_dirs


def test_directory_markers(mount, tree):
    m = mount(f"s3://{tree.bucket}")
    markers = m / "top" / "markers"
    assert os.path.isdir(markers)
    assert sorted(os.listdir(markers)) == ["empty", "full"]
    assert os.path.isdir(markers / "empty")
    assert os.listdir(markers / "empty") == []
    assert os.listdir(markers / "full") == ["f.txt"]
    assert (markers / "full" / "f.txt").read_bytes() == b"marker sibling\n"


def test_prefix_mount_on_marker(mount, tree):
    # The marker "top/markers/" itself must not show up as a nameless file.
    m = mount(f"s3://{tree.bucket}/top/markers/")
    assert sorted(os.listdir(m)) == ["empty", "full"]


def test_folder_wins_over_file(mount, s3, bucket):
    s3.put(bucket, "a", b"file a\n")
    s3.put(bucket, "a/x", b"x\n")
    s3.put(bucket, "a/y/z", b"z\n")
    s3.put(bucket, "b", b"file b\n")
    m = mount(f"s3://{bucket}", "log_level=info")
    # Resolved by itself first (lookup), then by listing.
    assert os.path.isdir(m / "a")
    assert sorted(os.listdir(m)) == ["a", "b"]
    assert os.path.isdir(m / "a")
    assert sorted(os.listdir(m / "a")) == ["x", "y"]
    assert (m / "a" / "x").read_bytes() == b"x\n"
    assert (m / "b").read_bytes() == b"file b\n"
    with pytest.raises(IsADirectoryError):
        (m / "a").read_bytes()
    assert re.search(r"/a\b.*\bhid(den|es)\b", m.log(), re.I), "the log should say the file 'a' is hidden"


@pytest.mark.heavy("makes 10,000 keys (paged listings also run in test_hostile)")
def test_ten_thousand_objects(mount, many):
    bucket, prefix = many
    m = mount(f"s3://{bucket}/{prefix}")
    listed = ls_l(m.path, timeout=180)
    assert len(listed) == MANY_COUNT
    for i in range(MANY_COUNT):
        assert listed[f"f{i:05d}.bin"] == ("-", many_size(i))


@pytest.mark.heavy("makes 10,000 keys (paged listings also run in test_hostile)")
@pytest.mark.mock_only("counts requests in the server's access log")
def test_ten_thousand_objects_requests(mount, s3, many):
    # Attributes come from the listing itself: about one ListObjectsV2 per
    # 1,000 keys and no HEAD per object (s3fs sends one per entry), but for
    # the empty ones, which may be FIFOs or folder objects (see
    # test_posix.py): ten here.
    bucket, prefix = many
    m = mount(f"s3://{bucket}/{prefix}")
    mark = s3.log_mark()
    assert len(ls_l(m.path, timeout=180)) == MANY_COUNT
    reqs = s3.requests_since(mark)
    lists = [r for r in reqs if r[0] == "GET" and r[1].strip("/") == bucket and "list-type" in r[2]]
    heads = [r for r in reqs if r[0] == "HEAD"]
    empty = sum(1 for i in range(MANY_COUNT) if many_size(i) == 0)
    print(f"ls -l of {MANY_COUNT} files ({empty} empty): {len(lists)} list, {len(heads)} HEAD, "
          f"{len(reqs)} requests in all")
    assert MANY_COUNT // 1000 <= len(lists) <= MANY_COUNT // 1000 + 3, lists
    assert len(heads) <= empty + 2, heads[:10]
    assert all(r[3] == 200 for r in lists)


@pytest.mark.mock_only("reads the Range of each GET in the server's access log")
def test_reads_are_range_gets(mount, s3, tree):
    m = mount(f"s3://{tree.bucket}/top/sizes/")
    names = sorted(os.listdir(m))
    mark = s3.log_mark()
    for name in names:
        (m / name).read_bytes()
    gets = [r for r in s3.requests_since(mark) if r[0] == "GET" and "list-type" not in r[2]]
    assert gets, "no GET reached the server"
    assert all(r[4] and r[4].startswith("bytes=") for r in gets), [r for r in gets if not r[4]]
    # The empty file: only its open's GET of the first bytes (answered 416:
    # no byte 0), never a GET to read it (a read at EOF needs none).
    empty = [r for r in gets if r[1].endswith("/s00-0.bin")]
    assert len(empty) <= 1 and all(r[3] == 416 for r in empty), empty


@pytest.mark.heavy("makes 10,000 keys (paged listings also run in test_hostile)")
def test_ten_thousand_objects_in_bucket_mount(mount, many):
    bucket, prefix = many
    m = mount(f"s3://{bucket}")
    assert sorted(os.listdir(m)) == ["many", "many-not", "outside.txt"]
    names = os.listdir(m / "many")
    assert len(names) == MANY_COUNT
    assert os.stat(m / "many" / "f01234.bin").st_size == many_size(1234)


@pytest.fixture(scope="module")
def glob_bucket(s3):
    b = s3.make_bucket()
    keys = {
        "logs/2024/a.csv": b"a\n",
        "logs/2024/b.csv": b"b,b\n",
        "logs/2024/c.txt": b"c\n",
        "logs/2024/ab.csv.gz": b"gz\n",
        "logs/2024/sub/d.csv": b"d\n",
        "logs/2024/abc/e.csv": b"e\n",
        "logs/2024.csv": b"outside\n",
        "logs/2025/f.csv": b"f\n",
        "other/g.csv": b"g\n",
    }
    for k, v in keys.items():
        s3.put(b, k, v)
    return b, keys


@pytest.mark.parametrize(
    "pattern, want",
    [
        ("logs/2024/*.csv", {"a.csv", "b.csv", "sub/d.csv", "abc/e.csv"}),
        ("logs/2024/a*.csv", {"a.csv", "abc/e.csv"}),
        ("logs/2024/*", {"a.csv", "b.csv", "c.txt", "ab.csv.gz", "sub/d.csv", "abc/e.csv"}),
        ("logs/*.csv", {"2024/a.csv", "2024/b.csv", "2024/sub/d.csv", "2024/abc/e.csv", "2024.csv", "2025/f.csv"}),
        ("logs/2024/*.parquet", set()),
    ],
)
def test_glob_mount(mount, s3, glob_bucket, pattern, want):
    bucket, keys = glob_bucket
    m = mount(f"s3://{bucket}/{pattern}")
    files, _dirs = walk_mount(m)
    assert set(files) == want
    prefix = pattern[: pattern.rindex("/", 0, pattern.index("*")) + 1]
    for rel in want:
        assert (m / rel).read_bytes() == keys[prefix + rel]
        assert files[rel][0] == len(keys[prefix + rel])


def test_glob_mount_is_read_only(mount, s3, glob_bucket):
    bucket, _keys = glob_bucket
    before = s3.list_objects(bucket)
    m = mount(f"s3://{bucket}/logs/2024/*.csv")
    for attempt in (
        lambda: open(m / "new.csv", "wb").close(),
        lambda: open(m / "a.csv", "r+b").close(),
        lambda: os.unlink(m / "a.csv"),
        lambda: os.mkdir(m / "newdir"),
        lambda: os.rename(m / "a.csv", m / "z.csv"),
    ):
        with pytest.raises(OSError) as e:
            attempt()
        assert e.value.errno == errno.EROFS
    assert s3.list_objects(bucket) == before
