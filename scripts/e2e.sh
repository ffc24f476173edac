#!/usr/bin/env bash
# `make e2e`: the release binary under a real systemd (sysd-box: systemd-nspawn), talking to
# `imagebuildd simulate` on the host's loopback. Skips loudly where the machine cannot boot the box.
set -euo pipefail
cd "$(dirname "$0")/.."
skip() { printf '\n*** e2e SKIPPED: %s ***\n\n' "$1"; exit 0; }
# The shared tools sit beside the project checkout; a clone elsewhere finds them through SYSD_BOX.
BOX=${SYSD_BOX:-}
for candidate in ../shared/tools/sysd-box/sysd-box.sh /work/shared/tools/sysd-box/sysd-box.sh; do
    if [ -z "$BOX" ] && [ -x "$candidate" ]; then BOX=$(cd "$(dirname "$candidate")" && pwd)/sysd-box.sh; fi
done
[ -n "$BOX" ] && [ -x "$BOX" ] || skip "sysd-box not found beside the checkout (../shared/tools/sysd-box); set SYSD_BOX="
[ "$(id -u)" = 0 ] || skip "sysd-box needs root"

scripts/build-release.sh
bin=$(swift build -c release --show-bin-path)/imagebuildd
export SYSD_BOX_NAME=imagebuildd-e2e
"$BOX" up || skip "the container did not boot (see the output above)"
work=$(mktemp -d)
cleanup() {
    kill "${sim:-}" 2>/dev/null || true
    "$BOX" down >/dev/null 2>&1 || true
    SYSD_BOX_NAME=imagebuildd-deb "$BOX" down >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

pass=0
check() { # check "what" command...
    if "${@:2}"; then pass=$((pass + 1)); echo "e2e: ok: $1"; else echo "e2e: FAILED: $1" >&2; exit 1; fi
}
inbox() { "$BOX" exec "$@"; }
# Waits up to $1 seconds for a command to succeed.
until_ok() { local t=$1; shift; for _ in $(seq $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; "$@"; }

# One simulated minute per real second, shared by the simulator and the daemon.
clock="60@2027-01-01T00:00:00Z@$(date +%s.%N)"
port=$((20000 + RANDOM % 20000))
mport=$((port + 1))
cat > "$work/scenario.json" <<JSON
{"templates": [{"subscriptionId": "00000000-0000-0000-0000-000000000000", "resourceGroup": "images", "name": "golden",
  "location": "westeurope", "runOutputNames": ["golden-image"], "behavior": {"outcome": "succeed", "phaseSeconds": [60, 60, 60, 60]}},
  {"subscriptionId": "00000000-0000-0000-0000-000000000000", "resourceGroup": "images", "name": "tagged",
  "location": "westeurope", "runOutputNames": ["tagged-image"], "behavior": {"outcome": "succeed", "phaseSeconds": [60, 60, 60, 60]}}],
 "tokenLifetimeSeconds": 315360000}
JSON
IMAGEBUILDD_TIME_SCALE=$clock "$bin" simulate --port "$port" --scenario "$work/scenario.json" > "$work/simulator.out" 2>&1 &
sim=$!
until_ok 10 grep -q "listening on" "$work/simulator.out"

cat > "$work/config.yaml" <<YAML
azure:
  resource_manager_endpoint: http://127.0.0.1:$port
  authority_host: http://127.0.0.1:$port
  credential: client-secret
  tenant_id: 11111111-1111-1111-1111-111111111111
  client_id: 22222222-2222-2222-2222-222222222222
metrics: { listen: "127.0.0.1:$mport" }
discover:
  - { subscription_id: 00000000-0000-0000-0000-000000000000, resource_group: images }
defaults:
  poll: { initial: 1m, max: 2m, multiplier: 2 }
schedules:
  - name: golden-nightly
    subscription_id: 00000000-0000-0000-0000-000000000000
    resource_group: images
    template: golden
    cron: "*/10 * * * *"
YAML
printf 'simulator-secret\n' > "$work/client-secret"
printf '[Service]\nEnvironment=IMAGEBUILDD_TIME_SCALE=%s\nWatchdogSec=3s\nRestartSec=1s\n' "$clock" > "$work/10-e2e.conf"

"$BOX" copy-in "$bin" /usr/local/bin/imagebuildd
"$BOX" copy-in "$work/config.yaml" /etc/imagebuildd/config.yaml
"$BOX" copy-in "$work/client-secret" /etc/imagebuildd/client-secret
inbox chmod 0600 /etc/imagebuildd/client-secret
"$BOX" copy-in packaging/systemd/imagebuildd.catalog /usr/lib/systemd/catalog/imagebuildd.catalog
inbox journalctl --update-catalog
"$BOX" install-unit packaging/systemd/imagebuildd.service
"$BOX" install-unit "$work/10-e2e.conf" imagebuildd.service.d/10-e2e.conf

prop() { inbox systemctl show -p "$1" --value imagebuildd.service; }
check "systemctl start returns once READY=1 arrived: active (running)" inbox systemctl start imagebuildd.service
check "ActiveState=active SubState=running" test "$(prop ActiveState)/$(prop SubState)" = "active/running"
check "the daemon logged ready before systemd logged Started" sh -c \
    "$BOX exec journalctl -u imagebuildd.service -o cat --no-pager | grep -n -e '^ready' -e '^Started' | head -2 | grep -q '^[0-9]*:ready'"
check "systemctl status shows the STATUS line" sh -c "$BOX exec systemctl status imagebuildd.service --no-pager | grep -q 'Status: \".*next: golden-nightly (golden)'"
# The control socket under the hardened unit: status for anyone, changes for root and imagebuildd-operators.
"$BOX" copy-in packaging/systemd/imagebuildd.sysusers /usr/lib/sysusers.d/imagebuildd.conf
inbox systemd-sysusers
inbox useradd --no-create-home alice
inbox useradd --no-create-home --groups imagebuildd-operators bob
check "a user outside imagebuildd-operators can read status" sh -c "$BOX exec runuser -u alice -- imagebuildd status | grep -q golden-nightly"
denied() { out=$("$BOX" exec runuser -u alice -- imagebuildd trigger golden-nightly 2>&1) && return 1; echo "$out" | grep -q 'permission denied'; }
check "and gets permission denied from trigger" denied
check "the daemon logs the refusal with the peer's uid" until_ok 5 sh -c "$BOX exec journalctl -u imagebuildd.service -o cat --no-pager | grep -q 'Trigger refused to uid'"
check "a member of imagebuildd-operators can trigger" sh -c "$BOX exec runuser -u bob -- imagebuildd trigger golden-nightly --reason e2e | grep -q 'triggered golden-nightly'"
check "history shows the manual run and who asked" until_ok 10 sh -c \
    "$BOX exec imagebuildd history --state-dir /var/lib/imagebuildd --json | grep -q '\"requested_by\": \"uid [0-9]* (bob)\"'"

has_fields() { inbox journalctl -u imagebuildd.service -o json --no-pager | grep '"MESSAGE_ID":"a6e508072d804b34a743c1dfe3b1bdf4"' | grep -q '"TEMPLATE":"golden"'; }
check "journalctl -o json has MESSAGE_ID and TEMPLATE fields" until_ok 30 has_fields
explained() { inbox journalctl -u imagebuildd.service -x --no-pager | grep -q "applies the overlap policy"; }
check "journalctl -x shows the catalog text" until_ok 5 explained
scrape() { curl -sf "http://127.0.0.1:$mport/metrics" > "$work/scrape.txt" && grep -q 'imagebuildd_schedule_info{schedule="golden-nightly"' "$work/scrape.txt"; }
check "under the hardened unit GET /metrics answers with the schedule's series" until_ok 10 scrape
check "and promtool accepts the exposition" sh -c "promtool check metrics < '$work/scrape.txt'"
gzipped() { curl -sf -H 'Accept-Encoding: gzip' -D "$work/headers.txt" "http://127.0.0.1:$mport/metrics" | gzip -dc | grep -q '^imagebuildd_schedule_info{schedule="golden-nightly"' \
    && grep -qi '^content-encoding: gzip' "$work/headers.txt"; }
check "a scrape that asks for gzip (as Prometheus does) gets gzip" gzipped

# Schedules from tags: the template's owner tags it (as `az tag update` would, through ARM), and the
# next discovery pass (every 5 simulated minutes: 5 s here) schedules it.
token=$(curl -sf -X POST "http://127.0.0.1:$port/11111111-1111-1111-1111-111111111111/oauth2/v2.0/token" \
    -d grant_type=client_credentials -d client_id=22222222-2222-2222-2222-222222222222 -d client_secret=simulator-secret \
    -d scope=https://management.azure.com/.default | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
check "the simulator takes a tag on the template (PATCH)" curl -sf -o /dev/null -X PATCH -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    "http://127.0.0.1:$port/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/images/providers/Microsoft.VirtualMachineImages/imageTemplates/tagged?api-version=2024-02-01" \
    -d '{"tags": {"imagebuildd.cron": "*/15 * * * *"}}'
listed() { inbox imagebuildd status --json | grep -q '"source":"tag:/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/images/providers/Microsoft.VirtualMachineImages/imageTemplates/tagged"'; }
check "the next status lists the tagged template's schedule, with its source" until_ok 20 listed
check "the journal says it was discovered, under its MESSAGE_ID" until_ok 5 sh -c \
    "$BOX exec journalctl -u imagebuildd.service -o json --no-pager | grep '\"MESSAGE_ID\":\"76c8404bfdfe4eee87176f526ebfaabf\"' | grep -q 'images/tagged'"

printf 'schedules: [unclosed\n' > "$work/broken.yaml"
"$BOX" copy-in "$work/broken.yaml" /etc/imagebuildd/config.yaml
inbox systemctl reload imagebuildd.service || true
rejected() { inbox journalctl -u imagebuildd.service -o cat --no-pager | grep -q "configuration rejected, keeping the previous one"; }
check "reload with a broken config is rejected in the journal" until_ok 10 rejected
check "and the daemon keeps running" test "$(prop ActiveState)/$(prop SubState)" = "active/running"
"$BOX" copy-in "$work/config.yaml" /etc/imagebuildd/config.yaml

restarts_before=$(prop NRestarts)
inbox systemctl kill -s SIGSTOP imagebuildd.service
restarted() { [ "$(prop NRestarts)" -gt "$restarts_before" ] && [ "$(prop ActiveState)" = active ]; }
check "a hung daemon (SIGSTOP) is killed by the watchdog and restarted" until_ok 20 restarted
check "the journal says why" sh -c "$BOX exec journalctl -u imagebuildd.service --no-pager | grep -q 'Watchdog timeout'"

quiet() { ! inbox journalctl -u imagebuildd.service -o cat --no-pager | grep -q "Failed to set thread priority"; }
check "the unit's journal has no thread-priority noise from the runtime (setpriority allowed)" quiet
check "systemctl stop is clean" inbox systemctl stop imagebuildd.service
check "Result=success after stop" test "$(prop Result)" = success
# --- The Debian package: lintian, then installed with its dependencies into a box of its own.
"$BOX" down >/dev/null
deb=$(scripts/build-deb.sh | tail -1)
command -v lintian >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lintian; }
check "lintian reports no errors on $(basename "$deb")" lintian --fail-on error --no-tag-display-limit "$deb"
export SYSD_BOX_NAME=imagebuildd-deb SYSD_BOX_EXTRA_PACKAGES=ca-certificates,tzdata,man-db
"$BOX" up || skip "the package box did not boot"
"$BOX" copy-in "$deb" /root/imagebuildd.deb
check "dpkg -i installs the package with its dependencies present" inbox dpkg -i /root/imagebuildd.deb
check "installing does not start the service" sh -c "[ \"\$($BOX exec systemctl is-active imagebuildd.service)\" = inactive ]"
check "the unit runs /usr/bin/imagebuildd" sh -c "$BOX exec systemctl cat imagebuildd.service | grep -q '^ExecStart=/usr/bin/imagebuildd run'"
check "the operators group exists (sysusers.d)" inbox getent group imagebuildd-operators
check "the Grafana dashboard is installed" inbox test -s /usr/share/imagebuildd/grafana/imagebuildd.json
check "time zones come from the box's tzdata (Europe/Berlin's spring gap in 2027)" sh -c \
    "$BOX exec imagebuildd next --cron '0 2 * * *' --timezone Europe/Berlin --after 2027-03-27T12:00:00Z --count 1 | grep -qx 2027-03-28T01:00:00Z"
"$BOX" copy-in "$work/config.yaml" /etc/imagebuildd/config.yaml
"$BOX" copy-in "$work/client-secret" /etc/imagebuildd/client-secret
inbox chmod 0600 /etc/imagebuildd/client-secret
check "the installed unit starts and becomes active against the simulator" inbox systemctl start imagebuildd.service
check "ActiveState=active" test "$(prop ActiveState)/$(prop SubState)" = "active/running"
check "man imagebuildd renders" sh -c "$BOX exec sh -c 'MANPAGER=cat MANWIDTH=80 man imagebuildd' | grep -q 'Image Builder templates rebuilt'"
check "man imagebuildd.templates.list renders" sh -c "$BOX exec sh -c 'MANPAGER=cat man imagebuildd.templates.list' | grep -q -- '--unscheduled'"
check "bash, zsh and fish completions are installed" inbox test -s /usr/share/bash-completion/completions/imagebuildd \
    -a -s /usr/share/zsh/vendor-completions/_imagebuildd -a -s /usr/share/fish/vendor_completions.d/imagebuildd.fish
check "dpkg -r stops the daemon and removes it" inbox dpkg -r imagebuildd
check "and keeps the state (/var/lib/imagebuildd)" inbox test -d /var/lib/private/imagebuildd/journal
check "dpkg -P deletes the state" sh -c "$BOX exec dpkg -P imagebuildd && ! $BOX exec test -e /var/lib/private/imagebuildd"

echo "e2e: all $pass checks passed under systemd $(inbox systemctl --version | head -1 | cut -d' ' -f2)"
