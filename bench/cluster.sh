#!/usr/bin/env bash
# One instance on SQLite, one on PostgreSQL, two on PostgreSQL (docs/cluster.md): the same load, in
# the same rounds, interleaved (issue 15 §6; docs/benchmarks.md, "Several instances").
#
#   bench/cluster.sh BUILD_DIR [--rounds N] [--seconds S]
#
# The load is bench/loadgen's ZeroMQ line of 100 hrss records per request (8 in flight), pushed
# for S seconds: to the one instance, or split between the two (two load generators, each half the
# records, different seeds).  Each instance delivers its notices to bench/receiver's webhook.
# PostgreSQL is a cluster of the bench's own (tests/postgresql/cluster.sh, fsync on), a new
# database per configuration and round.  A line per configuration and round: records acknowledged
# per second (durably stored: on the instance that does not evaluate, stored for the evaluator),
# and the seconds after the load until every record was evaluated and every notice delivered (the
# evaluator catching up with what the other stored).  Then the medians, and each against SQLite's.
set -euo pipefail
build=${1:?usage: bench/cluster.sh BUILD_DIR [--rounds N] [--seconds S]}
shift
rounds=3 seconds=6
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	*) echo "bench/cluster.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
build=$(cd "$build" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
msgw=$build/gateway/cli/msgw loadgen=$build/bench/loadgen receiver=$build/bench/receiver
tmp=$(mktemp -d "${TMPDIR:-/tmp}/msgw-cluster-bench.XXXXXX")
pids=()
cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	"$root/tests/postgresql/cluster.sh" stop "$tmp/pg" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
log() { echo "cluster bench: $*" >&2; }
wait_file() { for _ in $(seq 1200); do [ -s "$1" ] && return 0; sleep 0.05; done; log "$1 never appeared"; return 1; }

MSGW_CURVE_KEYGEN=$build/tools/msgw-curve-keygen "$root/certs/dev-pki.sh" "$tmp/pki" 12 >/dev/null 2>&1
P=$tmp/pki
pgbin=$("$root/tests/postgresql/cluster.sh" bin)
[ "$(id -u)" != 0 ] || chmod 711 "$tmp"
mkdir "$tmp/pg"
MSGW_PG_FSYNC=on "$root/tests/postgresql/cluster.sh" start "$tmp/pg" >&2
psql_q() { "$pgbin/psql" -h "$tmp/pg" -d "$1" -X -A -t -q -c "$2"; }
"$receiver" --cert "$P/gateway.crt" --key "$P/gateway.key" --ca "$P/ca.crt" --port-file "$tmp/receiver.port" \
	--log "$tmp/received.log" >"$tmp/receiver.out" 2>&1 &
pids+=($!)
wait_file "$tmp/receiver.port"
rport=$(cat "$tmp/receiver.port")

config() { # config NAME STORE
	mkdir -p "$tmp/$1"
	cat >"$tmp/$1/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/$1/data", "store": "$2",
  "cluster": { "instance": "$1", "follow_ms": 100 },
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "zmq": { "listen": "tcp://127.0.0.1:*", "curve_secret_file": "$P/gateway.curve" },
  "departments": [
    { "id": "hrss", "curve_public": "$(sed -n 's/^public=//p' "$P/hrss.curve")", "eligibility": true,
      "push": ["insurance_enrolment", "insurance_termination", "employment_registration", "unemployment_registration", "retirement"],
      "deliver": { "webhook": { "url": "https://localhost:$rport/hrss" } } } ] }
JSON
}
start() { # start NAME: its ZeroMQ endpoint in ep_NAME
	rm -rf "$tmp/$1/data" "$tmp/$1/port" "$tmp/$1/port.zmq"
	"$msgw" serve --config "$tmp/$1/msgw.json" --port-file "$tmp/$1/port" 2>>"$tmp/$1/log" &
	echo $! >"$tmp/$1/pid"
	wait_file "$tmp/$1/port.zmq"
}
stop() { kill -TERM "$(cat "$tmp/$1/pid")" 2>/dev/null || true; while kill -0 "$(cat "$tmp/$1/pid")" 2>/dev/null; do sleep 0.05; done; }
load() { # load NAME SEED RECORDS -> loadgen's JSON line in $tmp/NAME/out
	"$loadgen" zmq --endpoint "$(cat "$tmp/$1/port.zmq")" --server-key "$P/gateway.curve" --client-key "$P/hrss.curve" \
		--label "$1" --seed "$2" --batch 100 --window 8 --records "$3" --duration "$seconds" >"$tmp/$1/out" 2>>"$tmp/loadgen.err"
}
rate() { python3 -c 'import json,sys; print(sum(json.load(open(p))["records_acked"] for p in sys.argv[2:]) / float(sys.argv[1]))' "$@"; }
elapsed() { python3 -c 'import json,sys; print(max(json.load(open(p))["elapsed_s"] for p in sys.argv[1:]))' "$@"; }
# waits until the database has every record evaluated and no notice pending; prints the seconds
drain() {
	local t0 db=$1
	t0=$(date +%s.%N)
	for _ in $(seq 1200); do
		[ "$(psql_q "$db" "select count(*) from records where evaluated_seq is null") $(psql_q "$db" "select count(*) from outbox where state = 'pending'")" = "0 0" ] && break
		sleep 0.1
	done
	python3 -c 'import sys,time; print(round(time.time()-float(sys.argv[1]),1))' "$t0"
}
results=$tmp/results
n=0
for r in $(seq "$rounds"); do
	log "round $r of $rounds ($(cut -d' ' -f1-3 /proc/loadavg))"
	config one "sqlite:$tmp/one/msgw.db"
	start one
	load one $((100 + r)) $((seconds * 40000))
	stop one
	echo "sqlite-1 $(rate "$(elapsed "$tmp/one/out")" "$tmp/one/out") 0" >>"$results" # evaluated as it is stored
	n=$((n + 1))
	config one "postgresql:///msgw_c$n?host=$tmp/pg"
	start one
	load one $((100 + r)) $((seconds * 40000))
	d=$(drain "msgw_c$n")
	stop one
	echo "postgresql-1 $(rate "$(elapsed "$tmp/one/out")" "$tmp/one/out") $d" >>"$results"
	n=$((n + 1))
	config a "postgresql:///msgw_c$n?host=$tmp/pg"
	config b "postgresql:///msgw_c$n?host=$tmp/pg"
	start a
	start b
	load a $((100 + r)) $((seconds * 20000)) &
	la=$!
	load b $((200 + r)) $((seconds * 20000))
	wait "$la"
	d=$(drain "msgw_c$n")
	stop b
	stop a
	echo "postgresql-2 $(rate "$(elapsed "$tmp/a/out" "$tmp/b/out")" "$tmp/a/out" "$tmp/b/out") $d" >>"$results"
	tail -3 "$results" | sed 's/^/cluster bench: /' >&2
done
python3 - "$results" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for name, rate, drain in rows:
    by.setdefault(name, []).append((float(rate), float(drain)))
base = statistics.median(r for r, _ in by["sqlite-1"])
print(f"machine: {sys.argv[2]} cores; load average after {sys.argv[3]}")
print("| configuration | records acknowledged/s (rounds) | median | of SQLite | evaluated and delivered after the load, s |")
print("|---|---|---:|---:|---|")
for name in ("sqlite-1", "postgresql-1", "postgresql-2"):
    v = by.get(name, [])
    med = statistics.median(r for r, _ in v)
    drains = "— (evaluated as stored)" if name == "sqlite-1" else ", ".join(f"{d:g}" for _, d in v)
    print(f"| {name} | {', '.join(f'{r:,.0f}' for r, _ in v)} | {med:,.0f} | {med / base:.2f} | {drains} |")
PY
