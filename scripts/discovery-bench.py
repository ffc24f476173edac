#!/usr/bin/env python3
"""Discovery's cost and delay against `imagebuildd simulate` (TLS), beside the Azure SDK for Python.

1,000 templates in one resource group (pages of 100), every other one tagged imagebuildd.cron. The
daemon discovers them; then, per pass: the ARM requests it made and its wall time (through
`imagebuildd discover`), beside the SDK's list_by_resource_group of the same templates; and the
time from a tag change (PATCH, as `az tag update` makes it) to `status` showing it, by an explicit
pass and by the interval (discover_interval 30s, at scale 1).

Usage: discovery-bench.py IMAGEBUILDD [--out FILE]   (pip-installs azure-mgmt-imagebuilder when missing)
"""
import argparse
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("binary")
parser.add_argument("--out")
args = parser.parse_args()
BIN = str(Path(args.binary).resolve())
ROOT = Path(__file__).resolve().parent.parent
SUB = "00000000-0000-0000-0000-000000000000"
TEMPLATES, PAGE, PASSES = 1000, 100, 5

try:
    from azure.identity import ClientSecretCredential
    from azure.mgmt.imagebuilder import ImageBuilderClient
except ImportError:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--root-user-action=ignore",
                    "azure-mgmt-imagebuilder", "azure-identity"], check=True)
    from azure.identity import ClientSecretCredential
    from azure.mgmt.imagebuilder import ImageBuilderClient

