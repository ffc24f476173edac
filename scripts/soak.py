#!/usr/bin/env python3
"""The soak half of `make bench` (issue "Scale and efficiency"), all in one run with its peer:

- idle: the release daemon with 10,000 schedules, none due: CPU s/min, wakeups/min, RSS;
- load: 1,000 builds at once against `imagebuildd simulate` enforcing ARM's buckets: 429s,
  ARM requests and daemon CPU per completed build, peak RSS;
- peer: the official Azure SDK for Python following builds of the same length (sdk_follow.py);
- start-up: time to READY=1 with a journal of 1,000,000 records and 1,000 open runs.

Usage: soak.py IMAGEBUILDD JOURNALFILL OUTDIR
"""
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN, FILL, OUT = sys.argv[1:4]
ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
SECRET = "simulator-secret"
SUBS = 10


def sub(i):
    return f"{i:08d}-0000-0000-0000-000000000000"


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def status_kb(pid, key):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def context_switches(pid):
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if "ctxt_switches" in line:
                total += int(line.split()[1])
    return total


class Simulator:
    def __init__(self, work, scenario, clock=None):
        self.work = work
        (work / "scenario.json").write_text(json.dumps(scenario))
        env = dict(os.environ)
        if clock:
            env["IMAGEBUILDD_TIME_SCALE"] = clock
        self.out = open(work / "simulator.out", "w")
        self.proc = subprocess.Popen([BIN, "simulate", "--port", "0", "--tls-dir", str(TLS), "--scenario", str(work / "scenario.json")],
                                     stdout=self.out, stderr=subprocess.STDOUT, env=env)
        for _ in range(200):
            text = (work / "simulator.out").read_text()
            if "listening on" in text:
                break
            time.sleep(0.05)
        self.base = text.split("listening on ")[1].split()[0]
        self.tenant = text.split("tenant id:")[1].split()[0]
        self.client = text.split("client id:")[1].split()[0]

    def stats(self):
        context = ssl.create_default_context(cafile=str(TLS / "ca.pem"))
        with urllib.request.urlopen(self.base + "/simulator/requests", context=context) as answer:
            return json.load(answer)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def config(sim, state, schedules, poll="{ initial: 1m, max: 5m, multiplier: 2 }"):
    lines = ["azure:", f"  resource_manager_endpoint: {sim.base}", f"  authority_host: {sim.base}", f"  ca_file: {TLS / 'ca.pem'}",
             "  credential: client-secret", f"  tenant_id: {sim.tenant}", f"  client_id: {sim.client}",
             f"state_directory: {state}", "defaults:", f"  poll: {poll}", "  max_concurrent_builds: 2000", "schedules:"]
    for name, subscription, template, cron in schedules:
        lines.append(f"  - {{ name: {name}, subscription_id: {subscription}, resource_group: images, template: {template}, cron: \"{cron}\" }}")
    path = state.parent / (state.name + ".yaml")
    path.write_text("\n".join(lines) + "\n")
    return path


def daemon(cfg, clock=None, extra=None):
    env = {k: v for k, v in os.environ.items() if k not in ("STATE_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM")}
    env["AZURE_CLIENT_SECRET"] = SECRET
    if clock:
        env["IMAGEBUILDD_TIME_SCALE"] = clock
    env.update(extra or {})
    log = open(str(cfg) + ".log", "w")
    return subprocess.Popen([BIN, "run", "--config", str(cfg)], stderr=log, stdout=log, env=env)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    sys.exit(f"soak: timed out waiting for {what}")


def seed(name, subscription, minutes):
    return {"subscriptionId": subscription, "resourceGroup": "images", "name": name, "location": "westeurope",
            "runOutputNames": ["image"], "behavior": {"outcome": "succeed", "phaseSeconds": [minutes * 15] * 4}}


work = Path(tempfile.mkdtemp(prefix="imagebuildd-soak-"))
TLS = work / "tls"
subprocess.run([str(ROOT / "scripts/gen-test-ca.sh"), str(TLS)], check=True)
results = {}

# --- Load: 1,000 builds at once, and the Python SDK peer on 100 more, same simulator and clock.
scale = 20  # 20 simulated minutes of build = 60 s real
origin = "2027-01-01T00:29:00Z"
clock = f"{scale}@{origin}@{time.time() + 0.0:.3f}"
templates = [seed(f"template-{w}", sub(w % SUBS), 20) for w in range(1000)] + [seed(f"py-{i}", sub(99), 20) for i in range(100)]
sim = Simulator(work, {"templates": templates, "tokenLifetimeSeconds": 315360000, "pageSize": 100}, clock=clock)
state = work / "load"
cfg = config(sim, state, [(f"template-{w}", sub(w % SUBS), f"template-{w}", "30 0 * * *") for w in range(1000)])
proc = daemon(cfg, clock=clock)


def finished_runs():
    out = subprocess.run([BIN, "history", "--state-dir", str(state), "--json"], capture_output=True, text=True)
    runs = json.loads(out.stdout or "[]")
    return sum(1 for r in runs if r["outcome"] is not None), runs


started = time.monotonic()
wait_for(lambda: finished_runs()[0] >= 1000, 600, "1,000 builds to finish")
load_wall = time.monotonic() - started
load_cpu = cpu_seconds(proc.pid)
load_hwm = status_kb(proc.pid, "VmHWM")
stats = sim.stats()
done, runs = finished_runs()
proc.send_signal(signal.SIGTERM)
proc.wait(timeout=20)
outcomes = {}
for r in runs:
    outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
