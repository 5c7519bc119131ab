#!/usr/bin/env bash
# The daemon benchmark's tools (bench/loadgen, bench/receiver; docs/benchmarks.md) against a real
# daemon, briefly, so they do not rot: every request sent is answered and acknowledged, records are
# new (stored, not duplicates) until the same seed is pushed again, notices caused by flagging
# records reach the receiver by webhook and over ZeroMQ and are matched to their pushes.  No
# figure is judged: rates only have to be positive.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
loadgen=${MSGW_LOADGEN:?}
receiver=${MSGW_RECEIVER:?}
wait_file() { for _ in $(seq 200); do [[ -s $1 ]] && return 0; sleep 0.05; done; return 1; }
# jq-free checks of loadgen's JSON line: expr is Python over the dict j
check() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"; }

MSGW_CURVE_KEYGEN=${MSGW_CURVE_KEYGEN:?} "$root/certs/dev-pki.sh" "$tmp/pki" 12 >/dev/null 2>&1
P=$tmp/pki
pub() { sed -n 's/^public=//p' "$1"; }
zdeliver=tcp://127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$receiver" --cert "$P/gateway.crt" --key "$P/gateway.key" --ca "$P/ca.crt" --port-file "$tmp/rport" --log "$tmp/received.log" \
  --zmq-connect "$zdeliver" --zmq-server-key "$P/gateway.curve" --zmq-key "hrss=$P/hrss.curve" >"$tmp/receiver.out" 2>&1 &
pids+=($!)
ok wait_file "$tmp/rport"
cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "zmq": { "listen": "tcp://127.0.0.1:*", "deliver_listen": "$zdeliver", "curve_secret_file": "$P/gateway.curve" },
  "departments": [
    { "id": "hrss", "certificate": { "organization": "12", "unit": "hrss" }, "curve_public": "$(pub "$P/hrss.curve")",
      "push": ["insurance_enrolment", "insurance_termination", "employment_registration", "unemployment_registration", "retirement"],
      "eligibility": true, "deliver": { "zmq": {} } },
    { "id": "cdpf", "certificate": { "organization": "12", "unit": "cdpf" }, "curve_public": "$(pub "$P/cdpf.curve")",
      "push": ["disability_certificate"], "eligibility": true,
      "deliver": { "webhook": { "url": "https://localhost:$(cat "$tmp/rport")/cdpf" } } } ] }
JSON
"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>"$tmp/log" &
pids+=($!)
ok wait_file "$tmp/port.zmq"
port=$(cat "$tmp/port") ep=$(cat "$tmp/port.zmq")
ZMQ=(zmq --endpoint "$ep" --server-key "$P/gateway.curve")

# ZeroMQ, pipelined, one record per request, closed loop
out=$("$loadgen" "${ZMQ[@]}" --client-key "$P/hrss.curve" --seed 7 --records 20 --count 20 --duration 20 2>"$tmp/err")
ok test $? -eq 0
ok check "$out" 'j["requests_sent"] == j["requests_answered"] == 20 and j["records_acked"] == j["records_sent"] == 20'
ok check "$out" 'j["status_202"] == 20 and j["stored"] == 20 and j["duplicate"] == 0 and j["lost"] == 0'
ok check "$out" 'j["records_per_s"] > 0 and j["latency_ms"]["p99"] > 0'
# batches: 3 requests carry 10 records
out=$("$loadgen" "${ZMQ[@]}" --client-key "$P/hrss.curve" --seed 8 --records 10 --batch 4 --window 2 --duration 20 2>>"$tmp/err")
ok check "$out" 'j["requests_answered"] == 3 and j["records_acked"] == 10 and j["stored"] == 10'
# the same seed again: the gateway answers every record as a duplicate
out=$("$loadgen" "${ZMQ[@]}" --client-key "$P/hrss.curve" --seed 7 --records 5 --count 5 --duration 20 2>>"$tmp/err")
ok check "$out" 'j["records_acked"] == 5 and j["duplicate"] == 5 and j["stored"] == 0'

# a fixed population (--population 5): 15 records, every one stored (new sender ids), about the
# persons of the first 5 only
out=$("$loadgen" "${ZMQ[@]}" --client-key "$P/hrss.curve" --seed 12 --records 15 --population 5 --batch 5 --window 1 \
  --duration 20 2>>"$tmp/err")
ok check "$out" 'j["records_acked"] == 15 and j["stored"] == 15 and j["duplicate"] == 0'
ok python3 -c 'import sqlite3,sys
db = sqlite3.connect(sys.argv[1])
again = {s for (s,) in db.execute("select distinct subject from facts where message_id like ?", ("hrss:%-R%",))}
first = {s for (s,) in db.execute("select distinct f.subject from facts f join records r on r.seq = f.record_seq where r.message_id not like ? and r.seq > (select max(seq) - 15 from records)", ("hrss:%-R%",))}
sys.exit(0 if again and again <= first and len(again) <= 5 else 1)' "$tmp/data/msgw.db"
ok test "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from records where message_id like ?", ("hrss:%-R%",)).fetchone()[0])' "$tmp/data/msgw.db")" = 10

# HTTPS with mutual TLS, two keep-alive connections
out=$("$loadgen" https --url "https://localhost:$port/v1/records" --cert "$P/hrss.crt" --key "$P/hrss.key" --ca "$P/ca.crt" \
  --connections 2 --seed 9 --records 10 --count 10 --duration 20 2>>"$tmp/err")
ok test $? -eq 0
ok check "$out" 'j["requests_answered"] == 10 and j["status_202"] == 10 and j["stored"] == 10 and j["errors"] == 0'
ok check "$out" 'j["requests_per_s"] > 0'
# a department pushing a kind it may not: counted as not 202, nothing acknowledged
out=$("$loadgen" https --url "https://localhost:$port/v1/records" --cert "$P/cdpf.crt" --key "$P/cdpf.key" --ca "$P/ca.crt" \
  --connections 1 --seed 10 --records 2 --count 2 --duration 20 2>>"$tmp/err")
ok check "$out" 'j["status_other"] == 2 and j["statuses"].get("403") == 2 and j["records_acked"] == 0'

# flagging records, open loop: each causes notices (cdpf by webhook, hrss over ZeroMQ), matched to its push
out=$("$loadgen" "${ZMQ[@]}" --client-key "$P/cdpf.curve" --format cdpf-xml --flagging --disability-percent 100 --seed 11 \
  --records 10 --rate 50 --duration 20 --sent-log "$tmp/sent" 2>>"$tmp/err")
ok check "$out" 'j["stored"] == 10 and j["transitions"] >= 10 and j["messages"] >= 10'
ok test "$(wc -l <"$tmp/sent")" = 10
expected=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["messages"])' "$out")
for _ in $(seq 100); do
  m=$("$receiver" --match "$tmp/sent" "$tmp/received.log" --expected "$expected")
  check "$m" 'j["undelivered"] == 0' && break
  sleep 0.1
done
ok check "$m" 'j["undelivered"] == 0 and j["notices"] == j["expected"] and j["before_push"] == 0'
ok check "$m" 'j["webhook_ms"]["notices"] > 0 and j["zmq_ms"]["notices"] > 0 and j["latency_ms"]["p50"] > 0'
[[ $fail == 0 ]] || { echo "--- loadgen stderr"; cat "$tmp/err"; echo "--- daemon log"; tail -20 "$tmp/log"; }
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
