#!/usr/bin/env python3
"""Metrics at scale (part of `make bench`), each figure beside its peer in the same run:

- idle CPU and RSS of the release daemon with 10,000 schedules, none due: metrics off (the peer),
  metrics on and never scraped, and metrics on scraped every 15 s as Prometheus does by default;
- one scrape with 10,000 schedules: wall time p50/p99 over 20 scrapes, bytes and series; the peer is
  the Prometheus server's own /metrics (Go client_golang, Debian's prometheus), per series.

Usage: metrics-bench.py IMAGEBUILDD OUTDIR
"""
import gzip
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN, OUT = sys.argv[1:3]
ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
WINDOW = int(os.environ.get("METRICS_BENCH_WINDOW", "60"))


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    sys.exit(f"metrics-bench: timed out waiting for {what}")


def fetch(url, gzip_ok=False):
    """One scrape; with gzip_ok, as Prometheus sends it (Accept-Encoding: gzip). The body, decoded."""
    started = time.perf_counter()
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzip_ok else {})
    with urllib.request.urlopen(request, timeout=30) as answer:
        body = answer.read()
        encoded = answer.headers.get("Content-Encoding") == "gzip"
    elapsed = time.perf_counter() - started
    return elapsed, (gzip.decompress(body) if encoded else body), len(body), encoded


def scrapes(url, n=20, gzip_ok=False):
    times, body, size, encoded = [], b"", 0, False
    for _ in range(n):
        elapsed, body, size, encoded = fetch(url, gzip_ok)
        times.append(elapsed)
    times.sort()
    series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
    return {"p50_ms": statistics.median(times) * 1000, "p99_ms": times[-1] * 1000, "bytes": size, "series": series, "gzip": encoded}


work = Path(tempfile.mkdtemp(prefix="imagebuildd-metrics-bench-"))
tls = work / "tls"
subprocess.run([str(ROOT / "scripts/gen-test-ca.sh"), str(tls)], check=True, capture_output=True)
(work / "scenario.json").write_text(json.dumps({"templates": [], "tokenLifetimeSeconds": 315360000}))
sim_out = open(work / "simulator.out", "w")
sim = subprocess.Popen([BIN, "simulate", "--port", "0", "--tls-dir", str(tls), "--scenario", str(work / "scenario.json")],
                       stdout=sim_out, stderr=subprocess.STDOUT)
wait_for(lambda: "client id:" in (work / "simulator.out").read_text(), 30, "the simulator")
text = (work / "simulator.out").read_text()
base, tenant, client = text.split("listening on ")[1].split()[0], text.split("tenant id:")[1].split()[0], text.split("client id:")[1].split()[0]


