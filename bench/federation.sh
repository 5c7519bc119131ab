#!/usr/bin/env bash
# make bench, cross-region forwarding (issue 6 §7): three gateways on this machine — Beijing (11,
# the Tianjin catalogue as a stand-in), Tianjin (12) and Hebei (13, the Langfang catalogue with the
# example overlay's local values) — each peering with the other two.  See docs/benchmarks.md.
#
#   bench/federation.sh BUILD_DIR [--seconds S] [--runs N] [--drain S] [--webhook-parallel N]
#
# For each of --runs rounds (default 3), every measurement on three fresh gateways with empty
# stores, disability certificates of new persons that each cause an eligibility transition
# (loadgen --flagging), one per request over ZeroMQ, pushed to Tianjin by its disability federation:
#   single gateway: Tianjin-hukou persons (decided by Tianjin's catalogue, notices to Tianjin's
#     civil affairs): closed loop (window 64): records/s; open loop at 100 records/s and at half
#     the closed-loop rate: push -> notice delivered at Tianjin's civil affairs, p50 / p99;
#   federation: Langfang-hukou persons (Tianjin forwards each record in a signed envelope to Hebei,
#     whose catalogue decides them; notices to Hebei's civil affairs): closed loop: Tianjin's
#     ingest records/s and envelopes delivered to Hebei per second (Tianjin's admin /metrics,
#     msgw_deliveries_total{recipient="hebei"}) while the push lasts and after it (for up to twice
#     --seconds); open loop at the same two rates: push at Tianjin -> notice delivered at Hebei's
#     civil affairs, p50 / p99, after waiting (up to --drain, 60 s) until everything is delivered.
# Prints a table of medians (with the added latency and the throughput ratio against the
# same round's single-gateway figures) and appends it, with the raw JSON lines, to
# BUILD_DIR/bench-report.txt.  --webhook-parallel N sets delivery.webhook_parallel on every
# gateway (default 1, the gateway's default).  Everything it started is killed on exit;
# MSGW_BENCH_KEEP=1 keeps the temporary directory (configurations, logs, stores).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: bench/federation.sh BUILD_DIR [--seconds S] [--runs N] [--drain S] [--webhook-parallel N]}
shift
seconds=6 runs=3 drain=60 parallel=1
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) seconds=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--drain) drain=$2; shift 2 ;;
	--webhook-parallel) parallel=$2; shift 2 ;; # delivery.webhook_parallel of every gateway
	*) echo "bench/federation.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
build=$(cd "$build" && pwd)
msgw=$build/gateway/cli/msgw loadgen=$build/bench/loadgen receiver=$build/bench/receiver
for x in "$msgw" "$loadgen" "$receiver" "$build/tools/msgw-curve-keygen"; do
	[ -x "$x" ] || { echo "bench/federation.sh: $x not built: ninja -C $build" >&2; exit 2; }
done
overlay=$root/schemas/catalogue/langfang-overlay.example.json

