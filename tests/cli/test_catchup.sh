#!/usr/bin/env bash
# Birthdays while the gateway was down: a restarted daemon replays each stored record on the day it
# was recorded and sweeps every day since, so a threshold crossed during the downtime is notified
# (with no causing record) instead of being adopted silently.  The history is made by hand: a
# person registered five days ago, aged 64 then, turned 65 three days ago (TJ-D5-01 老年人健康管理,
# residence Tianjin, age >= 65, the health commission's service).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
P=$tmp/pki
"$root/certs/dev-pki.sh" "$P" 12 >/dev/null 2>&1
cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "departments": [
    { "id": "health", "certificate": { "organization": "12", "unit": "health" }, "push": ["person_registration"],
      "eligibility": true, "deliver": { "webhook": { "url": "https://127.0.0.1:9/inbox" } } } ] }
JSON
# a person whose 65th birthday was three days ago, with a valid GB 11643 ID number
id=$(python3 "$root/tests/cli/turned_65.py" "$tmp/person.json")
start() {
	rm -f "$tmp/port"
	"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>>"$tmp/log" &
	pid=$!
	for _ in $(seq 100); do [[ -s $tmp/port ]] && break; sleep 0.1; done
}
stop() { kill -TERM "$pid"; wait "$pid"; ok test $? -eq 0; pid=; }
sql() { python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); r=c.execute(sys.argv[2]).fetchone(); c.commit(); print(r[0] if r else "")' "$tmp/data/msgw.db" "$1"; }

start
code=$(curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/health.crt" --key "$P/health.key" \
	-H "Content-Type: application/vnd.msgw.canonical+json" --data-binary "@$tmp/person.json" \
	"https://localhost:$(cat "$tmp/port")/v1/records")
ok test "$code" = 202
stop
# rewrite history: the record arrived five days ago, when the person was 64 and nothing was due
python3 - "$tmp/data/msgw.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE records SET recorded_at = recorded_at - 5 * 86400 * 1000000")
c.execute("DELETE FROM eligibility")
c.execute("DELETE FROM outbox")
c.commit()
PY
start
for _ in $(seq 100); do [[ $(sql "select count(*) from eligibility where service = 'TJ-D5-01'") == 1 ]] && break; sleep 0.1; done
stop
ok test "$(sql "select count(*) from eligibility where service = 'TJ-D5-01' and eligible = 1 and record_seq is null")" = 1
ok test "$(sql "select count(*) from outbox where kind = 'eligibility' and recipient = 'health' and cause is null")" -ge 1
# a second restart sends nothing again (same event ids: the outbox keeps one of each)
before=$(sql "select count(*) from outbox")
start
sleep 1
stop
ok test "$(sql "select count(*) from outbox")" = "$before"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
