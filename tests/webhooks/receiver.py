"""A real HTTP receiver on loopback for webhook tests, and an independent Standard Webhooks verifier."""

import base64
import hashlib
import hmac
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Accepts POSTs on 127.0.0.1; fails a share of them with 500 (seeded), records every one."""

    def __init__(self, fail_share=0.0, seed=7):
        self.fail_share = fail_share
        self.random = random.Random(seed)
        self.requests = []  # [{"headers", "body", "status"}]
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver.lock:
                    status = 500 if receiver.random.random() < receiver.fail_share else 200
                    receiver.requests.append(
                        {
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                            "status": status,
                        }
                    )
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"try again " * 200)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def accepted(self):
        return [r for r in self.requests if r["status"] == 200]

    def events(self):
        return [json.loads(r["body"]) for r in self.accepted()]


def expected_signature(secret, msg_id, timestamp, body):
    """Standard Webhooks v1, written from the specification (not Kinfolk's code)."""
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.new(key, msg_id.encode() + b"." + timestamp.encode() + b"." + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def verify(secret, request):
    """Whether one of the request's signatures is valid under `secret`."""
    h = request["headers"]
    wanted = expected_signature(secret, h["webhook-id"], h["webhook-timestamp"], request["body"])
    given = [s.split(",", 1)[1] for s in h["webhook-signature"].split() if s.startswith("v1,")]
    return any(hmac.compare_digest(wanted, g) for g in given)