tmp=$(mktemp -d "${TMPDIR:-/tmp}/msgw-federation-bench.XXXXXX")
regions=(11 12 13)
declare -A name=([11]=beijing [12]=tianjin [13]=hebei)
declare -A gw_pid=() rec_pid=() peering=() admin=()
loadgen_pid='' poll_pid=''
cleanup() {
	set +e
	[ -n "$loadgen_pid" ] && kill "$loadgen_pid" 2>/dev/null
	[ -n "$poll_pid" ] && kill "$poll_pid" 2>/dev/null
	for r in "${!gw_pid[@]}"; do [ -n "${gw_pid[$r]}" ] && kill "${gw_pid[$r]}" 2>/dev/null; done
	for r in "${!rec_pid[@]}"; do [ -n "${rec_pid[$r]}" ] && kill "${rec_pid[$r]}" 2>/dev/null; done
	wait 2>/dev/null
	if [ -n "${MSGW_BENCH_KEEP:-}" ]; then echo "bench/federation.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "federation bench: $*" >&2; }
die() { echo "bench/federation.sh: $*" >&2; exit 1; }
# jget JSON KEY... : one field of a JSON line (null prints as None)
jget() { python3 -c 'import functools,json,sys; print(functools.reduce(lambda v, k: v[k], sys.argv[2:], json.loads(sys.argv[1])))' "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pub() { sed -n 's/^public=//p' "$1"; }
results=$tmp/results.jsonl
: >"$results"

# A development PKI per region: each gateway's certificate (O = region, OU = gateway) is issued by
# its own region's CA, which its peers trust for it alone.
for r in "${regions[@]}"; do
	MSGW_CURVE_KEYGEN=$build/tools/msgw-curve-keygen "$root/certs/dev-pki.sh" "$tmp/pki$r" "$r" >/dev/null 2>&1 ||
		die "certs/dev-pki.sh $tmp/pki$r $r failed"
	peering[$r]=$(free_port)
done

# One receiver per region for its civil affairs' webhook (the gateway's client certificate is
# checked against that region's CA); each logs every delivery with its arrival time and cause.
for r in "${regions[@]}"; do
	P=$tmp/pki$r
	"$receiver" --cert "$P/gateway.crt" --key "$P/gateway.key" --ca "$P/ca.crt" --port-file "$tmp/rec$r.port" \
		--log "$tmp/received$r.log" >"$tmp/receiver$r.out" 2>&1 &
	rec_pid[$r]=$!
done
for r in "${regions[@]}"; do
	for _ in $(seq 200); do [ -s "$tmp/rec$r.port" ] && break; sleep 0.05; done
	[ -s "$tmp/rec$r.port" ] || die "the receiver for region $r did not start: $(tail -3 "$tmp/receiver$r.out")"
done

# The peer agreement: disability certificates cross, with what the receiving side's validation and
# catalogue need of them.
fields='["id_number", "name", "sex", "birth_date", "hukou_region", "hukou_type", "residence_region",
         "disability_category", "disability_grade", "certificate_event", "disability_certificate_no"]'
peer_json() { # REGION
	echo "{ \"id\": \"${name[$1]}\", \"region\": \"$1\", \"url\": \"https://localhost:${peering[$1]}\","
	echo "  \"ca\": \"$tmp/pki$1/ca.crt\", \"kinds\": [\"disability_certificate\"], \"fields\": $fields }"
}
for r in "${regions[@]}"; do
	P=$tmp/pki$r
	case $r in
	11) cat_json='"catalogue": "tianjin",' ;; # a stand-in: no Beijing catalogue yet
	12) cat_json='"catalogue": "tianjin",' ;;
	# Langfang leaves the amounts of LF-071 (disability allowances) to the locality: without the
	# overlay's values a grade 1-2 holder is an evaluation error (eligibility.no_parameter), not a
	# transition, and hardly any Langfang certificate would cause a notice.
	13) cat_json="\"catalogue\": \"langfang\", \"catalogue_overlay\": \"$overlay\"," ;;
	esac
	peers=() sep=
	for o in "${regions[@]}"; do
		[ "$o" = "$r" ] && continue
		peers+=("$sep$(peer_json "$o")")
		sep=,
	done
	# The disability federation pushes (ZeroMQ, CURVE); civil affairs receives the eligibility
	# notices of its region's catalogue by webhook.
	cat >"$tmp/${name[$r]}.json" <<JSON
{ "region": "$r", $cat_json "data_dir": "$tmp/data$r",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" }, "admin": { "listen": "127.0.0.1:0" },
  "peering": { "listen": "127.0.0.1:${peering[$r]}" }, "delivery": { "webhook_parallel": $parallel },
  "zmq": { "listen": "tcp://127.0.0.1:*", "curve_secret_file": "$P/gateway.curve" },
  "departments": [
    { "id": "cdpf", "certificate": { "organization": "$r", "unit": "cdpf" }, "curve_public": "$(pub "$P/cdpf.curve")",
      "push": ["disability_certificate"] },
    { "id": "mca", "certificate": { "organization": "$r", "unit": "mca" }, "push": [], "eligibility": true,
      "deliver": { "webhook": { "url": "https://localhost:$(cat "$tmp/rec$r.port")/mca" } } } ],
  "peers": [ ${peers[*]} ] }
JSON
done

