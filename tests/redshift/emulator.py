#!/usr/bin/python3
"""A Redshift emulator for odofs's tests: a PostgreSQL wire-protocol proxy in
front of a real PostgreSQL server that passes everything through and runs the
statements only Redshift has (COPY FROM 's3://...', UNLOAD) itself, on the
client's own backend session, fetching from and writing to an S3 endpoint
with the credentials given in the statement. See README.md beside it.

    emulator.py --listen 127.0.0.1 --port 0 --pg-host H --pg-port P \
        --s3-endpoint URL --iam-key-id K --iam-secret S [--region us-east-1]

Prints `listening PORT` on stdout once it accepts connections; logs one line
per intercepted statement on stderr, credentials masked.

Standard library plus boto3/botocore only. A test tool, not product code.
"""

import argparse
import bz2
import codecs
import contextlib
import csv
import datetime
import io
import itertools
import json
import os
import queue
import re
import select
import signal
import socket
import struct
import sys
import tempfile
import threading
import traceback
import zlib

REDSHIFT_VERSION = ("PostgreSQL 8.0.2 on i686-pc-linux-gnu, compiled by GCC gcc (GCC) 3.4.2 20041017 "
                    "(Red Hat 3.4.2-6.fc3), Redshift 1.0.77467")
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
COPY_CHUNK = 64 * 1024  # bytes of data per CopyData message we send
READ_CHUNK = 1 << 20  # bytes per S3 read and per relay recv
MAX_JSON_OBJECT = 4 * 1024 * 1024  # Redshift's limit for one JSON object
MAX_HEADER = 64 * 1024 * 1024  # IGNOREHEADER lines longer than this: give up
MAX_ERRORS_KEPT = 10000  # stl_load_errors rows kept (oldest dropped)
LOAD_FAILED = "Load into table '{}' failed.  Check 'stl_load_errors' system table for details."

_u32 = struct.Struct("!I")
_hdr = struct.Struct("!cI")
_log_lock = threading.Lock()


def log(msg):
    with _log_lock:
        sys.stderr.write(f"{datetime.datetime.utcnow():%H:%M:%S.%f} {msg}\n")
        sys.stderr.flush()


# --------------------------------------------------------------------------
# wire protocol


def message(t, body=b""):
    return t + _u32.pack(len(body) + 4) + body


def cstr(s):
    return s.encode("utf-8", "surrogateescape") + b"\0"


def error_message(fields, t=b"E"):
    """ErrorResponse (or NoticeResponse with t=b'N') from {code letter: text}."""
    return message(t, b"".join(k.encode() + cstr(v) for k, v in fields.items() if v is not None) + b"\0")