def run_daemon(name, metrics_yaml, scrape_every=None):
    state = work / name
    lines = ["azure:", f"  resource_manager_endpoint: {base}", f"  authority_host: {base}", f"  ca_file: {tls / 'ca.pem'}",
             "  credential: client-secret", f"  tenant_id: {tenant}", f"  client_id: {client}", f"state_directory: {state}",
             f"control: {{ socket: {state}/control.sock }}", metrics_yaml, "defaults: { stale_after: 36h }", "schedules:"]
    for w in range(10000):
        lines.append(f"  - {{ name: idle-{w}, subscription_id: {w % 10:08d}-0000-0000-0000-000000000000, resource_group: images, "
                     f"template: idle-{w}, cron: \"{w % 60} {w % 24} 1 1 *\" }}")
    cfg = work / f"{name}.yaml"
    cfg.write_text("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("STATE_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM")}
    env["AZURE_CLIENT_SECRET"] = "simulator-secret"
    log = work / f"{name}.log"
    proc = subprocess.Popen([BIN, "run", "--config", str(cfg)], stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)
    wait_for(lambda: "ready" in log.read_text(), 180, f"{name} to be ready")
    time.sleep(5)
    url = None
    if "listen" in metrics_yaml:
        url = "http://" + metrics_yaml.split('"')[1] + "/metrics"
        fetch(url)  # the first scrape creates the series
    cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
    while time.monotonic() - t0 < WINDOW:
        if scrape_every:
            fetch(url, gzip_ok=True)
            time.sleep(scrape_every)
        else:
            time.sleep(1)
    result = {"cpu_s_per_min": (cpu_seconds(proc.pid) - cpu0) * 60 / (time.monotonic() - t0), "rss_mb": rss_mb(proc.pid)}
    if url and scrape_every is None:
        result["scrape"] = scrapes(url)
        result["scrape_gzip"] = scrapes(url, gzip_ok=True)
        result["rss_after_scrapes_mb"] = rss_mb(proc.pid)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    return result


results = {
    "off": run_daemon("off", ""),
    "on": run_daemon("on", f'metrics: {{ listen: "127.0.0.1:{free_port()}" }}'),
    "scraped": run_daemon("scraped", f'metrics: {{ listen: "127.0.0.1:{free_port()}" }}', scrape_every=15),
}
sim.terminate()
sim.wait()

# The peer: the Prometheus server's own exposition (client_golang), scraped the same way.
port = free_port()
(work / "prometheus.yml").write_text("global: { scrape_interval: 1h }\nscrape_configs: []\n")
prom = subprocess.Popen(["prometheus", f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'tsdb'}",
                         f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    wait_for(lambda: subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/-/ready"], capture_output=True).returncode == 0, 60, "prometheus")
    results["peer"] = scrapes(f"http://127.0.0.1:{port}/metrics")
    results["peer_gzip"] = scrapes(f"http://127.0.0.1:{port}/metrics", gzip_ok=True)
    results["peer"]["version"] = subprocess.run(["prometheus", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
finally:
    prom.terminate()
    prom.wait()

Path(OUT).mkdir(parents=True, exist_ok=True)
(Path(OUT) / "metrics.json").write_text(json.dumps(results, indent=2))
off, on, scraped, peer = results["off"], results["on"], results["scraped"], results["peer"]
s, g, pg = on["scrape"], on.get("scrape_gzip", {}), results["peer_gzip"]
# Scraped every 15 s is four scrapes a minute beyond metrics on and idle.
per_scrape_ms = (scraped["cpu_s_per_min"] - on["cpu_s_per_min"]) * 1000 / 4
ours_us, peer_us = s["p50_ms"] * 1000 / s["series"], peer["p50_ms"] * 1000 / peer["series"]
print(f"""
Metrics (release build, 10,000 schedules none due, {WINDOW} s windows; peers in the same run)
idle CPU: metrics off {off['cpu_s_per_min']:.4f} s/min, on {on['cpu_s_per_min']:.4f} s/min ({on['cpu_s_per_min'] / max(off['cpu_s_per_min'], 1e-6):.2f}x), \
on + scraped every 15 s {scraped['cpu_s_per_min']:.4f} s/min ({scraped['cpu_s_per_min'] / max(off['cpu_s_per_min'], 1e-6):.1f}x)
RSS: off {off['rss_mb']:.1f} MB, on {on['rss_mb']:.1f} MB, after 21 scrapes {on['rss_after_scrapes_mb']:.1f} MB, scraped {scraped['rss_mb']:.1f} MB
scrape: p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, {s['bytes'] / 1e6:.2f} MB, {s['series']:,} series ({ours_us:.2f} us/series)
gzip scrape (as Prometheus asks): p50 {g.get('p50_ms', 0):.1f} ms, {g.get('bytes', 0) / 1e6:.2f} MB on the wire (gzip: {g.get('gzip')}); \
CPU per scrape (scraped every 15 s, gzip): {per_scrape_ms:.1f} ms
peer, {peer['version']} own /metrics: p50 {peer['p50_ms']:.1f} ms, {peer['bytes'] / 1e3:.0f} kB, {peer['series']:,} series ({peer_us:.2f} us/series); \
gzip p50 {pg['p50_ms']:.1f} ms ({pg['gzip']}); ratio per series (imagebuildd / client_golang) {ours_us / peer_us:.2f}x, \
gzip {g.get('p50_ms', 0) * 1000 / max(g.get('series', 1), 1) / (pg['p50_ms'] * 1000 / pg['series']):.2f}x
""")