# Three fresh gateways with empty stores for every measurement.
start_gateways() {
	local r f
	for r in "${regions[@]}"; do
		rm -rf "$tmp/data$r" "$tmp/gw$r.port"*
		"$msgw" serve --config "$tmp/${name[$r]}.json" --port-file "$tmp/gw$r.port" 2>>"$tmp/gw$r.log" &
		gw_pid[$r]=$!
	done
	for r in "${regions[@]}"; do
		f=$tmp/gw$r.port.zmq # written last
		for _ in $(seq 300); do
			[ -s "$f" ] && break
			kill -0 "${gw_pid[$r]}" 2>/dev/null || break
			sleep 0.05
		done
		if [ ! -s "$f" ]; then
			echo "bench/federation.sh: the ${name[$r]} gateway (region $r) did not start; its log ends:" >&2
			tail -5 "$tmp/gw$r.log" >&2
			exit 1
		fi
		admin[$r]=$(cat "$tmp/gw$r.port.admin")
	done
	tj_zmq=$(cat "$tmp/gw12.port.zmq")
}
stop_gateways() {
	local r
	for r in "${regions[@]}"; do [ -n "${gw_pid[$r]:-}" ] && kill -TERM "${gw_pid[$r]}" 2>/dev/null; done
	for r in "${regions[@]}"; do
		[ -n "${gw_pid[$r]:-}" ] && { wait "${gw_pid[$r]}" 2>/dev/null || true; }
		gw_pid[$r]=
	done
}

# The delivery counters of Tianjin -> Hebei and Hebei -> its civil affairs, scraped from the admin
# listeners' /metrics with the administrator's certificate, every 0.25 s while a measurement runs:
# one JSON line per scrape with the CLOCK_MONOTONIC time (the clock of loadgen's push times).  Once
# the script has written how many envelopes to expect (FILE.expect), the poller creates FILE.done
# when Tianjin has delivered that many to Hebei and neither has anything left waiting.
cat >"$tmp/poll.py" <<'PY'
import http.client, json, os, re, ssl, sys, time
out, tj_port, tj_pki, hb_port, hb_pki = sys.argv[1:6]
def conn(port, pki):
    ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
    ctx.load_cert_chain(pki + "/admin.crt", pki + "/admin.key")
    return lambda: http.client.HTTPSConnection("localhost", int(port), context=ctx, timeout=5)
make = {"tj": conn(tj_port, tj_pki), "hb": conn(hb_port, hb_pki)}
conns = {}
line = re.compile(r'^(msgw_deliveries_total|msgw_outbox_pending|msgw_outbox_dead)\{([^}]*)\} ([0-9.e+]+)$')
def scrape(g, recipient):
    c = conns.get(g) or make[g]()
    conns[g] = c
    try:
        c.request("GET", "/metrics")
        body = c.getresponse().read().decode()
    except Exception:
        conns.pop(g, None)
        return None
    v = {"delivered": 0, "retry": 0, "dead": 0, "pending": 0, "dead_kept": 0}
    for l in body.splitlines():
        m = line.match(l)
        if not m or f'recipient="{recipient}"' not in m.group(2): continue
        n = float(m.group(3))
        if m.group(1) == "msgw_outbox_pending": v["pending"] += n
        elif m.group(1) == "msgw_outbox_dead": v["dead_kept"] += n
        else:
            o = re.search(r'outcome="([a-z]+)"', m.group(2))
            if o and o.group(1) in v: v[o.group(1)] += n
    return v
with open(out, "a") as f:
    while True:
        t = time.monotonic_ns()
        tj, hb = scrape("tj", "hebei"), scrape("hb", "mca")
        if tj and hb:
            f.write(json.dumps({"t": t, "tj_hebei": tj, "hb_mca": hb}) + "\n")
            f.flush()
            try:
                expect = int(open(out + ".expect").read())
                if tj["pending"] == 0 and hb["pending"] == 0 and tj["delivered"] >= expect:
                    open(out + ".done", "w").close()
            except (OSError, ValueError):
                pass
        time.sleep(0.25)
PY
start_poll() { # FILE
	rm -f "$1" "$1.expect" "$1.done"
	: >"$1"
	python3 "$tmp/poll.py" "$1" "${admin[12]}" "$tmp/pki12" "${admin[13]}" "$tmp/pki13" 2>>"$tmp/poll.err" &
	poll_pid=$!
}
stop_poll() { kill "$poll_pid" 2>/dev/null || true; wait "$poll_pid" 2>/dev/null || true; poll_pid=; }
# Waits up to S seconds until everything is forwarded and delivered (see the poller).
wait_forwarded() { # POLL_FILE ENVELOPES S
	echo "$2" >"$1.expect"
	for _ in $(seq $(($3 * 10))); do
		[ -e "$1.done" ] && return 0
		sleep 0.1
	done
	[ -s "$1" ] || die "the admin listeners' /metrics could not be scraped: $(tail -3 "$tmp/poll.err" 2>/dev/null)"
	return 1
}

