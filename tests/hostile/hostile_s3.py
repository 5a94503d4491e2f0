#!/usr/bin/python3
"""A hostile S3 server: anonymous ListObjectsV2, HEAD and ranged GET for one
bucket, answering with listings crafted to break clients.  Python stdlib only.

Not a mock of a real S3 (s3rver is that): every prefix below is a scenario a
broken or malicious server could produce.  Keys are bytes; object bodies are
derived from the key (body_for), so a test can check what it reads.

    hostile_s3.py [--port N] [--bucket NAME]

prints "PORT <n>" once listening.  GET /__stats answers the request counts
per listing prefix as JSON.

Scenarios (prefix: behaviour)
  names/      good keys beside bad ones: invalid UTF-8, a 300-byte segment,
              '.', '..', '//', NUL and other control characters, a 1,024-byte
              key of nested folders.  Honours encoding-type=url (percent-
              encoding, '+' for space, as AWS does); otherwise control
              characters go out as XML character references (&#0; ...),
              which no XML 1.0 parser accepts, and invalid UTF-8 goes out raw.
  rawxml/     ignores encoding-type: a key with &#1; in the XML.
  rawutf8/    ignores encoding-type: raw invalid UTF-8 bytes in the XML.
  shadow/     a file 'a', a file 'a!x' and 'a/b': the folder must win.
  dup/        100 keys in pages of 10, each page repeating the keys of the
              page before (and the last page sent twice).
  loop/       IsTruncated=true forever with the same continuation token.
  endless/    IsTruncated=true forever, a new token every page, same keys.
  endless-empty/  IsTruncated=true forever, new tokens, no keys at all.
  stream/     one 200 response that streams <Contents> forever (chunked),
              never closing the document.
  hugekey/    one <Key> whose text never ends.
  bigpage/    a single page of 100 MB of <Contents> (Content-Length set).
  toomany/    a page of 5,000 keys when max-keys asked for at most 1,000.
  many-N/     N keys (many-N/k0000000 ...), generated page by page on
              the fly; pages of at most 1,000.  The root lists N = 20,000,
              200,000 and 2,000,000; any other N answers too.
  other prefixes: empty listings.
"""

import argparse
import hashlib
import json
import re
import socketserver
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LAST_MODIFIED = "2024-01-02T03:04:05.000Z"
HTTP_DATE = "Tue, 02 Jan 2024 03:04:05 GMT"
PAGE_MAX = 1000