def parse_fields(body):
    out = {}
    for part in body.split(b"\0"):
        if part:
            out[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return out


def ready(status):
    return message(b"Z", bytes([status]))


def command_complete(tag):
    return message(b"C", cstr(tag))


def copy_data_messages(data):
    """CopyData messages of at most COPY_CHUNK bytes each, joined."""
    n = len(data)
    if n <= COPY_CHUNK:
        return message(b"d", data)
    mv = memoryview(data)
    parts = []
    for i in range(0, n, COPY_CHUNK):
        piece = mv[i:i + COPY_CHUNK]
        parts.append(b"d" + _u32.pack(len(piece) + 4))
        parts.append(piece)
    return b"".join(parts)


def parse_data_row(body):
    n = struct.unpack_from("!H", body, 0)[0]
    pos, row = 2, []
    for _ in range(n):
        ln = struct.unpack_from("!i", body, pos)[0]
        pos += 4
        if ln < 0:
            row.append(None)
        else:
            row.append(bytes(body[pos:pos + ln]).decode("utf-8", "replace"))
            pos += ln
    return row


class Closed(Exception):
    """A peer closed its connection."""


class Reader:
    """Whole messages from a socket, buffered."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0

    def _fill(self, need):
        while len(self.buf) - self.pos < need:
            if self.pos and self.pos > len(self.buf) // 2:
                del self.buf[:self.pos]
                self.pos = 0
            data = self.sock.recv(max(READ_CHUNK, need))
            if not data:
                raise Closed()
            self.buf += data

    def read_exact(self, n):
        self._fill(n)
        out = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return out

    def read_msg(self):
        """(type byte, body bytes)."""
        self._fill(5)
        t, ln = _hdr.unpack_from(self.buf, self.pos)
        self._fill(1 + ln)
        body = bytes(self.buf[self.pos + 5:self.pos + 1 + ln])
        self.pos += 1 + ln
        return t, body

    def buffered(self):
        return len(self.buf) - self.pos

    def complete_msgs(self):
        """The whole messages already buffered, as raw bytes each; reads from
        the socket first if there is not even one."""
        if not self._has_msg():
            self._fill(5)
            ln = _u32.unpack_from(self.buf, self.pos + 1)[0]
            self._fill(1 + ln)
        out = []
        while self._has_msg():
            ln = _u32.unpack_from(self.buf, self.pos + 1)[0]
            out.append((self.buf[self.pos:self.pos + 1], bytes(self.buf[self.pos:self.pos + 1 + ln])))
            self.pos += 1 + ln
        return out

    def _has_msg(self):
        left = len(self.buf) - self.pos
        return left >= 5 and left >= 1 + _u32.unpack_from(self.buf, self.pos + 1)[0]

    def take(self):
        out = bytes(self.buf[self.pos:])
        self.buf = bytearray()
        self.pos = 0
        return out


# --------------------------------------------------------------------------
# SQL tokens


_ID_START = "A-Za-z_\u0080-\U0010ffff"
_ID_CHAR = "A-Za-z0-9_$\u0080-\U0010ffff"
_TOKEN_PG = re.compile(rf"""
  (?P<ws>\s+)
| (?P<lc>--[^\n]*)
| (?P<bc>/\*)
| (?P<estr>[eE]'(?:[^'\\]|\\.|'')*')
| (?P<str>'(?:[^']|'')*')
| (?P<qid>"(?:[^"]|"")*")
| (?P<dq>\$(?:[{_ID_START}][A-Za-z0-9_\u0080-\U0010ffff]*)?\$)
| (?P<param>\$\d+)
| (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
| (?P<id>[{_ID_START}][{_ID_CHAR}]*)
| (?P<op>.)
""", re.X | re.S)
# Redshift's string literals also take backslash escapes (\' \\ \t \n).
_TOKEN_RS = re.compile(_TOKEN_PG.pattern.replace(r"(?P<str>'(?:[^']|'')*')", r"(?P<str>'(?:[^'\\]|''|\\.)*')"),
                       re.X | re.S)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(s):
    """PostgreSQL's folding of unquoted identifiers (ASCII only)."""
    return s.translate(_ASCII_LOWER)


class Tok:
    __slots__ = ("kind", "text", "start", "end")

    def __init__(self, kind, text, start, end):
        self.kind, self.text, self.start, self.end = kind, text, start, end

    @property
    def word(self):
        """Lower-cased keyword text of an unquoted word, else None."""
        return fold(self.text) if self.kind == "id" else None

    def __repr__(self):
        return f"Tok({self.kind},{self.text!r})"


def tokenize(text, redshift=False):
    """Significant tokens (no whitespace or comments)."""
    rx = _TOKEN_RS if redshift else _TOKEN_PG
    toks = []
    pos, n = 0, len(text)
    while pos < n:
        m = rx.match(text, pos)
        kind = m.lastgroup
        end = m.end()
        if kind == "bc":
            depth, i = 1, end
            while depth and i < n:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            pos = i
            continue
        if kind == "dq":
            close = text.find(m.group(), end)
            end = n if close < 0 else close + len(m.group())
            kind = "dstr"
        if kind not in ("ws", "lc"):
            toks.append(Tok(kind, text[pos:end], pos, end))
        pos = end
    return toks


def split_statements(toks):
    stmts, cur = [], []
    for t in toks:
        if t.kind == "op" and t.text == ";":
            if cur:
                stmts.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur:
        stmts.append(cur)
    return stmts


def string_value(tok):
    """The value of a string literal token ('' escapes; in Redshift mode \\'
    \\\\ \\t \\n too, other backslashes kept)."""
    s = tok.text
    if tok.kind == "estr":
        s = s[2:-1]
        return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "r": "\r"}.get(m.group(1), m.group(1)),
                      s).replace("''", "'")
    s = s[1:-1].replace("''", "'")
    if "\\" in s:
        s = re.sub(r"\\([\\'tnr])", lambda m: {"t": "\t", "n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), s)
    return s


def ident_value(tok):
    if tok.kind == "qid":
        return tok.text[1:-1].replace('""', '"')
    return fold(tok.text)


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def quote_literal(s):
    """An E'' literal, right whatever standard_conforming_strings says."""
    return "E'" + s.replace("\\", "\\\\").replace("'", "''") + "'"


_CRED_WORDS = {"credentials", "access_key_id", "secret_access_key", "session_token"}


def masked(text, toks):
    """The statement with every credential literal replaced by '***'."""
    out, last = [], 0
    prev = [None, None]
    for t in toks:
        if t.kind in ("str", "estr"):
            p = prev[1] if prev[0] == "as" else prev[0]
            low = t.text.lower()
            if p in _CRED_WORDS or "secret" in low or "token" in low:
                out.append(text[last:t.start])
                out.append("'***'")
                last = t.end
        prev = [t.word, prev[0]]
    out.append(text[last:])
    return " ".join("".join(out).split())


class RsError(Exception):
    """An error to report to the client as Redshift would."""

    def __init__(self, message, code="XX000", detail=None):
        super().__init__(message)
        self.message, self.code, self.detail = message, code, detail


def syntax_error(tok):
    return RsError(f'syntax error at or near "{tok.text}"' if tok else "syntax error at end of input", "42601")


class Cursor:
    def __init__(self, toks):
        self.toks, self.i = toks, 0

    def peek(self, k=0):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def next(self):
        t = self.peek()
        if t is None:
            raise syntax_error(None)
        self.i += 1
        return t

    def at_end(self):
        return self.i >= len(self.toks)

    def accept(self, *words):
        t = self.peek()
        if t is not None and t.word in words:
            self.i += 1
            return t.word
        return None

    def accept_op(self, op):
        t = self.peek()
        if t is not None and t.kind == "op" and t.text == op:
            self.i += 1
            return True
        return False

    def expect(self, *words):
        t = self.next()
        if t.word not in words:
            raise syntax_error(t)
        return t.word

    def expect_op(self, op):
        t = self.next()
        if not (t.kind == "op" and t.text == op):
            raise syntax_error(t)

    def string(self):
        t = self.next()
        if t.kind not in ("str", "estr"):
            raise syntax_error(t)
        return string_value(t)

    def integer(self):
        t = self.next()
        if t.kind != "num" or not t.text.isdigit():
            raise syntax_error(t)
        return int(t.text)

    def name(self):
        t = self.next()
        if t.kind not in ("id", "qid"):
            raise syntax_error(t)
        return t


# --------------------------------------------------------------------------
# statements: parsing


class Creds:
    def __init__(self, key_id, secret, token=None, role=None):
        self.key_id, self.secret, self.token, self.role = key_id, secret, token, role


INVALID_CREDS = ("Invalid credentials. Must be of the format: credentials 'aws_iam_role=...' or "
                 "'aws_access_key_id=...;aws_secret_access_key=...[;token=...]'")


class Options:
    """Options of a COPY or UNLOAD statement, as parsed."""

    def __init__(self):
        self.seen = set()
        self.auth = []  # [(form, Creds)]
        self.fmt = "text"
        self.json = None
        self.delimiter = None
        self.quote = None
        self.ignoreheader = 0
        self.null_as = None
        self.emptyasnull = False
        self.compression = None
        self.manifest = False
        self.verbose = False
        self.region = None
        self.maxerror = 0
        self.header = False
        self.parallel = True
        self.allowoverwrite = False

    def once(self, name, tok):
        if name in self.seen:
            raise RsError("conflicting or redundant options", "42601")
        self.seen.add(name)


_NOT_EMULATED = {
    "copy": {"acceptanydate", "acceptinvchars", "blanksasnull", "explicit_ids", "fillrecord",
             "ignoreblanklines", "removequotes", "roundec", "trimblanks", "truncatecolumns", "escape",
             "encoding", "encrypted", "master_symmetric_key", "fixedwidth", "avro", "parquet", "orc",
             "shapefile", "lzop", "zstd", "noload", "comprows", "readratio", "ssh", "jsonpaths"},
    "unload": {"addquotes", "escape", "encrypted", "kms_key_id", "master_symmetric_key", "partition",
               "cleanpath", "extension", "rowgroupsize", "parquet", "json", "fixedwidth", "zstd", "maxfilesize",
               "bzip2"},
}


def parse_options(cur, opts, stmt):
    """Redshift's COPY / UNLOAD parameters, in any order."""
    iam = None
    while not cur.at_end():
        t = cur.peek()
        if t.word == "with":
            cur.next()
            t = cur.peek()
            if t is None:
                raise syntax_error(None)
        w = t.word
        if w is None:
            raise syntax_error(t)
        cur.next()
        if w in _NOT_EMULATED[stmt]:
            raise RsError(f"Redshift emulator: {stmt.upper()} option {w.upper()} is not emulated", "0A000")
        if w == "credentials":
            opts.once(w, t)
            cur.accept("as")
            opts.auth.append(("CREDENTIALS", parse_credentials(cur.string())))
        elif w in ("access_key_id", "secret_access_key", "session_token"):
            opts.once(w, t)
            cur.accept("as")
            setattr(opts, w, cur.string())
        elif w == "iam_role":
            opts.once(w, t)
            if cur.accept("default"):
                iam = "default"
            else:
                iam = cur.string()
                if not all(r.strip().startswith("arn:aws:iam::") for r in iam.split(",")):
                    raise RsError(INVALID_CREDS)
            opts.auth.append(("IAM_ROLE", Creds(None, None, role=iam)))
        elif w == "format":
            cur.accept("as")
            f = cur.next()
            if f.word in _NOT_EMULATED[stmt]:
                raise RsError(f"Redshift emulator: {stmt.upper()} FORMAT {f.word.upper()} is not emulated", "0A000")
            if f.word == "csv":
                opts.once("format", f)
                opts.fmt = "csv"
            elif f.word == "json" and stmt == "copy":
                opts.once("format", f)
                parse_json_arg(cur, opts)
            else:
                raise syntax_error(f)
        elif w == "csv":
            opts.once("format", t)
            opts.fmt = "csv"
        elif w == "json" and stmt == "copy":
            opts.once("format", t)
            parse_json_arg(cur, opts)
        elif w == "delimiter":
            opts.once(w, t)
            cur.accept("as")
            opts.delimiter = cur.string()
            if len(opts.delimiter) != 1:
                raise RsError("COPY delimiter must be a single character" if stmt == "copy"
                              else "UNLOAD delimiter must be a single character", "42601")
        elif w == "quote" and stmt == "copy":
            opts.once(w, t)
            cur.accept("as")
            opts.quote = cur.string()
            if len(opts.quote) != 1:
                raise RsError("CSV quote character must be a single character", "42601")
        elif w == "ignoreheader" and stmt == "copy":
            opts.once(w, t)
            cur.accept("as")
            opts.ignoreheader = cur.integer()
        elif w == "null":
            opts.once(w, t)
            cur.accept("as")
            opts.null_as = cur.string()
        elif w == "emptyasnull" and stmt == "copy":
            opts.once(w, t)
            opts.emptyasnull = True
        elif w in ("gzip", "bzip2"):
            opts.once("compression", t)
            opts.compression = w
        elif w == "manifest":
            opts.once(w, t)
            opts.manifest = True
            if stmt == "unload" and cur.accept("verbose"):
                opts.verbose = True
        elif w == "region":
            opts.once(w, t)
            cur.accept("as")
            opts.region = cur.string()
        elif w == "maxerror" and stmt == "copy":
            opts.once(w, t)
            cur.accept("as")
            opts.maxerror = cur.integer()
        elif w in ("compupdate", "statupdate") and stmt == "copy":
            opts.once(w, t)
            if cur.accept("on", "off", "true", "false"):
                pass
            elif w == "compupdate" and cur.accept("preset"):
                pass
        elif w in ("dateformat", "timeformat") and stmt == "copy":
            opts.once(w, t)
            cur.accept("as")
            v = cur.string()
            if v.lower() != "auto":
                raise RsError(f"Redshift emulator: {w.upper()} other than 'auto' is not emulated", "0A000")
        elif w == "header" and stmt == "unload":
            opts.once(w, t)
            opts.header = True
        elif w == "parallel" and stmt == "unload":
            opts.once(w, t)
            v = cur.accept("on", "off", "true", "false")
            opts.parallel = v in (None, "on", "true")
        elif w == "allowoverwrite" and stmt == "unload":
            opts.once(w, t)
            opts.allowoverwrite = True
        else:
            raise syntax_error(t)
    # the access key form
    keyed = [k for k in ("access_key_id", "secret_access_key", "session_token") if k in opts.seen]
    if keyed:
        if "access_key_id" not in keyed or "secret_access_key" not in keyed:
            raise RsError(INVALID_CREDS)
        opts.auth.append(("ACCESS_KEY_ID", Creds(opts.access_key_id, opts.secret_access_key,
                                                 getattr(opts, "session_token", None))))
    if len(opts.auth) != 1:
        if not opts.auth:
            raise RsError(INVALID_CREDS)
        raise RsError("Redshift emulator: conflicting credentials: "
                      + " and ".join(a for a, _ in opts.auth) + " given; use exactly one", "42601")
    if opts.quote is not None and opts.fmt != "csv":
        raise RsError("QUOTE argument is only allowed with CSV format", "42601")
    if opts.fmt == "json" and (opts.delimiter or opts.null_as is not None or opts.emptyasnull):
        raise RsError("DELIMITER, NULL AS and EMPTYASNULL are not allowed with JSON", "42601")
    if opts.maxerror:
        raise RsError("Redshift emulator: MAXERROR above 0 is not emulated", "0A000")
    if opts.emptyasnull and opts.fmt != "csv":
        raise RsError("Redshift emulator: EMPTYASNULL is emulated only with CSV", "0A000")
    if opts.emptyasnull and opts.null_as not in (None, ""):
        raise RsError("Redshift emulator: EMPTYASNULL with a non-empty NULL AS is not emulated", "0A000")


def parse_json_arg(cur, opts):
    cur.accept("as")
    arg = cur.string()
    a = " ".join(arg.lower().split())
    if a == "auto":
        opts.json = "auto"
    elif a == "auto ignorecase":
        opts.json = "ignorecase"
    elif a.startswith("s3://") or a == "noshred":
        raise RsError(f"Redshift emulator: JSON '{arg}' is not emulated (only 'auto', 'auto ignorecase')", "0A000")
    else:
        raise RsError(f"Invalid JSONPath format: '{arg}'", "XX000")
    opts.fmt = "json"


def parse_credentials(s):
    kv = {}
    for part in s.split(";"):
        if not part.strip():
            continue
        k, eq, v = part.partition("=")
        if not eq:
            raise RsError(INVALID_CREDS)
        kv[k.strip().lower()] = v.strip()
    if "aws_iam_role" in kv and len(kv) == 1:
        return Creds(None, None, role=kv["aws_iam_role"])
    if set(kv) - {"aws_access_key_id", "aws_secret_access_key", "token"} or not (
            kv.get("aws_access_key_id") and kv.get("aws_secret_access_key")):
        raise RsError(INVALID_CREDS)
    return Creds(kv["aws_access_key_id"], kv["aws_secret_access_key"], kv.get("token"))


def parse_s3_url(url):
    if not url.lower().startswith("s3://"):
        raise RsError("LOAD source is not supported. (Hint: only S3 or DynamoDB or EMR based load is allowed)",
                      "0A000")
    rest = url[5:]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise RsError(f"Invalid S3 URL '{url}'", "XX000")
    return bucket, key


class CopySpec:
    pass


def parse_copy(toks, text):
    cur = Cursor(toks)
    cur.expect("copy")
    t = cur.peek()
    if t is not None and t.kind == "op" and t.text == "(":
        raise RsError("COPY TO is not supported by Redshift; use UNLOAD to export to Amazon S3", "0A000")
    name = [cur.name()]
    while cur.accept_op("."):
        name.append(cur.name())
    spec = CopySpec()
    spec.table_text = text[name[0].start:name[-1].end]
    spec.table_name = ident_value(name[-1])
    spec.columns = None
    if cur.accept_op("("):
        cols = [cur.name()]
        while cur.accept_op(","):
            cols.append(cur.name())
        cur.expect_op(")")
        spec.columns = [ident_value(c) for c in cols]
    w = cur.expect("from", "to")
    if w == "to":
        raise RsError("COPY TO is not supported by Redshift; use UNLOAD to export to Amazon S3", "0A000")
    src = cur.next()
    if src.word in ("stdin", "program"):
        raise RsError("COPY FROM STDIN is not supported by Redshift; load from Amazon S3"
                      if src.word == "stdin" else syntax_error(src).message, "0A000")
    if src.kind not in ("str", "estr"):
        raise syntax_error(src)
    spec.url = string_value(src)
    spec.bucket, spec.key = parse_s3_url(spec.url)
    opts = Options()
    parse_options(cur, opts, "copy")
    spec.opts = opts
    return spec


class UnloadSpec:
    pass


def parse_unload(toks):
    cur = Cursor(toks)
    cur.expect("unload")
    cur.expect_op("(")
    spec = UnloadSpec()
    spec.query = cur.string()
    cur.expect_op(")")
    cur.expect("to")
    spec.url = cur.string()
    if not spec.url.lower().startswith("s3://"):
        raise RsError("UNLOAD destination is not supported. (Hint: only S3 based unload is allowed)", "0A000")
    spec.bucket, spec.prefix = parse_s3_url(spec.url)
    opts = Options()
    parse_options(cur, opts, "unload")
    spec.opts = opts
    return spec


# --------------------------------------------------------------------------
# S3


class S3:
    """boto3 clients per (credentials, region), made from one botocore
    session (sessions are not thread-safe; clients are)."""

    def __init__(self, endpoint, iam_key_id, iam_secret, region):
        self.endpoint, self.region = endpoint, region
        self.iam = (iam_key_id, iam_secret)
        self.lock = threading.Lock()
        self.clients = {}
        self.session = None

    def client(self, creds, region=None):
        if creds.role is not None:
            key_id, secret, token = self.iam[0], self.iam[1], None
        else:
            key_id, secret, token = creds.key_id, creds.secret, creds.token
        region = region or self.region
        k = (key_id, secret, token, region)
        with self.lock:
            c = self.clients.get(k)
            if c is None:
                import botocore.session
                from botocore.config import Config

                if self.session is None:
                    self.session = botocore.session.get_session()
                c = self.session.create_client(
                    "s3", region_name=region, endpoint_url=self.endpoint, aws_access_key_id=key_id,
                    aws_secret_access_key=secret, aws_session_token=token,
                    config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                  connect_timeout=5, read_timeout=60, max_pool_connections=16,
                                  retries={"max_attempts": 3, "mode": "standard"}))
                self.clients[k] = c
        return c


def s3_message(e):
    """Redshift's wording of a failed S3 request."""
    try:
        import botocore.exceptions as bx
    except ImportError:  # pragma: no cover
        bx = None
    if bx is not None and isinstance(e, bx.ClientError):
        err = e.response.get("Error", {})
        meta = e.response.get("ResponseMetadata", {})
        code = err.get("Code") or str(meta.get("HTTPStatusCode", ""))
        msg = err.get("Message") or {"403": "Access Denied", "404": "Not Found"}.get(code, code)
        return (f"S3ServiceException:{msg},Status {meta.get('HTTPStatusCode')},Error {code},"
                f"Rid {meta.get('RequestId') or '-'},ExtRid {meta.get('HostId') or '-'},CanRetry 1")
    if bx is not None and isinstance(e, (bx.EndpointConnectionError, bx.ConnectTimeoutError,
                                          bx.ReadTimeoutError, bx.ConnectionClosedError)):
        return f"S3CurlException: {e}, CanRetry 1"
    return f"S3ServiceException:{e}"


def redshift_detail(error, context, query, code=8001):
    return ("\n  -----------------------------------------------\n"
            f"  error:  {error}\n  code:      {code}\n  context:   {context}\n  query:     {query}\n"
            "  location:  emulator.py\n  process:   padbmaster\n"
            "  -----------------------------------------------\n")


class S3Failure(Exception):
    def __init__(self, message, context):
        super().__init__(message)
        self.message, self.context = message, context


class DataFailure(Exception):
    """Bad input found by the emulator itself (gzip, JSON, UTF-8)."""

    def __init__(self, reason, url, line, raw_line="", code=1216):
        super().__init__(reason)
        self.reason, self.url, self.line, self.raw_line, self.code = reason, url, line, raw_line, code


def object_chunks(client, bucket, key, url):
    """The object's bytes in chunks of up to READ_CHUNK."""
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
    except Exception as e:
        raise S3Failure(s3_message(e), f"S3 key being read : {url}") from None
    try:
        while True:
            try:
                b = body.read(READ_CHUNK)
            except Exception as e:
                raise S3Failure(s3_message(e), f"S3 key being read : {url}") from None
            if not b:
                return
            yield b
    finally:
        body.close()


def decompressed(chunks, compression, url, state):
    if compression is None:
        yield from chunks
        return
    if compression == "gzip":
        def new():
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        err = zlib.error
    else:
        new, err = bz2.BZ2Decompressor, (OSError, ValueError)
    d, started = new(), False
    try:
        for c in chunks:
            data = c
            while data:
                started = True
                if compression == "gzip":
                    out = d.decompress(data, 4 * READ_CHUNK)
                    if out:
                        yield out
                    if d.eof:
                        data, d, started = d.unused_data, new(), False
                    else:
                        data = d.unconsumed_tail
                else:
                    out = d.decompress(data)
                    if out:
                        yield out
                    if d.eof:
                        data, d, started = d.unused_data, new(), False
                    else:
                        data = b""
        if started:
            raise DataFailure(f"{compression}: unexpected end of compressed data", url, state.lines + 1)
    except err as e:
        raise DataFailure(f"Invalid {compression} file: {e}", url, state.lines + 1) from None


# --------------------------------------------------------------------------
# reading the input files


class Progress:
    """Where the producer is: shared with the session for error reports."""

    def __init__(self):
        self.url = ""
        self.lines = 0


def csv_records_end(buf, n, quote):
    """Index just past the n-th record of CSV bytes `buf`, or -1 if buf does
    not hold n whole records (a quoted field may hold newlines)."""
    pos, count, inq = 0, 0, False
    while count < n:
        if inq:
            j = buf.find(quote, pos)
            if j < 0:
                return -1
            inq, pos = False, j + 1
        else:
            jn, jq = buf.find(b"\n", pos), buf.find(quote, pos)
            if jq >= 0 and (jn < 0 or jq < jn):
                inq, pos = True, jq + 1
            elif jn >= 0:
                count, pos = count + 1, jn + 1
            else:
                return -1
    return pos


def lines_end(buf, n):
    pos = 0
    for _ in range(n):
        j = buf.find(b"\n", pos)
        if j < 0:
            return -1
        pos = j + 1
    return pos


def skip_header(chunks, n, quote, state):
    """The chunks without their first n records (lines without quote)."""
    it = iter(chunks)
    if n > 0:
        buf = b""
        for c in it:
            buf += c
            end = csv_records_end(buf, n, quote) if quote else lines_end(buf, n)
            if end >= 0:
                state.lines += buf.count(b"\n", 0, end)
                rest = buf[end:]
                if rest:
                    yield rest
                break
            if len(buf) > MAX_HEADER:
                raise DataFailure("IGNOREHEADER: header too long", state.url, 1)
        else:
            return  # all header
    yield from it


class LineEnds:
    """The first line end of a file, as it passes: what ends its records."""

    def __init__(self):
        self.eol = None
        self.prev = None

    def watch(self, chunks):
        for c in chunks:
            if self.eol is None and c:
                j = c.find(b"\n")
                if j >= 0:
                    cr = c[j - 1] == 0x0D if j > 0 else self.prev == 0x0D
                    self.eol = b"\r\n" if cr else b"\n"
                elif b"\r" in c[:-1] or (self.prev == 0x0D):
                    self.eol = b"\r"
                self.prev = c[-1]
            yield c


class BackslashDot:
    """Redshift's CSV has no end-of-data marker, PostgreSQL's COPY FROM
    STDIN has one: a line that is `\\.` alone (outside quotes).  Such a
    line is data on Redshift, so it goes to PostgreSQL quoted.  Quotes
    toggle as in PostgreSQL's line splitting; chunks without a backslash
    only update that state."""

    def __init__(self, quote):
        self.q = quote[0]
        self.inq = False
        self.mid = False
        self.held = b""

    def feed(self, c):
        if not self.held and b"\\" not in c:
            if c:
                self.inq ^= c.count(self.q) % 2 == 1
                self.mid = self.inq or c[-1] not in (0x0A, 0x0D)
            return c
        out = bytearray()
        for b in c:
            if self.held == b"\\" and b == 0x2E:
                self.held = b"\\."
                continue
            if self.held:
                alone = self.held == b"\\." and b in (0x0A, 0x0D)
                out += b'"\\."' if alone else self.held
                self.held = b""
            elif b == 0x5C and not self.inq and not self.mid:
                self.held = b"\\"
                self.mid = True
                continue
            out.append(b)
            if b == self.q:
                self.inq = not self.inq
            self.mid = self.inq or b not in (0x0A, 0x0D)
        return bytes(out)

    def end(self):
        held, self.held = self.held, b""
        return b'"\\."' if held == b"\\." else held


def delimited_input(chunks, spec, state):
    """Bytes for COPY FROM STDIN: the file minus its header, ended by the
    line end its records use (PostgreSQL refuses mixed ones), a `\\.`
    line quoted in CSV."""
    o = spec.opts
    quote = (o.quote or '"').encode() if o.fmt == "csv" else None
    ends = LineEnds()
    dot = BackslashDot(quote) if quote else None
    last = None
    for c in skip_header(ends.watch(chunks), o.ignoreheader, quote, state):
        state.lines += c.count(b"\n")
        last = c[-1]
        yield dot.feed(c) if dot else c
    if dot:
        tail = dot.end()
        if tail:
            yield tail
    if last is not None and last not in (0x0A, 0x0D):
        yield ends.eol or b"\n"
    elif last == 0x0D and ends.eol == b"\r\n":
        yield b"\n"


_WS = re.compile(r"[ \t\n\r\ufeff]*")
_TEXT_ESC = re.compile(r"[\\\n\r\t]")
_TEXT_ESC_MAP = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def json_value_text(v):
    """A JSON value as the text COPY should load, or None for NULL."""
    if v is None:
        return None
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return v
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(v)


def json_objects(chunks, spec, state):
    """(object, first line, last line, source text) for each top-level JSON
    value of the file, in order."""
    dec = codecs.getincrementaldecoder("utf-8")("strict")
    decoder = json.JSONDecoder()
    buf, line = "", 1
    skip = spec.opts.ignoreheader
    it = iter(chunks)
    final = False
    while not final:
        c = next(it, None)
        final = c is None
        try:
            text = dec.decode(b"" if final else c, final)
        except UnicodeDecodeError as e:
            raise DataFailure(f"Invalid UTF8 data: {e.reason}", state.url, line + buf.count("\n"),
                              code=1220) from None
        buf += text
        pos = 0
        while skip:
            j = buf.find("\n", pos)
            if j < 0:
                break
            pos, skip, line = j + 1, skip - 1, line + 1
        if skip:
            if final:
                return  # all header
            buf = buf[pos:]
            continue
        n = len(buf)
        while True:
            m = _WS.match(buf, pos)
            line += buf.count("\n", pos, m.end())
            pos = m.end()
            if pos >= n:
                break
            try:
                obj, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError as e:
                if not final and n - pos <= MAX_JSON_OBJECT:
                    break  # maybe cut short: read more
                raise DataFailure(f"Invalid JSON: {e.msg}", state.url, line + buf.count("\n", pos, e.pos),
                                  raw_line=buf[pos:pos + 1024], code=1224) from None
            if end >= n and not final and not isinstance(obj, (dict, list, str)):
                break  # a number may go on in the next chunk
            last = line + buf.count("\n", pos, end)
            yield obj, line, last, buf[pos:end]
            line, pos = last, end
        buf = buf[pos:]
    state.lines = line


def json_input(chunks, spec, cols, state):
    """PostgreSQL text-format rows (tab-separated, \\N for NULL), one line
    per JSON object, columns matched by name."""
    ignorecase = spec.opts.json == "ignorecase"
    lower_cols = [c.lower() for c in cols]
    out, size = [], 0
    for obj, _first, last, _src in json_objects(chunks, spec, state):
        if not isinstance(obj, dict):
            raise DataFailure("Invalid JSONPath format: Member is not an object.", state.url, last,
                              raw_line=_src[:1024], code=1224)
        if ignorecase:
            lobj = {}
            for k, v in obj.items():
                lobj.setdefault(k.lower(), v)
            vals = [lobj.get(c) for c in lower_cols]
        else:
            vals = [obj.get(c) for c in cols]
        fields = []
        for v in vals:
            s = json_value_text(v)
            if s is None:
                fields.append("\\N")
            else:
                fields.append(_TEXT_ESC.sub(lambda m: _TEXT_ESC_MAP[m.group()], s) if _TEXT_ESC.search(s) else s)
        row = "\t".join(fields) + "\n"
        out.append(row)
        size += len(row)
        state.lines = last
        if size >= READ_CHUNK:
            yield "".join(out).encode("utf-8", "surrogateescape")
            out, size = [], 0
    if out:
        yield "".join(out).encode("utf-8", "surrogateescape")


class _ChunkRaw(io.RawIOBase):
    def __init__(self, chunks):
        self.it, self.left = iter(chunks), b""

    def readable(self):
        return True

    def readinto(self, b):
        while not self.left:
            c = next(self.it, None)
            if c is None:
                return 0
            self.left = c
        n = min(len(b), len(self.left))
        b[:n] = self.left[:n]
        self.left = self.left[n:]
        return n


def delimited_records(chunks, spec):
    """(first line, raw record text, fields) of each data record of one file
    (after its header), for error reports; `first` counts the header lines."""
    o = spec.opts
    text = io.TextIOWrapper(io.BufferedReader(_ChunkRaw(chunks), READ_CHUNK), encoding="utf-8",
                            errors="replace", newline="")
    if o.fmt == "csv":
        captured = []

        def lines():
            for ln in text:
                captured.append(ln)
                yield ln

        reader = csv.reader(lines(), delimiter=o.delimiter or ",", quotechar=o.quote or '"', strict=False)
        for _ in range(o.ignoreheader):
            if next(reader, None) is None:
                return
        captured.clear()
        prev = reader.line_num
        for fields in reader:
            raw = "".join(captured)
            captured.clear()
            yield prev + 1, raw, fields
            prev = reader.line_num
    else:
        delim = o.delimiter or "|"
        for n, ln in enumerate(text, 1):
            if n > o.ignoreheader:
                yield n, ln, ln.rstrip("\r\n").split(delim)


class PgLineCounter:
    """PostgreSQL's `line N` of COPY FROM (copyfromparse.c): one per record,
    plus, in CSV, one per quoted newline -- but a quoted newline counts only
    if it is the end-of-line character PostgreSQL expects, which it knows
    once the first record of the whole COPY has ended; until then it counts
    quoted CRs instead."""

    def __init__(self, csv_mode):
        self.csv = csv_mode
        self.eol = None
        self.n = 0

    def add(self, raw):
        """Count one record (its raw text); returns the line after it."""
        self.n += 1
        if self.csv:
            term = "\r\n" if raw.endswith("\r\n") else raw[-1:] if raw[-1:] in ("\r", "\n") else ""
            body = raw[:len(raw) - len(term)]
            self.n += body.count("\n" if self.eol == "\n" else "\r")
            if self.eol is None:
                self.eol = term or "\n"  # an unterminated file gets \n (or its own line end)
        return self.n


# --------------------------------------------------------------------------
# the emulator


class Emulator:
    def __init__(self, args):
        self.args = args
        self.s3 = S3(args.s3_endpoint, args.iam_key_id, args.iam_secret, args.region)
        self.lock = threading.Lock()
        self.query_ids = itertools.count(100001)
        self.errors = []  # stl_load_errors rows (dicts)

    def next_query_id(self):
        with self.lock:
            return next(self.query_ids)

    def record_error(self, row):
        with self.lock:
            self.errors.append(row)
            del self.errors[:-MAX_ERRORS_KEPT]

    def error_rows(self):
        with self.lock:
            return list(self.errors)

    def serve(self):
        a = self.args
        srv = socket.create_server((a.listen, a.port), backlog=128)
        sys.stdout.write(f"listening {srv.getsockname()[1]}\n")
        sys.stdout.flush()
        while True:
            conn, _addr = srv.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=Session(self, conn).run, daemon=True).start()