# loadgen zmq to Tianjin as its disability federation; keeps its JSON line in results
lg() {
	local out
	"$loadgen" zmq --endpoint "$tj_zmq" --server-key "$tmp/pki12/gateway.curve" --client-key "$tmp/pki12/cdpf.curve" \
		--format cdpf-xml --flagging --disability-percent 100 "$@" >"$tmp/loadgen.out" 2>>"$tmp/loadgen.err" &
	loadgen_pid=$!
	wait "$loadgen_pid" || true
	loadgen_pid=
	out=$(cat "$tmp/loadgen.out")
	[ -n "$out" ] || { echo "bench/federation.sh: loadgen $* printed nothing:" >&2; tail -5 "$tmp/loadgen.err" >&2; exit 1; }
	echo "$out" >>"$results"
	log "$(jget "$out" label): $(jget "$out" records_per_s) records/s," \
		"$(jget "$out" status_other) not 202, $(jget "$out" rejected) rejected, $(jget "$out" duplicate) duplicates"
	last=$out
}
tianjin_persons=(--region tianjin --catalogue tianjin)
langfang_persons=(--region langfang --catalogue langfang --catalogue-overlay "$overlay")

# Closed loop, Tianjin persons: the single gateway's sustained rate for these records.
single_sustained() { # round
	start_gateways
	lg "${tianjin_persons[@]}" --label single-sustained --seed $((5000 + $1)) --window 64 \
		--records $((seconds * 5000)) --duration "$seconds"
	stop_gateways
}
# Closed loop, Langfang persons: Tianjin's ingest, and the envelopes delivered to Hebei per
# second while the push lasts (Tianjin takes pushes and forwards) and after it (Tianjin only
# forwards its backlog), the latter over up to twice --seconds or until the backlog is gone.
fed_sustained() { # round
	local label=fed-sustained s acked window
	start_gateways
	start_poll "$tmp/$label.poll"
	lg "${langfang_persons[@]}" --label "$label" --seed $((6000 + $1)) --window 64 \
		--records $((seconds * 5000)) --duration "$seconds" --sent-log "$tmp/$label.sent"
	acked=$(jget "$last" records_acked)
	window=$((seconds * 2 > 10 ? seconds * 2 : 10))
	wait_forwarded "$tmp/$label.poll" "$acked" "$window" || true
	stop_poll
	s=$(python3 - "$tmp/$label.sent" "$tmp/$label.poll" "$acked" "$(jget "$last" elapsed_s)" <<'PY'
import json, sys
sent, poll, acked, elapsed = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
t = [int(l.split()[1]) for l in open(sent) if l.strip()]
t0 = min(t); t1 = t0 + elapsed * 1e9  # the first push; the last reply
rows = [json.loads(l) for l in open(poll) if l.strip()]
def at(when):  # envelopes delivered at `when`, interpolated between scrapes
    prev = None
    for r in rows:
        if r["t"] >= when:
            if prev is None: return r["tj_hebei"]["delivered"]
            f = (when - prev["t"]) / (r["t"] - prev["t"])
            return prev["tj_hebei"]["delivered"] + f * (r["tj_hebei"]["delivered"] - prev["tj_hebei"]["delivered"])
        prev = r
    return rows[-1]["tj_hebei"]["delivered"]
last = rows[-1]
done = next((r["t"] for r in rows if r["tj_hebei"]["delivered"] >= acked), None)
t2 = done if done else last["t"]
at1 = at(t1)
gaps = [(b["t"] - a["t"]) / 1e9 for a, b in zip(rows, rows[1:]) if a["t"] >= t0]
print(json.dumps({
    "label": "fed-forwarding", "envelopes_expected": acked, "envelopes_delivered": int(last["tj_hebei"]["delivered"]),
    "during_push_per_s": round(at1 / elapsed, 1) if elapsed else 0,
    "backlog_at_push_end": int(acked - at1),
    "after_push_per_s": round((at(t2) - at1) / ((t2 - t1) / 1e9), 1) if t2 > t1 + 0.5e9 else None,
    "all_delivered_s": round((done - t0) / 1e9, 2) if done else None,
    "retry": int(last["tj_hebei"]["retry"]), "dead": int(last["tj_hebei"]["dead"] + last["tj_hebei"]["dead_kept"]),
    "hebei_mca_delivered": int(last["hb_mca"]["delivered"]), "hebei_mca_retry": int(last["hb_mca"]["retry"]),
    "hebei_mca_dead": int(last["hb_mca"]["dead"] + last["hb_mca"]["dead_kept"]),
    "max_scrape_gap_s": round(max(gaps), 2) if gaps else None}))
PY
)
	echo "$s" >>"$results"
	log "$label: $(jget "$s" during_push_per_s) envelopes/s delivered to Hebei while pushing, $(jget "$s" after_push_per_s)/s after;" \
		"$(jget "$s" envelopes_delivered) of $(jget "$s" envelopes_expected) delivered when the measurement stopped;" \
		"$(jget "$s" retry) retries, $(jget "$s" dead) dead"
	stop_gateways
}

