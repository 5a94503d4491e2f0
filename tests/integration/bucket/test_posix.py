"""Folders and special files as POSIX programs expect them (issue 15):
folders' own attributes, ctime, FIFOs and devices, unlinked open files,
set-id bits, errnos, other tools' folder markers."""

import errno
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ls_l, run, unmount

MTIME = 981173106  # 2001-02-03 04:05:06 UTC
DIR_META = {"mode": str(0o41777), "uid": "65534", "gid": "65534", "mtime": str(MTIME)}


def meta(s3, bucket, key):
    return s3.head(bucket, key)["Metadata"]


def put_marker(s3, bucket, key, metadata):
    s3.client.put_object(Bucket=bucket, Key=key, Body=b"", Metadata=metadata,
                         ContentType="application/x-directory")


def mode_owner_mtime(st):
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)


# --------------------------------------------------------------------------
# 1. folders show their own attributes


@pytest.mark.parametrize("how", ["lookup", "listing"])
def test_folder_shows_marker_attributes(mount, s3, bucket, how):
    # As s3fs writes a folder: a "d/" marker with mode, owner and mtime.
    put_marker(s3, bucket, "d/", DIR_META)
    s3.put(bucket, "d/f.txt", b"f\n")
    s3.put(bucket, "implied/g.txt", b"g\n")  # a folder without a marker
    m = mount(f"s3://{bucket}")
    if how == "listing":
        assert sorted(os.listdir(m)) == ["d", "implied"]
    st = os.stat(m / "d")
    assert stat.S_ISDIR(st.st_mode)
    assert mode_owner_mtime(st) == (0o1777, 65534, 65534, MTIME)
    # Implied: the documented defaults (0777 less the umask, the mount's
    # owner).
    st = os.stat(m / "implied")
    assert stat.S_ISDIR(st.st_mode)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o755, 0, 0)


def test_folder_attribute_changes_are_kept(mount, s3, bucket):
    m = mount(f"s3://{bucket}")
    os.mkdir(m / "d", 0o750)
    assert stat.S_IMODE(os.stat(m / "d").st_mode) == 0o750
    os.chmod(m / "d", 0o1777)
    os.chown(m / "d", 65534, 65534)
    run(["touch", "-d", "2001-02-03 04:05:06 UTC", m / "d"])
    got = meta(s3, bucket, "d/")
    assert {k: got.get(k) for k in ("mode", "uid", "gid", "mtime")} == DIR_META
    assert mode_owner_mtime(os.stat(m / "d")) == (0o1777, 65534, 65534, MTIME)
    # A chmod keeps the owner and the time the marker held.
    os.chmod(m / "d", 0o700)
    assert mode_owner_mtime(os.stat(m / "d")) == (0o700, 65534, 65534, MTIME)
    # And a new mount reads them from S3.  (Another client's key before it
    # mounts: a key put after the mount listed the root may stay unseen
    # for cache_ttl.)
    s3.put(bucket, "implied/g.txt", b"g\n")
    m2 = mount(f"s3://{bucket}")
    assert mode_owner_mtime(os.stat(m2 / "d")) == (0o700, 65534, 65534, MTIME)
    # An implied folder gets a marker on its first change.
    os.chmod(m2 / "implied", 0o711)
    assert meta(s3, bucket, "implied/").get("mode") == str(0o40711)
    assert stat.S_IMODE(os.stat(m2 / "implied").st_mode) == 0o711


def test_allow_other_honours_folder_mode(mount, s3, bucket):
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is missing")
    put_marker(s3, bucket, "open/", {"mode": str(0o41777)})
    put_marker(s3, bucket, "closed/", {"mode": str(0o40755)})
    base = Path(tempfile.mkdtemp(prefix="odofs-posix-"))
    try:
        base.chmod(0o755)
        m = mount(f"s3://{bucket}", "allow_other", mountpoint=base / "m")
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        cp = run([*nobody, "touch", m / "open" / "mine"], check=False)
        assert cp.returncode == 0, cp.stderr
        cp = run([*nobody, "touch", m / "closed" / "mine"], check=False)
        assert cp.returncode != 0 and "Permission denied" in cp.stderr
    finally:
        unmount(base / "m")
        shutil.rmtree(base, ignore_errors=True)


