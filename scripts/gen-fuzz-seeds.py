#!/usr/bin/env python3
"""Write the fuzz targets' seed corpora under Fuzz/Corpus/<surface>/ from what the repository already
holds: cron expressions from the oracle table and the syntax tests, the example config and variants,
journal segments framed by this script (an independent writer of docs/journal-format.md), and the
ARM examples' request and response bodies. Usage: python3 scripts/gen-fuzz-seeds.py"""
import glob, hashlib, json, os, struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CORPUS = os.path.join(ROOT, "Fuzz", "Corpus")


def write(surface, data):
    if isinstance(data, str):
        data = data.encode()
    folder = os.path.join(CORPUS, surface)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def cron():
    rows = [json.loads(l) for l in open(os.path.join(ROOT, "Tests/SchedulerTests/Fixtures/cron-oracles.jsonl"))]
    exprs = sorted({r["expression"] for r in rows})
    for e in exprs[::8]:
        write("cron", e)
    for e in ["@daily", "@hourly", "CRON_TZ=Europe/Berlin 30 2 * * *", "TZ=UTC 0 0 29 2 *", "0 2 * * 5L", "0 2 ? * *",
              "0 0 15W * *", "1#2", "*/0 * * * *", "5/15 * * * *", "0 22-2 * * *", "0 0 30 2 *", "0 2 * JUL-SEP/1 MON-WED"]:
        write("cron", e)


def config():
    example = open(os.path.join(ROOT, "packaging/systemd/config.yaml")).read()
    write("config", example)
    write("config", "schedules:\n  - name: a\n    subscription_id: 00000000-0000-0000-0000-000000000000\n"
                    "    resource_group: rg\n    template: t\n    cron: '*/15 * * * *'\n    overlap: queue\n")
    write("config", "defaults: {timezone: America/New_York, jitter: 5m, build_timeout: 1h30m}\nschedules: []\n")
    write("config", "azure: {credential: managed-identity}\nstate_directory: /tmp/x\nschedules:\n  - {name: b, subscription_id: "
                    "00000000-0000-0000-0000-000000000000, resource_group: rg, template: t, cron: \"0 2 * * WED\"}\n")
    write("config", "schedules:\n  - name: bad\n    cron: 0 25 * * *\n")
    write("config", "metrics: {listen: \"127.0.0.1:9469\", textfile: /var/lib/prometheus/node-exporter/i.prom, textfile_interval: 15s}\n"
                    "notify:\n  - url: https://hooks.example.com/T/B/x?token=t\n    events: [failed, stale]\n    secret_env: HOOK\n"
                    "    retry_for: 1h\ndefaults: {stale_after: 36h}\nschedules: []\n")


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def frame(records):
    out = b""
    for seq, rec in enumerate(records, 1):
        payload = json.dumps({"seq": seq, **rec}, separators=(",", ":")).encode()
        out += struct.pack("<II", len(payload), crc32c(payload)) + payload
    return out


