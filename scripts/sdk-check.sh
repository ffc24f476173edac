#!/usr/bin/env bash
# The official Azure SDK for Python against `imagebuildd simulate --tls-dir`: get, begin_run polled
# to the end, run_outputs.list, begin_cancel and list_by_resource_group. Run by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-.build/debug/imagebuildd}

if ! python3 -c 'import azure.mgmt.imagebuilder, azure.identity' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore azure-mgmt-imagebuilder azure-identity
fi

work=$(mktemp -d)
trap 'kill $sim 2>/dev/null || true; rm -rf "$work"' EXIT
scripts/gen-test-ca.sh "$work/tls"
cat > "$work/scenario.json" <<'JSON'
{
  "pageSize": 1,
  "timeScale": 4,
  "templates": [
    {"subscriptionId": "00000000-0000-0000-0000-000000000000", "resourceGroup": "images", "name": "golden",
     "location": "westeurope", "runOutputNames": ["golden-image"], "behavior": {"outcome": "succeed"}},
    {"subscriptionId": "00000000-0000-0000-0000-000000000000", "resourceGroup": "images", "name": "stuck",
     "location": "westeurope", "runOutputNames": ["stuck-image"], "behavior": {"outcome": "hang", "cancelSeconds": 4}}
  ]
}
JSON
"$binary" simulate --port 0 --tls-dir "$work/tls" --scenario "$work/scenario.json" > "$work/simulator.out" 2>&1 &
sim=$!
for _ in $(seq 100); do grep -q "listening on" "$work/simulator.out" && break; sleep 0.1; done
base=$(sed -n 's/^simulator listening on //p' "$work/simulator.out")
[ -n "$base" ] || { cat "$work/simulator.out"; echo "sdk-check: the simulator did not start" >&2; exit 1; }
tenant=$(sed -n 's/^ *tenant id: *//p' "$work/simulator.out")
client=$(sed -n 's/^ *client id: *//p' "$work/simulator.out")

REQUESTS_CA_BUNDLE="$work/tls/ca.pem" timeout 300 python3 scripts/sdk-check.py "$base" "$tenant" "$client" simulator-secret \
    00000000-0000-0000-0000-000000000000