def count_requests(s3, mark, bucket):
    reqs = s3.requests_since(mark)
    lists = [r for r in reqs if r[0] == "GET" and r[1].strip("/") == bucket and "list-type" in r[2]]
    heads = [r for r in reqs if r[0] == "HEAD"]
    return len(lists), len(heads), len(reqs)


@pytest.mark.mock_only("counts requests in the server's access log")
def test_ls_l_of_subfolders_costs_one_list_each(mount, s3, bucket):
    """The listing shows subfolders without a HEAD of their markers; the
    lstat of each lists its first page (which find then reads as its
    listing), plus a HEAD of the marker of those that have one."""
    n = 100
    items = [(f"top/d{i:03d}/f.txt", b"x") for i in range(n)]
    items += [(f"top/d{i:03d}/", b"") for i in range(0, n, 2)]  # half with markers
    s3.put_many(bucket, items)
    m = mount(f"s3://{bucket}/top/")
    mark = s3.log_mark()
    listed = ls_l(m.path)
    assert len(listed) == n and all(t == "d" for t, _ in listed.values())
    lists, heads, total = count_requests(s3, mark, bucket)
    print(f"ls -l of {n} subfolders: {lists} list, {heads} HEAD, {total} requests in all")
    assert lists <= 1 + n
    assert heads <= n // 2
    assert total == lists + heads
    # Cached for the metadata TTL: a second ls -l costs nothing.
    mark = s3.log_mark()
    assert len(ls_l(m.path)) == n
    assert count_requests(s3, mark, bucket)[2] == 0


# --------------------------------------------------------------------------
# 7. other tools' folder markers


@pytest.mark.parametrize("how", ["lookup", "listing"])
def test_folder_objects_of_other_tools(mount, s3, bucket, how):
    # Old s3fs: "dir" with Content-Type application/x-directory.
    s3.client.put_object(Bucket=bucket, Key="old", Body=b"", ContentType="application/x-directory",
                         Metadata={"mode": str(0o40700), "mtime": str(MTIME)})
    # Hadoop S3N and others: "dir_$folder$".
    s3.put(bucket, "hadoop_$folder$", b"")
    s3.put(bucket, "hadoop/part-0", b"p\n")
    s3.put(bucket, "empty_$folder$", b"")
    s3.put(bucket, "file.txt", b"f\n")
    m = mount(f"s3://{bucket}")
    if how == "listing":
        assert sorted(os.listdir(m)) == ["empty", "file.txt", "hadoop", "old"]
    for name in ("old", "hadoop", "empty"):
        assert stat.S_ISDIR(os.stat(m / name).st_mode), name
    assert stat.S_IMODE(os.stat(m / "old").st_mode) == 0o700
    assert int(os.stat(m / "old").st_mtime) == MTIME
    assert os.listdir(m / "old") == []
    assert os.listdir(m / "hadoop") == ["part-0"]
    assert os.listdir(m / "empty") == []
    assert stat.S_ISREG(os.stat(m / "file.txt").st_mode)
    # rmdir takes their markers away.
    os.rmdir(m / "old")
    os.rmdir(m / "empty")
    assert sorted(s3.list_objects(bucket)) == ["file.txt", "hadoop/part-0", "hadoop_$folder$"]


# --------------------------------------------------------------------------
# 2. ctime advances on every change, kept as x-amz-meta-ctime