results["load"] = {"builds": done, "outcomes": outcomes, "throttled": stats["throttled"], "arm_requests": stats["arm_requests"],
                   "requests_per_build": stats["arm_requests"] / done, "cpu_s": load_cpu, "cpu_ms_per_build": load_cpu / done * 1000,
                   "peak_rss_mb": load_hwm / 1024, "wall_s": load_wall}

env = dict(os.environ, REQUESTS_CA_BUNDLE=str(TLS / "ca.pem"))
peer = subprocess.run([sys.executable, str(ROOT / "Benchmarks/soak/sdk_follow.py"), sim.base, sim.tenant, sim.client, SECRET, sub(99), "100"],
                      capture_output=True, text=True, env=env)
if peer.returncode != 0:
    sys.exit("soak: the Python SDK peer failed:\n" + peer.stderr[-3000:])
py = json.loads(peer.stdout.strip().splitlines()[-1])
results["python_sdk"] = {**py, "cpu_ms_per_build": py["cpu_s"] / py["builds"] * 1000, "peak_rss_mb": py["peak_rss_kb"] / 1024,
                         "rss_kb_per_build": py["peak_rss_kb"] / py["builds"]}
results["load"]["rss_kb_per_build"] = load_hwm / done
sim.stop()

# --- Idle: 10,000 schedules, none due for a year; real clock.
sim = Simulator(work, {"templates": [], "tokenLifetimeSeconds": 315360000})
state = work / "idle"
cfg = config(sim, state, [(f"idle-{w}", sub(w % SUBS), f"idle-{w}", f"{w % 60} {w % 24} 1 1 *") for w in range(10000)])
proc = daemon(cfg)
wait_for(lambda: "ready" in Path(str(cfg) + ".log").read_text(), 120, "the idle daemon to be ready")
time.sleep(5)
cpu0, ctx0 = cpu_seconds(proc.pid), context_switches(proc.pid)
window = 30
time.sleep(window)
cpu1, ctx1 = cpu_seconds(proc.pid), context_switches(proc.pid)
results["idle"] = {"schedules": 10000, "cpu_s_per_min": (cpu1 - cpu0) * 60 / window, "wakeups_per_min": (ctx1 - ctx0) * 60 / window,
                   "rss_mb": status_kb(proc.pid, "VmRSS") / 1024, "threads": len(list(Path(f"/proc/{proc.pid}/task").iterdir()))}
proc.send_signal(signal.SIGTERM)
proc.wait(timeout=20)
sim.stop()

# --- Start-up: 1,000,000 records, 1,000 open runs, to READY=1.
sim = Simulator(work, {"templates": [seed(f"template-{w}", sub(w % SUBS), 20) for w in range(1000)], "tokenLifetimeSeconds": 315360000})
state = work / "startup"
subprocess.run([FILL, str(state / "journal"), "1000000", str(SUBS)], check=True)
cfg = config(sim, state, [(f"template-{w}", sub(w % SUBS), f"template-{w}", "0 0 1 1 *") for w in range(1000)])
notify_path = str(work / "notify.sock")
listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
listener.bind(notify_path)
listener.settimeout(60)
t0 = time.monotonic()
proc = daemon(cfg, extra={"NOTIFY_SOCKET": notify_path})
ready = None
while ready is None:
    message = listener.recv(65536).decode()
    if "READY=1" in message:
        ready = time.monotonic() - t0
proc.send_signal(signal.SIGTERM)
proc.wait(timeout=20)
adoption = sim.stats()["by_operation"].get("get", {})
results["startup"] = {"records": 1000000, "open_runs": 1000, "ready_s": ready, "adoption_gets": sum(adoption.values())}
sim.stop()

Path(OUT).mkdir(parents=True, exist_ok=True)
(Path(OUT) / "soak.json").write_text(json.dumps(results, indent=2))
L, P, I, S = results["load"], results["python_sdk"], results["idle"], results["startup"]
print(f"""
Soak (release build; figures from /proc; peer: azure-mgmt-imagebuilder {subprocess.run([sys.executable, '-c', 'import azure.mgmt.imagebuilder as m; print(m.VERSION)'], capture_output=True, text=True).stdout.strip()} in the same run)
idle, {I['schedules']:,} schedules, none due:   CPU {I['cpu_s_per_min']:.4f} s/min (target < 0.1), wakeups {I['wakeups_per_min']:.0f}/min, RSS {I['rss_mb']:.1f} MB (target < 60), {I['threads']} threads
load, {L['builds']:,} builds at once:           429 answers {L['throttled']} (target 0), ARM requests per build {L['requests_per_build']:.1f}, outcomes {L['outcomes']}
                                      daemon CPU {L['cpu_ms_per_build']:.2f} ms/build, peak RSS {L['peak_rss_mb']:.1f} MB ({L['rss_kb_per_build']:.1f} KB/build), {L['wall_s']:.0f} s
Python SDK, {P['builds']} builds at once:        CPU {P['cpu_ms_per_build']:.2f} ms/build, peak RSS {P['peak_rss_mb']:.1f} MB ({P['rss_kb_per_build']:.1f} KB/build), {P['seconds']:.0f} s
  ratio (Python SDK / imagebuildd):   CPU per build {P['cpu_ms_per_build'] / L['cpu_ms_per_build']:.1f}x, peak RSS per followed build {P['rss_kb_per_build'] / L['rss_kb_per_build']:.1f}x
start-up, {S['records']:,} records, {S['open_runs']:,} open runs: READY=1 after {S['ready_s']:.2f} s (target < 3 s), {S['adoption_gets']} adoption polls
""")
