"""A webhook receiver for local development, with Python's standard library only.

    WEBHOOK_SECRET=whsec_... python3 examples/webhook-receiver.py 9000

It verifies every delivery as the Standard Webhooks specification says, answers 204 (or 401
when the signature or timestamp does not hold), and prints one JSON line per request.

How a delivery is signed, for a verifier written by hand:

- The secret is `whsec_` followed by the key in base64; the key is the decoded bytes.
- The signed content is `{webhook-id}.{webhook-timestamp}.{body}`, the body exactly as sent.
- `webhook-signature` holds `v1,<base64 of HMAC-SHA256(key, signed content)>`, several of
  them, space-separated, while a rotated secret still overlaps with the old one.
- Refuse timestamps more than five minutes away (replays), and drop repeats by `webhook-id`.

The Standard Webhooks libraries do all of this: in Python, `pip install standardwebhooks`,
then `Webhook(secret).verify(body, headers)`.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

KEY = base64.b64decode(os.environ["WEBHOOK_SECRET"].removeprefix("whsec_"))
TOLERANCE_SECONDS = 300


def verified(headers, body: bytes) -> bool:
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
    offered = [
        s.split(",", 1)[1]
        for s in headers.get("webhook-signature", "").split()
        if s.startswith("v1,")
    ]
    return any(hmac.compare_digest(expected, s) for s in offered)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        ok = verified(self.headers, body)
        self.send_response(204 if ok else 401)
        self.end_headers()
        event = json.loads(body) if ok else {}
        line = {
            "verified": ok,
            "webhook_id": self.headers.get("webhook-id"),
            "type": event.get("type"),
            "seq": event.get("seq"),
        }
        print(json.dumps(line), flush=True)

    def log_message(self, *args):
        pass


port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