def test_ctime_advances(mount, s3, bucket):
    old = {"mode": str(0o100644), "mtime": str(MTIME), "ctime": str(MTIME)}
    for name in ("chmod", "chown", "mv", "write", "truncate"):
        s3.client.put_object(Bucket=bucket, Key=name, Body=b"0123456789", Metadata=old)
    m = mount(f"s3://{bucket}")
    for name in ("chmod", "chown", "mv", "write", "truncate"):
        assert int(os.stat(m / name).st_ctime) == MTIME, name
    before = int(time.time())
    os.chmod(m / "chmod", 0o600)
    os.chown(m / "chown", 1234, 5678)
    os.rename(m / "mv", m / "moved")
    with open(m / "write", "r+b") as f:
        f.write(b"x")
    os.truncate(m / "truncate", 3)
    for name in ("chmod", "chown", "moved", "write", "truncate"):
        assert int(os.stat(m / name).st_ctime) >= before, name
        assert int(meta(s3, bucket, name)["ctime"]) >= before, name
    # Attribute changes keep mtime; data changes move it too.
    for name in ("chmod", "chown", "moved"):
        assert int(os.stat(m / name).st_mtime) == MTIME, name
    for name in ("write", "truncate"):
        assert int(os.stat(m / name).st_mtime) >= before, name
    # A new mount reads ctime from S3.
    m2 = mount(f"s3://{bucket}")
    assert int(os.stat(m2 / "chmod").st_ctime) >= before
    # Folders: chmod of a folder moves its ctime (kept in its marker).
    os.mkdir(m2 / "d")
    s3.client.put_object(Bucket=bucket, Key="d/", Body=b"", Metadata=old)
    m3 = mount(f"s3://{bucket}")
    assert int(os.stat(m3 / "d").st_ctime) == MTIME
    os.chmod(m3 / "d", 0o700)
    assert int(os.stat(m3 / "d").st_ctime) >= before
    assert int(os.stat(m3 / "d").st_mtime) == MTIME


# --------------------------------------------------------------------------
# 3. special files, stored as s3fs stores them


def test_special_files(mount, s3, bucket):
    import socket

    m = mount(f"s3://{bucket}")
    os.mkfifo(m / "fifo", 0o640)
    os.mknod(m / "chr", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(m / "blk", 0o600 | stat.S_IFBLK, os.makedev(7, 0))
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(m / "sock"))
    finally:
        sock.close()
    want = {"fifo": stat.S_IFIFO | 0o640, "chr": stat.S_IFCHR | 0o600,
            "blk": stat.S_IFBLK | 0o600, "sock": stat.S_IFSOCK}
    for name, mode in want.items():
        head = s3.head(bucket, name)
        assert head["ContentLength"] == 0, name
        assert int(head["Metadata"]["mode"]) & 0o170000 == stat.S_IFMT(mode), name
    assert meta(s3, bucket, "chr")["rdev"] == str(os.makedev(1, 3))
    assert meta(s3, bucket, "blk")["rdev"] == str(os.makedev(7, 0))

    def check(mnt):
        for name, mode in want.items():
            st = os.lstat(mnt / name)
            assert stat.S_IFMT(st.st_mode) == stat.S_IFMT(mode), name
            if name != "sock":
                assert st.st_mode == mode, name
        assert os.lstat(mnt / "chr").st_rdev == os.makedev(1, 3)
        assert os.lstat(mnt / "blk").st_rdev == os.makedev(7, 0)

    check(m)
    # A new mount, by name and after a listing; `ls -l` shows the types.
    check(mount(f"s3://{bucket}"))
    m3 = mount(f"s3://{bucket}")
    cp = run(["ls", "-l", m3], env={**os.environ, "LC_ALL": "C"})
    got = {line.split()[-1]: line[0] for line in cp.stdout.splitlines() if not line.startswith("total")}
    assert got == {"fifo": "p", "chr": "c", "blk": "b", "sock": "s"}, cp.stdout
    check(m3)
    # The device is inert (nodev).
    with pytest.raises(PermissionError):
        open(m3 / "chr", "rb")
    os.unlink(m3 / "fifo")
    assert s3.head(bucket, "fifo") is None


# --------------------------------------------------------------------------
# 4. an unlinked open file keeps its data until its last close


def test_unlinked_open_file_keeps_data(mount, s3, bucket):
    m = mount(f"s3://{bucket}")
    # The two reproductions, as given.
    cp = run([sys.executable, "-c", "import os;fd=os.open('u1',os.O_CREAT|os.O_EXCL|os.O_RDWR,0o644);"
              "os.unlink('u1');os.write(fd,b'hello world');print(os.pread(fd,11,0),os.fstat(fd).st_size)"],
             cwd=m.path)
    assert cp.stdout == "b'hello world' 11\n"
    (m / "e1").write_text("d\n")
    cp = run([sys.executable, "-c", "import os;fd=os.open('e1',os.O_RDONLY);os.unlink('e1');"
              "print(os.fstat(fd).st_size)"], cwd=m.path)
    assert cp.stdout == "2\n"
    # Nothing published, nothing left behind.
    assert s3.list_objects(bucket) == {}
    assert os.listdir(m) == []


