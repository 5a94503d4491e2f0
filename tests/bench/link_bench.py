#!/usr/bin/python3
"""Link benchmark: odofs beside curl, aws s3 cp, s3fs and rclone, all through
linkem (tests/linkem/), a TCP proxy that gives each connection a round trip
and a rate cap, as a real object store does.

    tests/bench/bench.sh [--profile wan|region|far|none] [--size MIB]
                         [--tools "curl aws odofs s3fs rclone"]
                         [--ops "read read4 write write4 meta"] [--small N]

One s3rver on loopback, one linkem in front of it with the chosen profile
(`none`: loopback through the proxy, unshaped, so requests are still
counted). Every tool talks to the server through linkem; for each operation
the benchmark reads linkem's counters before and after (SIGUSR1), so the
request counts are what crossed the link. It prints, per operation and tool:
MB/s (or seconds), the ratio to curl-16 and to the best peer, the HTTP
requests (total and by method), CPU seconds per GiB (the FUSE daemon's from
/proc for mounts; the client processes' for curl and aws), and the daemon's
peak RSS. It never fails because something is slow: exit 0 when every
figure was measured, 1 when something broke (reported, the others carry on),
2 when a prerequisite is missing.

Operations (--ops):
  read    one SIZE sequential read (cat to /dev/null; curl 1/4/8/16 streams;
          aws s3 cp to /dev/null)
  read4   four SIZE/4 objects read at once by four readers
  write   one SIZE sequential write (cp; curl 1 PUT and 8 parallel PUTs;
          aws s3 cp, multipart)
  write4  four SIZE/4 files written at once
  meta    ls -l of folders of 1,000 and 10,000 keys; stat of 1,000 names one
          by one (half existing); cat of 500 small files one after another;
          tar x of 1,000 small files (10 folders of 100); mv of a folder of
          100 of them; rm -r of them; find over 10,000 keys in 100 folders.
          Mounts only (n/a for curl and aws).

Data (kept in BENCH_DATA/link, default /var/tmp/odofs-bench/link, rebuilt
when its layout changes): the server's folder, a random SIZE file and its
quarters, the tar. The first run with a new size or set takes a few minutes.

Standard library and benchlib.py only.
"""

import argparse
import io
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tarfile
import time

import benchlib as bl
from benchlib import MB, MiB, BenchError, log

BUCKET = "linkbench"
HERE = os.path.dirname(os.path.abspath(__file__))
LINKEM_SRC = os.path.join(bl.REPO, "tests", "linkem", "linkem.c")

# What the peers' own documentation recommends for throughput (stated in the
# output). s3fs: its FAQ and man page, parallel_count (parallel part
# requests) and multipart_size (MB). rclone: the mount docs' --buffer-size and
# --vfs-read-chunk-size for reads, the s3 backend's --s3-upload-concurrency
# and --s3-chunk-size for writes; --vfs-cache-mode off so bytes go to S3
# while written (as odofs and s3fs do), not to a local cache first.
S3FS_TUNED = "parallel_count=16,multipart_size=16"
RCLONE_TUNED = ["--buffer-size", "64M", "--vfs-read-chunk-size", "64M",
                "--s3-upload-concurrency", "8", "--s3-chunk-size", "16M"]
NOT_INSTALLABLE = "mountpoint-s3 and geesefs: not installable here (not in Debian's archive; only Debian's and npm's registries are reachable)"

PEERS = ("aws", "s3fs", "rclone")
MOUNTS = ("odofs", "odofs-ref", "s3fs", "rclone")


# --------------------------------------------------------------------------
# linkem


