#!/usr/bin/env bash
# Crash safety: kill -9 the daemon in the middle of a stream of pushes, restart it, then count.
# Every record acknowledged with 202 is stored exactly once; pushing everything again stores
# nothing twice; every outbox message is delivered at least once, and no event id reaches the
# receiver as two different messages.
set -uo pipefail
msgw=${MSGW_BIN:?}
push=${MSGW_ZMQ_PUSH:?}
root=${MSGW_SOURCE_ROOT:?}
popgen=${MSGW_POPGEN:?}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
pass=0 fail=0
ok() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }
wait_file() { for _ in $(seq 100); do [[ -s $1 ]] && return 0; sleep 0.1; done; return 1; }

MSGW_CURVE_KEYGEN=${MSGW_CURVE_KEYGEN:?} "$root/certs/dev-pki.sh" "$tmp/pki" 12 >/dev/null 2>&1
P=$tmp/pki
"$popgen" --seed 7 --households 300 --region tianjin --format hrss --records-per-file 20 --out "$tmp/pop" >/dev/null
files=("$tmp"/pop/hrss-*.json)
python3 "$root/tests/cli/webhook_receiver.py" "$P/gateway.crt" "$P/gateway.key" "$P/ca.crt" 200 "$tmp/recv.log" "$tmp/recv.port" &
pids+=($!)
wait_file "$tmp/recv.port"
cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "zmq": { "listen": "tcp://127.0.0.1:*", "curve_secret_file": "$P/gateway.curve" },
  "departments": [
    { "id": "hrss", "curve_public": "$(sed -n 's/^public=//p' "$P/hrss.curve")", "eligibility": true,
      "push": ["insurance_enrolment", "insurance_termination", "employment_registration", "unemployment_registration", "retirement"],
      "deliver": { "webhook": { "url": "https://localhost:$(cat "$tmp/recv.port")/inbox" } } } ] }
JSON
start() {
  rm -f "$tmp/port" "$tmp/port.zmq"
  "$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>>"$tmp/log" &
  daemon=$!
  pids+=($daemon)
  wait_file "$tmp/port.zmq"
  ep=$(cat "$tmp/port.zmq")
}
push_all() { # pushes every file, one reply line each (a missing reply: status 0)
  for f in "${files[@]}"; do "$push" "$ep" "$P/gateway.curve" "$P/hrss.curve" application/vnd.msgw.hrss+json "$f"; done
}
start
push_all >"$tmp/replies1" &
pusher=$!
sleep 1.5
kill -9 "$daemon"
kill "$pusher" 2>/dev/null # stop sending; a push in flight times out on its own
wait "$pusher" 2>/dev/null
sleep 3.5
acked=$(python3 -c 'import json,sys
ids=set()
for l in open(sys.argv[1]):
    d=json.loads(l)
    if d.get("status")==202: ids.update(r["message_id"] for r in d["records"] if "message_id" in r)
open(sys.argv[2],"w").write("\n".join(sorted(ids)))
print(len(ids))' "$tmp/replies1" "$tmp/acked")
ok test "$acked" -gt 0
start
sql() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$tmp/data/msgw.db" "$1"; }
# every acknowledged record survived the kill
ok python3 -c 'import sqlite3,sys
db=sqlite3.connect(sys.argv[1]); acked=[l for l in open(sys.argv[2]).read().split("\n") if l]
missing=[m for m in acked if db.execute("select count(*) from records where message_id=?", (m,)).fetchone()[0]!=1]
print("missing:", missing[:5]) if missing else None
sys.exit(1 if missing else 0)' "$tmp/data/msgw.db" "$tmp/acked"
# everything again: what was stored is a duplicate, the rest is stored now, nothing twice
push_all >"$tmp/replies2"
total=$(python3 -c 'import json,sys; print(len({r["message_id"] for l in open(sys.argv[1]) for r in json.loads(l)["records"]}))' "$tmp/replies2")
ok test "$(sql "select count(*) from records")" = "$total"
ok test "$(sql "select count(distinct message_id) from records")" = "$total"
ok python3 -c 'import json,sys; sys.exit(0 if all(json.loads(l)["status"]==202 for l in open(sys.argv[1])) else 1)' "$tmp/replies2"
# deliveries resume after the restart: all delivered, each event id received, none as two messages
for _ in $(seq 100); do [[ $(sql "select count(*) from outbox where state='pending'") == 0 ]] && break; sleep 0.1; done
ok test "$(sql "select count(*) from outbox where state='pending'")" = 0
ok python3 -c 'import json,sqlite3,sys
db=sqlite3.connect(sys.argv[1]); sent={r[0] for r in db.execute("select event_id from outbox where state=\"delivered\"")}
got=[json.loads(l)["event"] for l in open(sys.argv[2])]
sys.exit(0 if sent and sent==set(got) else 1)' "$tmp/data/msgw.db" "$tmp/recv.log"
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