def test_unlinked_open_file_through_several_descriptors(mount, s3, bucket):
    s3.put(bucket, "r.txt", b"kept for the reader\n")
    m = mount(f"s3://{bucket}")
    w = os.open(m / "w.txt", os.O_CREAT | os.O_RDWR, 0o644)
    w2 = os.dup(w)
    r = os.open(m / "r.txt", os.O_RDONLY)
    os.unlink(m / "w.txt")
    os.unlink(m / "r.txt")
    assert not (m / "w.txt").exists() and not (m / "r.txt").exists()
    os.write(w, b"abc")
    os.close(w)  # a close that is not the last keeps the data
    os.write(w2, b"def")
    assert os.pread(w2, 6, 0) == b"abcdef"
    assert os.fstat(w2).st_size == 6
    assert os.pread(r, 100, 0) == b"kept for the reader\n"
    assert os.fstat(r).st_size == 20
    os.close(w2)
    os.close(r)
    assert s3.list_objects(bucket) == {}
    assert os.listdir(m) == []
    # A new file of the same name is a new file.
    (m / "w.txt").write_bytes(b"new\n")
    assert s3.get(bucket, "w.txt") == b"new\n"


def test_unlinked_open_file_after_a_listing(mount, s3, bucket):
    """fstat of a file unlinked while open, once its folder has been listed
    (the model, seed 3): the listing does not hold the file, which must
    not make it missing. Its size follows what is written to it."""
    m = mount(f"s3://{bucket}")
    (m / "d").mkdir()
    fd = os.open(m / "d" / "e", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        os.unlink(m / "d" / "e")
        os.mkdir(m / "d" / "e")  # a new entry of the same name
        assert sorted(os.listdir(m / "d")) == ["e"]
        assert os.fstat(fd).st_size == 0
        os.write(fd, b"written after the listing")
        os.listdir(m / "d")
        st = os.fstat(fd)
        assert stat.S_ISREG(st.st_mode) and st.st_size == 25
        assert os.pread(fd, 100, 0) == b"written after the listing"
    finally:
        os.close(fd)
    assert os.listdir(m / "d") == ["e"] and (m / "d" / "e").is_dir()
    assert s3.list_objects(bucket).keys() == {"d/", "d/e/"}


def test_unlinked_open_file_in_a_renamed_folder(mount, s3, bucket):
    """A file unlinked while open stays usable when its folder is renamed
    (the model, seed 27): its hidden name moves with the folder."""
    m = mount(f"s3://{bucket}")
    (m / "e").mkdir()
    fd = os.open(m / "e" / "a", os.O_CREAT | os.O_RDWR, 0o755)
    try:
        os.write(fd, b"before")
        os.unlink(m / "e" / "a")
        os.mkdir(m / "e" / "a")
        os.rename(m / "e", m / "b")
        st = os.fstat(fd)
        assert (st.st_mode, st.st_size) == (stat.S_IFREG | 0o755, 6)
        os.pwrite(fd, b" and after", 6)
        assert os.fstat(fd).st_size == 16
        assert os.pread(fd, 100, 0) == b"before and after"
    finally:
        os.close(fd)
    assert set(s3.list_objects(bucket)) == {"b/", "b/a/"}
    assert os.listdir(m) == ["b"] and os.listdir(m / "b") == ["a"]


# --------------------------------------------------------------------------
# 5. set-id bits cleared on another user's write and a chown not by root

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def shared_mount(mount, bucket):
    """An allow_other mount whose mount point others can reach."""
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is missing")
    base = Path(tempfile.mkdtemp(prefix="odofs-posix-"))
    base.chmod(0o755)
    try:
        yield mount(f"s3://{bucket}", "allow_other", mountpoint=base / "m")
    finally:
        unmount(base / "m")
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("bits", [0o4777, 0o2777, 0o6777])
def test_setid_cleared_by_another_users_write(shared_mount, s3, bucket, bits):
    m = shared_mount
    fd = os.open(m / "f", os.O_CREAT | os.O_WRONLY, 0o777)
    os.fchmod(fd, bits)
    os.close(fd)
    assert stat.S_IMODE(os.stat(m / "f").st_mode) == bits
    cp = run([*NOBODY, sys.executable, "-c",
              f"import os;fd=os.open({str(m / 'f')!r},os.O_WRONLY);os.write(fd,b'x');"
              "print(oct(os.fstat(fd).st_mode & 0o7777));os.close(fd)"], check=False)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.strip() == oct(0o777)
    assert stat.S_IMODE(os.stat(m / "f").st_mode) == 0o777
    assert int(meta(s3, bucket, "f")["mode"]) & 0o7777 == 0o777


def test_setid_cleared_by_chown_of_owner(shared_mount, s3, bucket):
    m = shared_mount
    os.chmod(m, 0o1777)  # the root, in memory: others may create in it
    cp = run([*NOBODY, sys.executable, "-c",
              f"import os;fd=os.open({str(m / 'g')!r},os.O_CREAT|os.O_WRONLY,0o755);os.fchmod(fd,0o6755);"
              f"os.close(fd);os.chown({str(m / 'g')!r},-1,65534);print(oct(os.stat({str(m / 'g')!r}).st_mode & 0o7777))"],
             check=False)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.strip() == oct(0o755)
    st = os.stat(m / "g")
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (65534, 0o755)


# --------------------------------------------------------------------------
# 6. errnos


def test_truncate_past_the_largest_object_is_efbig(mount, s3, bucket):
    m = mount(f"s3://{bucket}")
    (m / "f").write_bytes(b"f\n")
    with pytest.raises(OSError) as e:
        os.truncate(m / "f", 999999999999999)
    assert e.value.errno == errno.EFBIG
    with open(m / "f", "r+b") as f, pytest.raises(OSError) as e:
        os.ftruncate(f.fileno(), 999999999999999)
    assert e.value.errno == errno.EFBIG
    assert s3.get(bucket, "f") == b"f\n"


def test_touch_of_the_root(mount, s3, bucket):
    m = mount(f"s3://{bucket}")
    run(["touch", m])
    run(["touch", "-d", "2001-02-03 04:05:06 UTC", m])
    assert int(os.stat(m).st_mtime) == MTIME  # kept in memory until unmount
    os.chmod(m, 0o700)
    assert stat.S_IMODE(os.stat(m).st_mode) == 0o700
    assert s3.list_objects(bucket) == {}


# --------------------------------------------------------------------------
# 8. several writers of one path: no false close() error

PART = 16 << 20  # upload.h: UPLOAD_PART_MIN, the first 1,000 parts


def composite_etag(body, part=PART):
    import hashlib

    parts = [body[i:i + part] for i in range(0, len(body), part)]
    h = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts))
    return f'"{h.hexdigest()}-{len(parts)}"'


