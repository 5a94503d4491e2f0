#!/usr/bin/python3
"""A stand-in for the EC2 instance metadata service and the ECS container
credentials endpoint, for tests/unit/test_creds.c.

Binds 127.0.0.1 on a free port, prints the port on a line of its own, and
serves until its stdin closes (so it dies with the test that started it).
Standard library only.

  PUT /latest/api/token                       IMDSv2 token (needs the TTL header)
  GET /latest/meta-data/iam/security-credentials/        the role name
  GET /latest/meta-data/iam/security-credentials/ROLE    credentials JSON
  GET /container/creds                        credentials JSON; checks Authorization
  GET /hang/...  PUT /hang/...                answers after 5 s (a black hole)
  GET /set?key=value&...                      change the behaviour (see STATE)
  GET /count                                  request counts, as JSON

Every credentials response carries a new AccessKeyId (ASIA...<n>), so a
test can tell a refresh from a cached copy.
"""

import json
import os
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLES = "/latest/meta-data/iam/security-credentials/"
ROLE = "test-role"

LOCK = threading.Lock()
STATE = {
    "expires_in": "3600",  # seconds from now, for Expiration
    "expiration": "",  # a literal Expiration instead, when set
    "token_status": "200",  # status of the IMDSv2 token PUT (403/404/405: IMDSv1)
    "fail": "0",  # 1: the credentials endpoints answer 500
    "auth": "",  # the Authorization header the container endpoint wants
}
COUNTS = {"token": 0, "role": 0, "creds": 0, "container": 0, "hang": 0, "v1": 0}
TOKENS = set()


def count(name):
    with LOCK:
        COUNTS[name] += 1
        return COUNTS["creds"] + COUNTS["container"]


def credentials(prefix, n):
    with LOCK:
        literal = STATE["expiration"]
        expires_in = int(STATE["expires_in"])
    if literal:
        expiration = literal
    else:
        when = datetime.fromtimestamp(time.time() + expires_in, timezone.utc)
        expiration = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Code": "Success",
        "LastUpdated": "2024-01-01T00:00:00Z",
        "Type": "AWS-HMAC",
        "AccessKeyId": "%s%04d" % (prefix, n),
        "SecretAccessKey": "secret-%s-%d" % (prefix, n),
        "Token": "token-%s-%d" % (prefix, n),
        "Expiration": expiration,
    }


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):  # quiet
        pass

    def reply(self, status, body=b"", ctype="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def imds_token_ok(self):
        """IMDSv2 requests carry a token we issued; IMDSv1 ones none."""
        token = self.headers.get("X-aws-ec2-metadata-token")
        with LOCK:
            v1 = STATE["token_status"] != "200"
            if v1 and token is None:
                COUNTS["v1"] += 1
                return True
            return token in TOKENS

    def do_PUT(self):
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/hang/"):
            count("hang")
            time.sleep(5)
            return self.reply(200, "late")
        if path != "/latest/api/token":
            return self.reply(404, "not found")
        count("token")
        if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.reply(400, "missing TTL")
        with LOCK:
            status = int(STATE["token_status"])
            token = "tok-%d" % COUNTS["token"]
            if status == 200:
                TOKENS.add(token)
        return self.reply(status, token if status == 200 else "no")

    def do_GET(self):
        parts = urllib.parse.urlsplit(self.path)
        path = parts.path
        if path.startswith("/hang/"):
            count("hang")
            time.sleep(5)
            return self.reply(200, "late")
        if path == "/set":
            with LOCK:
                for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
                    STATE[key] = value
            return self.reply(200, "ok")
        if path == "/count":
            with LOCK:
                return self.reply(200, json.dumps(COUNTS), "application/json")
        if path == ROLES:
            count("role")
            if not self.imds_token_ok():
                return self.reply(401, "unauthorized")
            return self.reply(200, ROLE + "\n")
        if path == ROLES + ROLE:
            n = count("creds")
            if not self.imds_token_ok():
                return self.reply(401, "unauthorized")
            if STATE["fail"] == "1":
                return self.reply(500, "broken")
            return self.reply(200, json.dumps(credentials("ASIAIMDS", n)), "text/plain")
        if path == "/container/creds":
            n = count("container")
            with LOCK:
                want = STATE["auth"]
            if want and self.headers.get("Authorization") != want:
                return self.reply(401, "bad authorization")
            if STATE["fail"] == "1":
                return self.reply(500, "broken")
            return self.reply(200, json.dumps(credentials("ASIACONT", n)), "application/json")
        return self.reply(404, "not found")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)

    def watch_stdin():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
