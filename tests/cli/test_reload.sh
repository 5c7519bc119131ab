#!/usr/bin/env bash
# The eligibility state in the store, and a parameter raised by SIGHUP: the daemon as a process.
#   - a record that changes a verdict writes it to the store's eligibility table, with the notices,
#     in the same transaction;
#   - a deployment overlay raising an allowance, reloaded with SIGHUP, re-evaluates the persons it
#     affects: CHANGED notices (no causing record) reach the outbox and the stored verdicts carry
#     the new amount; connections stay up and pushes go on;
#   - msgw trace shows a record end to end (received, facts masked, verdicts, its messages and
#     their delivery state);
#   - the audit log holds the pushes, the reloads and the delivery attempts, verifies, and shows no
#     unmasked ID number.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
P=$tmp/pki
"$root/certs/dev-pki.sh" "$P" 12 >/dev/null 2>&1
echo '{ "parameters": {} }' >"$tmp/overlay.json"
cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "catalogue_overlay": "$tmp/overlay.json", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "departments": [
    { "id": "mca", "certificate": { "organization": "12", "unit": "mca" }, "push": ["household_assistance_roster"],
      "eligibility": true, "deliver": { "webhook": { "url": "https://127.0.0.1:9/inbox" } } },
    { "id": "cdpf", "certificate": { "organization": "12", "unit": "cdpf" }, "push": ["disability_certificate"],
      "eligibility": true, "deliver": { "webhook": { "url": "https://127.0.0.1:9/inbox" } } } ] }
JSON
"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>"$tmp/log" &
pid=$!
for _ in $(seq 100); do [[ -s $tmp/port ]] && break; sleep 0.1; done
port=$(cat "$tmp/port")
push() { # FILE MEDIA_TYPE -> status
	curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/cdpf.crt" --key "$P/cdpf.key" \
		-H "Content-Type: $2" --data-binary "@$1" "https://localhost:$port/v1/records"
}
sql() { python3 -c 'import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone(); print(r[0] if r else "")' "$tmp/data/msgw.db" "$1"; }
CDPF=application/vnd.msgw.cdpf.certificate+xml

ok test "$(push "$root/tests/data/cdpf/certificate-events.xml" $CDPF)" = 202
transitions=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["transitions"])' "$tmp/body")
first_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"][0]["message_id"])' "$tmp/body")
ok test "$transitions" -gt 0
# every transition left its verdict in the store, in the same commit as its record and notices
ok test "$(sql "select count(*) from eligibility")" -gt 0
ok test "$(sql "select count(*) from eligibility e where record_seq is null or not exists (select 1 from records r where r.seq = e.record_seq)")" = 0
care_before=$(sql "select count(*) from eligibility where service = 'TJ-D7-12' and eligible = 1 and amount = 20000")
echo "care allowance at 200 yuan: $care_before persons"
ok test "$care_before" -gt 0

# the deployment raises the care allowance from today: 200 -> 250 yuan
today=$(date +%F)
cat >"$tmp/overlay.json" <<JSON
{ "parameters": { "disability_care": { "type": "money",
    "values": [ { "from": "$today", "value": "250yuan", "source": { "text": "test: a raise" } } ] } } }
JSON
notices_before=$(sql "select count(*) from outbox where kind = 'eligibility'")
kill -HUP "$pid"
for _ in $(seq 100); do grep -q '"parameter values applied"' "$tmp/log" && break; sleep 0.1; done
ok grep -q '"parameter values applied"' "$tmp/log"
ok test "$(sql "select count(*) from eligibility where service = 'TJ-D7-12' and eligible = 1 and amount = 25000")" = "$care_before"
ok test "$(sql "select count(*) from eligibility where service = 'TJ-D7-12' and amount = 20000")" = 0
# CHANGED notices, caused by no record, one per recipient and person
new_notices=$(sql "select count(*) from outbox where kind = 'eligibility' and cause is null")
echo "notices after the raise: $new_notices (before: $notices_before with a cause)"
ok test "$new_notices" -ge "$care_before"
# the same reload again changes nothing and sends nothing
kill -HUP "$pid"
for _ in $(seq 100); do [[ $(grep -c '"reloaded"' "$tmp/log") -ge 2 ]] && break; sleep 0.1; done
ok test "$(sql "select count(*) from outbox where kind = 'eligibility' and cause is null")" = "$new_notices"
# pushes go on after the reloads
ok test "$(push "$root/tests/data/cdpf/certificate-events.xml" $CDPF)" = 202
kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0
pid=
# msgw trace: the first record end to end (the store is read; the daemon has stopped)
ok "$msgw" trace --config "$tmp/msgw.json" "$first_id"
"$msgw" trace --config "$tmp/msgw.json" "$first_id" >"$tmp/trace.txt"
ok grep -q "^  received .* from cdpf, disability_certificate record, body sha256 [0-9a-f]\{64\}" "$tmp/trace.txt"
ok grep -q "^  message   eligibility to cdpf .*: pending after [1-9]" "$tmp/trace.txt" # port 9: retried
ok grep -q "last error: " "$tmp/trace.txt"
ok grep -q '"disability_certificate_no":"120101\*\{10\}[0-9]\{4\}"' "$tmp/trace.txt" # the ID number inside is masked
"$msgw" trace --json --config "$tmp/msgw.json" "$first_id" >"$tmp/trace.json"
ok python3 -c 'import json,re,sys; t=json.load(open(sys.argv[1])); sys.exit(0 if t["facts"] and all(re.fullmatch(r"\d{6}\*{8}[\dX]{4}", f["subject"]) for f in t["facts"]) and t["verdicts"] and t["messages"] else 1)' "$tmp/trace.json"
"$msgw" trace --config "$tmp/msgw.json" "cdpf:no-such-message" >/dev/null 2>&1
ok test $? -eq 1
# the audit log of all that: every push, the reloads and delivery attempts, chained and signed
ok "$msgw" audit verify --dir "$tmp/data/audit" --cert "$P/gateway.crt"
kinds=$(cat "$tmp"/data/audit/audit-*.jsonl | python3 -c 'import json,sys; print(" ".join(sorted({json.loads(l)["kind"] for l in sys.stdin})))')
echo "audit entry kinds: $kinds"
ok test "$kinds" = "checkpoint config delivery push"
ok test "$(grep -h '"kind":"push"' "$tmp"/data/audit/audit-*.jsonl | wc -l)" = 2
ok test "$(grep -h '"kind":"config"' "$tmp"/data/audit/audit-*.jsonl | wc -l)" = 2 # the two reloads
# no unmasked ID number anywhere in the log
ok python3 - "$tmp/data/audit" <<'PY'
import glob, re, sys
text = "".join(open(f).read() for f in glob.glob(sys.argv[1] + "/audit-*.jsonl"))
sys.exit(1 if re.search(r"(?<![0-9A-Za-z])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])", text) else 0)
PY
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
