#!/usr/bin/env bash
# The administrators' requests that read a year's audit log, and what the departments wait
# meanwhile (docs/disclosure.md, docs/audit.md, docs/benchmarks.md).
#
#   bench/audit_reads.sh BUILD_DIR [--baseline BUILD_DIR] [--entries N] [--runs N]
#
# Makes an audit log of N entries (default 1,000,000: bench/audit_log.py, signed with the dev PKI's
# gateway key), starts the daemon of each build on a copy of it (interleaved when a baseline is
# given, so both see the same machine), and measures over R runs (default 5), printing medians:
#   - report_s: GET /v1/persons/{id}/disclosures, wall time, and report_push_s: an HTTPS push sent
#     50 ms after the report was asked for — what a department waits while an administrator asks;
#   - verify_s: GET /v1/audit/verify, and verify_push_s, a push sent 50 ms after it;
#   - alone_rps / alone_p50_ms: bench/loadgen's HTTPS pushes for 8 s (4 connections, 10 records a
#     request), and jobs_rps / jobs_p50_ms / jobs_p99_ms: the same while four verifications are
#     kept running (as many as the gateway runs at once).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: bench/audit_reads.sh BUILD_DIR [--baseline BUILD_DIR] [--entries N] [--runs N]"
[ $# -ge 1 ] || { echo "$usage" >&2; exit 2; }
builds=("$(cd "$1" && pwd)")
labels=(build)
shift
entries=1000000 runs=5
while [ $# -gt 0 ]; do
	case $1 in
	--baseline) builds+=("$(cd "$2" && pwd)"); labels+=(baseline); shift 2 ;;
	--entries) entries=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
done
for b in "${builds[@]}"; do
	[ -x "$b/gateway/cli/msgw" ] || { echo "bench/audit_reads.sh: $b/gateway/cli/msgw not built" >&2; exit 2; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/msgw-audit-reads-bench.XXXXXX")
pid=
cleanup() {
	[ -z "$pid" ] || kill "$pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
P=$tmp/pki
MSGW_CURVE_KEYGEN=${builds[0]}/tools/msgw-curve-keygen "$root/certs/dev-pki.sh" "$P" 12 >/dev/null 2>&1
person=120101195603070027 masked=120101********0027
echo "audit reads bench: writing $entries audit entries" >&2
python3 "$root/bench/audit_log.py" "$tmp/audit" "$entries" "$masked" "$P/gateway.key" "$P/gateway.crt"
du -sh "$tmp/audit" | awk '{ print "audit reads bench: audit log " $1 }' >&2
cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" }, "admin": { "listen": "127.0.0.1:0" },
  "departments": [
    { "id": "hrss", "certificate": { "organization": "12", "unit": "hrss" },
      "push": ["insurance_enrolment", "insurance_termination", "employment_registration", "unemployment_registration", "retirement"] } ] }
JSON
wait_file() { for _ in $(seq 400); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }
secs() { curl -s -o /dev/null -w '%{time_total}' --cacert "$P/ca.crt" "$@"; }
push() { # the body's request id: the push's wall time
	sed "s/CBDJ202611250101/CBDJ-$1/" "$root/tests/data/hrss/single-record.json" >"$tmp/push.json"
	secs --cert "$P/hrss.crt" --key "$P/hrss.key" -H "Content-Type: application/json" \
		--data-binary "@$tmp/push.json" "$ingress/v1/records"
}
while_asked() { # path id: "asked_s push_s" — the request, and a push sent 50 ms after it
	secs --cert "$P/admin.crt" --key "$P/admin.key" "$admin$1" >"$tmp/asked.s" &
	local asked=$! p
	sleep 0.05
	p=$(push "$2")
	wait "$asked"
	echo "$(cat "$tmp/asked.s") $p"
}
loadgen() { # build seed: 8 s of pushes -> "records/s p50_ms p99_ms"
	"$1/bench/loadgen" https --url "$ingress/v1/records" --cert "$P/hrss.crt" --key "$P/hrss.key" --ca "$P/ca.crt" \
		--connections 4 --batch 10 --duration 8 --records 20000 --seed "$2" 2>/dev/null |
		python3 -c 'import json,sys; d=json.load(sys.stdin); l=d["latency_ms"]; print(d["records_per_s"], l["p50"], l["p99"])'
}
under_jobs() { # build seed: loadgen while four verifications are kept running
	rm -f "$tmp/stop"
	local k loops=()
	for k in 1 2 3 4; do
		(while [ ! -e "$tmp/stop" ]; do secs --cert "$P/admin.crt" --key "$P/admin.key" "$admin/v1/audit/verify" >/dev/null; done) &
		loops+=($!)
	done
	sleep 0.5
	loadgen "$1" "$2"
	touch "$tmp/stop"
	wait "${loops[@]}"
}
one_run() { # build label run
	rm -rf "$tmp/data" "$tmp/port"*
	mkdir -p "$tmp/data"
	cp -r "$tmp/audit" "$tmp/data/audit"
	"$1/gateway/cli/msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>>"$tmp/daemon.log" &
	pid=$!
	wait_file "$tmp/port.admin"
	admin=https://localhost:$(cat "$tmp/port.admin") ingress=https://localhost:$(cat "$tmp/port")
	push "$2-$3-warm" >/dev/null
	local report verify
	read -r -a report <<<"$(while_asked "/v1/persons/$person/disclosures" "$2-$3-r")"
	read -r -a verify <<<"$(while_asked /v1/audit/verify "$2-$3-v")"
	local alone jobs
	read -r -a alone <<<"$(loadgen "$1" "$((3 * $3))")"
	read -r -a jobs <<<"$(under_jobs "$1" "$((3 * $3 + 1))")"
	echo "{\"label\":\"$2\",\"run\":$3,\"report_s\":${report[0]},\"report_push_s\":${report[1]},\"verify_s\":${verify[0]},\"verify_push_s\":${verify[1]},\"alone_rps\":${alone[0]},\"alone_p50_ms\":${alone[1]},\"jobs_rps\":${jobs[0]},\"jobs_p50_ms\":${jobs[1]},\"jobs_p99_ms\":${jobs[2]}}" >>"$tmp/results.jsonl"
	kill -TERM "$pid"
	wait "$pid" || true
	pid=
}
: >"$tmp/results.jsonl"
for r in $(seq "$runs"); do
	for i in "${!builds[@]}"; do one_run "${builds[$i]}" "${labels[$i]}" "$r"; done
done
python3 - "$tmp/results.jsonl" "$entries" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = ("report_s", "report_push_s", "verify_s", "verify_push_s", "alone_rps", "alone_p50_ms",
        "jobs_rps", "jobs_p50_ms", "jobs_p99_ms")
med = {}
for label in dict.fromkeys(r["label"] for r in rows):
    mine = [r for r in rows if r["label"] == label]
    m = med[label] = {k: statistics.median(r[k] for r in mine) for k in keys}
    print("%-9s %s entries, %d runs (medians): disclosure report %.3f s, a push meanwhile %.3f s; "
          "audit verify %.3f s, a push meanwhile %.3f s" % ((label, sys.argv[2], len(mine)) + tuple(m[k] for k in keys[:4])))
    print("%-9s pushes alone %.0f records/s, p50 %.1f ms; beside four verifications %.0f records/s, "
          "p50 %.1f ms, p99 %.1f ms" % ((label,) + tuple(m[k] for k in keys[4:])))
if "baseline" in med:
    print("ratio build/baseline: " + ", ".join("%s %.3f" % (k, med["build"][k] / med["baseline"][k]) for k in keys))
PY
