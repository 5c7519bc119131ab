#!/usr/bin/env bash
# make bench, the daemon (issue 4 §11): msgw serve under load, with full processing (decode,
# validate, commit, evaluate, route, deliver to a local receiver), against baselines measured in
# the same run.  See docs/benchmarks.md.
#
#   bench/daemon.sh BUILD_DIR [--seconds S] [--runs N] [--drain S] [--only LINES] [--memory-seconds S]
#                             [--stores sqlite,postgresql]
#
# --only zmq1,zmq100,https,latency,memory runs those lines alone (with their baselines), for a quick look
# while working; MSGW_BENCH_PERF=DIR records the daemon of every gateway run with perf
# (DIR/LABEL.perf.data, read with perf report -i; MSGW_BENCH_PERF_OPTS replaces "-F 499 -g", for
# example with "-F 199 --call-graph dwarf,16384" where the libraries have no frame pointers).
#
# --stores sqlite,postgresql runs every gateway line once per store, in the same rounds with the
# same records (default sqlite alone, as before): the PostgreSQL runs are labelled LINE-pg
# (zmq100-gateway-pg, ...), their daemon on "store": "postgresql:///msgw_bench_N?host=DIR", a new
# database for each daemon started (the backend creates it; dropped once that daemon stops), on a
# cluster this script starts in its temporary directory with tests/postgresql/cluster.sh and fsync
# on (MSGW_PG_FSYNC=on: a commit is durable, as SQLite's), stopped on exit. Their JSON lines also
# carry pg_cpu_s and pg_write_mb, the CPU time and storage writes of the server's processes, and
# the table compares them with SQLite's. The baselines run once per round.
#
# For each of --runs rounds (default 3), each on a fresh daemon with an empty store:
#   ZeroMQ, one hrss record per request, window 64          vs bench/zmq_echo (raw libzmq, CURVE)
#   ZeroMQ, 100 hrss records per request, window 8          vs bench/zmq_echo
#   HTTPS with mutual TLS, one record per request, 16 keep-alive connections vs nginx answering 202
# then push -> notice delivered latency: one disability certificate of a new person per request
# over ZeroMQ, each causing eligibility notices, open loop at half the rate the gateway sustains for
# that same workload (measured first, closed loop) and at
# 100 records/s, timed by bench/receiver (the departments' webhook); once, memory: the daemon's
# resident size, sampled every 5 s, over --memory-seconds (60) of ZeroMQ at 100 records per request
# on a fixed population (loadgen --population: the same persons' records again under new ids).
# Prints a table of medians
# and appends it, with the raw JSON lines, to BUILD_DIR/bench-report.txt.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: bench/daemon.sh BUILD_DIR [--seconds S] [--runs N] [--drain S] [--only LINES] [--memory-seconds S] [--stores sqlite,postgresql]"
case ${1:-} in -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
build=${1:?$usage}
shift
seconds=8 runs=3 drain=45 only=zmq1,zmq100,https,latency,memory memory_s=60 stores_opt=sqlite
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) seconds=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--drain) drain=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	--memory-seconds) memory_s=$2; shift 2 ;;
	--stores) stores_opt=$2; shift 2 ;;
	*) echo "bench/daemon.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
build=$(cd "$build" && pwd)
wanted() { [[ ",$only," == *",$1,"* ]]; }
IFS=, read -r -a stores <<<"$stores_opt"
for st in "${stores[@]}"; do
	case $st in sqlite | postgresql) ;; *) echo "bench/daemon.sh: --stores takes sqlite and postgresql, not $st" >&2; exit 2 ;; esac