# Open loop at RATE: the push -> notice latency, measured by the receiver of the region whose
# catalogue decides the persons (Tianjin's for the single gateway, Hebei's for the federation).
latency_run() { # label rate seed single|fed
	local label=$1 rate=$2 seed=$3 how=$4 persons rec expected m
	if [ "$how" = single ]; then persons=("${tianjin_persons[@]}") rec=12; else persons=("${langfang_persons[@]}") rec=13; fi
	start_gateways
	[ "$how" = fed ] && start_poll "$tmp/$label.poll"
	lg "${persons[@]}" --label "$label" --seed "$seed" \
		--rate "$rate" --records $((rate * seconds + rate / 10 + 10)) --duration "$seconds" --sent-log "$tmp/$label.sent"
	if [ "$how" = single ]; then
		expected=$(jget "$last" messages) # Tianjin's notices, as its replies announced them
		for _ in $(seq $((drain * 2))); do
			m=$("$receiver" --match "$tmp/$label.sent" "$tmp/received$rec.log" --expected "$expected")
			[ "$(jget "$m" undelivered)" = 0 ] && break
			sleep 0.5
		done
	else
		# Hebei's notices are not announced to the pusher: wait until Tianjin has forwarded
		# everything and Hebei delivered everything; what is still waiting then counts as
		# undelivered (at least one notice per envelope not yet delivered to Hebei).
		wait_forwarded "$tmp/$label.poll" "$(jget "$last" records_acked)" "$drain" ||
			log "$label: not everything forwarded and delivered after the $drain s drain"
	fi
	if [ "$how" = fed ]; then
		stop_poll
		local s
		s=$(tail -1 "$tmp/$label.poll")
		m=$("$receiver" --match "$tmp/$label.sent" "$tmp/received$rec.log")
		expected=$(python3 -c 'import json,sys; m=json.loads(sys.argv[1]); s=json.loads(sys.argv[2]); a=int(sys.argv[3]); print(int(m["notices"] + m["other_kinds"] + s["hb_mca"]["pending"] + max(0, a - s["tj_hebei"]["delivered"])))' \
			"$m" "$s" "$(jget "$last" records_acked)")
	fi
	m=$("$receiver" --match "$tmp/$label.sent" "$tmp/received$rec.log" --expected "$expected")
	python3 -c 'import json,sys; m=json.loads(sys.argv[1]); m["label"]=sys.argv[2]; m["rate"]=int(sys.argv[3]); print(json.dumps(m))' \
		"$m" "$label-delivery" "$rate" >>"$results"
	log "$label: $(jget "$m" notices) notices delivered, $(jget "$m" undelivered) still undelivered after the drain," \
		"p50 $(jget "$m" latency_ms p50) ms, p99 $(jget "$m" latency_ms p99) ms"
	stop_gateways
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$(date +%s)
for i in $(seq "$runs"); do
	log "round $i of $runs"
	single_sustained "$i"
	rate=$(jget "$last" records_per_s)
	half=$(python3 -c 'import sys; print(max(1, round(float(sys.argv[1]) / 2)))' "$rate")
	log "half the single gateway's sustained rate ($rate/s): $half records/s"
	echo "{\"label\":\"half-rate\",\"round\":$i,\"rate\":$half}" >>"$results"
	latency_run single-low 100 $((5100 + i)) single
	latency_run single-half "$half" $((5200 + i)) single
	fed_sustained "$i"
	latency_run fed-low 100 $((6100 + i)) fed
	latency_run fed-half "$half" $((6200 + i)) fed
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

cat >"$tmp/table.py" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
runs, seconds = int(sys.argv[2]), sys.argv[3]
def vals(label, *keys):
    out = []
    for r in rows:
        if r.get("label") != label: continue
        v = r
        for k in keys: v = v.get(k) if isinstance(v, dict) else None
        out.append(v)
    return out
def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None
def n0(x): return "—" if x is None else f"{x:,.0f}"
def ms(x): return "not delivered" if x is None else f"{x:.1f} ms"
def each(v, f): return "(" + ", ".join(f(x) if x is not None else "—" for x in v) + ")"
def lat(label, q):
    v = vals(label + "-delivery", "latency_ms", q)
    # a percentile among the undelivered is later than any delivered one: it sorts last
    return (None if sum(x is None for x in v) > len(v) // 2 else med(v)), v
single = vals("single-sustained", "records_per_s")
ingest = vals("fed-sustained", "records_per_s")
fwd_push = vals("fed-forwarding", "during_push_per_s")
fwd_after = vals("fed-forwarding", "after_push_per_s")
half = vals("half-rate", "rate")
print(f"Cross-region forwarding (bench/federation.sh): medians of {runs} rounds of {seconds} s, the rounds in parentheses;")
print("disability certificates that cause an eligibility transition, one per ZeroMQ request, pushed to Tianjin")
print()
print("| measure | single gateway (Tianjin) | federation (Tianjin -> Hebei) | federation / single |")
print("|---|---:|---:|---:|")
def ratio(a, b): return "—" if a is None or b in (None, 0) else f"{a / b:.2f}"
print(f"| closed loop, window 64: records/s taken by Tianjin | {n0(med(single))} {each(single, n0)} | {n0(med(ingest))} {each(ingest, n0)} | {ratio(med(ingest), med(single))} |")
print(f"| envelopes delivered to Hebei per s while Tianjin takes that push | | {n0(med(fwd_push))} {each(fwd_push, n0)} | {ratio(med(fwd_push), med(single))} |")
print(f"| envelopes delivered to Hebei per s after it (forwarding the backlog only) | | {n0(med(fwd_after))} {each(fwd_after, n0)} | {ratio(med(fwd_after), med(single))} |")
for name, label in (("100 records/s", "low"), (f"half the single gateway's rate ({n0(med(half))} records/s: {each(half, n0)})", "half")):
    for q in ("p50", "p99"):
        s, sv = lat("single-" + label, q)
        f, fv = lat("fed-" + label, q)
        added = "—" if s is None or f is None else f"+{f - s:.1f} ms"
        print(f"| push -> notice delivered at {name}: {q} | {ms(s)} {each(sv, lambda x: f'{x:.1f}')} | {ms(f)} {each(fv, lambda x: f'{x:.1f}')} | {added} |")
und = [(r["label"], r["undelivered"]) for r in rows if r.get("label", "").endswith("-delivery") and r.get("undelivered")]
bad = [r for r in rows if r.get("label") == "fed-forwarding" and (r["retry"] or r["dead"] or r["hebei_mca_retry"] or r["hebei_mca_dead"])]
notes = []
dups = sum(r.get("duplicate", 0) or 0 for r in rows); rej = sum(r.get("rejected", 0) or 0 for r in rows)
other = sum(r.get("status_other", 0) or 0 for r in rows)
if dups or rej or other: notes.append(f"WARNING: {dups} duplicates, {rej} rejected, {other} replies not 202")
if bad: notes.append("WARNING: delivery retries or dead letters: " + json.dumps(bad))
if und: notes.append("undelivered after the drain: " + ", ".join(f"{l} {n}" for l, n in und))
gaps = [r["max_scrape_gap_s"] for r in rows if r.get("label") == "fed-forwarding" and (r.get("max_scrape_gap_s") or 0) > 5]
if gaps: notes.append(f"WARNING: the gateways' /metrics did not answer for up to {max(gaps)} s during a forwarding run (a stall)")
exh = [r["label"] for r in rows if r.get("exhausted")]
if exh: notes.append("ran out of generated records (rate stands, the run was shorter): " + ", ".join(exh))
lgc = [r["cpu_s"] / r["elapsed_s"] for r in rows if r.get("cpu_s") and r.get("elapsed_s") and r.get("label", "").endswith("sustained")]
if lgc: notes.append(f"loadgen used {100 * statistics.median(lgc):.0f} % of a core in the closed-loop runs")
for n in notes: print(); print(n)
PY

report=$build/bench-report.txt
{
	echo
	python3 "$tmp/table.py" "$results" "$runs" "$seconds"
	echo
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'),"\
		"$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo); load average before $load_before, after $load_after;"\
		"three gateways, three receivers and the load generator share the cores"
	echo "build: $build, $(date -u +%Y-%m-%dT%H:%MZ), $(($(date +%s) - t_start)) s"
} | tee -a "$report"
{
	echo "raw (one JSON line per measurement):"
	cat "$results"
} >>"$report"
