#!/usr/bin/env python3
"""Cluster mode under fire (issue "High availability"): three `imagebuildd run` daemons against a
real three-member etcd (Debian's etcd-server) on loopback and `imagebuildd simulate`, one clock.

1. idle: etcd requests per idle minute (three daemons, nothing due);
2. steady: etcd requests per build (no kills);
3. kills: SIGKILL the leader KILLS times, at random moments, right after a slot fired (the Run
   between its journaled intent and its answer: the simulator delays GETs and Runs), and mid-build;
   each time: failover time (kill -> another node has adopted the open runs and leads);
4. SIGSTOP the leader past the lease ttl, SIGCONT: it must step down and act on nothing;
5. quorum: kill two etcd members: no Run while they are gone; scheduling resumes when they return.

Invariants over the whole run, from the simulator's own request log: at most one accepted Run per
slot; every slot of the kill phase run by someone; every accepted build followed to an outcome; the
failover time under ttl + 5 s. Exit 1 on any violation.

Usage: ha-soak.py IMAGEBUILDD [--kills N] [--seed S] [--out FILE] [--smoke]
(--smoke, for make test: the invariants only, without the idle and steady etcd figures, one residual round)
"""
import argparse
import json
import os
import random
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("binary")
parser.add_argument("--kills", type=int, default=20)
parser.add_argument("--seed", type=int, default=int(time.time()))
parser.add_argument("--out")
parser.add_argument("--keep", action="store_true", help="keep the logs and state even when every invariant held")
parser.add_argument("--smoke", action="store_true",
                    help="the invariants only: no idle or steady etcd figures, one residual-window round (make test)")
args = parser.parse_args()
BIN = str(Path(args.binary).resolve())
ROOT = Path(__file__).resolve().parent.parent
rng = random.Random(args.seed)
print(f"ha-soak: seed {args.seed} (replay with --seed {args.seed}), {args.kills} kills", flush=True)

SCALE = 10            # simulated seconds per real second
TTL = 4               # lease_ttl, real seconds (etcd's leases run on real time)
SPACING = 180         # simulated seconds between slots: */3 * * * *
TEMPLATES = 4
# One slow template on its own schedule, for the residual window: builds of 12 s, slots 30 s apart.
SLOW_SPACING = 300
HOLD_MS = 10000       # its Run "still on the wire" that long: past the failover and the reconcile
SUB = "00000000-0000-0000-0000-000000000001"
NODES = ["a", "b", "c"]
failures = []


