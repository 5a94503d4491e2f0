#!/usr/bin/env python3
"""A TLS front for the test S3 server: terminates TLS on 127.0.0.1 and
relays the plain bytes to a backend port (s3rver), one thread per
direction of each connection.

    tlsfront.py --cert server.pem --key server.key --backend-port N [--port P]

Prints `listening PORT` on stdout once it accepts connections (as
tests/s3rver/server.js and tests/redshift/emulator.py do). The relay does
not look at the bytes, so the Host header and the SigV4 signature reach
the backend as the client sent them. A client that refuses the
certificate just ends its connection; that is counted, not logged.

make_certs() (also `tlsfront.py --make-certs DIR`) generates a throwaway
CA and server certificates with openssl into a folder: nothing is
committed, every run has keys of its own.
"""

import argparse
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

BUF = 256 * 1024
IDLE_TIMEOUT_S = 120


def _openssl(*args, cwd):
    cp = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if cp.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {cp.stderr}")


def make_certs(folder, names=("localhost", "IP:127.0.0.1"), stem="server"):
    """In folder: ca.pem/ca.key (made once) and STEM.pem/STEM.key, a
    server certificate signed by the CA for `names` (DNS names, or
    "IP:a.b.c.d"). EC P-256 keys: fast to make. Returns
    (ca.pem, STEM.pem, STEM.key) as Paths."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    if not (d / "ca.pem").exists():
        _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                 "-subj", "/CN=odofs test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    san = ",".join(n if n.startswith("IP:") else f"DNS:{n}" for n in names)
    (d / f"{stem}.ext").write_text(
        f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    cn = next((n for n in names if not n.startswith("IP:")), "server")
    _openssl("req", *ec, "-keyout", f"{stem}.key", "-out", f"{stem}.csr", "-subj", f"/CN={cn}", cwd=d)
    _openssl("x509", "-req", "-in", f"{stem}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", f"{stem}.pem", "-days", "2", "-extfile", f"{stem}.ext", cwd=d)
    for p in d.glob("*.key"):
        p.chmod(0o600)
    return d / "ca.pem", d / f"{stem}.pem", d / f"{stem}.key"


def _pump(src, dst):
    try:
        while True:
            b = src.recv(BUF)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    finally:
        # Half-close so the other direction can finish its response.
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass


def _serve(conn, ctx, backend_port, stats):
    tls = back = None
    try:
        conn.settimeout(10)
        tls = ctx.wrap_socket(conn, server_side=True)
        tls.settimeout(IDLE_TIMEOUT_S)
        back = socket.create_connection(("127.0.0.1", backend_port), timeout=10)
        back.settimeout(IDLE_TIMEOUT_S)
        t = threading.Thread(target=_pump, args=(back, tls), daemon=True)
        t.start()
        _pump(tls, back)
        t.join(IDLE_TIMEOUT_S)
        stats["relayed"] += 1
    except (ssl.SSLError, OSError):
        stats["refused"] += 1
    finally:
        for s in (tls, back, conn):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--make-certs", metavar="DIR")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--backend-port", type=int)
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    if a.make_certs:
        for p in make_certs(a.make_certs):
            print(p)
        return
    if not (a.cert and a.key and a.backend_port):
        ap.error("--cert, --key and --backend-port are required")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(a.cert, a.key)
    srv = socket.create_server((a.listen, a.port), backlog=128)
    print(f"listening {srv.getsockname()[1]}", flush=True)
    stats = {"relayed": 0, "refused": 0}
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=_serve, args=(conn, ctx, a.backend_port, stats), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