def body_for(key: bytes) -> bytes:
    """The bytes of the object at key: 100 to 1,099 bytes, from its hash
    (many-N keys: the key and a newline, cheap to list by the million)."""
    if MANY_RE.match(key):
        return key + b"\n"
    h = hashlib.sha256(key).digest()
    size = 100 + int.from_bytes(h[:2], "big") % 1000
    block = hashlib.sha256(b"body:" + key).hexdigest().encode()
    return (block * (size // len(block) + 1))[:size]


def etag_for(key: bytes) -> str:
    return '"' + hashlib.md5(body_for(key)).hexdigest() + '"'


# ---- the static scenarios: sorted lists of keys (bytes) ----------------------

LONG_KEY = b"names/long/" + b"/".join([b"d" * 200] * 4)
LONG_KEY = LONG_KEY + b"/" + b"f" * (1024 - len(LONG_KEY) - 1)
assert len(LONG_KEY) == 1024

NAMES_GOOD = [
    b"names/good-a.txt",
    b"names/ok b+c.txt",  # space and plus: '+' means space in encoding-type=url
    "names/été-日本.txt".encode(),
    b"names/pct%41.txt",  # a literal percent sign
    b"names/amp&lt;.txt",
    b"names/ctl\x01\x1f.txt",  # control characters are legal in names
    b"names/cr\r.txt",
    b"names/tab\t.txt",
    b"names/sub/inner.txt",
    LONG_KEY,
]
NAMES_BAD = [
    b"names/bad-\xff\xfe.txt",  # invalid UTF-8
    b"names/bad-\xc3(.txt",  # invalid UTF-8: truncated sequence
    b"names/" + b"s" * 300,  # one 300-byte segment
    b"names/../escape.txt",
    b"names/./dot.txt",
    b"names/.",
    b"names/..",
    b"names//double.txt",
    b"names/nul\x00.txt",
    b"names/sub/nul\x00inner",
]

STATIC = {
    b"names/": sorted(NAMES_GOOD + NAMES_BAD),
    b"rawxml/": sorted([b"rawxml/good.txt", b"rawxml/ctl\x01.txt"]),
    b"rawutf8/": sorted([b"rawutf8/good.txt", b"rawutf8/bad-\xff.txt"]),
    b"shadow/": sorted([b"shadow/a", b"shadow/a!x", b"shadow/a/b", b"shadow/z.txt"]),
    b"dup/": [b"dup/k%04d" % i for i in range(100)],
}
# Scenarios that ignore encoding-type=url, as a broken server would.
IGNORE_ENCODING = {b"rawxml/", b"rawutf8/"}
SPECIAL = [b"loop/", b"endless/", b"endless-empty/", b"stream/", b"hugekey/", b"bigpage/",
           b"toomany/"]
# many-N/ answers for any N; the root lists these.
MANY_LISTED = [b"many-20000/", b"many-200000/", b"many-2000000/"]
ROOT_PREFIXES = sorted(list(STATIC) + SPECIAL + MANY_LISTED)
MANY_RE = re.compile(rb"^many-(\d+)/")


def many_key(prefix: bytes, i: int) -> bytes:
    return b"%sk%07d" % (prefix, i)


def key_exists(key: bytes) -> bool:
    for prefix, keys in STATIC.items():
        if key.startswith(prefix):
            return key in keys
    m = MANY_RE.match(key)
    if m:
        n = int(m.group(1))
        rest = key[m.end():]
        return (len(rest) == 8 and rest[:1] == b"k" and rest[1:].isdigit()
                and int(rest[1:]) < n)
    return False


# ---- XML -----------------------------------------------------------------------

def xml_text(b: bytes) -> bytes:
    """Escape for XML as a careless server would: control characters as
    character references (invalid in XML 1.0), other bytes as they are."""
    out = bytearray()
    for c in b:
        if c == 0x26:
            out += b"&amp;"
        elif c == 0x3C:
            out += b"&lt;"
        elif c == 0x3E:
            out += b"&gt;"
        elif c < 0x20 and c not in (0x09, 0x0A):
            out += b"&#%d;" % c
        else:
            out.append(c)
    return bytes(out)


def enc_key(key: bytes, url: bool) -> bytes:
    if url:
        return urllib.parse.quote_plus(key, safe="/").encode()
    return xml_text(key)


def contents(key: bytes, url: bool) -> bytes:
    return (b"<Contents><Key>" + enc_key(key, url) + b"</Key><LastModified>" +
            LAST_MODIFIED.encode() + b"</LastModified><ETag>" +
            etag_for(key).replace('"', "&quot;").encode() + b"</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass></Contents>" %
            len(body_for(key)))


def page(bucket: str, prefix: bytes, items, truncated: bool, token, url: bool,
         max_keys: int) -> bytes:
    """items: (kind, bytes) with kind 'key' or 'prefix'."""
    parts = [b'<?xml version="1.0" encoding="UTF-8"?>\n'
             b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
             b"<Name>" + bucket.encode() + b"</Name>",
             b"<Prefix>" + enc_key(prefix, url) + b"</Prefix>",
             b"<KeyCount>%d</KeyCount><MaxKeys>%d</MaxKeys>" % (len(items), max_keys)]
    if url:
        parts.append(b"<EncodingType>url</EncodingType>")
    parts.append(b"<IsTruncated>" + (b"true" if truncated else b"false") + b"</IsTruncated>")
    if token is not None:
        parts.append(b"<NextContinuationToken>" + token.encode() + b"</NextContinuationToken>")
    for kind, v in items:
        if kind == "key":
            parts.append(contents(v, url))
        else:
            parts.append(b"<CommonPrefixes><Prefix>" + enc_key(v, url) +
                         b"</Prefix></CommonPrefixes>")
    parts.append(b"</ListBucketResult>")
    return b"".join(parts)


def list_sorted(keys, prefix: bytes, delimiter, start: int, max_keys: int):
    """S3 semantics over a sorted key list: (items, next index or None)."""
    items = []
    i = start
    seen_prefixes = set()
    while i < len(keys) and len(items) < max_keys:
        k = keys[i]
        i += 1
        if not k.startswith(prefix):
            continue
        if delimiter:
            j = k.find(delimiter, len(prefix))
            if j >= 0:
                cp = k[:j + len(delimiter)]
                if cp not in seen_prefixes:
                    seen_prefixes.add(cp)
                    items.append(("prefix", cp))
                # skip every key under this common prefix
                while i < len(keys) and keys[i].startswith(cp):
                    i += 1
                continue
        items.append(("key", k))
    more = any(k.startswith(prefix) for k in keys[i:i + 1]) or (
        i < len(keys) and any(k.startswith(prefix) for k in keys[i:]))
    return items, (i if more else None)


# ---- the server ----------------------------------------------------------------

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.lists = {}
        self.heads = 0
        self.gets = 0

    def count_list(self, prefix: bytes):
        key = prefix.split(b"/")[0].decode("latin-1")
        with self.lock:
            self.lists[key] = self.lists.get(key, 0) + 1

    def snapshot(self):
        with self.lock:
            return {"lists": dict(self.lists), "heads": self.heads, "gets": self.gets}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hostile-s3"

    def log_message(self, fmt, *args):  # quiet
        pass

    # -- plumbing
    def send(self, status, body=b"", ctype="application/xml", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, msg=""):
        body = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>' + code.encode() +
                b"</Code><Message>" + msg.encode() + b"</Message></Error>")
        self.send(status, body)

    def split(self):
        raw_path, _, raw_query = self.path.partition("?")
        q = urllib.parse.parse_qs(raw_query, keep_blank_values=True)
        query = {k: v[0] for k, v in q.items()}
        path = urllib.parse.unquote_to_bytes(raw_path)
        bucket_b, _, key = path.lstrip(b"/").partition(b"/")
        # parse_qs decodes values as UTF-8 text; prefixes are bytes
        pq = {}
        for part in raw_query.split("&"):
            k, _, v = part.partition("=")
            pq[urllib.parse.unquote(k)] = urllib.parse.unquote_to_bytes(v.replace("+", " "))
        return bucket_b.decode("latin-1"), key, query, pq

    # -- methods
    def do_GET(self):
        try:
            self.handle_get()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_HEAD(self):
        bucket, key, _, _ = self.split()
        if bucket != self.server.bucket:
            return self.error(404, "NoSuchBucket")
        if not key:
            return self.send(200)
        if not key_exists(key):
            return self.send(404, b"")
        with self.server.stats.lock:
            self.server.stats.heads += 1
        body = body_for(key)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag_for(key))
        self.send_header("Last-Modified", HTTP_DATE)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()

    def handle_get(self):
        if self.path == "/__stats":
            return self.send(200, json.dumps(self.server.stats.snapshot()).encode(),
                             "application/json")
        bucket, key, query, pq = self.split()
        if bucket != self.server.bucket:
            return self.error(404, "NoSuchBucket", "no such bucket")
        if key:
            return self.get_object(key)
        if query.get("list-type") != "2":
            return self.error(400, "InvalidRequest", "only ListObjectsV2 here")
        self.list_objects(pq.get("prefix", b""), pq.get("delimiter", b"") or None,
                          query.get("continuation-token"), query.get("max-keys"),
                          query.get("encoding-type") == "url")

    def get_object(self, key):
        if not key_exists(key):
            return self.error(404, "NoSuchKey", "no such key")
        with self.server.stats.lock:
            self.server.stats.gets += 1
        body = body_for(key)
        rng = self.headers.get("Range")
        hdrs = [("ETag", etag_for(key)), ("Last-Modified", HTTP_DATE)]
        if rng:
            m = re.match(r"bytes=(\d+)-(\d*)$", rng)
            if not m:
                return self.error(400, "InvalidRange")
            a = int(m.group(1))
            b = int(m.group(2)) if m.group(2) else len(body) - 1
            if a >= len(body):
                return self.error(416, "InvalidRange", "range not satisfiable")
            b = min(b, len(body) - 1)
            hdrs.append(("Content-Range", f"bytes {a}-{b}/{len(body)}"))
            return self.send(206, body[a:b + 1], "application/octet-stream", hdrs)
        return self.send(200, body, "application/octet-stream", hdrs)

    def list_objects(self, prefix, delimiter, token, max_keys, url):
        bucket = self.server.bucket
        self.server.stats.count_list(prefix)
        try:
            mk = min(int(max_keys), PAGE_MAX) if max_keys is not None else PAGE_MAX
        except ValueError:
            return self.error(400, "InvalidArgument", "max-keys")
        mk = max(mk, 0)

        if prefix == b"":
            items = [("prefix", p) for p in ROOT_PREFIXES] if delimiter == b"/" else []
            return self.send(200, page(bucket, prefix, items[:mk], False, None, url, mk))

        for name in (b"loop/", b"endless/", b"endless-empty/", b"stream/", b"hugekey/",
                     b"bigpage/", b"toomany/"):
            if prefix.startswith(name):
                return getattr(self, "list_" + name[:-1].decode().replace("-", "_"))(
                    prefix, token, url, mk)

        # A lookup of a top-level name lists it as a prefix (delimiter /):
        # a scenario folder answers with itself rolled up, as S3 would.
        if delimiter == b"/" and b"/" not in prefix and (
                prefix + b"/" in ROOT_PREFIXES or MANY_RE.match(prefix + b"/")):
            return self.send(200, page(bucket, prefix, [("prefix", prefix + b"/")][:mk], False,
                                       None, url, mk))

        m = MANY_RE.match(prefix)
        if m:
            return self.list_many(m.group(0), int(m.group(1)), prefix, token, url, mk)

        for name, keys in STATIC.items():
            if prefix.startswith(name) or name.startswith(prefix):
                if name in IGNORE_ENCODING:
                    url = False
                if name == b"dup/":
                    return self.list_dup(keys, prefix, delimiter, token, url, mk)
                start = int(token) if token else 0
                items, nxt = list_sorted(keys, prefix, delimiter, start, mk)
                return self.send(200, page(bucket, prefix, items, nxt is not None,
                                           None if nxt is None else str(nxt), url, mk))
        return self.send(200, page(bucket, prefix, [], False, None, url, mk))

    # -- the special scenarios
    def list_dup(self, keys, prefix, delimiter, token, url, mk):
        size = 10
        if prefix != b"dup/" or mk < size:
            start = int(token) if token and token != "again" else 0
            items, nxt = list_sorted(keys, prefix, delimiter, start, mk)
            return self.send(200, page(self.server.bucket, prefix, items, nxt is not None,
                                       None if nxt is None else str(nxt), url, mk))
        # Page p holds keys [10p-5, 10p+10): half of it repeats the page
        # before.  After the last, one more page ("again") repeats the last 10.
        if token == "again":
            items, nxt = keys[-size:], None
        else:
            p = int(token) if token else 0
            items = keys[max(0, p * size - 5):p * size + size]
            nxt = str(p + 1) if (p + 1) * size < len(keys) else "again"
        return self.send(200, page(self.server.bucket, prefix, [("key", k) for k in items],
                                   nxt is not None, nxt, url, mk))

    def list_loop(self, prefix, token, url, mk):
        items = [("key", b"loop/k%d" % i) for i in range(min(mk, 3))]
        return self.send(200, page(self.server.bucket, prefix, items, True, "same-token",
                                   url, mk))

    def list_endless(self, prefix, token, url, mk):
        n = int(token.split("-")[1]) + 1 if token else 1
        items = [("key", b"endless/k%d" % i) for i in range(min(mk, 3))]
        return self.send(200, page(self.server.bucket, prefix, items, True, "t-%d" % n, url,
                                   mk))

    def list_endless_empty(self, prefix, token, url, mk):
        n = int(token.split("-")[1]) + 1 if token else 1
        return self.send(200, page(self.server.bucket, prefix, [], True, "t-%d" % n, url, mk))

    def chunked_forever(self, head: bytes, unit: bytes):
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = unit * max(1, 65536 // len(unit))
        data = head
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            data = chunk
        self.close_connection = True

    def list_stream(self, prefix, token, url, mk):
        head = page(self.server.bucket, prefix, [], True, "tok", url, mk).replace(
            b"</ListBucketResult>", b"")
        self.chunked_forever(head, contents(b"stream/k", url))

    def list_hugekey(self, prefix, token, url, mk):
        head = page(self.server.bucket, prefix, [], False, None, url, mk).replace(
            b"</ListBucketResult>", b"<Contents><Key>hugekey/")
        self.chunked_forever(head, b"k" * 1024)

    def list_bigpage(self, prefix, token, url, mk):
        head = page(self.server.bucket, prefix, [], False, None, url, mk).replace(
            b"</ListBucketResult>", b"")
        tail = b"</ListBucketResult>"
        unit = contents(b"bigpage/k", url)
        n = (100 << 20) // len(unit)
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(head) + n * len(unit) + len(tail)))
        self.end_headers()
        self.wfile.write(head)
        block = unit * 500
        left = n
        while left >= 500:
            self.wfile.write(block)
            left -= 500
        self.wfile.write(unit * left + tail)

    def list_toomany(self, prefix, token, url, mk):
        items = [("key", b"toomany/k%05d" % i) for i in range(5000)]
        return self.send(200, page(self.server.bucket, prefix, items, False, None, url, mk))

    def list_many(self, base, n, prefix, token, url, mk):
        # Only the folder itself (base) is generated; anything deeper is empty.
        # The keys are base + "k" + 7 digits: a longer prefix is a range.
        rest = prefix[len(base):]
        digits = rest[1:]
        if rest in (b"", b"k"):
            lo, hi = 0, n
        elif rest[:1] == b"k" and digits.isdigit() and len(digits) <= 7:
            pad = 7 - len(digits)
            lo, hi = int(digits + b"0" * pad), int(digits + b"9" * pad) + 1
        else:
            lo, hi = 0, 0
        hi = min(hi, n)
        start = max(int(token) if token else lo, lo)
        end = min(hi, start + mk)
        parts = [b'<?xml version="1.0" encoding="UTF-8"?>\n'
                 b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                 b"<Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount>"
                 b"<MaxKeys>%d</MaxKeys>" % (self.server.bucket.encode(), prefix,
                                             max(0, end - start), mk)]
        if url:
            parts.append(b"<EncodingType>url</EncodingType>")
        more = end < hi and end > start
        parts.append(b"<IsTruncated>%s</IsTruncated>" % (b"true" if more else b"false"))
        if more:
            parts.append(b"<NextContinuationToken>%d</NextContinuationToken>" % end)
        tmpl = (b"<Contents><Key>%s</Key><LastModified>" + LAST_MODIFIED.encode() +
                b"</LastModified><ETag>&quot;%s&quot;</ETag><Size>%d</Size>"
                b"<StorageClass>STANDARD</StorageClass></Contents>")
        for i in range(start, end):
            k = many_key(base, i)
            parts.append(tmpl % (k, hashlib.md5(k + b"\n").hexdigest().encode(), len(k) + 1))
        parts.append(b"</ListBucketResult>")
        return self.send(200, b"".join(parts))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bucket", default="hostile")
    args = ap.parse_args()
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.bucket = args.bucket
    srv.stats = Stats()
    print(f"PORT {srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
