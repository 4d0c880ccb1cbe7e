"""The surge's readers: while the burst runs, authorities page their feeds as consumers do
(forward from where they are, polling once caught up) and the national CSIRT refreshes the
awareness figures every second. Prints p50 and p99 of each kind of request, and exits 1 if
any request failed.

    surge_readers.py BASE_URL SECONDS AWARENESS_TOKEN FEED_TOKEN...
"""

import sys
import threading
import time
import urllib.request
import json

base, seconds, awareness_token, feed_tokens = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4:]
times = {"feed": [], "awareness": []}
failures = []
lock = threading.Lock()
end = time.monotonic() + seconds


def get(kind, path, token):
    req = urllib.request.Request(base + path, headers={"authorization": f"Bearer {token}"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
    except Exception as e:  # a failed read is reported, not retried
        with lock:
            failures.append(f"{kind} {path}: {e}")
        return None
    with lock:
        times[kind].append(time.monotonic() - started)
    return body


def consumer(token):
    # Before the burst a feed holds only the few events of the set-up.
    after = 0
    while time.monotonic() < end:
        body = get("feed", f"/api/v1/feed?limit=50&after={after}", token)
        if body is None:
            return
        page = json.loads(body)
        if page["items"]:
            after = page["next_after"]
        else:
            time.sleep(0.25)


def dashboard():
    while time.monotonic() < end:
        started = time.monotonic()
        get("awareness", "/api/v1/awareness?group_by=sector", awareness_token)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


threads = [threading.Thread(target=consumer, args=(t,)) for t in feed_tokens]
threads.append(threading.Thread(target=dashboard))
for t in threads:
    t.start()
for t in threads:
    t.join()


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, max(0, -(-len(values) * q // 100) - 1))] * 1000


for kind, values in times.items():
    if values:
        print(f"surge: {kind} during the burst: {len(values)} requests, p50 {pct(values, 50):.1f} ms, p99 {pct(values, 99):.1f} ms")
if failures:
    print(f"surge: {len(failures)} reads failed, e.g. {failures[:3]}", file=sys.stderr)
    sys.exit(1)
