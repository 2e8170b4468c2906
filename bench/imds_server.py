#!/usr/bin/env python3
"""IMDSv2 stand-in for bench/bootstrap.sh (the Rust tests use tests/support/imds.rs).

Serves both contenders alike: instance `i-x` lives under http://127.0.0.1:PORT/i-x/latest/...
Usage: imds_server.py PORT INSTANCES_JSON   (a map instance-id -> {account, region, asg})
"""
import json
import secrets
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
with open(sys.argv[2]) as f:
    INSTANCES = json.load(f)
TOKENS = {}
ROLE = "imagekit-agent"


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        # Without TCP_NODELAY every kept-alive reply waits ~40 ms for a delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def route(self):
        parts = self.path.lstrip("/").split("/", 1)
        if len(parts) != 2 or parts[0] not in INSTANCES:
            return None, None
        return parts[0], parts[1]

    def do_PUT(self):
        iid, rest = self.route()
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        if iid is None or rest != "latest/api/token":
            return self.reply(404)
        if not ttl or not ttl.isdigit():
            return self.reply(400)
        token = secrets.token_urlsafe(24)
        TOKENS[token] = (iid, time.monotonic() + int(ttl))
        self.reply(200, token.encode(), [("X-aws-ec2-metadata-token-ttl-seconds", ttl)])

    def do_GET(self):
        iid, rest = self.route()
        if iid is None:
            return self.reply(404)
        owner = TOKENS.get(self.headers.get("X-aws-ec2-metadata-token", ""))
        if not owner or owner[0] != iid or owner[1] < time.monotonic():
            return self.reply(401)
        inst = INSTANCES[iid]
        region = inst["region"]
        now = time.time()
        data = {
            "latest/dynamic/instance-identity/document": json.dumps({
                "accountId": inst["account"], "availabilityZone": region + "a",
                "instanceId": iid, "instanceType": "t3.micro", "region": region,
                "imageId": "ami-00000000000000000", "architecture": "x86_64",
            }),
            "latest/meta-data/instance-id": iid,
            "latest/meta-data/instance-type": "t3.micro",
            "latest/meta-data/instance-life-cycle": "on-demand",
            "latest/meta-data/placement/region": region,
            "latest/meta-data/placement/availability-zone": region + "a",
            "latest/meta-data/iam/security-credentials/": ROLE,
            "latest/meta-data/iam/security-credentials": ROLE,
            "latest/meta-data/iam/security-credentials/" + ROLE: json.dumps({
                "Code": "Success", "LastUpdated": iso(now), "Type": "AWS-HMAC",
                "AccessKeyId": "testing", "SecretAccessKey": "testing",
                "Token": "testing", "Expiration": iso(now + 6 * 3600),
            }),
        }
        if inst.get("asg"):
            data["latest/meta-data/tags/instance/aws:autoscaling:groupName"] = inst["asg"]
        body = data.get(rest)
        if body is None:
            return self.reply(404)
        self.reply(200, body.encode())


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