@pytest.mark.mock_only("reads the server's access log")
def test_multipart_etag_checked_exactly(mount, s3, bucket):
    body = os.urandom(2 * PART + 12345)
    m = mount(f"s3://{bucket}")
    mark = s3.log_mark()
    with open(m / "big.bin", "wb") as f:
        f.write(body)
    # The completion's answer is S3's form, checked as it is: no HEAD.
    reqs = s3.key_requests(bucket, "big.bin", mark)
    assert [q for method, q in reqs if method == "POST" and "uploadId" in q], reqs
    assert not [r for r in reqs if r[0] == "HEAD"], reqs
    assert s3.head(bucket, "big.bin")["ETag"] == composite_etag(body)


def test_several_writers_of_one_path(mount, s3, bucket):
    import threading

    m = mount(f"s3://{bucket}")
    bodies = [bytes([i]) * (PART + 1000 * i + 1) for i in range(4)]
    fds = [os.open(m / "shared.bin", os.O_WRONLY | os.O_CREAT, 0o644) for _ in bodies]
    for fd, body in zip(fds, bodies):
        os.write(fd, body)
    errors = []
    barrier = threading.Barrier(len(fds))

    def close(fd):
        barrier.wait()
        try:
            os.close(fd)
        except OSError as e:
            errors.append(e)

    threads = [threading.Thread(target=close, args=(fd,)) for fd in fds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert s3.get(bucket, "shared.bin") in bodies
    assert "not what was sent" not in m.log()
