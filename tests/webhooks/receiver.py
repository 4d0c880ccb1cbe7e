"""A webhook receiver for the tests, built on the independent `standardwebhooks` library.

Verifies the signature of every request with the subscription's secret (read from a file, so
the test can write it after subscribing), fails the first N requests with 500 when asked, and
appends one JSON line per request to the output file: what it got and whether it verified.
With --delay it takes that many seconds over every answer (a slow receiver).
"""

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--secret-file", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--fail-first", type=int, default=0)
parser.add_argument("--delay", type=float, default=0.0)
args = parser.parse_args()

lock = threading.Lock()
requests_seen = 0


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        global requests_seen
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            with open(args.secret_file) as f:
                secret = f.read().strip()
            Webhook(secret).verify(body, headers)
            verified = True
        except (WebhookVerificationError, OSError, ValueError):
            verified = False
        with lock:
            requests_seen += 1
            fail = requests_seen <= args.fail_first
            event = json.loads(body) if verified else {}
            line = {
                "verified": verified,
                "failed_on_purpose": fail,
                "webhook_id": headers.get("webhook-id"),
                "seq": event.get("seq"),
                "type": event.get("type"),
                "subject": (event.get("subject") or {}).get("id"),
            }
            with open(args.out, "a") as f:
                f.write(json.dumps(line) + "\n")
        if args.delay:
            time.sleep(args.delay)
        status = 401 if not verified else (500 if fail else 204)
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()


ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
