#!/usr/bin/env bash
# The administrators' live dashboard in a real browser: the real daemon with the development PKI,
# its admin listener over mutual TLS, and headless Chromium presenting the administrator's client
# certificate, driven over the W3C WebDriver protocol by tests/browser/dashboard.py (Python
# standard library only).  A feeder pushes records while the page is watched: the received counter
# and the flow picture's rates must move; a receiver that answers 503 makes dead letters, one is
# replayed from the page; a message id and an ID number are looked up (the ID number is shown
# masked only); the instances panel says the gateway runs alone on SQLite, or (run on a throwaway
# PostgreSQL cluster by the postgresql suite) lists it as the evaluator; the certificates panel shows
# the gateway certificate's days left (the development PKI issues 825 days); the audit panel's
# Verify now shows the audit log verified.  A screenshot is saved to
# $MSGW_ARTIFACTS (default ./artifacts)/dashboard.png (dashboard-postgresql.png).
#
# Chromium takes client certificates from the NSS database under $HOME/.pki/nssdb (a temporary
# HOME here), and picks one without asking only under the managed policy
# AutoSelectCertificateForUrls, which it reads only from /etc/chromium/policies/managed/.  The
# host's /etc is never written: chromedriver runs in a private mount namespace (unshare -m) in
# which a temporary copy of /etc/chromium with the policy is bind-mounted over /etc/chromium.
set -uo pipefail
msgw=${MSGW_BIN:?}
root=${MSGW_SOURCE_ROOT:?}
popgen=${MSGW_POPGEN:-$(dirname "$msgw")/../../tools/msgw-popgen}
skip() { echo "SKIP: $*"; exit 77; }
for tool in chromium chromedriver certutil pk12util unshare setsid openssl curl python3; do
	command -v "$tool" >/dev/null || skip "$tool is not installed (make deps installs chromium, chromium-driver, libnss3-tools)"
done
[[ -d /etc/chromium ]] || skip "/etc/chromium does not exist (the chromium package makes it): nothing to mount the policy over"
unshare -m sh -c 'mount --bind /etc/chromium /etc/chromium' 2>/dev/null || skip "unshare -m with a bind mount is not permitted here (needs root, or user and mount namespaces): the certificate policy cannot be given to Chromium without writing /etc"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/msgw-dashboard.XXXXXX")
pids=()
driver_pid=
cleanup() {
	[[ -n $driver_pid ]] && kill -TERM -- -"$driver_pid" 2>/dev/null # chromedriver and its browser: one process group
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	# a browser process that left the group: found by the unique temporary directory it was given
	for d in /proc/[0-9]*; do
		grep -qsF -- "$tmp/" "$d/cmdline" 2>/dev/null && kill -KILL "${d#/proc/}" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
wait_file() { for _ in $(seq 150); do [[ -s $1 ]] && return 0; sleep 0.1; done; echo "FAIL: timed out waiting for $1" >&2; return 1; }
started=$SECONDS

# --- the gateway: development PKI, webhook receivers (cdpf's answers 503: dead letters), daemon
P=$tmp/pki
"$root/certs/dev-pki.sh" "$P" 12 >/dev/null 2>&1 || { echo "FAIL: certs/dev-pki.sh"; exit 1; }
python3 "$root/tests/cli/webhook_receiver.py" "$P/gateway.crt" "$P/gateway.key" "$P/ca.crt" 200 "$tmp/mca.log" "$tmp/mca.port" &
pids+=($!)
python3 "$root/tests/cli/webhook_receiver.py" "$P/gateway.crt" "$P/gateway.key" "$P/ca.crt" 503 "$tmp/cdpf.log" "$tmp/cdpf.port" &
pids+=($!)
wait_file "$tmp/mca.port" && wait_file "$tmp/cdpf.port" || exit 1
# two attempts 3 s apart: a replayed dead letter stays out of the list for 3 s before it is dead again
# run by tests/postgresql/cluster.sh (the postgresql suite): the daemon on a PostgreSQL store, a
# cluster of one, whose instances panel names it the evaluator
store= cluster_args=()
if [[ -n ${MSGW_PG_HOST:-} ]]; then
	store="\"store\": \"postgresql:///msgw_dashboard?host=$MSGW_PG_HOST\", \"cluster\": { \"instance\": \"gw-dash\" },"
	cluster_args=(--cluster-instance gw-dash)
fi
cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data", $store
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "admin": { "listen": "127.0.0.1:0" },
  "delivery": { "max_attempts": 2, "backoff_initial_ms": 3000, "backoff_max_ms": 3000, "webhook_parallel": 4 },
  "departments": [
    { "id": "mca", "certificate": { "organization": "12", "unit": "mca" },
      "push": ["household_assistance_roster", "care_assessment", "orphan_registration", "death"],
      "subscriptions": [ { "kinds": ["disability_certificate"], "from": ["cdpf"],
                           "fields": ["hukou_region", "disability_category", "disability_grade"] } ],
      "eligibility": true, "deliver": { "webhook": { "url": "https://localhost:$(cat "$tmp/mca.port")/inbox" } } },
    { "id": "hrss", "certificate": { "organization": "12", "unit": "hrss" },
      "push": ["insurance_enrolment", "insurance_termination", "employment_registration", "unemployment_registration", "retirement"] },
    { "id": "health", "certificate": { "organization": "12", "unit": "health" },
      "push": ["person_registration", "condition", "observation", "pregnancy", "death"] },
    { "id": "cdpf", "certificate": { "organization": "12", "unit": "cdpf" }, "push": ["disability_certificate"],
      "subscriptions": [ { "kinds": ["household_assistance_roster"], "from": ["mca"], "fields": ["hukou_region", "assistance_category"] } ],
      "eligibility": true, "deliver": { "webhook": { "url": "https://localhost:$(cat "$tmp/cdpf.port")/inbox" } } } ] }
