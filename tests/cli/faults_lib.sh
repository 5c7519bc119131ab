# Shared by the process tests that run the daemon under the fault shim (tests/shim/fault_shim.c;
# test_clock.sh, test_store_faults.sh, test_audit_faults.sh, docs/faults.md): source it after
# lib.sh.  It skips the test without the shim or curl, makes the development PKI in $tmp/pki, and
# gives control (the shim's rules) and injected (what it did), health_gateway and health_config (a
# receiver and a configuration), start (the daemon under the shim), get, has, ready and metric (the
# administrators' listener), load and unload (senders pushing continuously, push_load.py) and
# answers, more and retry_after (what the senders got).
# shellcheck shell=bash
skip() { echo "SKIP: $*"; exit 77; }
shim=${MSGW_FAULT_SHIM:-}
[[ -f $shim ]] || skip "the fault shim is not built (MSGW_FAULT_SHIM: $shim)"
command -v curl >/dev/null || skip "curl is not installed"
export MSGW_FAULT_CONTROL=$tmp/control
: >"$tmp/control"
# control [RULE]: the shim's one rule ("clock -3600", "fsync EIO /path/prefix"; none: no fault), the
# file rewritten whole so that the shim never reads half of it
control() { echo "$*" >"$tmp/control.new" && mv "$tmp/control.new" "$tmp/control"; }
injected() { sed -n "s/^$1 //p" "$tmp/control.count" 2>/dev/null; } # injected fsync|write: how many
P=$tmp/pki
"$root/certs/dev-pki.sh" "$P" 12 >/dev/null 2>&1
# health_gateway STATUS [MEMBERS]: the health commission's webhook receiver answering STATUS
# (webhook_receiver.py; its log in $tmp/recv.log) and the gateway's configuration (health_config)
health_gateway() {
	python3 "$root/tests/cli/webhook_receiver.py" "$P/gateway.crt" "$P/gateway.key" "$P/ca.crt" "$1" "$tmp/recv.log" \
		"$tmp/recv.port" &
	pids+=($!)
	wait_file "$tmp/recv.port"
	health_config "${2:-}"
}
# health_config [MEMBERS]: $tmp/msgw.json: health pushes person registrations (over HTTPS, and over
# ZeroMQ with its CURVE key where MEMBERS configure "zmq") and is told of eligibility, with the
# administrators' listener; MEMBERS (JSON) are added to the configuration
health_config() {
	cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" }, "admin": { "listen": "127.0.0.1:0" }, ${1:+$1,}
  "departments": [
    { "id": "health", "certificate": { "organization": "12", "unit": "health" }, "push": ["person_registration"],
      "curve_public": "$(sed -n 's/^public=//p' "$P/health.curve")", "eligibility": true,
      "deliver": { "webhook": { "url": "https://localhost:$(cat "$tmp/recv.port")/inbox" } } } ] }
JSON
}
# start: the daemon under the shim (pid; port, admin: its listeners)
start() {
	rm -f "$tmp/port" "$tmp/port.admin"
	LD_PRELOAD=$shim "$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>>"$tmp/log" &
	pid=$!
	wait_file "$tmp/port.admin"
	port=$(cat "$tmp/port") admin=$(cat "$tmp/port.admin")
}
get() { curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" \
	"https://localhost:$admin$1"; }
has() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$tmp/body" "$1"; }
# waits until /readyz is ready
ready() { for _ in $(seq 100); do [[ $(get /readyz) == 200 ]] && return 0; sleep 0.1; done; return 1; }
# metric NAME{LABELS}: its value in /metrics
metric() { get /metrics >/dev/null && sed -n "s/^$1 //p" "$tmp/body"; }
load() { # load LOG FIRST: four senders, five records a request, in the background (its pid in loader)
	rm -f "$tmp/stop"
	python3 "$root/tests/cli/push_load.py" "localhost:$port" "$P/ca.crt" "$P/health.crt" "$P/health.key" "$1" \
		"$tmp/stop" 4 5 3 "$2" &
	loader=$!
	pids+=("$loader")
}
unload() { touch "$tmp/stop"; wait "$loader"; }
answers() { # answers LOG STATUS [RULE]: how many answers of that status (and rule) the senders got
	python3 -c 'import json,sys
n = 0
for l in open(sys.argv[1]):
    d = json.loads(l)
    n += d["status"] == int(sys.argv[2]) and (len(sys.argv) < 4 or d["rule"] == sys.argv[3])
print(n)' "$@"
}
# waits until the senders have got N more answers of that status (and rule) than they had
more() { # more LOG N STATUS [RULE]
	local log=$1 n=$2 want
	shift 2
	want=$(($(answers "$log" "$@") + n))
	for _ in $(seq 300); do (($(answers "$log" "$@") >= want)) && return 0; sleep 0.1; done
	return 1
}
# every 503 the senders got carried Retry-After
retry_after() { python3 -c 'import json,sys; sys.exit(0 if all((d["retry_after"] or "").isdigit() for d in map(json.loads, open(sys.argv[1])) if d["status"] == 503) else 1)' "$1"; }