_EXTENDED = (b"P", b"B", b"D", b"E", b"C", b"H")
# Words that may follow a table name without being its alias.
_AFTER_TABLE = {"where", "join", "order", "group", "limit", "on", "left", "right", "inner", "cross", "full",
                "union", "natural", "having", "window", "offset", "fetch", "for", "except", "intersect"}
_PRECHECK = re.compile(rb"(?i)copy|unload|truncate|version|stl_load_errors|pg_last_copy_id|stv_slices")
STL_COLUMNS = [
    ("userid", "integer"), ("slice", "integer"), ("tbl", "integer"), ("starttime", "timestamp"),
    ("session", "integer"), ("query", "integer"), ("filename", "character(256)"), ("line_number", "bigint"),
    ("colname", "character(127)"), ("type", "character(10)"), ("col_length", "character(10)"),
    ("position", "integer"), ("raw_line", "character(1024)"), ("raw_field_value", "character(1024)"),
    ("err_code", "integer"), ("err_reason", "character(100)"),
]
_CHAR_LEN = re.compile(r"character\((\d+)\)")


def clip(s, n):
    """At most n UTF-8 bytes of s, on a character boundary (Redshift's
    char(n) counts bytes)."""
    b = s.encode("utf-8", "replace")
    if len(b) <= n:
        return s
    return b[:n].decode("utf-8", "ignore")


