"""The surge's check that nothing acknowledged was lost. Every report the service answered 201
(the incident ids the burst recorded, one file per wrk thread: ACKED_PREFIX.*) is stored (in
the national CSIRT's incident list), and for every subscriber (code=token, the slow and the
failing receivers' included), every event of its feed after its baseline seq has a delivery
of its subscription that succeeded or is still pending with its next attempt set. Exits 1,
naming what is missing, otherwise prints the counts.

    surge_nothing_lost.py BASE_URL NATIONAL_TOKEN ACKED_PREFIX ANSWERED_2XX BASELINE code=token ...

ANSWERED_2XX is the number of 2xx answers wrk counted: the recorded ids must be as many, so
the check cannot pass on ids it failed to record.
"""

import glob
import json
import sys
import urllib.request

base, national, acked_prefix, answered, baseline_file = sys.argv[1:6]
subscribers = dict(a.split("=", 1) for a in sys.argv[6:])
with open(baseline_file) as f:
    baseline = json.load(f)


def get(path, token):
    req = urllib.request.Request(base + path, headers={"authorization": f"Bearer {token}"})
    return json.load(urllib.request.urlopen(req, timeout=60))


def pages(path, token):
    """Every item of a cursor-paged list."""
    cursor = None
    sep = "&" if "?" in path else "?"
    while True:
        page = get(path + (f"{sep}cursor={cursor}" if cursor else ""), token)
        yield from page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return


def feed_after(token, after):
    """The seqs of the subscriber's feed after `after`."""
    seqs = []
    while True:
        page = get(f"/api/v1/feed?limit=500&after={after}", token)
        if not page["items"]:
            return seqs
        seqs.extend(e["seq"] for e in page["items"])
        after = page["next_after"]


failures = []
acked = set()
for path in glob.glob(acked_prefix + ".*"):
    with open(path) as f:
        acked.update(line.strip() for line in f if line.strip())
if len(acked) != int(answered):
    failures.append(f"{len(acked)} report ids recorded for {answered} reports answered 2xx")
stored = {i["id"] for i in pages("/api/v1/incidents?limit=200", national)}
lost = acked - stored
if lost:
    failures.append(f"{len(lost)} acknowledged report(s) not stored, e.g. {sorted(lost)[:3]}")

checked = 0
for code, token in subscribers.items():
    hooks = [h["id"] for h in pages("/api/v1/webhooks?limit=200", token)]
    kept = {}
    for hook in hooks:
        for d in pages(f"/api/v1/webhooks/{hook}/deliveries?limit=200", token):
            ok = d["status"] == "succeeded" or (
                d["status"] == "pending" and d.get("next_attempt_at") is not None
            )
            kept[d["event_seq"]] = kept.get(d["event_seq"], False) or ok
    seqs = feed_after(token, baseline.get(code, 0))
    missing = [s for s in seqs if not kept.get(s)]
    checked += len(seqs)
    if missing:
        failures.append(
            f"{code}: {len(missing)} of {len(seqs)} events neither delivered nor pending, e.g. seq {missing[:3]}"
        )

if failures:
    for f in failures:
        print("surge: " + f, file=sys.stderr)
    sys.exit(1)
print(
    f"surge: nothing lost: {len(acked)} acknowledged reports stored; {checked} events over "
    f"{len(subscribers)} subscribers (the slow and failing included) delivered or pending a retry"
)
