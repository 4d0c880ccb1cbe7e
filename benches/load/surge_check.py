"""The surge smoke's check: push matches pull. For every healthy subscriber (code=token
arguments), every event of its feed after BASELINE (written by the first form, once it has
subscribed: a subscription gets the events after it was made) has arrived at its receiver,
and nothing else has, within WITHIN seconds. Prints how long push took to catch up; exits 1 if
it did not.

    surge_check.py BASE_URL --baseline BASELINE code=token ...
    surge_check.py BASE_URL RECEIVED_FILE WITHIN BASELINE code=token ...
"""

import json
import sys
import time
import urllib.request

base = sys.argv[1]


def feed(token, after=0):
    """The ids of the events after `after`, and the last seq."""
    ids = set()
    while True:
        req = urllib.request.Request(
            f"{base}/api/v1/feed?limit=500&after={after}",
            headers={"authorization": f"Bearer {token}"},
        )
        page = json.load(urllib.request.urlopen(req, timeout=30))
        if not page["items"]:
            return ids, after
        ids.update(e["id"] for e in page["items"])
        after = page["next_after"]


if sys.argv[2] == "--baseline":
    subscribers = dict(a.split("=", 1) for a in sys.argv[4:])
    with open(sys.argv[3], "w") as f:
        json.dump({code: feed(token)[1] for code, token in subscribers.items()}, f)
    sys.exit(0)

received_file, within = sys.argv[2], float(sys.argv[3])
with open(sys.argv[4]) as f:
    baseline = json.load(f)
subscribers = dict(a.split("=", 1) for a in sys.argv[5:])


def feed_upto(token, last):
    ids, after = set(), 0
    while after < last:
        req = urllib.request.Request(
            f"{base}/api/v1/feed?limit=500&after={after}",
            headers={"authorization": f"Bearer {token}"},
        )
        page = json.load(urllib.request.urlopen(req, timeout=30))
        if not page["items"]:
            break
        ids.update(e["id"] for e in page["items"] if e["seq"] <= last)
        after = page["next_after"]
    return ids


def percentile(values, q):
    """The q-th percentile (nearest rank) of values; None for none."""
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, max(0, -(-len(values) * q // 100) - 1))]


def delays():
    """Seconds from each event to its arrival, at the healthy subscribers."""
    out = []
    with open(received_file) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if r["org"] in subscribers and "delay" in r:
                    out.append(r["delay"])
    return out


def received():
    got = {code: set() for code in subscribers}
    with open(received_file) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if r["org"] in got:
                    got[r["org"]].add(r["id"])
    return got


# The events up to the baseline, to tell an early arrival from an event the feed lacks.
early = {code: feed_upto(token, baseline[code]) for code, token in subscribers.items()}
started = time.monotonic()
while True:
    before = received()
    feeds = {code: feed(token, baseline[code])[0] for code, token in subscribers.items()}
    after = received()
    # What arrived before the baseline is not in `feeds`: only an id received that no feed
    # event after the baseline has, and that the whole feed lacks, would be extra.
    extra = {c: len(before[c] - feeds[c] - early[c]) for c in subscribers if before[c] - feeds[c] - early[c]}
    missing = {c: len(feeds[c] - after[c]) for c in subscribers if feeds[c] - after[c]}
    took = time.monotonic() - started
    if extra:
        print(f"surge: events pushed that the feed lacks: {extra}", file=sys.stderr)
        sys.exit(1)
    if not missing:
        total = sum(len(f) for f in feeds.values())
        print(f"surge: push matches pull {took:.1f} s after the burst ({total} events over {len(feeds)} subscribers)")
        d = delays()
        print(
            f"surge: webhook delay, event to healthy receiver: p50 {percentile(d, 50):.2f} s, "
            f"p99 {percentile(d, 99):.2f} s, max {max(d):.2f} s ({len(d)} deliveries)"
            if d else "surge: no deliveries to time"
        )
        sys.exit(0)
    if took > within:
        print(f"surge: {within:.0f} s after the burst, events of the feed still not pushed: {missing}", file=sys.stderr)
        sys.exit(1)
    time.sleep(0.5)