work = Path(tempfile.mkdtemp(prefix="imagebuildd-discovery-"))
TLS = work / "tls"
subprocess.run([str(ROOT / "scripts/gen-test-ca.sh"), str(TLS)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
scenario = {"pageSize": PAGE, "tokenLifetimeSeconds": 86400, "templates": [
    {"subscriptionId": SUB, "resourceGroup": "images", "name": f"t{i:04d}", "location": "westeurope", "runOutputNames": ["image"],
     "behavior": {"outcome": "succeed"},
     "tags": {"imagebuildd.cron": "0 3 * * *"} if i % 2 == 0 else {"team": "platform"}} for i in range(TEMPLATES)]}
(work / "scenario.json").write_text(json.dumps(scenario))
env = {k: v for k, v in os.environ.items() if k not in ("STATE_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "RUNTIME_DIRECTORY")}
env["AZURE_CLIENT_SECRET"] = "simulator-secret"
sim_out = open(work / "simulator.out", "w")
simulator = subprocess.Popen([BIN, "simulate", "--port", "0", "--tls-dir", str(TLS), "--scenario", str(work / "scenario.json")],
                             stdout=sim_out, stderr=subprocess.STDOUT, env=env)
daemon = None


def stop():
    for proc in (daemon, simulator):
        if proc and proc.poll() is None:
            proc.terminate()
            proc.wait()


try:
    for _ in range(200):
        text = (work / "simulator.out").read_text()
        if "listening on" in text:
            break
        time.sleep(0.05)
    BASE = text.split("listening on ")[1].split()[0]
    TENANT = text.split("tenant id:")[1].split()[0]
    CLIENT = text.split("client id:")[1].split()[0]
    CONTEXT = ssl.create_default_context(cafile=str(TLS / "ca.pem"))

    def requests(operation):
        with urllib.request.urlopen(BASE + "/simulator/requests", context=CONTEXT, timeout=10) as answer:
            return sum(json.load(answer)["by_operation"].get(operation, {}).values())

    def arm_total():
        with urllib.request.urlopen(BASE + "/simulator/requests", context=CONTEXT, timeout=10) as answer:
            return json.load(answer)["arm_requests"]

    def write_config(interval):
        (work / "config.yaml").write_text(f"""azure:
  resource_manager_endpoint: {BASE}
  authority_host: {BASE}
  ca_file: {TLS / 'ca.pem'}
  credential: client-secret
  tenant_id: {TENANT}
  client_id: {CLIENT}
state_directory: {work / 'state'}
control: {{ socket: {work / 'control.sock'} }}
discover:
  - {{ subscription_id: {SUB}, resource_group: images }}
discover_interval: {interval}
""")

    def cli(*arguments):
        return subprocess.run([BIN, *arguments, "--config", str(work / "config.yaml")], capture_output=True, text=True, env=env)

    def status():
        answer = cli("status", "--json")
        if answer.returncode != 0:
            return None
        return {s["schedule"]: s for s in json.loads(answer.stdout)["schedules"]}

    def wait(condition, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.02)
        sys.exit("discovery-bench: timed out")

    write_config("1h")
    started = time.monotonic()
    daemon = subprocess.Popen([BIN, "run", "--config", str(work / "config.yaml")], stdout=subprocess.DEVNULL,
                              stderr=open(work / "daemon.log", "w"), env=env)
    wait(lambda: (s := status()) is not None and len(s) == TEMPLATES // 2, 60)
    first = time.monotonic() - started

    # Passes with nothing changed: the steady cost.
    lists, walls = [], []
    for _ in range(PASSES):
        before, arm_before, t0 = requests("listByResourceGroup"), arm_total(), time.monotonic()
        answer = cli("discover")
        walls.append(time.monotonic() - t0)
        assert answer.returncode == 0, answer.stderr
        lists.append((requests("listByResourceGroup") - before, arm_total() - arm_before))

    # The peer: the SDK lists the same templates.
    os.environ["REQUESTS_CA_BUNDLE"] = str(TLS / "ca.pem")
    credential = ClientSecretCredential(TENANT, CLIENT, "simulator-secret", authority=BASE, disable_instance_discovery=True)
    sdk = ImageBuilderClient(credential, SUB, base_url=BASE, credential_scopes=["https://management.azure.com/.default"])
    list(sdk.virtual_machine_image_templates.list_by_resource_group("images"))  # token and connection warm, as the daemon's are
    sdk_lists, sdk_walls = [], []
    for _ in range(PASSES):
        before, t0 = requests("listByResourceGroup"), time.monotonic()
        found = [t for t in sdk.virtual_machine_image_templates.list_by_resource_group("images")
                 if (t.tags or {}).get("imagebuildd.cron")]
        sdk_walls.append(time.monotonic() - t0)
        sdk_lists.append(requests("listByResourceGroup") - before)
        assert len(found) == TEMPLATES // 2

    # A tag change, then an explicit pass.
    token = json.load(urllib.request.urlopen(urllib.request.Request(
        f"{BASE}/{TENANT}/oauth2/v2.0/token", method="POST", data=urllib.parse.urlencode({
            "grant_type": "client_credentials", "client_id": CLIENT, "client_secret": "simulator-secret",
            "scope": "https://management.azure.com/.default"}).encode()), context=CONTEXT))["access_token"]

    def retag(name, cron):
        url = f"{BASE}/subscriptions/{SUB}/resourceGroups/images/providers/Microsoft.VirtualMachineImages/imageTemplates/{name}?api-version=2024-02-01"
        request = urllib.request.Request(url, method="PATCH", data=json.dumps({"tags": {"imagebuildd.cron": cron}}).encode(),
                                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        urllib.request.urlopen(request, context=CONTEXT).read()

    explicit = []
    for i in range(PASSES):
        cron = f"{i} 4 * * *"
        t0 = time.monotonic()
        retag("t0000", cron)
        cli("discover")
        wait(lambda: (s := status()) and s["images/t0000"]["cron"] == cron, 30)
        explicit.append(time.monotonic() - t0)

    # By the interval alone: a restart with discover_interval 30s.
    daemon.terminate()
    daemon.wait()
    write_config("30s")
    daemon = subprocess.Popen([BIN, "run", "--config", str(work / "config.yaml")], stdout=subprocess.DEVNULL,
                              stderr=open(work / "daemon.log", "a"), env=env)
    wait(lambda: (s := status()) is not None and len(s) == TEMPLATES // 2, 60)
    interval = []
    for i in range(3):
        cron = f"{i} 5 * * *"
        t0 = time.monotonic()
        retag("t0002", cron)
        wait(lambda: (s := status()) and s["images/t0002"]["cron"] == cron, 45)
        interval.append(time.monotonic() - t0)

    results = {
        "templates": TEMPLATES, "tagged": TEMPLATES // 2, "page_size": PAGE,
        "first_pass_to_status_seconds": round(first, 2),
        "daemon_list_requests_per_pass": statistics.median(l for l, _ in lists),
        "daemon_arm_requests_per_pass": statistics.median(a for _, a in lists),
        "daemon_pass_seconds_p50": round(statistics.median(walls), 3),
        "sdk_list_requests_per_list": statistics.median(sdk_lists),
        "sdk_list_seconds_p50": round(statistics.median(sdk_walls), 3),
        "pass_time_ratio_daemon_to_sdk": round(statistics.median(walls) / statistics.median(sdk_walls), 2),
        "tag_change_to_status_explicit_pass_seconds_p50": round(statistics.median(explicit), 3),
        "tag_change_to_status_by_30s_interval_seconds": [round(x, 1) for x in interval],
    }
    print(json.dumps(results, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
finally:
    stop()