def journal():
    slot, at = 1798855200000, 1798855200100
    key = {"schedule": "ubuntu-nightly", "slot": slot}
    run = [
        {"at": at, "type": "slot-due", **key, "subscription_id": "00000000-0000-0000-0000-000000000000", "resource_group": "images", "template": "golden"},
        {"at": at + 5, "type": "run-requested", **key},
        {"at": at + 900, "type": "run-accepted", **key, "build_timeout_s": 14400},
        {"at": at + 30000, "type": "status-observed", **key, "run_state": "Running", "run_substate": "Building", "started_at": at + 800},
        {"at": at + 60000, "type": "status-observed", **key, "run_state": "Succeeded", "started_at": at + 800, "ended_at": at + 59000},
        {"at": at + 61000, "type": "outputs-recorded", **key, "outputs": [{"name": "img", "artifact_id": "/subscriptions/x/images/y"}]},
        {"at": at + 61001, "type": "finished", **key, "outcome": "succeeded"},
    ]
    write("journal", frame(run))
    write("journal", frame(run[:4]))
    write("journal", frame(run)[:-7])  # torn tail
    other = {"schedule": "win", "slot": slot}
    write("journal", frame([
        {"at": at, "type": "slot-due", **other, "subscription_id": "s", "resource_group": "g", "template": "t"},
        {"at": at + 1, "type": "slot-queued", **other},
        {"at": at + 2, "type": "slot-skipped", **other, "reason": "overlap: the previous build is still running"},
        {"at": at + 3, "type": "cancel-requested", **key, "reason": "timeout"},
        {"at": at + 4, "type": "cancel-observed", **key, "run_state": "Canceling"},
        {"at": at + 5, "type": "finished", **key, "outcome": "timedOut", "message": "cancelled at the deadline"},
    ]))
    # Schedule facts and the webhook outbox, then a snapshot that carries both.
    body = json.dumps({"event": "failed", "text": "imagebuildd: build failed", "run": None})
    write("journal", frame([
        {"at": at, "type": "schedule-seen", "schedule": "win"},
        {"at": at + 1, "type": "notify-queued", "key": "win/stale/1", "event": "stale", "schedule": "win", "body": body,
         "sinks": ["sink-0123456789abcdef"], "queued_at": at + 1},
        {"at": at + 2, "type": "stale", "schedule": "win"},
        {"at": at + 3, "type": "notify-done", "key": "win/stale/1", "sink": "sink-0123456789abcdef", "delivered": True, "attempts": 2},
        {"at": at + 4, "type": "snapshot", "open_runs": [], "history": [], "last_slots": {"win": slot},
         "schedules": {"win": {"first_seen": at, "stale_since": at + 2, "runs_failed": 3, "runs_skipped": 1}},
         "outbox": [{"key": "k", "event": "failed", "schedule": "win", "body": body, "sinks": ["s"], "queued_at": at}],
         "counters": {"slots_due": 1}},
    ]))


def models():
    for path in sorted(glob.glob(os.path.join(ROOT, "Tests/AzureClientTests/Fixtures/2025-10-01/*.json"))):
        example = json.load(open(path))
        bodies = [example.get("parameters", {}).get("parameters")] + [r.get("body") for r in example.get("responses", {}).values()]
        for body in bodies:
            if isinstance(body, dict):
                for item in body.get("value", [body]):
                    write("models", json.dumps(item, indent=1))
                    if isinstance(item.get("properties"), dict) and "lastRunStatus" in item["properties"]:
                        write("models", json.dumps(item["properties"]["lastRunStatus"]))


def control():
    calls = [
        {"method": "io.imagebuildd.Control.Status"},
        {"method": "io.imagebuildd.Control.Trigger", "parameters": {"schedule": "nightly", "reason": "CVE", "request_id": "r1"}},
        {"method": "io.imagebuildd.Control.Pause", "parameters": {"schedule": "nightly", "until": "2027-01-05T06:00:00Z"}},
        {"method": "io.imagebuildd.Control.Resume", "parameters": {"schedule": "nightly"}},
        {"method": "io.imagebuildd.Control.Cancel", "parameters": {"schedule": "nightly"}, "oneway": True},
        {"method": "org.varlink.service.GetInfo"},
        {"method": "org.varlink.service.GetInterfaceDescription", "parameters": {"interface": "io.imagebuildd.Control"}},
    ]
    for call in calls:
        write("control", json.dumps(call).encode() + b"\0")
    write("control", b"".join(json.dumps(c).encode() + b"\0" for c in calls))


if __name__ == "__main__":
    for surface in ("cron", "config", "journal", "models", "control"):
        for old in glob.glob(os.path.join(CORPUS, surface, "*")):
            os.remove(old)
    cron(); config(); journal(); models(); control()
    for surface in ("cron", "config", "journal", "models", "control"):
        print(surface, len(os.listdir(os.path.join(CORPUS, surface))), "seeds")
