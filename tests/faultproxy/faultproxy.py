#!/usr/bin/python3
"""A fault-injecting HTTP/1.1 reverse proxy for odofs's tests (stdlib only).

It sits between odofs and the test S3 server (plain http on loopback) and
forwards every request byte for byte, Host header included: SigV4 signs the
Host that odofs sent (the proxy's address), and s3rver checks the signature
over the headers it receives without comparing Host to its own port, so a
mount with `endpoint=http://127.0.0.1:PROXYPORT` works unchanged.

Each client connection gets a thread and an upstream connection of its own
(keep-alive on both sides; an upstream that closes an idle connection closes
the client's too, so the client never sends into a dead socket).

Faults are rules set at run time, from the test's own process:

    proxy = FaultProxy(upstream_port).start()
    proxy.add(Rule("status", method="GET", match="list-type=2", count=1, status=503))
    ...
    proxy.seen()   # every request: method, target, time, fault applied, status
    proxy.stop()

A rule matches a request by method and by substrings of its target (path and
query, as sent: percent-encoded); `count` limits how many matching requests
it hits (None: all), `p` makes each hit random (loss).  The first live rule
that matches decides.  Actions:

    status      answer `status` with an S3 XML error body (`code`), without
                forwarding; the request body is read first.  500
                InternalError, 503 SlowDown and 429 have default codes.
    reset       forward; send the response head and `keep` bytes of the
                body (default: half), then RST (SO_LINGER 0).  An answer
                without a body is reset before its head.
    stall       forward; send the head and `keep` bytes, then nothing for
                `stall_s` seconds (or until the client gives up); an
                answer without a body stalls before its head.
    truncate    forward; send the first `keep` bytes of the body (default:
                half) with a Content-Length saying exactly that much.
    short       forward; send a Content-Length `extra` bytes larger than the
                body, the body, then close: a wrong Content-Length.
    delay       sleep `delay_s` before forwarding; with `until` (a
                threading.Event), wait for it to be set instead, `delay_s`
                at most: a request held until the test lets it go.
    drop        read the request, then close the connection without an
                answer (RST); with p, random loss.

Command line (manual use): faultproxy.py UPSTREAM_PORT [--port N]
[--rule JSON]..., e.g. --rule '{"action": "status", "status": 503,
"match": "partNumber=", "count": 2}'.
"""

import argparse
import json
import random
import select
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field

HEAD_MAX = 64 * 1024
IO_TIMEOUT_S = 120  # a socket idle this long is given up (never hang a test)

DEFAULT_CODES = {
    400: "BadRequest",
    403: "AccessDenied",
    404: "NoSuchKey",
    429: "TooManyRequests",
    500: "InternalError",
    503: "SlowDown",
}


@dataclass
class Rule:
    action: str
    method: str = None  # e.g. "GET"; None: any
    match: object = None  # substring (or list of substrings, all required) of the target
    count: int = None  # hits left; None: unlimited
    p: float = None  # probability of a hit per matching request; None: always
    status: int = 500
    code: str = None
    keep: int = None  # body bytes sent before the fault; None: half
    stall_s: float = 60.0
    extra: int = 1000
    delay_s: float = 0.0
    until: object = None  # delay: a threading.Event that ends the wait
    hits: int = 0

    def __post_init__(self):
        if self.action not in ("status", "reset", "stall", "truncate", "short", "delay", "drop"):
            raise ValueError(f"unknown action {self.action!r}")
        if isinstance(self.match, str):
            self.match = [self.match]

    def matches(self, method, target):
        if self.count is not None and self.count <= 0:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        return not self.match or all(m in target for m in self.match)

    def describe(self):
        if self.action == "status":
            return f"status {self.status}"
        if self.action == "delay":
            return f"delay {self.delay_s}"
        return self.action


@dataclass
class Seen:
    """One request as the proxy saw it."""
    t: float  # time.monotonic() when its head had been read
    method: str
    target: str
    fault: str = None  # the action applied, or None
    status: int = None  # what the client was sent (None: no answer)
    t_end: float = None
    conn: int = 0
    headers: dict = field(default_factory=dict)


class _Closed(Exception):
    pass


def _recv_head(sock, buf):
    """Read up to the end of an HTTP head; return (head bytes, rest)."""
    while b"\r\n\r\n" not in buf:
        if len(buf) > HEAD_MAX:
            raise _Closed("head too large")
        data = sock.recv(65536)
        if not data:
            raise _Closed("eof")
        buf += data
    i = buf.index(b"\r\n\r\n") + 4
    return buf[:i], buf[i:]


def _parse_headers(head):
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return first, headers


def _read_exact(sock, rest, n):
    """n bytes from rest then sock; returns (bytes, new rest)."""
    out = bytearray(rest[:n])
    rest = rest[n:]
    while len(out) < n:
        data = sock.recv(min(1 << 20, n - len(out)))
        if not data:
            raise _Closed("eof in body")
        out += data
    return bytes(out), rest


