#!/usr/bin/env python3
"""Control socket figures (issue "Operator control"), on the release binary:

- Status round trips over the socket with 1,000 schedules (p50/p99), and Pause+Resume pairs
  (each one a journal append with fdatasync before the answer);
- `imagebuildd status` (text) end to end with 10,000 schedules, beside the Status round trip alone.

No ARM is involved: every schedule is yearly, so nothing comes due. Usage: control-bench.py IMAGEBUILDD
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = sys.argv[1]


def config(work, count):
    state = work / f"state-{count}"
    lines = ["azure:", "  resource_manager_endpoint: http://127.0.0.1:9", "  authority_host: http://127.0.0.1:9",
             "  credential: client-secret", "  tenant_id: 11111111-1111-1111-1111-111111111111",
             "  client_id: 22222222-2222-2222-2222-222222222222", f"state_directory: {state}",
             f"control: {{ socket: {work}/control-{count}.sock }}", "schedules:"]
    for i in range(count):
        lines.append(f"  - {{ name: s{i}, subscription_id: 00000000-0000-0000-0000-000000000000, resource_group: images, "
                     f"template: t{i}, cron: \"0 0 1 1 *\" }}")
    path = work / f"config-{count}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path, f"{work}/control-{count}.sock"


def call(path, method, parameters=None):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.sendall(json.dumps({"method": method, "parameters": parameters or {}}).encode() + b"\0")
        data = b""
        while not data.endswith(b"\0"):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    return json.loads(data[:-1])


def percentiles(samples):
    samples = sorted(samples)
    return samples[len(samples) // 2] * 1000, samples[int(len(samples) * 0.99) - 1] * 1000


def run(count, rounds):
    work = Path(tempfile.mkdtemp(prefix="imagebuildd-control-"))
    cfg, sock = config(work, count)
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "STATE_DIRECTORY")}
    env["AZURE_CLIENT_SECRET"] = "unused"
    proc = subprocess.Popen([BIN, "run", "--config", str(cfg)], stdout=subprocess.DEVNULL, stderr=open(work / "daemon.log", "w"), env=env)
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(sock):
            if time.monotonic() > deadline:
                sys.exit(f"control-bench: no socket after 60 s; see {work}/daemon.log")
            time.sleep(0.05)
        for _ in range(20):
            call(sock, "io.imagebuildd.Control.Status")
        status = []
        for _ in range(rounds):
            t = time.perf_counter()
            reply = call(sock, "io.imagebuildd.Control.Status")
            status.append(time.perf_counter() - t)
        assert len(reply["parameters"]["schedules"]) == count
        writes = []
        for i in range(rounds // 4):
            t = time.perf_counter()
            call(sock, "io.imagebuildd.Control.Pause", {"schedule": f"s{i}", "reason": "bench"})
            call(sock, "io.imagebuildd.Control.Resume", {"schedule": f"s{i}"})
            writes.append(time.perf_counter() - t)
        cli = []
        for _ in range(5):
            t = time.perf_counter()
            out = subprocess.run([BIN, "status", "--socket", sock], capture_output=True, text=True)
            cli.append(time.perf_counter() - t)
            assert out.returncode == 0, out.stderr
        return {"status": percentiles(status), "pause_resume": percentiles(writes), "cli": statistics.median(cli) * 1000,
                "lines": len(out.stdout.splitlines()), "bytes": len(json.dumps(reply))}
    finally:
        proc.terminate()
        proc.wait()


small = run(1000, 400)
large = run(10000, 40)
print(f"1,000 schedules: Status round trip p50 {small['status'][0]:.2f} ms, p99 {small['status'][1]:.2f} ms "
      f"({small['bytes'] / 1024:.0f} KiB); Pause+Resume (two fsynced appends) p50 {small['pause_resume'][0]:.2f} ms, "
      f"p99 {small['pause_resume'][1]:.2f} ms")
print(f"10,000 schedules: Status round trip p50 {large['status'][0]:.1f} ms, p99 {large['status'][1]:.1f} ms "
      f"({large['bytes'] / 1024:.0f} KiB); `imagebuildd status` end to end {large['cli']:.0f} ms for {large['lines']} lines "
      f"(1,000: {small['cli']:.0f} ms)")
