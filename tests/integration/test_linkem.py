"""linkem, the link emulator the benchmarks run through (tests/linkem/).

It must pass bytes unchanged both ways, charge the delay on every request of
a keep-alive connection (not only at connect), cap each connection on its
own and not the aggregate, pass half-closes on, and count the HTTP requests
it forwards. Times are checked as lower bounds only, except one loose upper
bound that tells a per-connection cap from an aggregate one.

Environment:
  LINKEM_BIN     a built linkem to test (default: compiled here with cc)
  LINKEM_CFLAGS  extra flags for that compile (e.g. -fsanitize=address)
"""

import hashlib
import http.client
import http.server
import os
import secrets
import shlex
import signal
import socket
import socketserver
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINKEM_C = REPO / "tests" / "linkem" / "linkem.c"
MB = 1000 * 1000
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def linkem_bin(tmp_path_factory):
    if os.environ.get("LINKEM_BIN"):
        return os.environ["LINKEM_BIN"]
    out = tmp_path_factory.mktemp("linkem") / "linkem"
    cmd = ["cc", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-std=gnu11"]
    cmd += shlex.split(os.environ.get("LINKEM_CFLAGS", ""))
    cmd += ["-o", str(out), str(LINKEM_C)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{' '.join(cmd)}:\n{r.stderr}"
    return str(out)


class Linkem:
    """One linkem process; stop() checks that SIGTERM ends it cleanly."""

    def __init__(self, binary, target_port, args, stats_path):
        self.stats_path = Path(stats_path)
        self.proc = subprocess.Popen(
            [binary, "--target", f"127.0.0.1:{target_port}", "--stats", str(stats_path), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        assert line.startswith("listening 127.0.0.1:"), f"linkem said {line!r}: {self.proc.stderr.read()}"
        self.port = int(line.rsplit(":", 1)[1])

    def stats(self, timeout=30):
        """Counters, as written on SIGUSR1 (FILE is replaced by a rename)."""
        self.stats_path.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while not self.stats_path.exists():
            assert time.monotonic() < deadline, "linkem wrote no stats on SIGUSR1"
            time.sleep(0.01)
        return parse_stats(self.stats_path.read_text())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("linkem did not exit on SIGTERM")
        err = self.proc.stderr.read()
        assert rc == 0, f"linkem exited {rc}: {err}"
        assert "runtime error" not in err and "Sanitizer" not in err, err
        return parse_stats(self.stats_path.read_text())


def parse_stats(text):
    return {k: int(v) for k, v in (line.split() for line in text.splitlines())}


@pytest.fixture
def linkem(linkem_bin, tmp_path):
    """linkem(target_port, *args) -> Linkem; all are stopped at the end."""
    started = []

    def start(target_port, *args):
        lk = Linkem(linkem_bin, target_port, args, tmp_path / f"stats{len(started)}")
        started.append(lk)
        return lk

    yield start
    for lk in started:
        if lk.proc.poll() is None:
            lk.stop()


# --------------------------------------------------------------------------
# A payload server: the client sends an 8-byte big-endian count N, then its
# payload, then shuts its side down; the server answers, after that EOF,
# sha256(what it got) + N random bytes + sha256(those bytes), then closes.
# So one exchange checks both directions and both half-closes.


class PayloadHandler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        got = hashlib.sha256()
        head = b""
        while True:
            b = sock.recv(256 * 1024)
            if not b:
                break
            if len(head) < 8:
                take = 8 - len(head)
                head += b[:take]
                b = b[take:]
            got.update(b)
        (n_down,) = struct.unpack(">Q", head)
        sock.sendall(got.digest())
        sent = hashlib.sha256()
        while n_down:
            chunk = secrets.token_bytes(min(n_down, 256 * 1024))
            sent.update(chunk)
            sock.sendall(chunk)
            n_down -= len(chunk)
        sock.sendall(sent.digest())


class ThreadingTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def payload_server():
    srv = ThreadingTCPServer(("127.0.0.1", 0), PayloadHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def exchange(port, up, n_down):
    """Sends `up`, receives n_down bytes; checks both digests; returns seconds."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        s.sendall(struct.pack(">Q", n_down) + up)
        s.shutdown(socket.SHUT_WR)
        data = bytearray()
        while True:
            b = s.recv(1024 * 1024)
            if not b:
                break
            data += b
    elapsed = time.monotonic() - t0
    assert len(data) == 32 + n_down + 32, f"got {len(data)} bytes, want {n_down + 64}"
    assert bytes(data[:32]) == hashlib.sha256(up).digest(), "client->server bytes changed"
    assert bytes(data[-32:]) == hashlib.sha256(data[32:-32]).digest(), "server->client bytes changed"
    return elapsed


# --------------------------------------------------------------------------
# An HTTP/1.1 keep-alive server that reads bodies (Content-Length or
# chunked) and answers every method.


class HttpHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def answer(self, status=200, body=b"", head_only=False):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def do_GET(self):
        self.answer(body=b"x" * 100)

    def do_HEAD(self):
        self.answer(body=b"x" * 100, head_only=True)

    def do_PUT(self):
        self.answer(body=hashlib.sha256(self.read_body()).hexdigest().encode())

    do_POST = do_PUT

    def do_DELETE(self):
        self.read_body()
        self.answer(status=204)


@pytest.fixture
def http_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HttpHandler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--profile", "none"],
        ["--profile", "wan"],
        # An odd ring size and a slow cap: the ring wraps mid-read many times.
        ["--delay-ms", "0.5", "--rate", "20M", "--buffer", "65537"],
    ],
    ids=["none", "wan", "odd-ring"],
)
def test_bytes_pass_unchanged_both_ways(linkem, payload_server, args):
    lk = linkem(payload_server, *args)
    up = secrets.token_bytes(3 * MiB + 17)
    exchange(lk.port, up, 5 * MiB + 3)
    exchange(lk.port, b"", 1)  # an empty upload, a one-byte answer
    st = lk.stop()
    assert st["connections_accepted"] == 2
    assert st["connections_active"] == 0 and st["connections_aborted"] == 0
    assert st["bytes_up"] == 8 + len(up) + 8
    assert st["bytes_down"] == (32 + 5 * MiB + 3 + 32) + (32 + 1 + 32)
    assert st["non_http_connections"] == 2  # they were not HTTP


def test_every_request_pays_the_round_trip(linkem, http_server):
    delay_s = 0.025
    lk = linkem(http_server, "--delay-ms", str(delay_s * 1000))
    conn = http.client.HTTPConnection("127.0.0.1", lk.port, timeout=60)
    t0 = time.monotonic()
    conn.connect()
    times = []
    for i in range(5):
        t = time.monotonic()
        conn.request("GET", f"/k{i}")
        assert conn.getresponse().read() == b"x" * 100
        times.append(time.monotonic() - t)
    total = time.monotonic() - t0
    conn.close()
    # Each request on the kept-alive connection: one round trip at least.
    assert min(times) >= 2 * delay_s, times
    # The connect's round trip is charged to the first request.
    assert times[0] >= 4 * delay_s, times
    assert total >= (2 + 2 * 5) * delay_s
    st = lk.stop()
    assert st["connections_accepted"] == 1, "the requests did not share one connection"
    assert st["requests_get"] == 5


def test_no_handshake_charges_one_round_trip_only(linkem, http_server):
    delay_s = 0.03
    lk = linkem(http_server, "--delay-ms", str(delay_s * 1000), "--no-handshake")
    conn = http.client.HTTPConnection("127.0.0.1", lk.port, timeout=60)
    t = time.monotonic()
    conn.request("GET", "/k")
    conn.getresponse().read()
    assert time.monotonic() - t >= 2 * delay_s
    conn.close()


@pytest.mark.parametrize("direction", ["up", "down"])
def test_rate_cap_holds_per_connection(linkem, payload_server, direction):
    rate = 2 * MB
    size = 4 * MB
    lk = linkem(payload_server, "--rate", "2M", "--no-handshake")
    if direction == "up":
        elapsed = exchange(lk.port, secrets.token_bytes(size), 0)
    else:
        elapsed = exchange(lk.port, b"", size)
    # The bucket starts full (64 KiB here), so allow that much for free.
    assert elapsed >= (size - 64 * 1024) / rate * 0.98, f"{size} bytes in {elapsed:.2f}s"


def test_each_connection_has_its_own_cap(linkem, payload_server):
    rate = 1 * MB
    size = 3 * MB
    lk = linkem(payload_server, "--rate", "1M", "--no-handshake")
    times = [None, None]

    def one(i):
        times[i] = exchange(lk.port, b"", size)

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = time.monotonic() - t0
    assert None not in times
    for t in times:  # the cap still holds for each one
        assert t >= (size - 64 * 1024) / rate * 0.98, times
    # Capped together they would need 2 * size / rate = 6 s; apart, 3 s.
    # Only an aggregate cap (or a machine 1.6x slower than 1 MB/s) fails this.
    assert total < 0.8 * 2 * size / rate, f"two connections took {total:.2f}s: an aggregate cap?"
    st = lk.stop()
    assert st["connections_accepted"] == 2


def test_request_count_over_keep_alive(linkem, http_server):
    lk = linkem(http_server, "--delay-ms", "1")
    # Bodies full of request lines: a counter that looks inside bodies fails.
    trap = b"GET /trap HTTP/1.1\r\nHost: x\r\n\r\n" * 50 + b"\nPUT / HTTP/1.1\r\n"
    conn = http.client.HTTPConnection("127.0.0.1", lk.port, timeout=60)
    for i in range(3):
        conn.request("GET", f"/g{i}")
        conn.getresponse().read()
    for i in range(2):
        conn.request("PUT", f"/p{i}", body=trap)
        assert conn.getresponse().read() == hashlib.sha256(trap).hexdigest().encode()
    # A chunked body (no Content-Length), as streaming uploads send.
    conn.request("PUT", "/chunked", body=iter([trap, b"GET / HTTP/1.1\r\n", trap]))
    assert conn.getresponse().read() == hashlib.sha256(trap + b"GET / HTTP/1.1\r\n" + trap).hexdigest().encode()
    conn.request("HEAD", "/h")
    conn.getresponse().read()
    conn.request("POST", "/p?uploads", body=b"<x/>")
    conn.getresponse().read()
    conn.request("DELETE", "/d")
    conn.getresponse().read()
    conn.close()

    # Pipelined: three requests in one write, the last closing the connection.
    pipelined = (
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
        + b"PUT /b HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(trap)
        + trap
        + b"DELETE /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", lk.port), timeout=60) as s:
        s.sendall(pipelined)
        answer = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            answer += b
    assert answer.count(b"HTTP/1.1 20") == 3, answer

    st = lk.stats()
    assert st["connections_accepted"] == 2
    assert st["requests_get"] == 3 + 1
    assert st["requests_put"] == 3 + 1
    assert st["requests_head"] == 1
    assert st["requests_post"] == 1
    assert st["requests_delete"] == 1 + 1
    assert st["requests_other"] == 0
    assert st["requests"] == 12
    assert st["non_http_connections"] == 0
    # Both connections end: the clients closed, the closes travel on.
    deadline = time.monotonic() + 30
    while st["connections_active"]:
        assert time.monotonic() < deadline, f"connections left open: {st}"
        time.sleep(0.05)
        st = lk.stats()
    assert lk.stop()["requests"] == 12


def test_refused_target_is_counted_and_survived(linkem, payload_server):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    lk = linkem(dead_port, "--delay-ms", "1")
    try:  # the reset may come before the connect returns, or after
        with socket.create_connection(("127.0.0.1", lk.port), timeout=30) as c:
            assert c.recv(10) == b""
    except ConnectionResetError:
        pass
    st = lk.stop()
    assert st["connect_failures"] == 1 and st["connections_active"] == 0


@pytest.mark.parametrize("bad", [["--rate", "fast"], ["--profile", "moon"], ["--delay-ms", "-1"], []])
def test_bad_options_exit_2(linkem_bin, bad):
    r = subprocess.run([linkem_bin, *bad] + (["--target", "127.0.0.1:1"] if bad else []),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    assert r.stderr