class Linkem:
    def __init__(self, profile, target_port):
        exe = os.path.join(bl.tmpdir(), "linkem")
        cp = subprocess.run(["cc", "-O2", "-Wall", "-std=gnu11", "-o", exe, LINKEM_SRC],
                            capture_output=True, text=True)
        if cp.returncode != 0:
            raise BenchError(f"cannot build linkem: {cp.stderr[-1000:]}")
        self.stats = os.path.join(bl.tmpdir(), f"linkem-{profile}.stats")
        self.p = subprocess.Popen([exe, "--profile", profile, "--target", f"127.0.0.1:{target_port}",
                                   "--stats", self.stats], stdout=subprocess.PIPE, text=True,
                                  start_new_session=True)
        bl._procs.append(self.p)
        m = re.match(r"listening .*:(\d+)$", self.p.stdout.readline().strip())
        if not m:
            raise BenchError("linkem did not start")
        self.port = int(m.group(1))

    def counters(self):
        try:
            os.unlink(self.stats)
        except OSError:
            pass
        self.p.send_signal(signal.SIGUSR1)
        for _ in range(200):
            try:
                with open(self.stats) as f:
                    return {k: int(v) for k, v in (ln.split() for ln in f if ln.strip())}
            except OSError:
                time.sleep(0.01)
        raise BenchError("linkem wrote no stats")


def delta(a, b):
    return {k: b.get(k, 0) - a.get(k, 0) for k in b}


def req_text(d):
    parts = [f"{d.get('requests_' + m, 0)} {m.upper()}" for m in ("get", "head", "put", "post", "delete", "other")
             if d.get("requests_" + m, 0)]
    return f"{d.get('requests', 0)}" + (f" ({', '.join(parts)})" if parts else "")


# --------------------------------------------------------------------------
# data


