"""The surge smoke's webhook receiver: one port for every subscription, told apart by path
(/<organisation code>). Appends one JSON line per accepted request to the output file: the
path's organisation, the event id and seq, and the delay from the event's `occurred_at` to
its arrival here, in seconds. A path under /slow/ takes SLOW seconds over every
answer, one under /failing/ always answers 500 (and is not logged). No signature check: the
tests verify signatures; this only counts what arrived.
"""

import json
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, out, slow = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        status = 204
        if self.path.startswith("/failing/"):
            status = 500
        else:
            if self.path.startswith("/slow/"):
                time.sleep(slow)
            arrived = time.time()
            event = json.loads(body)
            occurred = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
            line = {
                "org": self.path.rsplit("/", 1)[-1],
                "id": event["id"],
                "seq": event["seq"],
                "delay": round(arrived - occurred.timestamp(), 4),
            }
            with lock, open(out, "a") as f:
                f.write(json.dumps(line) + "\n")
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
