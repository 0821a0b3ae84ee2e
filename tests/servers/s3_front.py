#!/usr/bin/env python3
"""A front end for s3rver in tests: checks every request's Signature V4 and payload digests the
way AWS does, and can inject faults, then forwards what passes to s3rver.

s3rver accepts any signature (a wrong secret, even no Authorization at all, gets 200), so
without this a signing bug in ferry would pass every test. This is a second, independent
implementation of the AWS rules (in Python's hashlib/hmac), written from the AWS documentation.

Faults (each a probability per request, drawn from a seeded generator):
  --fail-rate     answer 500 InternalError without forwarding
  --slowdown-rate answer 503 SlowDown without forwarding
  --reset-rate    close the connection without answering (after reading the request)
  --delay-rate    wait --delay-ms before forwarding
  --lose-rate     forward, then close the connection without answering: the server did the
                  work and the client cannot know (a response lost on the way back)
  --lose-first-publish
                  lose the answer to the first attempt of every object publication (a PUT of a
                  whole object, a CompleteMultipartUpload), so each one is retried after it
                  succeeded
Where s3rver departs from S3 on what the tests rely on, the front end answers as S3 does:
`If-None-Match: *` on a PUT is enforced (412 PreconditionFailed if the object exists; s3rver
ignores it), and an upload already completed is 404 NoSuchUpload (s3rver answers 500).
s3rver writes an object in place while a PUT or CompleteMultipartUpload is still running, so a
reader can see part of it; S3 itself publishes objects whole. The front end restores S3's
semantics: a read of an object, or a listing of a prefix, waits while a write to that object
(or under that prefix) is in progress.

Counters of what was done are written to --stats-file on every request (JSON).

Usage: s3_front.py --listen PORT --upstream PORT --access-key K --secret-key S [faults...]
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import http.server
import json
import os
import random
import socket
import socketserver
import sys
import threading
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate"}


def aws_quote(text, keep_slash):
    return urllib.parse.quote(text, safe="-_.~/" if keep_slash else "-_.~")


def error_xml(code, message):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message>"
            "</Error>" % (code, message)).encode()


class Stats:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.counts = {"requests": 0, "forwarded": 0, "rejected_signature": 0,
                       "rejected_digest": 0, "fail": 0, "slowdown": 0, "reset": 0, "delay": 0,
                       "lost": 0, "precondition_failed": 0}

    def bump(self, key):
        with self.lock:
            self.counts[key] += 1
            if self.path:
                with open(self.path + ".tmp", "w") as f:
                    json.dump(self.counts, f)
                os.replace(self.path + ".tmp", self.path)


class Front(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes: with Nagle's algorithm the body would wait for
    # the client's delayed ACK of the headers, 40 ms on every small response.
    disable_nagle_algorithm = True
    server_version = "ferry-s3-front"

    def log_message(self, fmt, *args):  # Quiet: tests read the stats file instead.
        pass

    def do_GET(self): self.handle_any()
    def do_HEAD(self): self.handle_any()
    def do_PUT(self): self.handle_any()
    def do_POST(self): self.handle_any()
    def do_DELETE(self): self.handle_any()

    def reply(self, status, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        cfg = self.server.cfg
        stats = self.server.stats
        length = int(self.headers.get("Content-Length", "0") or "0")
        body = self.rfile.read(length) if length else b""
        stats.bump("requests")
        with self.server.rng_lock:
            roll = self.server.rng.random()
            delay_roll = self.server.rng.random()
        # At most one fault per request, each with its own share of the roll.
        fault = None
        for name, rate in (("reset", cfg.reset_rate), ("lost", cfg.lose_rate),
                           ("fail", cfg.fail_rate), ("slowdown", cfg.slowdown_rate)):
            if roll < rate:
                fault = name
                break
            roll -= rate
        if fault == "reset":
            stats.bump("reset")
            return self.reset()
        if fault == "fail":
            stats.bump("fail")
            return self.reply(500, error_xml("InternalError", "injected fault"))
        if fault == "slowdown":
            stats.bump("slowdown")
            return self.reply(503, error_xml("SlowDown", "injected slow down"))
        if delay_roll < cfg.delay_rate:
            stats.bump("delay")
            threading.Event().wait(cfg.delay_ms / 1000.0)

        problem = self.check_signature(body)
        if problem:
            stats.bump("rejected_signature" if problem[0] != 400 else "rejected_digest")
            return self.reply(problem[0], error_xml(problem[1], problem[2]))
        self.forward_atomically(body, lose=fault == "lost")

    def reset(self):
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def forward_atomically(self, body, lose):
        raw_path, _, raw_query = self.path.partition("?")
        query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
        path = urllib.parse.unquote(raw_path)
        publishes = ((self.command == "PUT" and "partNumber" not in query) or
                     (self.command == "POST" and "uploadId" in query))
        gate = self.server.gate
        if publishes:
            with gate:
                gate.wait_for(lambda: path not in self.server.writing)
                self.server.writing.add(path)
                if self.server.cfg.lose_first_publish and \
                        (self.command, self.path) not in self.server.published:
                    self.server.published.add((self.command, self.path))
                    lose = True
            try:
                if self.headers.get("If-None-Match") == "*" and self.upstream_has(path):
                    self.server.stats.bump("precondition_failed")
                    return self.reply(412, error_xml(
                        "PreconditionFailed",
                        "At least one of the pre-conditions you specified did not hold"))
                upload = query.get("uploadId") if self.command == "POST" else None
                if upload in self.server.completed_uploads:
                    return self.reply(404, error_xml(
                        "NoSuchUpload", "The specified upload does not exist. The upload ID "
                        "may be invalid, or the upload may have been aborted or completed."))
                status, data = self.forward(body, lose)
                if upload and status == 200 and b"<Error>" not in data:
                    self.server.completed_uploads.add(upload)
                return
            finally:
                with gate:
                    self.server.writing.discard(path)
                    gate.notify_all()
        if self.command in ("GET", "HEAD"):
            if "list-type" in query or path.count("/") < 2:
                scope = path.rstrip("/") + "/" + query.get("prefix", "")
                busy = lambda: any(w.startswith(scope) for w in self.server.writing)
            else:
                busy = lambda: path in self.server.writing
            with gate:
                gate.wait_for(lambda: not busy())
        self.forward(body, lose)

    def upstream_has(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.cfg.upstream, timeout=60)
        try:
            conn.request("HEAD", urllib.parse.quote(path),
                         headers={"Host": self.headers.get("Host", "127.0.0.1")})
            return conn.getresponse().status == 200
        finally:
            conn.close()

    def check_signature(self, body):
        cfg = self.server.cfg
        auth = self.headers.get("Authorization")
        if not auth:
            return (403, "AccessDenied", "no Authorization header")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return (400, "InvalidRequest", "only AWS4-HMAC-SHA256 is supported")
        fields = {}
        for part in auth[len("AWS4-HMAC-SHA256 "):].split(","):
            k, _, v = part.strip().partition("=")
            fields[k] = v
        try:
            access_key, date, region, service, terminal = fields["Credential"].split("/")
            signed_names = fields["SignedHeaders"].split(";")
            signature = fields["Signature"]
        except (KeyError, ValueError):
            return (400, "AuthorizationHeaderMalformed", "malformed Authorization header")
        if access_key != cfg.access_key:
            return (403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist")
        if terminal != "aws4_request" or service != "s3":
            return (400, "AuthorizationHeaderMalformed", "bad credential scope")
        amz_date = self.headers.get("x-amz-date", "")
        if not amz_date.startswith(date):
            return (403, "SignatureDoesNotMatch", "x-amz-date does not match the scope's date")
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.timezone.utc)
        except ValueError:
            return (403, "AccessDenied", "bad x-amz-date")
        if abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) > 900:
            return (403, "RequestTimeTooSkewed", "the request time is too far from ours")
        for required in ("host", "x-amz-date", "x-amz-content-sha256"):
            if required not in signed_names:
                return (403, "SignatureDoesNotMatch", "%s is not signed" % required)
        payload_hash = self.headers.get("x-amz-content-sha256", "")
        if payload_hash != "UNSIGNED-PAYLOAD" and payload_hash != hashlib.sha256(body).hexdigest():
            return (400, "XAmzContentSHA256Mismatch",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.")
        checksum = self.headers.get("x-amz-checksum-sha256")
        if checksum is not None:
            if base64.b64encode(hashlib.sha256(body).digest()).decode() != checksum:
                return (400, "BadDigest", "The SHA256 you specified did not match the calculated "
                        "checksum.")

        raw_path, _, raw_query = self.path.partition("?")
        canonical_uri = aws_quote(urllib.parse.unquote(raw_path), True)
        pairs = urllib.parse.parse_qsl(raw_query, keep_blank_values=True)
        canonical_query = "&".join(
            "%s=%s" % (aws_quote(k, False), aws_quote(v, False)) for k, v in sorted(pairs))
        lines = []
        for name in signed_names:
            values = self.headers.get_all(name)
            if values is None:
                return (403, "SignatureDoesNotMatch", "signed header %s is missing" % name)
            lines.append("%s:%s" % (name, ",".join(" ".join(v.split()) for v in values)))
        canonical = "\n".join([self.command, canonical_uri, canonical_query, "\n".join(lines) + "\n",
                               ";".join(signed_names), payload_hash])
        scope = "/".join([date, region, service, terminal])
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])

        def h(key, msg):
            return hmac.new(key, msg.encode(), hashlib.sha256).digest()

        key = h(h(h(h(("AWS4" + cfg.secret_key).encode(), date), region), service), terminal)
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return (403, "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you "
                    "provided. Check your key and signing method.")
        return None

    def forward(self, body, lose=False):
        stats = self.server.stats
        conn = getattr(self.server.local, "conn", None)
        for attempt in range(2):
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.server.cfg.upstream, timeout=60)
                self.server.local.conn = conn
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (ConnectionError, http.client.HTTPException, OSError):
                conn.close()
                conn = None
                self.server.local.conn = None
                if attempt == 1:
                    self.reply(502, error_xml("InternalError", "s3rver did not answer"))
                    return 502, b""
        stats.bump("forwarded")
        if lose:
            stats.bump("lost")
            self.reset()
            return resp.status, data
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        if self.command == "HEAD":
            self.send_header("Content-Length", resp.getheader("Content-Length", "0"))
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return resp.status, data


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--upstream", type=int, required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--fail-rate", type=float, default=0.0)
    p.add_argument("--slowdown-rate", type=float, default=0.0)
    p.add_argument("--reset-rate", type=float, default=0.0)
    p.add_argument("--delay-rate", type=float, default=0.0)
    p.add_argument("--delay-ms", type=int, default=200)
    p.add_argument("--lose-rate", type=float, default=0.0)
    p.add_argument("--lose-first-publish", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--stats-file", default="")
    cfg = p.parse_args()
    server = Server(("127.0.0.1", cfg.listen), Front)
    server.cfg = cfg
    server.stats = Stats(cfg.stats_file)
    server.rng = random.Random(cfg.seed)
    server.rng_lock = threading.Lock()
    server.local = threading.local()
    server.gate = threading.Condition()
    server.writing = set()
    server.completed_uploads = set()
    server.published = set()  # (method, path) of publications whose first answer was lost
    print("s3_front: listening on 127.0.0.1:%d, forwarding to 127.0.0.1:%d" %
          (server.server_address[1], cfg.upstream), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