class Result:
    def __init__(self):
        self.msgs = []  # raw messages other than Z, in order
        self.error = None
        self.rows = []
        self.tag = None
        self.status = None


class Session:
    """One client connection and its own backend connection.

    Two threads: this one reads the client's messages and forwards them (or
    acts on a Redshift statement); `_backend_loop` relays the backend's bytes
    to the client in big chunks, parsing only message headers to count the
    ReadyForQuery messages. To act on a statement, the client thread asks
    the relay to park once the backend is idle (every Query/Sync forwarded
    has had its ReadyForQuery), then talks to the backend itself."""

    def __init__(self, emu, client):
        self.emu = emu
        self.client = client
        self.backend = None
        self.pid = 0
        self.last_copy_id = -1
        self.cond = threading.Condition()
        self.pause_req = False
        self.parked = False
        self.dead = False
        self.sent = 0  # Query/Sync/FunctionCall forwarded (each brings one Z)
        self.received = 0  # Z relayed
        self.skip = 0  # bytes of the backend message being relayed still to come
        self.stash = b""  # a message header cut by a chunk boundary
        self.status = ord("I")
        self.unsynced = False  # extended-protocol messages forwarded since the last Sync
        self.wake_r, self.wake_w = os.pipe()
        self.tag = "?"

    # ---- setup and relay

    def run(self):
        relay = None
        try:
            if self._startup():
                relay = threading.Thread(target=self._backend_loop, daemon=True)
                relay.start()
                self._client_loop()
        except (Closed, OSError):
            pass
        except Exception:
            log(f"[{self.tag}] internal error:\n{traceback.format_exc()}")
        finally:
            self._close()
            if relay is not None:
                relay.join(10)
            if relay is None or not relay.is_alive():
                os.close(self.wake_r)
                os.close(self.wake_w)

    def _close(self):
        with self.cond:
            self.dead = True
            self.cond.notify_all()
        for s in (self.client, self.backend):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()
        with contextlib.suppress(OSError):
            os.write(self.wake_w, b"x")

    def _startup(self):
        crd = Reader(self.client)
        while True:
            head = crd.read_exact(8)
            ln, code = struct.unpack("!II", head)
            if ln < 8 or ln > 10000:
                return False
            rest = crd.read_exact(ln - 8)
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                self.client.sendall(b"N")
                continue
            break
        a = self.emu.args
        if code == CANCEL_REQUEST:
            # The key belongs to the backend, which the client learnt unchanged.
            with contextlib.suppress(OSError), socket.create_connection((a.pg_host, a.pg_port), timeout=10) as s:
                s.sendall(head + rest)
                s.recv(1)
            return False
        self.backend = socket.create_connection((a.pg_host, a.pg_port), timeout=30)
        self.backend.settimeout(None)
        self.backend.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.backend.sendall(head + rest)
        brd = Reader(self.backend)
        while True:
            t, body = brd.read_msg()
            self.client.sendall(message(t, body))
            if t == b"R":
                if _u32.unpack_from(body)[0] in (3, 5, 10, 11):  # a password / SASL step from the client
                    ct, cbody = crd.read_msg()
                    self.backend.sendall(message(ct, cbody))
            elif t == b"K":
                self.pid = _u32.unpack_from(body)[0]
                self.tag = str(self.pid)
            elif t == b"E":
                return False
            elif t == b"Z":
                self.status = body[0]
                break
        left = brd.take()
        if left:
            self._scan(left)
            self.client.sendall(left)
        self.crd = crd
        self.brd = brd
        return True

    def _scan(self, data):
        """Follow the backend's message boundaries through a relayed chunk."""
        if self.stash:
            data = self.stash + data
            self.stash = b""
        n = len(data)
        pos = self.skip
        unpack = _u32.unpack_from
        received = 0
        while pos < n:
            if pos + 6 > n and (pos + 5 > n or data[pos] == 90):
                self.stash = data[pos:]
                pos = n
                break
            t = data[pos]
            if t == 90:  # 'Z'
                self.status = data[pos + 5]
                received += 1
            pos += 1 + unpack(data, pos + 1)[0]
        self.skip = pos - n
        if received:
            self.received += received

    def _idle(self):
        return self.sent == self.received and self.skip == 0 and not self.stash

    def _backend_loop(self):
        poller = select.poll()
        bfd = self.backend.fileno()
        poller.register(bfd, select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        try:
            while True:
                with self.cond:
                    if self.pause_req and self._idle():
                        self.parked = True
                        self.cond.notify_all()
                        while self.pause_req and not self.dead:
                            self.cond.wait()
                        self.parked = False
                    if self.dead:
                        return
                for fd, _ev in poller.poll():
                    if fd == self.wake_r:
                        os.read(self.wake_r, 4096)
                    elif fd == bfd:
                        data = self.backend.recv(READ_CHUNK)
                        if not data:
                            raise Closed()
                        self._scan(data)
                        self.client.sendall(data)
        except (Closed, OSError):
            pass
        except Exception:
            log(f"[{self.tag}] relay error:\n{traceback.format_exc()}")
        finally:
            self._close()

    def _client_loop(self):
        while True:
            out = []
            for t, raw in self.crd.complete_msgs():
                if t == b"Q":
                    if out:
                        self.backend.sendall(b"".join(out))
                        out = []
                    self._on_query(raw)
                    continue
                if t in (b"S", b"F"):
                    self.sent += 1
                    self.unsynced = False
                elif t in _EXTENDED:
                    if t == b"P" and _PRECHECK.search(raw):
                        if out:
                            self.backend.sendall(b"".join(out))
                            out = []
                        raw = self._on_parse(raw)
                    self.unsynced = True
                out.append(raw)
                if t == b"X":
                    self.backend.sendall(b"".join(out))
                    return
            if out:
                self.backend.sendall(b"".join(out))

    @contextlib.contextmanager
    def exclusive(self):
        """The backend to ourselves: the relay parked at an idle point."""
        with self.cond:
            self.pause_req = True
        os.write(self.wake_w, b"x")
        with self.cond:
            while not self.parked:
                if self.dead:
                    raise Closed()
                self.cond.wait(1)
        try:
            yield
            left = self.brd.take()
            if left:  # asynchronous messages after our last ReadyForQuery
                self._scan(left)
                self.client.sendall(left)
        finally:
            with self.cond:
                self.pause_req = False
                self.cond.notify_all()

    # ---- helpers used with the backend to ourselves

    def forward_query(self, text):
        self.sent += 1
        self.backend.sendall(message(b"Q", cstr(text)))

    def internal(self, sql):
        """Run sql on the backend; the messages come back in a Result."""
        self.backend.sendall(message(b"Q", cstr(sql)))
        return self.collect()

    def collect(self, res=None):
        res = res or Result()
        while True:
            t, body = self.brd.read_msg()
            if t == b"Z":
                res.status = body[0]
                self.status = body[0]
                return res
            if t == b"E":
                res.error = parse_fields(body)
            elif t == b"D":
                res.rows.append(parse_data_row(body))
            elif t == b"C":
                res.tag = body[:-1].decode()
            res.msgs.append(message(t, body))

    def reply(self, *parts, status):
        self.client.sendall(b"".join(parts) + ready(status))

    def fail(self, code, msg, detail=None):
        """Make the backend fail (so the client's transaction is aborted as
        Redshift's would be) and report `msg` to the client. In a transaction
        already aborted, PostgreSQL's own error goes back instead."""
        sql = (f"DO $emulator$ BEGIN RAISE EXCEPTION USING ERRCODE = '{code}', MESSAGE = {quote_literal(msg)}"
               + (f", DETAIL = {quote_literal(detail)}" if detail else "") + "; END $emulator$")
        res = self.internal(sql)
        if res.error and res.error.get("C") == "25P02":
            err = res.error
        else:
            err = {"S": "ERROR", "V": "ERROR", "C": code, "M": msg, "D": detail}
        self.reply(error_message(err), status=res.status)

    # ---- statements

    def _on_query(self, raw):
        body = raw[5:-1]
        if not _PRECHECK.search(body):
            self.sent += 1
            self.backend.sendall(raw)
            return
        text = body.decode("utf-8", "surrogateescape")
        toks = tokenize(text)
        stmts = split_statements(toks)
        firsts = [s[0].word for s in stmts]
        special = [w for w in firsts if w in ("copy", "unload", "truncate")]
        if special and len(stmts) > 1:
            with self.exclusive():
                log(f"[{self.tag}] refused: {special[0].upper()} in a multi-statement query")
                self.fail("0A000", f"Redshift emulator: {special[0].upper()} is supported only as a single "
                          "statement in a simple Query")
            return
        if special:
            stmt_text = text[stmts[0][0].start:stmts[0][-1].end]
            with self.exclusive():
                if special[0] == "truncate":
                    self.do_truncate(stmt_text)
                    return
                rtoks = tokenize(stmt_text, redshift=True)
                log(f"[{self.tag}] {masked(stmt_text, rtoks)}")
                try:
                    if special[0] == "copy":
                        self.do_copy(stmt_text, rtoks)
                    else:
                        do_unload(self, rtoks)
                except RsError as e:
                    log(f"[{self.tag}] -> error: {e.message}")
                    self.fail(e.code, e.message, e.detail)
            return
        new = self.rewrite(text, toks)
        if any(t.word == "stl_load_errors" for t in toks):
            with self.exclusive():
                self.do_stl(new)
            return
        self.forward_query(new)

    def _on_parse(self, raw):
        """Extended protocol: the same rewrites as for a simple Query in a
        Parse message (libpq's PQexecParams sends Parse..Sync in one go, so
        the backend is idle here once what came before is answered). COPY
        and UNLOAD go through untouched: PostgreSQL refuses them."""
        name_end = raw.index(b"\0", 5)
        q_end = raw.index(b"\0", name_end + 1)
        text = raw[name_end + 1:q_end].decode("utf-8", "surrogateescape")
        toks = tokenize(text)
        new = self.rewrite(text, toks)
        if any(t.word == "stl_load_errors" for t in toks) and not self.unsynced:
            # (after unsynced extended messages the backend may still be
            # answering them: no setup then; the table keeps older rows)
            with self.exclusive():
                self.stl_setup()  # in a failed transaction, the Parse fails as it would anyway
        if new == text:
            return raw
        body = raw[5:name_end + 1] + cstr(new) + raw[q_end + 1:]
        return message(b"P", body)

    def rewrite(self, text, toks):
        """version() -> Redshift's version string; pg_last_copy_id() -> the
        number; pg_catalog.stl_load_errors -> the session's own table;
        stv_slices -> the --slices slices, two per node."""
        out, last = [], 0
        i, n = 0, len(toks)
        names = ("version", "pg_last_copy_id", "stl_load_errors", "stv_slices")
        while i < n:
            t = toks[i]
            j = i
            if t.word == "pg_catalog" and i + 2 < n and toks[i + 1].text == "." and toks[i + 2].word in names:
                j = i + 2
            elif t.word in names and i and toks[i - 1].text == ".":
                i += 1  # some other schema's: not ours
                continue
            w = toks[j].word
            if (w in ("version", "pg_last_copy_id") and j + 2 < n and toks[j + 1].text == "("
                    and toks[j + 2].text == ")" and not (i and toks[i - 1].word == "function")):
                if w == "version":
                    repl = f"(SELECT {quote_literal(REDSHIFT_VERSION)}::text AS version)"
                else:
                    repl = f"({self.last_copy_id})"
                end, i = toks[j + 2].end, j + 3
            elif w == "stl_load_errors" and j != i:
                repl, end, i = "pg_temp.stl_load_errors", toks[j].end, j + 1
            elif w == "stv_slices":
                nxt = toks[j + 1] if j + 1 < n else None
                aliased = nxt is not None and (nxt.word == "as" or nxt.kind == "qid" or (
                    nxt.kind == "id" and nxt.word not in _AFTER_TABLE))
                repl = (f"(SELECT s AS slice, s / 2 AS node, 'data' AS type FROM "
                        f"generate_series(0, {self.emu.args.slices - 1}) AS s)"
                        + ("" if aliased else " AS stv_slices"))
                end, i = toks[j].end, j + 1
            else:
                i += 1
                continue
            out.append(text[last:t.start])
            out.append(repl)
            last = end
        if not out:
            return text
        out.append(text[last:])
        return "".join(out)

    def do_truncate(self, stmt_text):
        """Redshift: TRUNCATE commits the transaction it runs in."""
        res = self.internal(stmt_text)
        if res.error or res.status != ord("T"):
            self.reply(*res.msgs, status=res.status)
            return
        log(f"[{self.tag}] TRUNCATE in a transaction block: COMMIT, BEGIN")
        c = self.internal("COMMIT")
        if c.error:
            self.reply(*[m for m in res.msgs if m[:1] != b"C"], *c.msgs, status=c.status)
            return
        b = self.internal("BEGIN")
        self.reply(*res.msgs, status=b.status)

    def do_stl(self, query):
        res = self.stl_setup()
        if res.error:
            self.reply(error_message(res.error), status=res.status)
            return
        self.forward_query(query)

    def stl_setup(self):
        """Fill the session's temporary stl_load_errors with every row
        recorded (in the client's transaction: so it fails if that one has
        failed, and the rows do not depend on what was rolled back)."""
        rows = self.emu.error_rows()
        setup = ["CREATE TEMP TABLE IF NOT EXISTS stl_load_errors ("
                 + ", ".join(f"{c} {t}" for c, t in STL_COLUMNS) + ")",
                 "DELETE FROM pg_temp.stl_load_errors"]
        if rows:
            vals = []
            for r in rows:
                v = []
                for c, t in STL_COLUMNS:
                    x = r.get(c)
                    if x is None:
                        v.append("NULL")
                    elif isinstance(x, int):
                        v.append(str(x))
                    else:
                        # PostgreSQL's text holds no NUL byte: a query
                        # with one fails ("invalid message format"), and
                        # every later stl_load_errors query with it.
                        m = _CHAR_LEN.match(t)
                        x = str(x).replace("\0", "")
                        s = clip(x, int(m.group(1))) if m else x
                        v.append(quote_literal(s) + "::" + t)
                vals.append("(" + ", ".join(v) + ")")
            setup.append("INSERT INTO pg_temp.stl_load_errors VALUES " + ", ".join(vals))
        return self.internal("; ".join(setup))

    # ---- COPY FROM 's3://...'

    def do_copy(self, stmt_text, toks):
        spec = parse_copy(toks, stmt_text)
        o = spec.opts
        qid = self.emu.next_query_id()
        self.last_copy_id = qid
        started = datetime.datetime.utcnow()
        cat = self.internal(
            "SELECT c.oid, c.relname, a.attname, t.typname, a.atttypmod, t.typcategory "
            "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
            "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
            f"WHERE c.oid = {quote_literal(spec.table_text)}::pg_catalog.regclass "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum")
        if cat.error:
            log(f"[{self.tag}] -> error: {cat.error.get('M')}")
            self.reply(error_message(cat.error), status=cat.status)
            return
        table_cols = {r[2]: r for r in cat.rows}
        relname = cat.rows[0][1] if cat.rows else spec.table_name
        tbl_oid = int(cat.rows[0][0]) if cat.rows else 0
        cols = spec.columns if spec.columns is not None else [r[2] for r in cat.rows]

        client = self.emu.s3.client(spec.opts.auth[0][1], o.region)
        files = self.plan_files(client, spec, qid)

        # COPY ... FROM STDIN with options mapped from Redshift's
        col_sql = " (" + ", ".join(quote_ident(c) for c in cols) + ")" if spec.columns is not None else ""
        if o.fmt == "json":
            popts = ["FORMAT text"]
        elif o.fmt == "csv":
            popts = ["FORMAT csv", f"DELIMITER {quote_literal(o.delimiter or ',')}",
                     f"QUOTE {quote_literal(o.quote or chr(34))}",
                     f"NULL {quote_literal(o.null_as if o.null_as is not None else '')}"]
            if o.emptyasnull:
                popts.append("FORCE_NULL (" + ", ".join(quote_ident(c) for c in cols) + ")")
            elif o.null_as is None:
                text_cols = [c for c in cols if c in table_cols and table_cols[c][5] == "S"]
                if text_cols:
                    popts.append("FORCE_NOT_NULL (" + ", ".join(quote_ident(c) for c in text_cols) + ")")
        else:
            popts = ["FORMAT text", f"DELIMITER {quote_literal(o.delimiter or '|')}",
                     f"NULL {quote_literal(o.null_as if o.null_as is not None else chr(92) + 'N')}"]
        popts.append("ENCODING 'UTF8'")
        copy_sql = f"COPY {spec.table_text}{col_sql} FROM STDIN WITH ({', '.join(popts)})"
        self.backend.sendall(message(b"Q", cstr(copy_sql)))
        res = Result()
        while True:  # CopyInResponse, or an error and ReadyForQuery
            t, body = self.brd.read_msg()
            if t == b"G":
                break
            if t == b"Z":
                log(f"[{self.tag}] -> error: {res.error and res.error.get('M')}")
                self.reply(*res.msgs, status=body[0])
                return
            if t == b"E":
                res.error = parse_fields(body)
            res.msgs.append(message(t, body))

        ctx = Load(self, spec, qid, started, relname, tbl_oid, cols, table_cols, files)
        ctx.run()

    def plan_files(self, client, spec, qid):
        """[(bucket, key, url)] to load: every object under the key prefix,
        or the manifest's entries."""
        o = spec.opts
        if o.manifest:
            ctx = f"Manifest file: {spec.url}"
            try:
                raw = client.get_object(Bucket=spec.bucket, Key=spec.key)["Body"].read()
            except Exception as e:
                raise RsError(s3_message(e), detail=redshift_detail(s3_message(e), ctx, qid)) from None
            try:
                man = json.loads(raw)
                entries = man["entries"]
                assert isinstance(entries, list)
            except Exception:
                msg = "Manifest file is not in correct json format"
                raise RsError(msg, detail=redshift_detail(msg, ctx, qid)) from None
            files = []
            for ent in entries:
                url = ent.get("url") if isinstance(ent, dict) else None
                if not isinstance(url, str) or not url.startswith("s3://"):
                    msg = "Manifest file is not in correct json format"
                    raise RsError(msg, detail=redshift_detail(msg, ctx, qid))
                b, k = parse_s3_url(url)
                try:
                    client.head_object(Bucket=b, Key=k)
                except Exception as e:
                    status = getattr(e, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
                    if status == 404 and not ent.get("mandatory", False):
                        continue
                    if status == 404:
                        msg = f"Manifest file is valid but the mandatory file '{url}' does not exist"
                    else:
                        msg = s3_message(e)
                    raise RsError(msg, detail=redshift_detail(msg, ctx, qid)) from None
                files.append((b, k, url))
            if not files:
                msg = "Manifest file is valid but no file listed in it was found"
                raise RsError(msg, detail=redshift_detail(msg, ctx, qid))
            return files
        ctx = f"Listing bucket={spec.bucket} prefix={spec.key}"
        files = []
        try:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=spec.bucket, Prefix=spec.key):
                for obj in page.get("Contents", []):
                    files.append((spec.bucket, obj["Key"], f"s3://{spec.bucket}/{obj['Key']}"))
        except Exception as e:
            raise RsError(s3_message(e), detail=redshift_detail(s3_message(e), ctx, qid)) from None
        if not files:
            msg = f"The specified S3 prefix '{spec.key}' does not exist"
            raise RsError(msg, detail=redshift_detail(msg, ctx, qid))
        return files


class Load:
    """One COPY FROM 's3://...': a producer thread reads the objects
    (decompressing, skipping headers, converting JSON) into a bounded queue;
    this thread sends the chunks to the backend's COPY FROM STDIN and watches
    for an early error from it."""

    def __init__(self, session, spec, qid, started, relname, tbl_oid, cols, table_cols, files):
        self.s = session
        self.spec = spec
        self.qid = qid
        self.started = started
        self.relname = relname
        self.tbl_oid = tbl_oid
        self.cols = cols
        self.table_cols = table_cols
        self.files = files
        self.client = session.emu.s3.client(spec.opts.auth[0][1], spec.opts.region)

    def produce(self, q, stop, state):
        def put(item):
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.2)
                    return True
                except queue.Full:
                    pass
            return False

        o = self.spec.opts
        try:
            for b, k, url in self.files:
                state.url, state.lines = url, 0
                chunks = decompressed(object_chunks(self.client, b, k, url), o.compression, url, state)
                if o.fmt == "json":
                    gen = json_input(chunks, self.spec, self.cols, state)
                else:
                    gen = delimited_input(chunks, self.spec, state)
                for c in gen:
                    if not put(c):
                        return
            put(None)
        except (S3Failure, DataFailure) as e:
            put(e)
        except Exception as e:
            log(f"[{self.s.tag}] producer error:\n{traceback.format_exc()}")
            put(DataFailure(f"emulator: {e}", state.url, state.lines + 1))

    def _early(self, notices):
        """Messages the backend sent during the copy: its ErrorResponse (the
        fields) if it gave up. Raises Closed if the client went away (the
        backend then rolls the load back when we close its connection)."""
        s = self.s
        ready = select.select([s.backend, s.client], [], [], 0)[0]
        if s.client in ready:
            try:
                alive = s.client.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                alive = b"?"
            except OSError:
                alive = b""
            if not alive:
                log(f"[{s.tag}] client gone during COPY: closing the backend connection")
                raise Closed()
        while s.brd.buffered() or s.backend in ready:
            t, body = s.brd.read_msg()
            if t == b"E":
                return parse_fields(body)
            notices.append(message(t, body))
            ready = select.select([s.backend], [], [], 0)[0]
        return None

    def run(self):
        s = self.s
        q = queue.Queue(maxsize=16)
        stop = threading.Event()
        state = Progress()
        threading.Thread(target=self.produce, args=(q, stop, state), daemon=True).start()
        backend_err = failure = None
        notices = []
        nbytes = 0
        try:
            while True:
                item = q.get()
                if item is None:
                    break
                if isinstance(item, Exception):
                    failure = item
                    break
                s.backend.sendall(copy_data_messages(item))
                nbytes += len(item)
                backend_err = self._early(notices)
                if backend_err is not None:
                    break
        finally:
            stop.set()
            with contextlib.suppress(queue.Empty):
                while True:
                    q.get_nowait()
        if backend_err is None:
            if failure is not None:
                s.backend.sendall(message(b"f", cstr(f"emulator: {getattr(failure, 'reason', None) or failure}")))
            else:
                s.backend.sendall(message(b"c"))
        res = s.collect()
        notices += [m for m in res.msgs if m[:1] in (b"N", b"S", b"A")]
        if failure is None and backend_err is None and res.error is None:
            n = res.tag.split()[-1] if res.tag else "0"
            log(f"[{s.tag}] -> loaded {n} rows ({nbytes} bytes) into {self.relname}, query {self.qid}")
            info = {"S": "INFO", "V": "INFO", "C": "00000",
                    "M": f"Load into table '{self.relname}' completed, {n} record(s) loaded successfully."}
            s.reply(*notices, error_message(info, b"N"), command_complete(f"COPY {n}"), status=res.status)
            return
        if isinstance(failure, S3Failure):
            log(f"[{s.tag}] -> error: {failure.message}")
            err = {"S": "ERROR", "V": "ERROR", "C": "XX000", "M": failure.message,
                   "D": redshift_detail(failure.message, failure.context, self.qid)}
            s.reply(*notices, error_message(err), status=res.status)
            return
        err = backend_err or res.error
        if failure is None and err is not None and err.get("C") in ("57014", "25P02", "40P01", "53100"):
            # cancelled, or the server's own trouble: as PostgreSQL said it
            log(f"[{s.tag}] -> error: {err.get('M')}")
            s.reply(*notices, error_message(err), status=res.status)
            return
        if isinstance(failure, DataFailure):
            row = self.stl_row(failure.url, failure.line, "", failure.raw_line, "", failure.reason, failure.code)
        else:
            row = self.map_backend_error(err, state)
        self.s.emu.record_error(row)
        msg = LOAD_FAILED.format(self.relname)
        log(f"[{s.tag}] -> {msg} ({row['err_reason']}; {row['filename']} line {row['line_number']}"
            f"{', column ' + row['colname'] if row['colname'] else ''}), query {self.qid}")
        detail = redshift_detail(row["err_reason"], row["raw_field_value"] or row["raw_line"][:100],
                                 self.qid, row["err_code"])
        s.reply(*notices, error_message({"S": "ERROR", "V": "ERROR", "C": "XX000", "M": msg, "D": detail}),
                status=res.status)

    def stl_row(self, url, line, colname, raw_line, value, reason, code):
        col = self.table_cols.get(colname) if colname else None
        typ, collen = "", ""
        if col:
            typ = col[3]
            typmod = int(col[4])
            collen = str(typmod - 4) if col[5] == "S" and typmod >= 4 else "0"
        return {"userid": 100, "slice": 0, "tbl": self.tbl_oid,
                "starttime": self.started.strftime("%Y-%m-%d %H:%M:%S.%f"), "session": self.s.pid,
                "query": self.qid, "filename": url, "line_number": line, "colname": colname or "",
                "type": typ, "col_length": collen, "position": 0,
                "raw_line": (raw_line or "").rstrip("\r\n"), "raw_field_value": value or "",
                "err_code": code, "err_reason": reason}

    def map_backend_error(self, err, state):
        reason = err.get("M", "")
        code = {"22P02": 1207, "22001": 1204, "23502": 1213, "22P04": 1214, "22021": 1220,
                "22003": 1216, "22007": 1206, "22008": 1206, "23505": 1216}.get(err.get("C"), 1216)
        line = colname = value = None
        prefix = f"COPY {self.relname}, line "
        for ctx in (err.get("W") or "").splitlines():
            if ctx.startswith(prefix):
                m = re.match(r'(\d+)(?:, column (.*?): (?:"(.*)"|null input)|: "(.*)")?$', ctx[len(prefix):], re.S)
                if m:
                    line, colname, value = int(m.group(1)), m.group(2), m.group(3)
        if colname is None:
            m = re.search(r'column "((?:[^"]|"")+)"', reason)
            if m and m.group(1) in self.table_cols:
                colname = m.group(1)
        url, fline, raw = state.url, state.lines, ""
        if line is not None:
            try:
                found = self.rescan(line)
            except Exception as e:
                log(f"[{self.s.tag}] could not re-read the input to locate line {line}: {e}")
                found = None
            if found:
                url, fline, raw, fields = found
                if colname in self.cols:
                    i = self.cols.index(colname)
                    if isinstance(fields, dict):
                        v = fields.get(colname)
                        if v is None and self.spec.opts.json == "ignorecase":
                            v = {k.lower(): x for k, x in fields.items()}.get(colname.lower())
                        value = json_value_text(v) or ""
                    elif i < len(fields):
                        value = fields[i]
            else:
                fline = line
        return self.stl_row(url, fline, colname, raw, value, reason, code)

    def rescan(self, target):
        """Read the files again to find the record PostgreSQL's line `target`
        (counted over the data sent, headers excluded) came from: (url, line
        in its file counting headers, raw text, fields or JSON object)."""
        o = self.spec.opts
        offset = 0
        counter = PgLineCounter(o.fmt == "csv")
        for b, k, url in self.files:
            st = Progress()
            st.url = url
            chunks = decompressed(object_chunks(self.client, b, k, url), o.compression, url, st)
            if o.fmt == "json":
                n = 0
                for obj, _first, last, src in json_objects(chunks, self.spec, st):
                    n += 1
                    if offset + n == target:
                        return url, last, src, obj if isinstance(obj, dict) else {}
                offset += n
            else:
                for first, raw, fields in delimited_records(chunks, self.spec):
                    if counter.add(raw) >= target:
                        return url, first, raw, fields
        return None


class Part:
    """One file of an UNLOAD, spooled to a temporary file."""

    def __init__(self, gzip):
        self.f = tempfile.TemporaryFile()
        self.z = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS) if gzip else None
        self.pending, self.plen = [], 0
        self.size = 0
        self.records = 0

    def write(self, b):
        self.pending.append(b)
        self.plen += len(b)
        if self.plen >= READ_CHUNK:
            self.flush()

    def flush(self, final=False):
        data = b"".join(self.pending)
        self.pending, self.plen = [], 0
        if self.z is not None:
            data = self.z.compress(data) + (self.z.flush() if final else b"")
        self.f.write(data)
        self.size += len(data)