done
[ ${#stores[@]} -gt 0 ] || { echo "bench/daemon.sh: --stores names no store" >&2; exit 2; }
sfx() { if [ "$1" = postgresql ]; then echo -pg; fi; } # a store's suffix to the labels
perf_dir=${MSGW_BENCH_PERF:-}
[ -z "$perf_dir" ] || { mkdir -p "$perf_dir" && perf_dir=$(cd "$perf_dir" && pwd); }
msgw=$build/gateway/cli/msgw loadgen=$build/bench/loadgen receiver=$build/bench/receiver echo_=$build/bench/zmq_echo
for x in "$msgw" "$loadgen" "$receiver" "$echo_" "$build/tools/msgw-curve-keygen"; do
	[ -x "$x" ] || { echo "bench/daemon.sh: $x not built: ninja -C $build" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/msgw-daemon-bench.XXXXXX")
pids=()
daemon_pid= echo_pid= nginx_pid= loadgen_pid= pgdir= pg_version=
cleanup() {
	set +e
	[ -n "$loadgen_pid" ] && kill "$loadgen_pid" 2>/dev/null
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null
	[ -n "$echo_pid" ] && kill "$echo_pid" 2>/dev/null
	[ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "$pgdir" ] && "$root/tests/postgresql/cluster.sh" stop "$pgdir" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "daemon bench: $*" >&2; }
wait_file() { for _ in $(seq "${2:-200}"); do [ -s "$1" ] && return 0; sleep 0.05; done; echo "bench/daemon.sh: $1 never appeared" >&2; return 1; }
# jget JSON KEY... : one field of a JSON line (null prints as None)
jget() { python3 -c 'import functools,json,sys; print(functools.reduce(lambda v, k: v[k], sys.argv[2:], json.loads(sys.argv[1])))' "$@"; }

MSGW_CURVE_KEYGEN=$build/tools/msgw-curve-keygen "$root/certs/dev-pki.sh" "$tmp/pki" 12 >/dev/null 2>&1
P=$tmp/pki
pub() { sed -n 's/^public=//p' "$1"; }
results=$tmp/results.jsonl
: >"$results"

# PostgreSQL (--stores ...,postgresql): a cluster of the bench's own, in its temporary directory
# (as root the server runs as postgres, which must be able to reach it), with fsync on.
if [[ ",$stores_opt," == *,postgresql,* ]]; then
	pgbin=$("$root/tests/postgresql/cluster.sh" bin) || { echo "bench/daemon.sh: $pgbin" >&2; exit 2; }
	[ "$(id -u)" != 0 ] || chmod 711 "$tmp"
	mkdir "$tmp/pg"
	pgdir=$tmp/pg
	MSGW_PG_FSYNC=on "$root/tests/postgresql/cluster.sh" start "$pgdir" >&2 || exit 1
	pg_version=$("$pgbin/postgres" --version | awk "{ print \$3 }")
	log "PostgreSQL $pg_version in $pgdir, fsync on"
fi
pg_n=0 pg_db=

# One receiver for every department: the webhook (civil affairs, disability federation; the path
# names the recipient) and ZeroMQ consumers (hrss, health) connected to the gateway's delivery
# endpoint, which stays the same across the daemons started below (a consumer says READY again on
# each new connection).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
zdeliver=tcp://127.0.0.1:$(free_port)
"$receiver" --cert "$P/gateway.crt" --key "$P/gateway.key" --ca "$P/ca.crt" --port-file "$tmp/receiver.port" \
	--log "$tmp/received.log" --zmq-connect "$zdeliver" --zmq-server-key "$P/gateway.curve" \
	--zmq-key "hrss=$P/hrss.curve" --zmq-key "health=$P/health.curve" >"$tmp/receiver.out" 2>&1 &
pids+=($!)
wait_file "$tmp/receiver.port"
rport=$(cat "$tmp/receiver.port")

# Tianjin's four departments as deploy/msgw.json has them: civil affairs subscribes to the hrss and
# disability records (so every pushed record is also routed), everyone receives eligibility notices;
# hrss and health take their deliveries over ZeroMQ, the others by webhook.
cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "zmq": { "listen": "tcp://127.0.0.1:*", "deliver_listen": "$zdeliver", "curve_secret_file": "$P/gateway.curve" },
  "departments": [
    { "id": "mca", "certificate": { "organization": "12", "unit": "mca" }, "curve_public": "$(pub "$P/mca.curve")",
      "push": ["household_assistance_roster", "care_assessment", "orphan_registration", "death"],
      "subscriptions": [
        { "kinds": ["disability_certificate"], "from": ["cdpf"],
          "fields": ["id_number", "hukou_region", "disability_category", "disability_grade"] },
        { "kinds": ["insurance_enrolment", "insurance_termination", "employment_registration",
                    "unemployment_registration", "retirement"], "from": ["hrss"], "fields": ["id_number", "hukou_region"] } ],
      "eligibility": true, "deliver": { "webhook": { "url": "https://localhost:$rport/mca" } } },
    { "id": "hrss", "certificate": { "organization": "12", "unit": "hrss" }, "curve_public": "$(pub "$P/hrss.curve")",
      "push": ["insurance_enrolment", "insurance_termination", "employment_registration", "unemployment_registration", "retirement"],
      "eligibility": true, "deliver": { "zmq": {} } },
    { "id": "health", "certificate": { "organization": "12", "unit": "health" }, "curve_public": "$(pub "$P/health.curve")",
      "push": ["person_registration", "condition", "observation", "pregnancy", "death"],
      "eligibility": true, "deliver": { "zmq": {} } },
    { "id": "cdpf", "certificate": { "organization": "12", "unit": "cdpf" }, "curve_public": "$(pub "$P/cdpf.curve")",
      "push": ["disability_certificate"],
      "eligibility": true, "deliver": { "webhook": { "url": "https://localhost:$rport/cdpf" } } } ] }
JSON

# A fresh daemon and store for every run: no run pays for the previous one's store or outbox.
# start_daemon [STORE]: sqlite (the default: the store in data_dir), or postgresql (a new database).
start_daemon() {
	local config=$tmp/msgw.json
	rm -rf "$tmp/data" "$tmp/port" "$tmp/port.zmq"
	if [ "${1:-sqlite}" = postgresql ]; then
		pg_n=$((pg_n + 1)) pg_db=msgw_bench_$pg_n config=$tmp/msgw-pg.json
		sed "s|\"data_dir\": \"$tmp/data\",|& \"store\": \"postgresql:///$pg_db?host=$pgdir\",|" "$tmp/msgw.json" >"$config"
	fi
	"$msgw" serve --config "$config" --port-file "$tmp/port" 2>>"$tmp/daemon.log" &
	daemon_pid=$!
	server=$daemon_pid
	wait_file "$tmp/port.zmq" "$([ -n "$pg_db" ] && echo 1200 || echo 200)" # creating a database takes a while
	https_port=$(cat "$tmp/port")
	zmq_ep=$(cat "$tmp/port.zmq")
}
stop_daemon() {
	kill -TERM "$daemon_pid" 2>/dev/null || true
	wait "$daemon_pid" 2>/dev/null || true
	daemon_pid=
	if [ -n "$pg_db" ]; then # its rows seen by no later run, their space freed
		"$pgbin/dropdb" -h "$pgdir" "$pg_db" 2>>"$tmp/daemon.log" || log "dropdb $pg_db failed"
		pg_db=
	fi
}
start_echo() { # reply size
	rm -f "$tmp/echo.ep"
	"$echo_" --secret-file "$P/gateway.curve" --reply-bytes "$1" --endpoint-file "$tmp/echo.ep" 2>/dev/null &
	echo_pid=$!
	server=$echo_pid
	wait_file "$tmp/echo.ep"
}
stop_echo() {
	kill -TERM "$echo_pid" 2>/dev/null || true
	wait "$echo_pid" 2>/dev/null || true
	echo_pid=
}
# CPU seconds a process has used (utime + stime): how busy the server was during a run.
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Bytes a process has caused to be written to storage (the store's WAL and checkpoints, the audit log).
written_by() { awk '/^write_bytes:/ { print $2 }' "/proc/$1/io" 2>/dev/null || echo 0; }
# The PostgreSQL server's processes (the postmaster and its children: the daemon's backends, the
# WAL writer, the checkpointer, ...): their CPU seconds and bytes written, summed (a process that
# exits during a run takes its share with it: autovacuum workers).
pg_pids() { local pm; pm=$(head -1 "$pgdir/data/postmaster.pid"); echo "$pm" $(pgrep -P "$pm"); }
pg_cpu() { local p t=0; for p in $(pg_pids); do t=$(awk -v a="$t" -v b="$(cpu_of "$p")" 'BEGIN { print a + b }'); done; echo "$t"; }
pg_written() { local p t=0; for p in $(pg_pids); do t=$((t + $(written_by "$p"))); done; echo "$t"; }
# loadgen ... : runs it against the server whose pid is in $server (its CPU time and the bytes it
# wrote are added to the JSON line as server_cpu_s and server_write_mb; with a daemon on
# PostgreSQL, the server's processes' as pg_cpu_s and pg_write_mb), keeps the line in results, logs it
server=
lg() {
	local out c0=0 c1=0 w0=0 w1=0 pg=
	[ -n "$pg_db" ] && [ -n "$daemon_pid" ] && [ "$server" = "$daemon_pid" ] && pg="$(pg_cpu) $(pg_written)"
	[ -n "$server" ] && c0=$(cpu_of "$server") && w0=$(written_by "$server")
	local perf_pid=
	if [ -n "$perf_dir" ] && [ -n "$daemon_pid" ] && [ "$server" = "$daemon_pid" ]; then
		perf record ${MSGW_BENCH_PERF_OPTS:--F 499 -g} -p "$daemon_pid" -o "$perf_dir/$(label_of "$@").perf.data" >/dev/null 2>&1 &
		perf_pid=$!
	fi
	"$loadgen" "$@" >"$tmp/loadgen.out" 2>>"$tmp/loadgen.err" &
	loadgen_pid=$! # in the background: a signal to this script is handled at once, not after the run
	wait "$loadgen_pid" || true
	loadgen_pid=
	[ -z "$perf_pid" ] || { kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; }
	out=$(cat "$tmp/loadgen.out")
	[ -n "$server" ] && c1=$(cpu_of "$server") && w1=$(written_by "$server")
	[ -z "$pg" ] || pg="$pg $(pg_cpu) $(pg_written)"
	[ -n "$out" ] || { echo "bench/daemon.sh: loadgen $* printed nothing:" >&2; tail -5 "$tmp/loadgen.err" >&2; return 1; }
	out=$(python3 -c 'import json,sys; j=json.loads(sys.argv[1]); j["server_cpu_s"]=round(float(sys.argv[3])-float(sys.argv[2]),2); j["server_write_mb"]=round((int(sys.argv[5])-int(sys.argv[4]))/1e6,1)
pg = sys.argv[6].split()
if pg: j["pg_cpu_s"] = round(float(pg[2]) - float(pg[0]), 2); j["pg_write_mb"] = round((int(pg[3]) - int(pg[1])) / 1e6, 1)
print(json.dumps(j))' \
		"$out" "$c0" "$c1" "${w0:-0}" "${w1:-0}" "$pg")
	echo "$out" >>"$results"
	log "$(jget "$out" label): $(jget "$out" records_per_s) records/s, $(jget "$out" requests_per_s) requests/s," \
		"$(jget "$out" status_other) not 202, $(jget "$out" duplicate) duplicates"
	last=$out
}
label_of() { while [ $# -gt 0 ]; do [ "$1" = --label ] && { echo "$2"; return; }; shift; done; echo run; }
zmq_gw() { lg zmq --endpoint "$zmq_ep" --server-key "$P/gateway.curve" --client-key "$P/$1.curve" "${@:2}"; }
zmq_echo_() { lg zmq --endpoint "$(cat "$tmp/echo.ep")" --server-key "$P/gateway.curve" --client-key "$P/hrss.curve" "$@"; }
https_to() { lg https --url "https://localhost:$1/v1/records" --cert "$P/hrss.crt" --key "$P/hrss.key" --ca "$P/ca.crt" "${@:2}"; }

# nginx from Debian answering a fixed 202 over TLS with client certificates and keep-alive: one
# worker (the load generator has the other core), no logging.
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
if [ -x "$nginx_bin" ]; then
	mkdir -p "$tmp/nginx"
	nginx_port=$(free_port)
	cat >"$tmp/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $P/gateway.crt;
    ssl_certificate_key $P/gateway.key;
    ssl_client_certificate $P/ca.crt;
    ssl_verify_client on;
    ssl_protocols TLSv1.2 TLSv1.3;
    location /v1/records { default_type application/json; return 202 '{"status":202}'; }
  }
}
NGINX
	"$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" -g 'daemon off;' 2>>"$tmp/nginx/error.log" &
	nginx_pid=$!
	wait_file "$tmp/nginx/nginx.pid"
	nginx_version=$("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //')
else
	log "nginx is not installed (apt-get install nginx-light): the HTTPS baseline is skipped"
	nginx_version=
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$(date +%s)
# Records generated per run: enough for the run at several times today's rates; a run that runs
# out stops early (its rate stands, "exhausted" says so).
for i in $(seq "$runs"); do
	log "round $i of $runs"
	if wanted zmq1; then
		reply1=
		for st in "${stores[@]}"; do # the same records on each store
			start_daemon "$st"
			zmq_gw hrss --label "zmq1-gateway$(sfx "$st")" --seed $((1000 + i)) --records $((seconds * 12000)) --duration "$seconds"
			[ -n "$reply1" ] || reply1=$(jget "$last" reply_bytes_avg)
			stop_daemon
		done
		start_echo "$reply1"
		zmq_echo_ --label zmq1-echo --records 20000 --cycle --duration "$seconds" --any-reply
		stop_echo
	fi

	if wanted zmq100; then
		reply100=
		for st in "${stores[@]}"; do
			start_daemon "$st"
			zmq_gw hrss --label "zmq100-gateway$(sfx "$st")" --seed $((2000 + i)) --batch 100 --window 8 --records $((seconds * 40000)) --duration "$seconds"
			[ -n "$reply100" ] || reply100=$(jget "$last" reply_bytes_avg)
			stop_daemon
		done
		start_echo "$reply100"
		zmq_echo_ --label zmq100-echo --batch 100 --window 8 --records 20000 --cycle --duration "$seconds" --any-reply
		stop_echo
	fi

	if wanted https; then
		for st in "${stores[@]}"; do
			start_daemon "$st"
			https_to "$https_port" --label "https-gateway$(sfx "$st")" --seed $((3000 + i)) --records $((seconds * 8000)) --duration "$seconds"
			stop_daemon
		done
		if [ -n "$nginx_pid" ]; then
			server=$(pgrep -P "$nginx_pid" 2>/dev/null | head -1 || true) # its one worker
			https_to "$nginx_port" --label https-nginx --records 20000 --cycle --duration "$seconds"
		fi
	fi
done

# Latency: every record is a disability certificate of a new person that makes the engine emit a
# transition (loadgen --flagging), pushed one per request at a fixed rate; the receiver times each
# notice's arrival and --match joins it with its cause's push time.
# "Half of the sustained rate" is taken of this same workload (a record that flags is heavier than an
# hrss record: it causes notices for several departments): first pushed as fast as the gateway takes
# it (closed loop, window 64), then at half that rate.
latency_line() { # store: the sustained rate, then latency at half of it and at 100 records/s
	local st=$1 x
	x=$(sfx "$st")
	start_daemon "$st"
	zmq_gw cdpf --label "flag-sustained$x" --format cdpf-xml --flagging --disability-percent 100 --seed 3999 \
		--window 64 --records $((seconds * 20000)) --duration "$seconds"
	stop_daemon
	flag_rate=$(jget "$last" records_per_s)
	half=$(python3 -c 'import sys; print(max(1, round(float(sys.argv[1]) / 2)))' "$flag_rate")
	latency_run() { # label rate
		local label=$1 rate=$2
		start_daemon "$st"
		zmq_gw cdpf --label "$label" --format cdpf-xml --flagging --disability-percent 100 --seed $((4000 + rate)) \
			--rate "$rate" --records $((rate * seconds + rate / 10 + 10)) --duration "$seconds" --sent-log "$tmp/$label.sent"
		local expected m
		expected=$(jget "$last" messages)
		for _ in $(seq $((drain * 2))); do
			m=$("$receiver" --match "$tmp/$label.sent" "$tmp/received.log" --expected "$expected")
			[ "$(jget "$m" undelivered)" = 0 ] && break
			sleep 0.5
		done
		m=$("$receiver" --match "$tmp/$label.sent" "$tmp/received.log" --expected "$expected")
		python3 -c 'import json,sys; m=json.loads(sys.argv[1]); m["label"]=sys.argv[2]; m["rate"]=int(sys.argv[3]); print(json.dumps(m))' \
			"$m" "$label-delivery" "$rate" >>"$results"
		log "$label: $(jget "$m" notices) notices delivered, $(jget "$m" undelivered) messages still undelivered after the drain," \
			"p50 $(jget "$m" latency_ms p50) ms, p99 $(jget "$m" latency_ms p99) ms"
		stop_daemon
	}
	log "latency at half the sustained rate of flagging records ($flag_rate/s): $half records/s"
	latency_run "latency-half$x" "$half"
	latency_run "latency-low$x" 100
}
if wanted latency; then
	for st in "${stores[@]}"; do latency_line "$st"; done
fi

# Memory: the engine keeps every person's state, so only a fixed population can show the resident
# size flat at full load; sampled from /proc every 5 s while the run lasts.
memory_line() { # store
	local st=$1 x
	x=$(sfx "$st")
	log_from=$(wc -l <"$tmp/daemon.log" 2>/dev/null || echo 0)
	start_daemon "$st"
	population=20000
	( t0=$(date +%s.%N); while kill -0 "$daemon_pid" 2>/dev/null; do
		echo "$(python3 -c 'import sys,time; print(round(time.time()-float(sys.argv[1])))' "$t0") $(awk '/^VmRSS:/ { print $2 }' "/proc/$daemon_pid/status")"
		sleep 5
	done ) >"$tmp/rss.txt" 2>/dev/null &
	rss_pid=$!
	zmq_gw hrss --label "memory-load$x" --seed 5001 --batch 100 --window 8 --population "$population" \
		--records $((memory_s * 20000)) --duration "$memory_s"
	kill "$rss_pid" 2>/dev/null; wait "$rss_pid" 2>/dev/null || true
	compactions=$(tail -n +$((log_from + 1)) "$tmp/daemon.log" | grep -c '"msg":"engine compacted"' || true)
	python3 -c 'import json,sys
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 2]
load = json.loads(sys.argv[2])
print(json.dumps({"label": "memory" + sys.argv[5], "population": int(sys.argv[3]), "records_per_s": load["records_per_s"],
                  "t_s": [int(t) for t, _ in rows], "rss_mb": [round(int(k) / 1024) for _, k in rows],
                  "compactions": int(sys.argv[4])}))' \
		"$tmp/rss.txt" "$last" "$population" "$compactions" "$x" >>"$results"
	log "memory$x: $(tr '\n' ' ' <"$tmp/rss.txt") (seconds, KiB)"
	stop_daemon
}
if wanted memory; then
	for st in "${stores[@]}"; do memory_line "$st"; done
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

[ -n "$nginx_pid" ] && { kill "$nginx_pid" 2>/dev/null; wait "$nginx_pid" 2>/dev/null || true; nginx_pid=; }

report=$build/bench-report.txt
{
	python3 "$root/bench/daemon_table.py" "$results" --runs "$runs" --seconds "$seconds" --drain "$drain" \
		--nginx "${nginx_version:-not installed}" ${pg_version:+--postgresql "$pg_version"}
	echo
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'),"\
		"$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo); load average before $load_before, after $load_after;"\
		"the load generator and receiver share the 2 cores with the daemon"
	echo "build: $build, $(date -u +%Y-%m-%dT%H:%MZ), $(($(date +%s) - t_start)) s"
} | tee -a "$report"
{
	echo "raw (one JSON line per run):"
	cat "$results"
} >>"$report"