class Data:
    def __init__(self, size_mib, small):
        self.size = size_mib * MiB
        self.small = small  # 1000 (scales the key counts: small, 10*small, 10*small)
        self.dir = os.path.join(bl.DATA, "link")
        self.s3dir = os.path.join(self.dir, "s3")
        self.big = os.path.join(self.dir, f"src-{size_mib}M.bin")
        self.quarters = [os.path.join(self.dir, f"src-{size_mib}M.q{i}") for i in range(4)]
        self.eighths = [os.path.join(self.dir, f"src-{size_mib}M.e{i}") for i in range(8)]
        self.tar = os.path.join(self.dir, f"small-{small}.tar")
        self.n_ls_small = small
        self.n_ls_big = 10 * small
        self.n_tree = 10 * small  # in 100 folders
        self.n_cat = small // 2
        self.n_tar = small  # in 10 folders

    def keys_big(self):
        return f"big/blob-{self.size >> 20}M", [f"quad/q{i}-{self.size >> 20}M" for i in range(4)]

    def small_keys(self):
        ks = [f"k{self.n_ls_small}/f-{i:05d}" for i in range(self.n_ls_small)]
        ks += [f"k{self.n_ls_big}/f-{i:05d}" for i in range(self.n_ls_big)]
        per = self.n_tree // 100
        ks += [f"tree{self.n_tree}/d{d:02d}/f-{i:04d}" for d in range(100) for i in range(per)]
        ks += [f"cat{self.n_cat}/f-{i:04d}" for i in range(self.n_cat)]
        return ks

    def local_files(self):
        os.makedirs(self.dir, exist_ok=True)
        if not os.path.exists(self.big) or os.path.getsize(self.big) != self.size:
            log(f"  making {self.big}")
            with open(self.big + ".tmp", "wb") as f:
                for _ in range(self.size // MiB):
                    f.write(os.urandom(MiB))
            os.rename(self.big + ".tmp", self.big)
        for parts in (self.quarters, self.eighths):
            n = len(parts)
            for i, p in enumerate(parts):
                if not os.path.exists(p) or os.path.getsize(p) != self.size // n:
                    with open(self.big, "rb") as src, open(p, "wb") as dst:
                        src.seek(i * self.size // n)
                        dst.write(src.read(self.size // n))
        if not os.path.exists(self.tar):
            rnd = random.Random(1)
            with tarfile.open(self.tar + ".tmp", "w", format=tarfile.GNU_FORMAT) as tf:
                per = self.n_tar // 10
                for d in range(10):
                    ti = tarfile.TarInfo(f"d{d}")
                    ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                    tf.addfile(ti)
                    for i in range(per):
                        body = rnd.randbytes(rnd.randint(1024, 4096))
                        ti = tarfile.TarInfo(f"d{d}/f-{i:04d}")
                        ti.size, ti.mode = len(body), 0o644
                        tf.addfile(ti, io.BytesIO(body))
            os.rename(self.tar + ".tmp", self.tar)

    def marker(self):
        return f"linkbench v1 size={self.size} small={self.small}\n"

    def server_objects(self, s3, ops, kept=True):
        """Put what the server must hold, through the direct port; kept
        between runs (s3rver's folder), or only what ops need (RGW)."""
        if kept and bl.data_ready(self.s3dir, self.marker()):
            return
        if not kept:
            s3.create_bucket()
            big, quads = self.keys_big()
            if {"read", "read4"} & set(ops):
                log("  putting the objects to read")
                put_files(s3, [(self.big, big)] + list(zip(self.quarters, quads)))
            if "meta" in ops:
                log("  putting the small objects")
                self.put_small(s3)
            return
        log("  putting the objects on the server (kept for later runs)")
        try:
            s3.create_bucket()
        except BenchError:
            pass
        big, quads = self.keys_big()
        put_files(s3, [(self.big, big)] + list(zip(self.quarters, quads)))
        self.put_small(s3)
        bl.data_done(self.s3dir, self.marker())

    def put_small(self, s3):
        body = os.path.join(self.dir, "small.bin")
        with open(body, "wb") as f:
            f.write(os.urandom(2048))
        keys = self.small_keys()
        for i in range(0, len(keys), 500):
            put_files(s3, [(body, k) for k in keys[i:i + 500]])


def put_files(s3, pairs):
    args = []
    for path, key in pairs:
        args += ["-T", path, s3.url(key)]
    cp = subprocess.run(s3.cmd("--parallel", "--parallel-max", "8", "--retry", "3", "-o", "/dev/null", *args),
                        capture_output=True, text=True, timeout=3600)
    if cp.returncode != 0:
        raise BenchError(f"putting objects failed: {cp.stderr[-500:]}")


def delete_prefix(s3, prefix):
    objs, _ = s3.list(prefix)
    keys = [k for k, _ in objs]
    for i in range(0, len(keys), 500):
        subprocess.run(s3.cmd("--parallel", "--parallel-max", "16", "--retry", "3", "-X", "DELETE",
                              "-o", "/dev/null", *[s3.url(k) for k in keys[i:i + 500]]),
                       capture_output=True, timeout=600)


# --------------------------------------------------------------------------
# measuring one operation


class Result:
    def __init__(self, op, tool, seconds, nbytes=None, req=None, cpu=None, rss=None, note="", busy=None):
        self.op, self.tool, self.seconds, self.nbytes = op, tool, seconds, nbytes
        self.req, self.cpu, self.rss, self.note = req or {}, cpu, rss, note
        self.busy = busy  # share of all CPUs in use meanwhile (server, link, client, kernel)

    def mbps(self):
        return self.nbytes / MB / self.seconds if self.nbytes and self.seconds else None

    def cpu_per_gib(self):
        if self.cpu is None or not self.nbytes:
            return None
        return self.cpu / (self.nbytes / (1 << 30))


class Bench:
    def __init__(self, args):
        self.args = args
        self.results = []
        self.errors = []

    def children_cpu(self):
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    def measure(self, op, tool, cmds, nbytes=None, daemon=None, check=None, shell=False):
        """Run cmds at once through the link; record seconds, requests, CPU, RSS."""
        before = self.link.counters()
        cpu0 = bl.cpu_seconds(daemon.pid) if daemon else self.children_cpu()
        watch = bl.RssWatch(daemon.pid) if daemon else None
        if shell:
            cmds = [["sh", "-c", c] for c in cmds]
        j0 = bl.machine_jiffies()
        dt, outs = bl.timed_all(cmds)
        busy = bl.busy_share(j0, bl.machine_jiffies())
        cpu = (bl.cpu_seconds(daemon.pid) if daemon else self.children_cpu()) - cpu0
        rss = watch.peak_mib() if watch else None
        time.sleep(0.05)  # let the last response's bytes reach the counters
        req = delta(before, self.link.counters())
        for rc, err in outs:
            if rc != 0:
                raise BenchError(f"{op} {tool}: exit {rc}: {err[:300]}")
        if check:
            check()
        r = Result(op, tool, dt, nbytes, req, cpu, rss, busy=busy)
        self.results.append(r)
        mb = r.mbps()
        log(f"    {op:8} {tool:10} " + (f"{mb:8.1f} MB/s" if mb else f"{dt:8.2f} s   ")
            + f"  requests {req_text(req)}"
            + (f"  cpu {r.cpu_per_gib():.2f} s/GiB" if r.cpu_per_gib() is not None else
               (f"  cpu {cpu:.2f} s" if cpu is not None else ""))
            + (f"  rss {rss:.0f} MiB" if rss is not None else "")
            + (f"  busy {busy * 100:.0f}%" if busy is not None else ""))
        return r

    def measure_fn(self, op, tool, fn, nbytes):
        """Time fn() (which runs its own commands) like measure()."""
        before = self.link.counters()
        cpu0 = self.children_cpu()
        j0 = bl.machine_jiffies()
        t0 = time.monotonic()
        fn()
        dt = time.monotonic() - t0
        busy = bl.busy_share(j0, bl.machine_jiffies())
        cpu = self.children_cpu() - cpu0
        time.sleep(0.05)
        req = delta(before, self.link.counters())
        r = Result(op, tool, dt, nbytes, req, cpu, None, busy=busy)
        self.results.append(r)
        log(f"    {op:8} {tool:10} {r.mbps():8.1f} MB/s  requests {req_text(req)}  cpu {r.cpu_per_gib():.2f} s/GiB"
            f"  busy {busy * 100:.0f}%")
        return r

    def attempt(self, label, fn):
        try:
            return fn()
        except BenchError as e:
            msg = str(e).strip()
            self.errors.append(f"{label}: {msg.splitlines()[0] if msg else '?'}")
            log(f"    {label}: BROKE: {msg[:2000]}")
            return None

    # ---- mounts

    def mount(self, tool):
        if tool == "odofs-ref":
            # Another odofs build (e.g. main's), same defaults, same run.
            saved, bl.ODOFS = bl.ODOFS, self.args.odofs_ref
            try:
                return self.mounter.mount("odofs")
            finally:
                bl.ODOFS = saved
        return self.mounter.mount(tool)

    def umount(self, mnt):
        bl.unmount(mnt)


def curl_mpu(s3, key, paths):
    """One multipart upload with curl: create, every part at once (one
    file each), complete. What a multipart writer can do at best here:
    s3rver's complete rewrites the whole object, which a real S3 does not."""
    def run(cmd):
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=bl.OP_TIMEOUT)
        if cp.returncode != 0:
            raise BenchError(f"curl multipart: {cp.stderr.strip()[:300]}")
        return cp.stdout
    out = run(s3.cmd("-X", "POST", s3.url(key) + "?uploads="))
    m = re.search(r"<UploadId>([^<]+)</UploadId>", out)
    if not m:
        raise BenchError(f"curl multipart: no UploadId in {out[:200]!r}")
    uid = m.group(1)
    ps = []
    for i, p in enumerate(paths):
        ps.append(subprocess.Popen(s3.cmd("-D", "-", "-o", "/dev/null", "-T", p,
                                          s3.url(key) + f"?partNumber={i + 1}&uploadId={uid}"),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    etags = []
    for p in ps:
        out, err = p.communicate(timeout=bl.OP_TIMEOUT)
        m = re.search(r"^etag:\s*(\S+)", out, re.I | re.M)
        if p.returncode != 0 or not m:
            raise BenchError(f"curl multipart part: {err.strip()[:300]}")
        etags.append(m.group(1))
    body = "<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{i + 1}</PartNumber><ETag>{e}</ETag></Part>" for i, e in enumerate(etags)) + \
        "</CompleteMultipartUpload>"
    run(s3.cmd("-X", "POST", "--data-binary", body, "-o", "/dev/null", s3.url(key) + f"?uploadId={uid}"))


def curl_ranges(url, size, n, conf=None):
    chunk = size // n
    cmds = []
    for i in range(n):
        last = size - 1 if i == n - 1 else (i + 1) * chunk - 1
        cmds.append(["curl", "-sS", "-f", "-o", "/dev/null", "-r", f"{i * chunk}-{last}", url])
    return cmds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="wan", help="linkem profile: wan, region, far, none (default wan)")
    ap.add_argument("--size", type=int, default=1024, help="MiB of the sequential read and write (default 1024)")
    ap.add_argument("--small", type=int, default=1000,
                    help="keys in the small folder (default 1000; the large folder and tree get 10x)")
    ap.add_argument("--server", default="s3rver", choices=("s3rver", "rgw"),
                    help="the S3 server behind linkem: s3rver (the mock, its objects kept between runs) "
                         "or rgw (a throwaway Ceph RGW, tests/rgw/rgw.sh)")
    ap.add_argument("--tools", default="curl aws odofs s3fs rclone")
    ap.add_argument("--ops", default="read read4 write write4 meta")
    ap.add_argument("--odofs-opts", default=os.environ.get("BENCH_ODOFS_OPTS", ""))
    ap.add_argument("--odofs-ref", help="another odofs binary (e.g. main's build) measured beside, as odofs-ref")
    ap.add_argument("--json", help="also write the results as JSON to this file")
    args = ap.parse_args()
    tools, ops = args.tools.split(), args.ops.split()
    if args.odofs_ref and "odofs-ref" not in tools:
        tools.insert(tools.index("odofs") + 1 if "odofs" in tools else len(tools), "odofs-ref")

    bl.TOOLS[:] = [t for t in tools if t in ("curl", "odofs", "s3fs", "rclone")]
    bl.ODOFS_OPTS = args.odofs_opts
    why = bl.check_prereqs(extra=(("curl", "apt-get install curl"), ("cc", "apt-get install gcc"),
                                  ("tar", "apt-get install tar")) + ((("aws", "apt-get install awscli"),) if "aws" in tools else ()))
    if why:
        log(why)
        return 2

    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    log(f"link benchmark, profile {args.profile}, server {args.server}, size {args.size} MiB, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    log(f"  machine: {os.cpu_count()} CPUs, load average {' '.join(load)} at start")
    log(f"  odofs   {bl.ODOFS}: {bl.version([bl.ODOFS, '--version'])} -o endpoint=...{(',' + args.odofs_opts) if args.odofs_opts else ''} (defaults)")
    if args.odofs_ref:
        log(f"  odofs-ref {args.odofs_ref}: {bl.version([args.odofs_ref, '--version'])} (defaults)")
    log(f"  curl    {bl.version(['curl', '--version'])}")
    if "aws" in tools:
        log(f"  aws     {bl.version(['aws', '--version'])}: aws s3 cp, default multipart settings (8 MiB parts, 10 at once)")
    if "s3fs" in tools:
        log(f"  s3fs    {bl.version(['s3fs', '--version'])} -o {S3FS_TUNED} (its docs' throughput options)")
    if "rclone" in tools:
        log(f"  rclone  {bl.version(['rclone', 'version'])} mount --vfs-cache-mode off {' '.join(RCLONE_TUNED)} (its docs' throughput options)")
    log(f"  {NOT_INSTALLABLE}")

    data = Data(args.size, args.small)
    data.local_files()
    key_id, secret = bl.new_key_pair()
    if args.server == "rgw":
        log("  server: Ceph RGW on loopback (tests/rgw/rgw.sh), fresh for this run")
        port = bl.start_rgw(key_id, secret)
    else:
        log("  server: s3rver (tests/s3rver), its objects kept in " + data.s3dir)
        os.makedirs(data.s3dir, exist_ok=True)
        _server, port = bl.start_server(data.s3dir, key_id, secret)
    direct = bl.S3Curl(f"http://127.0.0.1:{port}", BUCKET, key_id, secret)
    data.server_objects(direct, ops, kept=args.server == "s3rver")
    b = Bench(args)
    b.link = Linkem(args.profile, port)
    s3 = bl.S3Curl(f"http://127.0.0.1:{b.link.port}", BUCKET, key_id, secret)
    bl.S3FS_OPTS = S3FS_TUNED
    bl.RCLONE_ARGS[:] = RCLONE_TUNED
    b.mounter = bl.Mounter(b.link.port, key_id, secret, BUCKET)
    # aws: the key pair in a credentials file (never on a command line),
    # checksums only where required (s3rver predates the CRC trailers).
    creds, conf = os.path.join(bl.tmpdir(), "aws-credentials"), os.path.join(bl.tmpdir(), "aws-config")
    with open(os.open(creds, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n")
    with open(conf, "w") as f:
        f.write("[default]\nregion = us-east-1\nrequest_checksum_calculation = when_required\n"
                "response_checksum_validation = when_required\n")
    aws = ["env", "-i", f"PATH={os.environ.get('PATH', '/usr/bin:/bin')}", f"HOME={b.mounter.home}",
           f"AWS_SHARED_CREDENTIALS_FILE={creds}", f"AWS_CONFIG_FILE={conf}", "AWS_EC2_METADATA_DISABLED=true",
           "aws", "--endpoint-url", f"http://127.0.0.1:{b.link.port}", "s3", "cp", "--only-show-errors"]
    big, quads = data.keys_big()
    size = data.size

    # ---- reads
    if "read" in ops:
        log("")
        log(f"1. sequential read of {size >> 20} MiB ({big})")
        if "curl" in tools:
            b.attempt("curl-16 direct", lambda: b.measure("read", "curl-16-direct", curl_ranges(direct.url(big), size, 16), size))
            for n in (1, 4, 8, 16):
                b.attempt(f"curl-{n}", lambda n=n: b.measure("read", f"curl-{n}", curl_ranges(s3.url(big), size, n), size))
        if "aws" in tools:
            b.attempt("aws", lambda: b.measure("read", "aws", [aws + [f"s3://{BUCKET}/{big}", "/dev/null"]], size))
        for t in MOUNTS:
            if t in tools:
                b.attempt(f"{t} read", lambda t=t: mount_read(b, t, [big], size))
    if "read4" in ops:
        log("")
        log(f"2. four readers at once, {size >> 22} MiB each")
        if "curl" in tools:
            b.attempt("curl-4x4", lambda: b.measure("read4", "curl-16", sum((curl_ranges(s3.url(q), size // 4, 4) for q in quads), []), size))
        if "aws" in tools:
            b.attempt("aws", lambda: b.measure("read4", "aws", [aws + [f"s3://{BUCKET}/{q}", "/dev/null"] for q in quads], size))
        for t in MOUNTS:
            if t in tools:
                b.attempt(f"{t} read4", lambda t=t: mount_read(b, t, quads, size, op="read4"))

    # ---- writes
    if "write" in ops:
        log("")
        log(f"3. sequential write of {size >> 20} MiB")
        if "curl" in tools:
            b.attempt("curl-1", lambda: b.measure("write", "curl-1", [s3.cmd("-o", "/dev/null", "-T", data.big, s3.url("w/curl-1"))], size))
            b.attempt("curl-8", lambda: b.measure("write", "curl-8", [s3.cmd("-o", "/dev/null", "-T", p, s3.url(f"w/curl-8-{i}")) for i, p in enumerate(data.eighths)], size))
            delete_prefix(direct, "w/")
            b.attempt("curl-8-mpu", lambda: b.measure_fn("write", "curl-8-mpu", lambda: curl_mpu(s3, "w/curl-mpu", data.eighths), size))
            delete_prefix(direct, "w/")
        if "aws" in tools:
            b.attempt("aws", lambda: b.measure("write", "aws", [aws + [data.big, f"s3://{BUCKET}/w/aws"]], size))
            delete_prefix(direct, "w/")
        for t in MOUNTS:
            if t in tools:
                b.attempt(f"{t} write", lambda t=t: mount_write(b, t, [data.big], size, direct))
                delete_prefix(direct, "w/")
    if "write4" in ops:
        log("")
        log(f"4. four writers at once, {size >> 22} MiB each")
        if "curl" in tools:
            b.attempt("curl-4", lambda: b.measure("write4", "curl-4", [s3.cmd("-o", "/dev/null", "-T", p, s3.url(f"w/curl-{i}")) for i, p in enumerate(data.quarters)], size))
            delete_prefix(direct, "w/")
        if "aws" in tools:
            b.attempt("aws", lambda: b.measure("write4", "aws", [aws + [p, f"s3://{BUCKET}/w/aws-{i}"] for i, p in enumerate(data.quarters)], size))
            delete_prefix(direct, "w/")
        for t in MOUNTS:
            if t in tools:
                b.attempt(f"{t} write4", lambda t=t: mount_write(b, t, data.quarters, size, direct, op="write4"))
                delete_prefix(direct, "w/")

    # ---- metadata
    if "meta" in ops:
        log("")
        log("5. metadata (each on a fresh mount; tar x, mv and rm -r on one)")
        for t in MOUNTS:
            if t in tools:
                meta(b, t, data, direct)

    report(b, args, tools, size)
    if args.json:
        with open(args.json, "w") as f:
            json.dump([r.__dict__ for r in b.results], f, indent=1)
    with open("/proc/loadavg") as f:
        log(f"load average at the end: {' '.join(f.read().split()[:3])}")
    if b.errors:
        log("")
        log(f"{len(b.errors)} thing(s) broke:")
        for e in b.errors:
            log("  " + e)
        return 1
    return 0


def mount_read(b, tool, keys, size, op="read"):
    mnt, p, logpath = b.mount(tool)
    try:
        # The lookups and opens are part of the read, as a user sees it.
        return b.measure(op, tool, [["cat", os.path.join(mnt, k)] for k in keys], size, daemon=p)
    except BenchError as e:
        raise BenchError(f"{e}\n{bl.tail(logpath)}")
    finally:
        b.umount(mnt)


def mount_write(b, tool, srcs, size, direct, op="write"):
    mnt, p, logpath = b.mount(tool)
    try:
        os.makedirs(os.path.join(mnt, "w"), exist_ok=True)

        def check():
            objs, _ = direct.list("w/")
            got = sum(s for _, s in objs)
            if got != size:
                raise BenchError(f"{op} {tool}: the server holds {got} bytes under w/, expected {size}")
        return b.measure(op, tool, [["cp", s, os.path.join(mnt, "w", f"{tool}-{i}")] for i, s in enumerate(srcs)],
                         size, daemon=p, check=check)
    except BenchError as e:
        raise BenchError(f"{e}\n{bl.tail(logpath)}")
    finally:
        b.umount(mnt)


STAT_SCRIPT = r"""
import os, sys
found = 0
for name in sys.argv[1:]:
    try:
        os.stat(name)
        found += 1
    except FileNotFoundError:
        pass
if found * 2 != len(sys.argv) - 1:
    sys.exit(f"found {found} of {len(sys.argv) - 1} names, expected half")
"""


def meta(b, tool, data, direct):
    def fresh(op, cmds, expect_lines=None, shell=True):
        mnt, p, logpath = b.mount(tool)
        try:
            out = os.path.join(bl.tmpdir(), "out.txt")
            cs = [c.replace("MNT", mnt).replace("OUT", out) for c in cmds]

            def check():
                if expect_lines is not None:
                    with open(out) as f:
                        n = sum(1 for _ in f)
                    if n != expect_lines:
                        raise BenchError(f"{op} {tool}: {n} lines of output, expected {expect_lines}")
            b.measure(op, tool, cs, daemon=p, check=check, shell=shell)
        except BenchError as e:
            raise BenchError(f"{e}\n{bl.tail(logpath)}")
        finally:
            b.umount(mnt)

    n1, n2 = data.n_ls_small, data.n_ls_big
    b.attempt(f"{tool} ls {n1}", lambda: fresh(f"ls-{n1}", [f"ls -l MNT/k{n1} | tail -n +2 > OUT"], n1))
    b.attempt(f"{tool} ls {n2}", lambda: fresh(f"ls-{n2}", [f"ls -l MNT/k{n2} | tail -n +2 > OUT"], n2))
    names = [f"MNT/k{n1}/f-{i:05d}" for i in range(n1 // 2)] + [f"MNT/k{n1}/missing-{i:05d}" for i in range(n1 // 2)]
    b.attempt(f"{tool} stat", lambda: fresh(f"stat-{n1}", [f"/usr/bin/python3 -c '{STAT_SCRIPT}' " + " ".join(names)]))
    nc = data.n_cat
    b.attempt(f"{tool} cat", lambda: fresh(f"cat-{nc}", [f"for f in MNT/cat{nc}/*; do cat \"$f\"; done > OUT"]))
    nt = data.n_tree
    b.attempt(f"{tool} find", lambda: fresh(f"find-{nt}", [f"find MNT/tree{nt} > OUT"], nt + 101))

    # tar x, then mv of one folder, then rm -r, on one mount
    def chain():
        mnt, p, logpath = b.mount(tool)
        dest = os.path.join(mnt, f"t-{tool}")
        try:
            os.mkdir(dest)
            nf = data.n_tar

            def check_tar():
                objs, _ = direct.list(f"t-{tool}/")
                files = [k for k, _ in objs if not k.endswith("/")]
                if len(files) != nf:
                    raise BenchError(f"tar x {tool}: {len(files)} objects after tar, expected {nf}")
            b.measure(f"tar-x-{nf}", tool, [["tar", "-x", "-f", data.tar, "-C", dest]], daemon=p, check=check_tar)
            b.measure(f"mv-{nf // 10}", tool, [["mv", os.path.join(dest, "d0"), os.path.join(dest, "moved")]], daemon=p)
            b.measure(f"rm-r-{nf}", tool, [["rm", "-r", dest]], daemon=p)
        except BenchError as e:
            raise BenchError(f"{e}\n{bl.tail(logpath)}")
        finally:
            b.umount(mnt)
            delete_prefix(direct, f"t-{tool}/")
    b.attempt(f"{tool} tar/mv/rm", chain)


# --------------------------------------------------------------------------
# the tables


def report(b, args, tools, size):
    by = {}
    for r in b.results:
        by.setdefault(r.op, {})[r.tool] = r
    log("")
    log(f"summary, profile {args.profile}; MB/s decimal, or seconds; ratio = this / that")
    hdr = ("op", "tool", "figure", "/curl-16", "/best peer", "requests", "cpu s/GiB", "rss MiB", "busy")
    rows = []
    for op, tr in by.items():
        thr = any(r.nbytes for r in tr.values())
        ref = tr.get("curl-16") if op in ("read", "read4") else tr.get("curl-8") if op == "write" else tr.get("curl-4")
        peers = [tr[p] for p in PEERS if p in tr]
        if thr:
            best = max(peers, key=lambda r: r.mbps() or 0) if peers else None
        else:
            best = min(peers, key=lambda r: r.seconds) if peers else None
        for tool, r in tr.items():
            if thr:
                fig = f"{r.mbps():.1f} MB/s"
                vs_ref = f"{r.mbps() / ref.mbps():.2f}x" if ref else "-"
                vs_best = f"{r.mbps() / best.mbps():.2f}x ({best.tool})" if best and tool in ("odofs", "odofs-ref") else "-"
            else:
                fig = f"{r.seconds:.2f} s"
                vs_ref = "-"
                # for times, how many times faster odofs is than the best peer
                vs_best = f"{best.seconds / r.seconds:.2f}x faster ({best.tool})" if best and tool in ("odofs", "odofs-ref") else "-"
            cpg = r.cpu_per_gib()
            rows.append((op, tool, fig, vs_ref, vs_best, req_text(r.req),
                         f"{cpg:.2f}" if cpg is not None else (f"{r.cpu:.2f} s" if r.cpu is not None and not r.nbytes else "-"),
                         f"{r.rss:.0f}" if r.rss is not None else "-",
                         f"{r.busy * 100:.0f}%" if r.busy is not None else "-"))
    w = [max(len(str(x[i])) for x in rows + [hdr]) for i in range(len(hdr))]
    for x in [hdr] + rows:
        log("  " + "  ".join(str(c).ljust(w[i]) for i, c in enumerate(x)).rstrip())
    log("")
    log("  reference: read, read4 against curl-16 (16 range GETs; read4: 4 per object); write against")
    log("  curl-8 (8 parallel PUTs of an eighth each); write4 against curl-4 (one PUT per file).")
    log("  curl-8-mpu: the same 8 PUTs as parts of one multipart upload, created and completed: the")
    log("  limit for a multipart writer on this server (s3rver's complete rewrites the object).")
    log("  cpu: the FUSE daemon's (utime+stime, /proc) for mounts, per GiB moved; for curl and aws")
    log("  the client processes'. Metadata rows give the daemon's CPU seconds for the operation.")
    log("  busy: the share of all the machine's CPUs in use during the operation (/proc/stat: server,")
    log("  linkem, client, daemon and kernel together); near 100% the machine, not the link, is the bound.")


if __name__ == "__main__":
    bl.run(main)