JSON
"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>"$tmp/msgw.log" &
daemon_pid=$!
pids+=("$daemon_pid")
wait_file "$tmp/port" && wait_file "$tmp/port.admin" || { tail -n 20 "$tmp/msgw.log"; exit 1; }
port=$(cat "$tmp/port") admin=$(cat "$tmp/port.admin")

push() { # DEPT MEDIA_TYPE FILE [ANSWER]
	curl -s -o "${4:-/dev/null}" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/$1.crt" --key "$P/$1.key" \
		-H "Content-Type: $2" --data-binary "@$3" "https://localhost:$port/v1/records"
}
# the page's own headers: only its own scripts and styles run
headers=$(curl -s -D - -o /dev/null --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" "https://localhost:$admin/")
grep -qi "^content-security-policy: default-src 'self'" <<<"$headers" || { echo "FAIL: GET / without Content-Security-Policy default-src 'self':"; echo "$headers"; exit 1; }

# what the page will look up: a message id that was pushed, and an ID number in it
code=$(push mca application/vnd.msgw.mca.roster+xml "$root/tests/data/mca/roster-valid.xml" "$tmp/pushed.json")
[[ $code == 202 ]] || { echo "FAIL: the first push answered $code"; cat "$tmp/pushed.json"; exit 1; }
message_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"][0]["message_id"])' "$tmp/pushed.json")
id_number=$(sed -n 's|.*<SFZH>\([0-9X]\{18\}\)</SFZH>.*|\1|p' "$root/tests/data/mca/roster-valid.xml" | head -n 1)
push cdpf application/vnd.msgw.cdpf.certificate+xml "$root/tests/data/cdpf/certificate-events.xml" >/dev/null

# --- the feeder: new households every few tenths of a second once the page is live (then again,
# as duplicates), in every department's format
mkdir -p "$tmp/feed"
for round in $(seq 8); do
	"$popgen" --seed $((4000 + round)) --households 6 --region tianjin --out "$tmp/feed/$round" --format all >/dev/null 2>&1
done
(
	for _ in $(seq 600); do [[ -e $tmp/feeder.go ]] && break; sleep 0.1; done
	while :; do
		for dir in "$tmp"/feed/*/; do
			[[ -f $dir/mca-roster.xml ]] && push mca application/vnd.msgw.mca.roster+xml "$dir/mca-roster.xml" >/dev/null
			[[ -f $dir/cdpf-events.xml ]] && push cdpf application/vnd.msgw.cdpf.certificate+xml "$dir/cdpf-events.xml" >/dev/null
			[[ -f $dir/hrss.json ]] && push hrss application/vnd.msgw.hrss+json "$dir/hrss.json" >/dev/null
			[[ -f $dir/health-bundle.json ]] && push health application/fhir+json "$dir/health-bundle.json" >/dev/null
			sleep 0.3
		done
	done
) &
feeder_pid=$!
pids+=("$feeder_pid")

# --- the browser: an NSS database with the administrator's certificate and the CA, the policy
home=$tmp/home
mkdir -p "$home/.pki/nssdb"
certutil -N -d "sql:$home/.pki/nssdb" --empty-password &&
	openssl pkcs12 -export -in "$P/admin.crt" -inkey "$P/admin.key" -out "$tmp/admin.p12" -passout pass: -name admin &&
	pk12util -i "$tmp/admin.p12" -d "sql:$home/.pki/nssdb" -W '' >/dev/null &&
	certutil -A -d "sql:$home/.pki/nssdb" -n msgwca -t "C,," -i "$P/ca.crt" ||
	{ echo "FAIL: cannot build the browser's NSS database"; exit 1; }
cp -a /etc/chromium "$tmp/etc-chromium"
mkdir -p "$tmp/etc-chromium/policies/managed"
python3 - "$tmp/etc-chromium/policies/managed/msgw.json" "$admin" <<'PY'
import json, sys
rule = {"pattern": "https://localhost:%s" % sys.argv[2], "filter": {"ISSUER": {"CN": "msgw development CA 12"}}}
json.dump({"AutoSelectCertificateForUrls": [json.dumps(rule)]}, open(sys.argv[1], "w"))
PY
# its own process group (setsid), so that cleanup ends chromedriver and every browser process it starts
HOME=$home setsid unshare -m bash -c 'mount --bind "$1" /etc/chromium && exec chromedriver --port=0' _ "$tmp/etc-chromium" \
	>"$tmp/chromedriver.log" 2>&1 &
driver_pid=$!
for _ in $(seq 150); do grep -q 'started successfully on port' "$tmp/chromedriver.log" && break; sleep 0.1; done
driver_port=$(sed -n 's/.*started successfully on port \([0-9]*\).*/\1/p' "$tmp/chromedriver.log")
[[ -n $driver_port ]] || { echo "FAIL: chromedriver did not start:"; cat "$tmp/chromedriver.log"; exit 1; }

artifacts=${MSGW_ARTIFACTS:-$PWD/artifacts}
mkdir -p "$artifacts"
python3 -B "$root/tests/browser/dashboard.py" --driver "http://127.0.0.1:$driver_port" --url "https://localhost:$admin/" \
	--profile "$tmp/profile" --feeder-go "$tmp/feeder.go" --message-id "$message_id" --id-number "$id_number" \
	--gateway-days 825 \
	--screenshot "$artifacts/dashboard${MSGW_PG_HOST:+-postgresql}.png" "${cluster_args[@]}"
rc=$?
tls_failures=$(curl -s --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" "https://localhost:$admin/metrics" |
	sed -n 's/^msgw_tls_handshake_failures_total{listener="admin",\(reason="[a-z_]*"\)} /\1 /p' | tr '\n' ' ')
# the browser has gone (its event stream closed): the daemon must still stop cleanly, leak-free
kill "$feeder_pid" 2>/dev/null
kill -TERM "$daemon_pid"
wait "$daemon_pid"
daemon_rc=$?
if ((daemon_rc != 0)); then
	echo "FAIL: the daemon exited with status $daemon_rc after SIGTERM"
	grep -m 3 -A 6 'ERROR: \|SUMMARY' "$tmp/msgw.log"
	rc=1
fi
if ((rc != 0)); then
	echo "--- TLS handshakes the admin listener failed: ${tls_failures:-?}"
	echo "--- daemon log (last 20 lines)"
	tail -n 20 "$tmp/msgw.log"
	echo "--- chromedriver log (last 20 lines)"
	tail -n 20 "$tmp/chromedriver.log"
fi
echo "test_dashboard.sh: $((SECONDS - started)) s"
exit $rc
