#!/usr/bin/env python3
"""Footprint (part of `make bench`): the stripped binary's size by section, and idle RSS of the
release daemon holding 1, 1,000 and 10,000 schedules (none due), on its first start and after a
restart, split into anonymous memory and file pages. The peer in the same run is Debian's cron
daemon (`cron -f`) holding the same 10,000 schedules as crontab lines.

Usage: footprint-bench.py IMAGEBUILDD OUTDIR
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN, OUT = sys.argv[1:3]
ROOT = Path(__file__).resolve().parent.parent
SETTLE = float(os.environ.get("FOOTPRINT_SETTLE", "10"))


def status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "Threads"):
            fields[key] = int(value.split()[0]) / 1024 if key != "Threads" else int(value)
    return fields


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    sys.exit(f"footprint-bench: timed out waiting for {what}")


def sections(path):
    sizes = {}
    for line in subprocess.run(["size", "-A", path], capture_output=True, text=True, check=True).stdout.splitlines()[2:]:
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


work = Path(tempfile.mkdtemp(prefix="imagebuildd-footprint-"))
stripped = work / "imagebuildd"
subprocess.run(["strip", "-o", str(stripped), BIN], check=True)
size = stripped.stat().st_size
top = sorted(sections(str(stripped)).items(), key=lambda kv: -kv[1])[:5]

tls = work / "tls"
subprocess.run([str(ROOT / "scripts/gen-test-ca.sh"), str(tls)], check=True, capture_output=True)
(work / "scenario.json").write_text(json.dumps({"templates": [], "tokenLifetimeSeconds": 315360000}))
sim = subprocess.Popen([str(stripped), "simulate", "--port", "0", "--tls-dir", str(tls), "--scenario", str(work / "scenario.json")],
                       stdout=open(work / "simulator.out", "w"), stderr=subprocess.STDOUT)
wait_for(lambda: "client id:" in (work / "simulator.out").read_text(), 30, "the simulator")
text = (work / "simulator.out").read_text()
base, tenant, client = text.split("listening on ")[1].split()[0], text.split("tenant id:")[1].split()[0], text.split("client id:")[1].split()[0]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]


def config(n, state):
    lines = ["azure:", f"  resource_manager_endpoint: {base}", f"  authority_host: {base}", f"  ca_file: {tls / 'ca.pem'}",
             "  credential: client-secret", f"  tenant_id: {tenant}", f"  client_id: {client}", f"state_directory: {state}",
             f"control: {{ socket: {state}/control.sock }}", "defaults: { stale_after: 36h }", "schedules:"]
    for w in range(n):
        lines.append(f"  - {{ name: idle-{w}, subscription_id: {w % 10:08d}-0000-0000-0000-000000000000, resource_group: images, "
                     f"template: idle-{w}, cron: \"{w % 60} {w % 24} 1 1 *\", timezone: {ZONES[w % len(ZONES)]} }}")
    path = work / f"config-{n}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def daemon(n):
    state = work / f"state-{n}"
    cfg = config(n, state)
    env = {k: v for k, v in os.environ.items() if k not in ("STATE_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM")}
    env["AZURE_CLIENT_SECRET"] = "simulator-secret"
    result = {}
    for start in ("first", "restart"):
        log = work / f"daemon-{n}-{start}.log"
        proc = subprocess.Popen([str(stripped), "run", "--config", str(cfg)], stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)
        wait_for(lambda: "ready" in log.read_text() or proc.poll() is not None, 180, f"the daemon with {n} schedules")
        if proc.poll() is not None:
            sys.exit(log.read_text())
        time.sleep(SETTLE)
        result[start] = status(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return result


def cron_peer(n):
    """Debian's cron holding n crontab lines, in the foreground, with its own spool."""
    if not shutil.which("cron"):
        return None
    spool = work / "crontabs"
    spool.mkdir(exist_ok=True)
    lines = [f"{w % 60} {w % 24} 1 1 * /bin/true idle-{w}" for w in range(n)]
    # cron reads /etc/crontab and /var/spool/cron/crontabs; a system crontab file in /etc/cron.d is the one we may add.
    target = Path("/etc/cron.d/imagebuildd-footprint")
    target.write_text("".join(f"{line.replace('/bin/true', 'root /bin/true')}\n" for line in lines))
    try:
        proc = subprocess.Popen(["cron", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(SETTLE)
        figures = status(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        return figures
    finally:
        target.unlink()


results = {n: daemon(n) for n in (1, 1000, 10000)}
peer = cron_peer(10000)
sim.send_signal(signal.SIGTERM)
sim.wait(timeout=10)

print(f"binary: {size / 1e6:.1f} MB stripped; largest sections: " + ", ".join(f"{name} {b / 1e6:.1f} MB" for name, b in top))
for n, r in results.items():
    for start, f in r.items():
        print(f"idle RSS, {n:>5} schedules, {start:7}: {f['VmRSS']:.1f} MB (anon {f['RssAnon']:.1f}, file {f['RssFile']:.1f}), {f['Threads']} threads")
per = (results[10000]["restart"]["RssAnon"] - results[1]["restart"]["RssAnon"]) * 1024 / 9999
print(f"anonymous memory per schedule (restart, 1 → 10,000): {per:.2f} KB")
if peer:
    ours = results[10000]["restart"]["VmRSS"]
    print(f"peer: Debian cron with 10,000 crontab lines: {peer['VmRSS']:.1f} MB (anon {peer['RssAnon']:.1f}, file {peer['RssFile']:.1f})"
          f" → imagebuildd/cron {ours / peer['VmRSS']:.1f}x")
(Path(OUT) / "footprint.json").write_text(json.dumps({"binary_bytes": size, "daemon": results, "cron": peer}, indent=1))
shutil.rmtree(work, ignore_errors=True)
