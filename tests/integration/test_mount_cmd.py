"""`mount -t fuse.odofs` and an fstab line, the way administrators mount.

Debian's mount(8) runs /sbin/mount.fuse3, which runs `odofs` through
/bin/sh -- and util-linux drops PATH from the helper's environment on the
way, so the shell finds `odofs` only in its default path
(/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin), as after
`make install`. A symlink at the front of our PATH is not seen. To test the
built binary without installing it, each test runs in a private mount
namespace (unshare -m) where a temp folder holding an `odofs` symlink is
bound over /usr/local/sbin; the FUSE mount lives in that namespace too, so
the checks run inside it, in the same shell script.

Through mount.fuse3 odofs gets the generic mount flags too: `-o
rw,...,dev,suid` from `mount -t`, and `ro,noexec,nosuid,nodev,...` from an
fstab line with `user` (mount drops _netdev, nofail, noauto and user itself).
"""

import os
import shutil
import time

import pytest

from conftest import MOUNT_TIMEOUT_S, ODOFS_BIN, expected_tree, require_odofs, run

SCRIPT_TIMEOUT_S = 120


def odofs_pids(mnt):
    """Pids of odofs processes serving `mnt` (found by their command line)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            argv = open(f"/proc/{d}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"odofs" and os.fsencode(str(mnt)) in argv:
            pids.append(int(d))
    return pids


def run_in_mount_ns(tmp_path, script, env):
    """Run a bash script in a private mount namespace with the built odofs
    as /usr/local/sbin/odofs. Returns (CompletedProcess, listing text)."""
    require_odofs()
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) is missing")
    bindir = tmp_path / "sbin"
    bindir.mkdir()
    (bindir / "odofs").symlink_to(ODOFS_BIN)
    full = (
        "set -eu\n"
        f'mount --bind "{bindir}" /usr/local/sbin\n'
        + script
    )
    return run(["unshare", "--mount", "--propagation", "private", "bash", "-c", full],
               timeout=SCRIPT_TIMEOUT_S, check=False, env=env)


def wait_daemon_gone(mnt, timeout=MOUNT_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while odofs_pids(mnt):
        if time.monotonic() > deadline:
            for pid in odofs_pids(mnt):
                os.kill(pid, 9)
            pytest.fail(f"odofs for {mnt} still running {timeout} s after the unmount; killed")
        time.sleep(0.05)


LIST_AND_UNMOUNT = """
cd "$MNT"
timeout 60 find . -mindepth 1 -printf '%y %s %P\\n' > "$OUT"
cd /
fusermount3 -u "$MNT"
"""


def parse_listing(text):
    files, dirs = {}, set()
    for line in text.splitlines():
        kind, size, path = line.split(" ", 2)
        if kind == "d":
            dirs.add(path)
        else:
            files[path] = int(size)
    return files, dirs


def check_listing(s3, tree, out, prefix):
    files, dirs = parse_listing(out.read_text())
    want_files, want_dirs = expected_tree(s3.list_objects(tree.bucket), prefix)
    assert files and files == {k: v[0] for k, v in want_files.items()}
    assert dirs == want_dirs


def test_mount_t_fuse_odofs(s3, tree, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    out = tmp_path / "listing"
    env = {**s3.env(tmp_path), "MNT": str(mnt), "OUT": str(out)}
    script = (
        f'mount -t fuse.odofs "s3://{tree.bucket}/top/deep" "$MNT" '
        f'-o "endpoint={s3.endpoint},cache_ttl=5"\n' + LIST_AND_UNMOUNT
    )
    cp = run_in_mount_ns(tmp_path, script, env)
    wait_daemon_gone(mnt)
    assert cp.returncode == 0, f"stdout:\n{cp.stdout}\nstderr:\n{cp.stderr}"
    check_listing(s3, tree, out, "top/deep/")


def test_fstab_line(s3, tree, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    out = tmp_path / "listing"
    fstab = tmp_path / "fstab"
    # As README/contrib suggest: s3://bucket/prefix /mnt/data fuse.odofs _netdev,ro,allow_other 0 0
    fstab.write_text(
        f"s3://{tree.bucket}/top/deep/ {mnt} fuse.odofs "
        f"_netdev,nofail,noauto,ro,allow_other,endpoint={s3.endpoint},cache_ttl=5 0 0\n"
    )
    env = {**s3.env(tmp_path), "MNT": str(mnt), "OUT": str(out)}
    script = f'mount -T "{fstab}" "$MNT"\n' + LIST_AND_UNMOUNT
    cp = run_in_mount_ns(tmp_path, script, env)
    wait_daemon_gone(mnt)
    assert cp.returncode == 0, f"stdout:\n{cp.stdout}\nstderr:\n{cp.stderr}"
    check_listing(s3, tree, out, "top/deep/")


def test_mount_t_with_bad_option_fails(s3, tree, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    env = {**s3.env(tmp_path), "MNT": str(mnt)}
    script = f'mount -t fuse.odofs "s3://{tree.bucket}" "$MNT" -o "endpoint={s3.endpoint},bogus"\n'
    cp = run_in_mount_ns(tmp_path, script, env)
    wait_daemon_gone(mnt)
    assert cp.returncode != 0
    assert "bogus" in cp.stderr