def do_unload(session, toks):
    s = session
    spec = parse_unload(toks)
    o = spec.opts
    qid = s.emu.next_query_id()
    client = s.emu.s3.client(o.auth[0][1], o.region)
    ext = ".gz" if o.compression == "gzip" else ""
    names = ([f"{spec.prefix}{i:04d}_part_00{ext}" for i in range(2)] if o.parallel
             else [f"{spec.prefix}000{ext}"])
    manifest_key = spec.prefix + "manifest" if o.manifest else None
    ctx = f"Unload to bucket={spec.bucket} prefix={spec.prefix}"
    if not o.allowoverwrite:
        try:
            existing = set()
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=spec.bucket, Prefix=spec.prefix):
                existing.update(obj["Key"] for obj in page.get("Contents", []))
        except Exception as e:
            raise RsError(s3_message(e), detail=redshift_detail(s3_message(e), ctx, qid)) from None
        if existing & set(names + ([manifest_key] if manifest_key else [])):
            msg = ("Specified unload destination on S3 is not empty. Consider using a different bucket / prefix, "
                   "manually removing the target files in S3, or using the ALLOWOVERWRITE option.")
            raise RsError(msg, detail=redshift_detail(msg, ctx, qid))
    qtoks = tokenize(spec.query)
    while qtoks and qtoks[-1].text == ";":
        qtoks.pop()
    if not qtoks:
        raise RsError("syntax error at end of input", "42601")
    query = spec.query[qtoks[0].start:qtoks[-1].end]
    if o.fmt == "csv":
        popts = ["FORMAT csv"] + ([f"DELIMITER {quote_literal(o.delimiter)}"] if o.delimiter else [])
        popts.append(f"NULL {quote_literal(o.null_as or '')}")
    else:
        popts = ["FORMAT text", f"DELIMITER {quote_literal(o.delimiter or '|')}",
                 f"NULL {quote_literal(o.null_as or '')}"]
    if o.header:
        popts.append("HEADER")
    popts.append("ENCODING 'UTF8'")
    s.backend.sendall(message(b"Q", cstr(f"COPY ({query}) TO STDOUT WITH ({', '.join(popts)})")))
    parts = [Part(o.compression == "gzip") for _ in names]
    res = Result()
    header_pending = o.header
    i = 0
    nparts = len(parts)
    while True:
        t, body = s.brd.read_msg()
        if t == b"d":
            if header_pending:
                header_pending = False
                for p in parts:
                    p.write(body)
                continue
            p = parts[i % nparts]
            p.write(body)
            p.records += 1
            i += 1
        elif t == b"Z":
            res.status = body[0]
            break
        elif t == b"E":
            res.error = parse_fields(body)
            res.msgs.append(message(t, body))
        elif t == b"C":
            res.tag = body[:-1].decode()
        elif t in (b"N", b"S", b"A"):
            res.msgs.append(message(t, body))
    if res.error:
        log(f"[{s.tag}] -> error: {res.error.get('M')}")
        s.reply(*res.msgs, status=res.status)
        return
    try:
        entries = []
        for name, p in zip(names, parts):
            p.flush(final=True)
            p.f.seek(0)
            client.put_object(Bucket=spec.bucket, Key=name, Body=p.f, ContentLength=p.size)
            meta = {"content_length": p.size}
            if o.verbose:
                meta["record_count"] = p.records
            entries.append({"url": f"s3://{spec.bucket}/{name}", "meta": meta})
        if manifest_key:
            man = {"entries": entries}
            if o.verbose:
                man["meta"] = {"content_length": sum(p.size for p in parts), "record_count": i}
            client.put_object(Bucket=spec.bucket, Key=manifest_key, Body=json.dumps(man, indent=2).encode())
    except Exception as e:
        msg = s3_message(e)
        raise RsError(msg, detail=redshift_detail(msg, ctx, qid)) from None
    finally:
        for p in parts:
            p.f.close()
    log(f"[{s.tag}] -> unloaded {i} rows to {len(names)} file(s) under {spec.url}")
    info = {"S": "INFO", "V": "INFO", "C": "00000", "M": f"UNLOAD completed, {i} record(s) unloaded successfully."}
    s.reply(*res.msgs, error_message(info, b"N"), command_complete("UNLOAD"), status=res.status)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--pg-host", required=True)
    ap.add_argument("--pg-port", type=int, required=True)
    ap.add_argument("--s3-endpoint", required=True)
    ap.add_argument("--iam-key-id", required=True)
    ap.add_argument("--iam-secret", required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--slices", type=int, default=4, help="what stv_slices counts (default 4)")
    args = ap.parse_args()
    # Only the statements' credentials: nothing from files or the environment.
    for k in list(os.environ):
        if k.startswith("AWS_") or k.startswith("BOTO"):
            del os.environ[k]
    os.environ.update(AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                      AWS_EC2_METADATA_DISABLED="true")
    csv.field_size_limit(2**31 - 1)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    Emulator(args).serve()


if __name__ == "__main__":
    main()
