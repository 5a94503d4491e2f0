#!/usr/bin/python3
"""Listing millions of keys in bounded memory: odofs against the hostile
server's generated folders (tests/hostile/hostile_s3.py, many-N/), one mount
per size, `ls -f | wc -l` timed, and the daemon's peak RSS (VmHWM) printed
beside the number of keys.  Prints figures; fails only if a count is wrong.

    ODOFS=build/odofs tests/bench/hostile_list.py [N ...]   (default 20000 200000 2000000)
"""

import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ODOFS = os.path.abspath(os.environ.get("ODOFS") or os.environ.get("ODOFS_BIN")
                        or os.path.join(REPO, "build", "odofs"))


def vm(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return -1


def mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def one(endpoint, n, tmp):
    mnt = os.path.join(tmp, f"mnt-{n}")
    os.mkdir(mnt)
    err = open(os.path.join(tmp, f"odofs-{n}.log"), "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    p = subprocess.Popen([ODOFS, "s3://hostile", mnt, "-f", "-o",
                          f"anonymous,endpoint={endpoint},timeout=30"],
                         stdout=err, stderr=err, env=env)
    try:
        deadline = time.monotonic() + 10
        while not mounted(mnt):
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"odofs did not mount (see {err.name})")
            time.sleep(0.02)
        base = vm(p.pid, "VmHWM")
        t0 = time.monotonic()
        out = subprocess.run(["sh", "-c", f"ls -f '{mnt}/many-{n}' | wc -l"],
                             capture_output=True, text=True, timeout=3600).stdout
        secs = time.monotonic() - t0
        count = int(out) - 2
        return count, secs, base, vm(p.pid, "VmHWM"), vm(p.pid, "VmRSS")
    finally:
        subprocess.run(["fusermount3", "-u", mnt], stderr=subprocess.DEVNULL)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
        err.close()


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [20_000, 200_000, 2_000_000]
    srv = subprocess.Popen(["/usr/bin/python3", os.path.join(REPO, "tests", "hostile",
                                                            "hostile_s3.py")],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    rc = 0
    try:
        port = int(re.match(r"PORT (\d+)", srv.stdout.readline()).group(1))
        endpoint = f"http://127.0.0.1:{port}"
        print(f"odofs: {ODOFS}")
        print(f"{'keys':>10} {'listed':>10} {'seconds':>8} {'keys/s':>9} "
              f"{'VmHWM MiB':>10} {'(at mount)':>10} {'VmRSS after':>11}")
        with tempfile.TemporaryDirectory(prefix="hostile-list-") as tmp:
            for n in sizes:
                count, secs, base, hwm, rss = one(endpoint, n, tmp)
                if count != n:
                    rc = 1
                print(f"{n:>10} {count:>10} {secs:>8.1f} {count / secs:>9.0f} "
                      f"{hwm / 2**20:>10.1f} {base / 2**20:>10.1f} {rss / 2**20:>11.1f}",
                      flush=True)
    finally:
        srv.kill()
        srv.wait()
    return rc


if __name__ == "__main__":
    sys.exit(main())