def fail(message):
    print("ha-soak: VIOLATION: " + message, flush=True)
    failures.append(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


work = Path(tempfile.mkdtemp(prefix="imagebuildd-ha-"))
TLS = work / "tls"
subprocess.run([str(ROOT / "scripts/gen-test-ca.sh"), str(TLS)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
origin = datetime(2027, 1, 1, tzinfo=timezone.utc)
real_origin = time.time()
CLOCK = f"{SCALE}@2027-01-01T00:00:00Z@{real_origin}"


def sim_now():
    return origin + timedelta(seconds=(time.time() - real_origin) * SCALE)


def to_sim(real):
    return origin + timedelta(seconds=(real - real_origin) * SCALE)


# --- etcd: three members on loopback ---------------------------------------------------------
class Etcd:
    def __init__(self):
        self.members = {f"m{i}": (free_port(), free_port()) for i in range(3)}
        self.procs = {}
        for name in self.members:
            self.start(name)
        self.wait_healthy(list(self.members))

    def endpoints(self):
        return [f"http://127.0.0.1:{client}" for client, _ in self.members.values()]

    def start(self, name):
        client, peer = self.members[name]
        cluster = ",".join(f"{n}=http://127.0.0.1:{p}" for n, (_, p) in self.members.items())
        log = open(work / f"etcd-{name}.log", "a")
        self.procs[name] = subprocess.Popen(
            ["/usr/bin/etcd", "--name", name, "--data-dir", str(work / f"etcd-{name}"),
             "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", work.name],
            stdout=log, stderr=log)

    def kill(self, name):
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait()

    def wait_healthy(self, names, timeout=60):
        deadline = time.monotonic() + timeout
        for name in names:
            client, _ = self.members[name]
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{client}/health", timeout=1) as answer:
                        if b'"true"' in answer.read():
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    sys.exit(f"ha-soak: etcd member {name} not healthy")
                time.sleep(0.1)

    def requests(self):
        """gRPC messages received, summed over the members that are up (every gateway call is one)."""
        total = 0
        for name in self.procs:
            client, _ = self.members[name]
            with urllib.request.urlopen(f"http://127.0.0.1:{client}/metrics", timeout=5) as answer:
                for line in answer.read().decode().splitlines():
                    if line.startswith("grpc_server_msg_received_total{"):
                        total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self):
        for name in list(self.procs):
            self.kill(name)


# --- the simulator ------------------------------------------------------------------------------
scenario = {
    "templates": [{"subscriptionId": SUB, "resourceGroup": "images", "name": f"t{i}", "location": "westeurope",
                   "runOutputNames": ["image"], "behavior": {"outcome": "succeed", "phaseSeconds": [10, 10, 10, 10]}}
                  for i in range(TEMPLATES)]
                 + [{"subscriptionId": SUB, "resourceGroup": "images", "name": "slow", "location": "westeurope",
                     "runOutputNames": ["image"], "behavior": {"outcome": "succeed", "phaseSeconds": [30, 30, 30, 30]}}],
    "tokenLifetimeSeconds": 10 * 365 * 86400,
    # Wide windows for the kills to land in: a template read before the Run, and the Run's answer.
    "faults": [{"operation": "get", "latencyMs": 600, "count": 1000000}, {"operation": "run", "latencyMs": 1500, "count": 1000000}],
}
(work / "scenario.json").write_text(json.dumps(scenario))
env = {k: v for k, v in os.environ.items() if k not in ("STATE_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM", "RUNTIME_DIRECTORY")}
env["IMAGEBUILDD_TIME_SCALE"] = CLOCK
env["AZURE_CLIENT_SECRET"] = "simulator-secret"
sim_out = open(work / "simulator.out", "w")
simulator = subprocess.Popen([BIN, "simulate", "--port", "0", "--tls-dir", str(TLS), "--scenario", str(work / "scenario.json")],
                             stdout=sim_out, stderr=subprocess.STDOUT, env=env)
for _ in range(200):
    text = (work / "simulator.out").read_text()
    if "listening on" in text:
        break
    time.sleep(0.05)
BASE = text.split("listening on ")[1].split()[0]
TENANT = text.split("tenant id:")[1].split()[0]
CLIENT = text.split("client id:")[1].split()[0]
TLS_CONTEXT = ssl.create_default_context(cafile=str(TLS / "ca.pem"))


def arm_writes():
    with urllib.request.urlopen(BASE + "/simulator/requests", context=TLS_CONTEXT, timeout=10) as answer:
        return json.load(answer)["writes"]


# --- the daemons --------------------------------------------------------------------------------
etcd = Etcd()


def post_fault(rule):
    request = urllib.request.Request(BASE + "/simulator/faults", data=json.dumps(rule).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=TLS_CONTEXT, timeout=10) as answer:
        answer.read()


def write_config(node, cron, prefix, slow_cron=None):
    lines = ["azure:", f"  resource_manager_endpoint: {BASE}", f"  authority_host: {BASE}", f"  ca_file: {TLS / 'ca.pem'}",
             "  credential: client-secret", f"  tenant_id: {TENANT}", f"  client_id: {CLIENT}",
             f"state_directory: {work / node}", f"control: {{ socket: {work / node / 'control.sock'} }}",
             "cluster:", "  etcd:", "    endpoints: [" + ", ".join(etcd.endpoints()) + "]",
             f"  prefix: {prefix}", f"  lease_ttl: {TTL}s", f"  node_name: node-{node}",
             "defaults: { poll: { initial: 30s, max: 1m, multiplier: 2 } }", "schedules:"]
    for i in range(TEMPLATES):
        lines.append(f"  - {{ name: s{i}, subscription_id: {SUB}, resource_group: images, template: t{i}, cron: \"{cron}\" }}")
    lines.append(f"  - {{ name: slow, subscription_id: {SUB}, resource_group: images, template: slow, cron: \"{slow_cron or cron}\" }}")
    (work / node).mkdir(exist_ok=True)
    path = work / f"{node}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


daemons = {}


def start(node):
    log = open(work / f"{node}.log", "a")
    daemons[node] = subprocess.Popen([BIN, "run", "--config", str(work / f"{node}.yaml")], stdout=log, stderr=log, env=env)


def kill(node, sig=signal.SIGKILL):
    proc = daemons.pop(node)
    proc.send_signal(sig)
    proc.wait()


def role(node):
    """The node's role from its control socket ("leader" only once it has adopted), or None."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(str(work / node / "control.sock"))
            s.sendall(b'{"method":"io.imagebuildd.Control.Status"}\0')
            data = b""
            while not data.endswith(b"\0"):
                chunk = s.recv(65536)
                if not chunk:
                    return None
                data += chunk
        return json.loads(data[:-1])["parameters"]["daemon"]["role"]
    except (OSError, ValueError, KeyError):
        return None


def leader(nodes=None, timeout=30.0):
    """Waits for one of `nodes` to lead; its name and the seconds it took."""
    start_at = time.monotonic()
    while time.monotonic() - start_at < timeout:
        for node in nodes or list(daemons):
            if node in daemons and role(node) == "leader":
                return node, time.monotonic() - start_at
        time.sleep(0.05)
    return None, time.monotonic() - start_at


def log_lines(node):
    return (work / f"{node}.log").read_text(errors="replace").splitlines()


def wait_for_log(node, needle, after, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log_lines(node)
        if any(needle in line for line in lines[after:]):
            return True
        time.sleep(0.05)
    return False


results = {"seed": args.seed, "kills": args.kills, "ttl_seconds": TTL}

# --- 1. idle: nothing due (one schedule a year) ---------------------------------------------------
if not args.smoke:
    for node in NODES:
        write_config(node, "0 0 1 1 *", "/idle/")
        start(node)
    first, _ = leader()
    if first is None:
        sys.exit("ha-soak: no leader within 30 s")
    time.sleep(3)
    before, t0 = etcd.requests(), time.monotonic()
    time.sleep(20)
    idle_rate = (etcd.requests() - before) / (time.monotonic() - t0) * 60
    results["etcd_requests_per_idle_minute"] = round(idle_rate, 1)
    print(f"ha-soak: idle: {idle_rate:.0f} etcd requests per minute (three daemons)", flush=True)
    for node in NODES:
        kill(node, signal.SIGTERM)

# --- 2. steady: builds, no kills ------------------------------------------------------------------
for node in NODES:
    write_config(node, "*/3 * * * *", "/imagebuildd/", slow_cron="*/5 * * * *")
    start(node)
first, _ = leader()
if first is None:
    sys.exit("ha-soak: no leader within 30 s")
kill_phase_start = time.time()
if not args.smoke:
    writes_before = len([w for w in arm_writes() if w["operation"] == "run" and w["status"] == 202])
    before, t0 = etcd.requests(), time.monotonic()
    time.sleep(2 * SPACING / SCALE)
    elapsed = time.monotonic() - t0
    builds = len([w for w in arm_writes() if w["operation"] == "run" and w["status"] == 202]) - writes_before
    steady = etcd.requests() - before
    per_build = (steady - idle_rate * elapsed / 60) / max(builds, 1)
    results["etcd_requests_per_build"] = round(per_build, 1)
    print(f"ha-soak: steady: {builds} builds, {per_build:.1f} etcd requests per build beyond the idle rate", flush=True)

# --- 3. kills -----------------------------------------------------------------------------------
failovers = []
modes = {"random": 0, "after-slot-fired": 0, "mid-build": 0}
# What the new leader found: a Run journaled but unanswered (reconciled), and whether its build was there.
windows = {"run_requested_unanswered": 0, "reconciled_build_was_ours": 0, "reconciled_no_build_run_sent": 0}
for k in range(args.kills):
    current, _ = leader()
    if current is None:
        fail(f"kill {k}: no leader before the kill")
        break
    mode = rng.choice(list(modes))
    modes[mode] += 1
    mark = len(log_lines(current))
    if mode == "random":
        time.sleep(rng.uniform(0.2, 5))
    elif mode == "after-slot-fired":
        wait_for_log(current, "EVENT=slot-fired", mark, SPACING / SCALE + 5)
        time.sleep(rng.uniform(0, 2.5))
    else:
        wait_for_log(current, "RUN_STATE=Running", mark, SPACING / SCALE + 10)
    others = [n for n in NODES if n != current]
    marks = {n: len(log_lines(n)) for n in others}
    kill(current)
    new, took = leader(others, timeout=TTL + 20)
    if new is None:
        fail(f"kill {k}: no new leader within {TTL + 20} s")
        break
    failovers.append(took)
    wait_for_log(new, "EVENT=cluster-adopted", marks[new], 5)
    time.sleep(0.5)
    adopted = log_lines(new)[marks[new]:]
    windows["run_requested_unanswered"] += sum("reconciling a Run requested before the restart" in line for line in adopted)
    windows["reconciled_build_was_ours"] += sum("reconciled: the build" in line for line in adopted)
    windows["reconciled_no_build_run_sent"] += sum("reconciled: no build since the request" in line for line in adopted)
    if took >= TTL + 5:
        fail(f"kill {k} ({mode}): failover took {took:.2f} s (limit ttl + 5 = {TTL + 5} s)")
    print(f"ha-soak: kill {k + 1}/{args.kills} ({mode}) of node-{current}: node-{new} leads after {took:.2f} s", flush=True)
    start(current)
kill_phase_end = time.time()

# --- 3b. the residual window: the leader's Run still on the wire when it dies ------------------------
# The simulator holds the slow template's next Run for HOLD_MS before processing it; the leader is
# killed after sending it. The next leader adopts the run-requested without an answer and reads
# lastRunStatus (for up to 30 minutes before it would send Run again): when the held Run lands, the
# build is recognised as this slot's and followed. One Run, one build.
residual_rounds = 1 if args.smoke else max(2, args.kills // 30)
residual_kills = []
for r in range(residual_rounds):
    current, _ = leader()
    if current is None:
        fail("residual window: no leader")
        break
    mark = len(log_lines(current))
    post_fault({"operation": "run", "template": "slow", "holdMs": HOLD_MS, "count": 1})
    if not wait_for_log(current, "EVENT=slot-fired SCHEDULE=slow ", mark, SLOW_SPACING / SCALE + 5):
        fail("residual window: the slow schedule did not fire")
        break
    time.sleep(1.5)
    residual_kills.append(sim_now())
    kill(current)
    new, took = leader([n for n in NODES if n != current], timeout=TTL + 20)
    print(f"ha-soak: residual window {r + 1}/{residual_rounds}: node-{current} killed with its Run held; node-{new} leads after {took:.2f} s",
          flush=True)
    start(current)
    time.sleep(HOLD_MS / 1000 + 2)
kill_phase_end = time.time()

# --- 4. SIGSTOP the leader past the ttl -----------------------------------------------------------
stopped, _ = leader()
# Stop it just before a slot: on SIGCONT its timer finds the slot due at once.
until_slot = (SPACING - (sim_now() - origin).total_seconds() % SPACING) / SCALE
if until_slot < 1.0:
    time.sleep(until_slot + 1.0)
    until_slot = SPACING / SCALE - 1.0
time.sleep(max(0, until_slot - 1.0))
mark = len(log_lines(stopped))
daemons[stopped].send_signal(signal.SIGSTOP)
stop_at = time.monotonic()
new, took = leader([n for n in NODES if n != stopped], timeout=TTL + 20)
time.sleep(max(0, TTL + 3 - (time.monotonic() - stop_at)))
daemons[stopped].send_signal(signal.SIGCONT)
time.sleep(TTL)
after = log_lines(stopped)[mark:]
acted = []
for line in after:
    if "EVENT=leadership-gained" in line:
        break
    if any(event in line for event in ("EVENT=slot-fired", "EVENT=run-accepted", "EVENT=timeout-cancel", "EVENT=replace-cancel", "EVENT=operator-cancel")):
        acted.append(line)
stepped_down = any("EVENT=leadership-lost" in line for line in after)
if acted:
    fail(f"node-{stopped} acted after SIGCONT without leading: {acted}")
if not stepped_down:
    fail(f"node-{stopped} did not log that it stepped down after SIGCONT")
if new is None:
    fail("no node took over while the leader was stopped")
results["sigstop"] = {"stopped_seconds": TTL + 3, "takeover_seconds": round(took, 2), "new_leader": f"node-{new}",
                      "stopped_node_stepped_down": stepped_down, "stopped_node_actions_before_leading_again": len(acted)}
print(f"ha-soak: SIGSTOP node-{stopped} for {TTL + 3} s: node-{new} led after {took:.2f} s; on SIGCONT it stepped down: "
      f"{stepped_down}, acted: {len(acted)}", flush=True)

# --- 5. quorum: two of three etcd members gone -----------------------------------------------------
leader()
time.sleep(1)
outage_start = time.time()
etcd.kill("m1")
etcd.kill("m2")
time.sleep(SPACING / SCALE + 4)
outage_end = time.time()
etcd.start("m1")
etcd.start("m2")
etcd.wait_healthy(["m0", "m1", "m2"])
resumed, took = leader(timeout=60)
resumed_at = time.time()
quiet = [w for w in arm_writes() if w["operation"] == "run"
         and to_sim(outage_start + 2.5) <= datetime.fromisoformat(w["at"].replace("Z", "+00:00")) <= to_sim(outage_end)]
if quiet:
    fail(f"{len(quiet)} Run(s) while etcd had no quorum: {quiet}")
if resumed is None:
    fail("no leader after quorum returned")
results["quorum_loss"] = {"seconds_without_quorum": round(outage_end - outage_start, 1), "runs_without_quorum": len(quiet),
                          "leader_after_quorum_seconds": round(took, 2)}
print(f"ha-soak: quorum lost for {outage_end - outage_start:.0f} s: {len(quiet)} Runs meanwhile; node-{resumed} leads "
      f"{took:.1f} s after the members returned", flush=True)

# --- drain: let every build finish (a leader runs meanwhile), then check -------------------------------
def open_in_cluster():
    answer = subprocess.run([BIN, "history", "--config", str(work / "a.yaml"), "--json"], capture_output=True, text=True, env=env)
    if answer.returncode != 0:
        return None
    return [e for e in json.loads(answer.stdout) if e.get("outcome") is None]


time.sleep(2)
deadline = time.monotonic() + 90
while time.monotonic() < deadline and open_in_cluster() != []:
    time.sleep(1)
for node in list(daemons):
    kill(node, signal.SIGTERM)
writes = arm_writes()
runs = [w for w in writes if w["operation"] == "run"]


def slot_of(at):
    t = datetime.fromisoformat(at.replace("Z", "+00:00"))
    seconds = (t - origin).total_seconds()
    return origin + timedelta(seconds=seconds - seconds % SPACING)


def spacing_of(template):
    return SLOW_SPACING if template == "slow" else SPACING


def slot_of_template(template, at):
    t = datetime.fromisoformat(at.replace("Z", "+00:00"))
    seconds = (t - origin).total_seconds()
    return origin + timedelta(seconds=seconds - seconds % spacing_of(template))


accepted, attempts, answers = {}, {}, {}
for w in runs:
    key = (w["template"], slot_of_template(w["template"], w["at"]))
    answers.setdefault(key, []).append(w["status"])
    attempts[key] = attempts.get(key, 0) + 1
    if w["status"] == 202:
        accepted[key] = accepted.get(key, 0) + 1
double = {k: v for k, v in accepted.items() if v > 1}
if double:
    fail(f"slots run more than once: {double}")
# Every slot of the kill phase (whole slots only) has its Run.
first_slot = slot_of((to_sim(kill_phase_start) + timedelta(seconds=SPACING)).isoformat())
last_slot = slot_of(to_sim(kill_phase_end).isoformat()) - timedelta(seconds=SPACING)
missing = []
slot = first_slot
while slot <= last_slot:
    for i in range(TEMPLATES):
        if accepted.get((f"t{i}", slot), 0) != 1:
            missing.append((f"t{i}", slot.isoformat()))
    slot += timedelta(seconds=SPACING)
slow_first = slot_of_template("slow", (to_sim(kill_phase_start) + timedelta(seconds=SLOW_SPACING)).isoformat())
slow_last = slot_of_template("slow", to_sim(kill_phase_end).isoformat()) - timedelta(seconds=SLOW_SPACING)
slot = slow_first
while slot <= slow_last:
    if accepted.get(("slow", slot), 0) != 1:
        missing.append(("slow", slot.isoformat()))
    slot += timedelta(seconds=SLOW_SPACING)
if missing:
    fail(f"slots of the kill phase without a Run: {missing}")
# Every accepted build followed to an outcome, per the cluster's own history.
history = subprocess.run([BIN, "history", "--config", str(work / "a.yaml"), "--json"], capture_output=True, text=True, env=env)
if history.returncode != 0:
    fail(f"history from etcd failed: {history.stderr}")
    entries = []
else:
    entries = json.loads(history.stdout)
open_runs = [e for e in entries if e.get("outcome") in (None, "running")]
if open_runs:
    fail(f"builds not followed to an outcome: {open_runs}")
outcomes = {}
for e in entries:
    outcomes[e.get("outcome")] = outcomes.get(e.get("outcome"), 0) + 1

failovers.sort()
p = lambda q: failovers[min(len(failovers) - 1, int(round(q * (len(failovers) - 1))))] if failovers else None
results.update({
    "kill_modes": modes,
    "residual_window": {
        "rounds": len(residual_kills),
        # Per round: the Run answers of that slot, in order (a held Run lands last).
        "slot_run_answers": [answers.get(("slow", slot_of_template("slow", k.isoformat())), []) for k in residual_kills],
        "rounds_with_one_run_adopted_by_the_next_leader": sum(
            1 for k in residual_kills
            if answers.get(("slow", slot_of_template("slow", k.isoformat())), []) == [202]
            and any(f"is ours [EVENT=run-accepted SCHEDULE=slow SLOT={slot_of_template('slow', k.isoformat()).strftime('%Y-%m-%dT%H:%M:%SZ')}" in line
                    for node in NODES for line in log_lines(node))),
    },
    "kills_landing_between_run_requested_and_answer": windows,
    "failover_seconds": {"p50": round(p(0.5), 2) if failovers else None, "p99": round(p(0.99), 2) if failovers else None,
                         "max": round(max(failovers), 2) if failovers else None, "n": len(failovers)},
    "slots_in_kill_phase": (int(((last_slot - first_slot).total_seconds() // SPACING + 1) * TEMPLATES) if last_slot >= first_slot else 0)
                           + (int((slow_last - slow_first).total_seconds() // SLOW_SPACING + 1) if slow_last >= slow_first else 0),
    "accepted_runs": sum(accepted.values()), "run_attempts": len(runs),
    "max_accepted_runs_per_slot": max(accepted.values()) if accepted else 0,
    "max_run_attempts_per_slot": max(attempts.values()) if attempts else 0,
    "runs_answered_409": len([w for w in runs if w["status"] == 409]),
    "history_outcomes": outcomes,
    "violations": failures,
})
print(json.dumps(results, indent=2, default=str), flush=True)
if args.out:
    Path(args.out).write_text(json.dumps(results, indent=2, default=str) + "\n")
simulator.terminate()
simulator.wait()
etcd.stop()
if failures:
    print(f"ha-soak: {len(failures)} violation(s); logs in {work}", flush=True)
    sys.exit(1)
if args.keep:
    print(f"ha-soak: logs and state kept in {work}")
else:
    subprocess.run(["rm", "-rf", str(work)])
print("ha-soak: all invariants held", flush=True)