def _read_line(sock, rest, what):
    """One CRLF-terminated line, with its CRLF; returns (line, new rest)."""
    while b"\r\n" not in rest:
        data = sock.recv(65536)
        if not data:
            raise _Closed(f"eof in {what}")
        rest += data
    i = rest.index(b"\r\n") + 2
    return rest[:i], rest[i:]


def _read_chunked(sock, rest):
    """A chunked body, raw (with its framing); returns (bytes, new rest)."""
    out = bytearray()
    while True:
        line, rest = _read_line(sock, rest, "chunk size")
        out += line
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            # trailers, then an empty line
            while True:
                line, rest = _read_line(sock, rest, "trailer")
                out += line
                if line == b"\r\n":
                    return bytes(out), rest
        data, rest = _read_exact(sock, rest, size + 2)
        out += data


def _unchunk(raw):
    """The payload of a raw chunked body (as _read_chunked returns it)."""
    out = bytearray()
    i = 0
    while True:
        j = raw.index(b"\r\n", i)
        size = int(raw[i:j].split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return bytes(out)
        out += raw[j + 2:j + 2 + size]
        i = j + 2 + size + 2


def _read_body(sock, rest, headers):
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _read_chunked(sock, rest)
    return _read_exact(sock, rest, int(headers.get("content-length", "0") or 0))


def _rst(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def _error_xml(code, message, target):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<Resource>{target.split('?')[0]}</Resource><RequestId>faultproxy</RequestId></Error>"
    ).encode()


class FaultProxy:
    """The proxy; start() runs it in background threads of this process."""

    def __init__(self, upstream_port, upstream_host="127.0.0.1", port=0, host="127.0.0.1", seed=None):
        self.upstream = (upstream_host, upstream_port)
        self.lock = threading.Lock()
        self.rules = []
        self.log = []
        self.rng = random.Random(seed)
        self.stopping = threading.Event()
        self.conns = set()
        self.n_conns = 0
        self.listener = socket.create_server((host, port), backlog=128)
        self.port = self.listener.getsockname()[1]
        self.thread = None

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    # ---- control ----

    def add(self, rule=None, **kw):
        """Add a rule (a Rule, or its fields as keywords); returns it."""
        rule = rule or Rule(**kw)
        with self.lock:
            self.rules.append(rule)
        return rule

    def clear(self):
        """Drop every rule and release stalled connections."""
        with self.lock:
            self.rules = []

    def seen(self, since=0):
        """Requests seen since index `since` (see mark())."""
        with self.lock:
            return list(self.log[since:])

    def mark(self):
        with self.lock:
            return len(self.log)

    def start(self):
        self.thread = threading.Thread(target=self._accept_loop, name="faultproxy", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        try:
            # close() alone does not wake a thread blocked in accept().
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self.thread:
            self.thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- the work ----

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                client, _addr = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.n_conns += 1
                n = self.n_conns
            threading.Thread(target=self._serve, args=(client, n), daemon=True,
                             name=f"faultproxy-{n}").start()

    def _pick(self, method, target):
        with self.lock:
            for rule in self.rules:
                if not rule.matches(method, target):
                    continue
                if rule.p is not None and self.rng.random() >= rule.p:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                rule.hits += 1
                return rule
        return None

    def _track(self, *socks, add=True):
        with self.lock:
            for s in socks:
                if s is None:
                    continue
                if add:
                    self.conns.add(s)
                else:
                    self.conns.discard(s)

    def _connect_upstream(self):
        up = socket.create_connection(self.upstream, timeout=IO_TIMEOUT_S)
        up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._track(up)
        return up

    def _forward(self, up, request):
        """Send a request upstream and read the answer's head: (up, head,
        rest).  A kept-alive upstream connection the server closed while
        idle (s3rver after 5 s) fails before any answer byte: the request
        is sent again on a fresh connection, as curl does, so the client
        never sees the proxy's own connection reuse."""
        if up is not None:
            try:
                up.sendall(request)
                return (up, *_recv_head(up, b""))
            except (_Closed, ConnectionError) as e:
                if isinstance(e, _Closed) and str(e) != "eof":
                    raise
                self._track(up, add=False)
                up.close()
        up = self._connect_upstream()
        up.sendall(request)
        return (up, *_recv_head(up, b""))

    def _serve(self, client, n):
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.settimeout(IO_TIMEOUT_S)
        self._track(client)
        up = None
        rest = b""
        try:
            while not self.stopping.is_set():
                # Wait for the next request; an upstream closing its idle
                # connection meanwhile closes the client's.
                if not rest:
                    watch = [client] + ([up] if up else [])
                    r, _, _ = select.select(watch, [], [], IO_TIMEOUT_S)
                    if not r:
                        return
                    if up in r and client not in r:
                        return
                head, rest = _recv_head(client, rest)
                first, headers = _parse_headers(head)
                method, target, _version = first.split(" ", 2)
                body, rest = _read_body(client, rest, headers)
                seen = Seen(time.monotonic(), method, target, conn=n, headers=headers)
                rule = self._pick(method, target)
                seen.fault = rule.describe() if rule else None
                with self.lock:
                    self.log.append(seen)
                keep_alive = headers.get("connection", "").lower() != "close"

                if rule and rule.action == "drop":
                    _rst(client)
                    client = None
                    return
                if rule and rule.action == "status":
                    code = rule.code or DEFAULT_CODES.get(rule.status, "InternalError")
                    xml = _error_xml(code, f"injected by faultproxy ({code})", target)
                    client.sendall(
                        f"HTTP/1.1 {rule.status} {code}\r\nContent-Type: application/xml\r\n"
                        f"Content-Length: {len(xml)}\r\nx-amz-request-id: faultproxy\r\n\r\n".encode()
                        + (b"" if method == "HEAD" else xml))
                    seen.status = rule.status
                    seen.t_end = time.monotonic()
                    continue
                if rule and rule.action == "delay":
                    if rule.until is None:
                        if self.stopping.wait(rule.delay_s):
                            return
                    else:
                        end = time.monotonic() + rule.delay_s
                        while not rule.until.wait(min(0.05, max(0.0, end - time.monotonic()))):
                            if self.stopping.is_set():
                                return
                            if time.monotonic() >= end:
                                break
                    rule = None

                up, rhead, urest = self._forward(up, head + body)
                rfirst, rheaders = _parse_headers(rhead)
                status = int(rfirst.split(" ", 2)[1])
                seen.status = status
                no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
                if no_body:
                    rbody = b""
                elif "content-length" in rheaders or "chunked" in rheaders.get("transfer-encoding", ""):
                    rbody, urest = _read_body(up, urest, rheaders)
                else:  # until close
                    chunks = [urest]
                    while True:
                        data = up.recv(1 << 20)
                        if not data:
                            break
                        chunks.append(data)
                    rbody = b"".join(chunks)
                    keep_alive = False
                if rheaders.get("connection", "").lower() == "close":
                    keep_alive = False

                if rule is None:
                    client.sendall(rhead + rbody)
                    seen.t_end = time.monotonic()
                    if not keep_alive:
                        return
                    if rheaders.get("connection", "").lower() == "close" or urest:
                        self._track(up, add=False)
                        up.close()
                        up = None
                    continue

                if "chunked" in rheaders.get("transfer-encoding", "").lower():
                    # A fault works on the payload, as for an answer with a
                    # Content-Length (s3rver's; RGW chunks its listings):
                    # cutting or mislabelling raw chunk framing would hand
                    # the client framing bytes as body, another fault.
                    rbody = _unchunk(rbody)
                    rhead = self._with_length(rhead, len(rbody))
                keep = rule.keep if rule.keep is not None else len(rbody) // 2
                keep = min(keep, len(rbody))
                if rule.action == "truncate":
                    cut = rbody[:keep]
                    client.sendall(self._with_length(rhead, len(cut)) + cut)
                    seen.t_end = time.monotonic()
                    continue
                if rule.action == "short":
                    client.sendall(self._with_length(rhead, len(rbody) + rule.extra) + rbody)
                    seen.t_end = time.monotonic()
                    client.shutdown(socket.SHUT_WR)
                    return
                # An answer without a body (PUT, HEAD) is lost whole: the
                # head alone would be a complete answer.
                client.sendall(rhead + rbody[:keep] if rbody else b"")
                if rule.action == "reset":
                    seen.t_end = time.monotonic()
                    _rst(client)
                    client = None
                    return
                if rule.action == "stall":
                    # Nothing more until the client gives up or time passes.
                    end = time.monotonic() + rule.stall_s
                    while not self.stopping.is_set() and time.monotonic() < end:
                        r, _, _ = select.select([client], [], [], 0.1)
                        if r and not client.recv(65536):
                            break
                    seen.t_end = time.monotonic()
                    return
        except (_Closed, OSError, ValueError, IndexError):
            return
        finally:
            self._track(client, up, add=False)
            for s in (client, up):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass

    @staticmethod
    def _with_length(head, length):
        lines = head.decode("latin-1").split("\r\n")
        out = [lines[0]]
        for line in lines[1:]:
            if line and not line.lower().startswith(("content-length:", "transfer-encoding:")):
                out.append(line)
        out.append(f"Content-Length: {length}")
        return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("upstream_port", type=int)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--rule", action="append", default=[], help="a Rule as JSON")
    args = ap.parse_args()
    proxy = FaultProxy(args.upstream_port, port=args.port)
    for r in args.rule:
        proxy.add(Rule(**json.loads(r)))
    proxy.start()
    print(proxy.port, flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        proxy.stop()
        for s in proxy.seen():
            print(f"{s.t:.3f} {s.method} {s.target} {s.status} {s.fault or '-'}", file=sys.stderr)


if __name__ == "__main__":
    main()
