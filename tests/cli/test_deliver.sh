#!/usr/bin/env bash
# Delivery from the outbox to real webhook receivers over mutual TLS: every message reaches its
# recipient once, with its event id; a receiver that keeps failing gets the message retried and
# then dead-lettered with its last error; an administrator lists the dead letters and replays them.
# A peer gateway that answers 409 (it holds the envelope already) has it settled as delivered.
# Notices committed together travel in one list per recipient, unless it asks for one per message.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

"$root/certs/dev-pki.sh" "$tmp/pki" 12 >/dev/null 2>&1
P=$tmp/pki
python3 "$root/tests/cli/webhook_receiver.py" "$P/gateway.crt" "$P/gateway.key" "$P/ca.crt" 200 "$tmp/mca.log" "$tmp/mca.port" &
pids+=($!)
python3 "$root/tests/cli/webhook_receiver.py" "$P/gateway.crt" "$P/gateway.key" "$P/ca.crt" 503 "$tmp/cdpf.log" "$tmp/cdpf.port" &
pids+=($!)
python3 "$root/tests/cli/webhook_receiver.py" "$P/gateway.crt" "$P/gateway.key" "$P/ca.crt" 409 "$tmp/peer.log" "$tmp/peer.port" &
pids+=($!)
python3 "$root/tests/cli/webhook_receiver.py" "$P/gateway.crt" "$P/gateway.key" "$P/ca.crt" 200 "$tmp/health.log" "$tmp/health.port" &
pids+=($!)
wait_file "$tmp/mca.port" && wait_file "$tmp/cdpf.port" && wait_file "$tmp/peer.port" && wait_file "$tmp/health.port"
cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "admin": { "listen": "127.0.0.1:0" },
  "delivery": { "max_attempts": 3, "backoff_initial_ms": 10, "backoff_max_ms": 50, "webhook_parallel": 4 },
  "departments": [
    { "id": "mca", "certificate": { "organization": "12", "unit": "mca" }, "push": [],
      "subscriptions": [ { "kinds": ["disability_certificate"], "from": ["cdpf"],
                           "fields": ["hukou_region", "disability_category", "disability_grade"] } ],
      "eligibility": true, "deliver": { "webhook": { "url": "https://localhost:$(cat "$tmp/mca.port")/inbox" } } },
    { "id": "cdpf", "certificate": { "organization": "12", "unit": "cdpf" },
      "push": ["disability_certificate"], "eligibility": true,
      "deliver": { "webhook": { "url": "https://localhost:$(cat "$tmp/cdpf.port")/inbox" } } },
    { "id": "health", "certificate": { "organization": "12", "unit": "health" }, "push": [], "eligibility": true,
      "deliver": { "webhook": { "url": "https://localhost:$(cat "$tmp/health.port")/inbox", "notices_per_message": 1 } } } ],
  "peering": { "listen": "127.0.0.1:0" },
  "peers": [ { "id": "hebei", "region": "13", "url": "https://localhost:$(cat "$tmp/peer.port")", "ca": "$P/ca.crt",
               "envelopes_per_message": 1,
               "kinds": ["disability_certificate"],
               "fields": ["id_number", "hukou_region", "disability_category", "disability_grade",
                          "disability_certificate_no"] } ] }
JSON
"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>"$tmp/log" &
pids+=($!)
wait_file "$tmp/port"
port=$(cat "$tmp/port")
code=$(curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/cdpf.crt" --key "$P/cdpf.key" \
  -H "Content-Type: application/vnd.msgw.cdpf.certificate+xml" --data-binary @"$root/tests/data/cdpf/certificate-events.xml" \
  "https://localhost:$port/v1/records")
ok test "$code" = 202
sql() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$tmp/data/msgw.db" "$1"; }
expected_mca=$(sql "select count(*) from outbox where recipient='mca'")
for _ in $(seq 100); do
  [[ $(sql "select count(*) from outbox where state='pending'") == 0 ]] && break
  sleep 0.1
done
ok test "$(sql "select count(*) from outbox where state='pending'")" = 0
ok test "$(sql "select count(*) from outbox where recipient='mca' and state='delivered'")" = "$expected_mca"
# the Hebei person's record went to the peer as an envelope, answered 409 once: delivered
ok test "$(sql "select count(*) from outbox where recipient='hebei' and state='delivered' and attempts=1")" = 1
ok test "$(wc -l <"$tmp/peer.log")" = 1
ok grep -q '"type": "application/vnd.msgw.envelope+json"' "$tmp/peer.log"
# each mca message arrived exactly once, with its event id, from the gateway's client certificate
ok test "$(wc -l <"$tmp/mca.log")" = "$expected_mca"
ok test "$(python3 -c 'import json,sys; print(len({json.loads(l)["event"] for l in open(sys.argv[1])}))' "$tmp/mca.log")" = "$expected_mca"
ok python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if all(x["client"]=="gateway" for x in r) and {x["kind"] for x in r}=={"record","eligibility"} else 1)' "$tmp/mca.log"
# eligibility notices arrive in the recipient's own format (its adapter writes them)
ok python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if all(x["type"]=="application/vnd.msgw.mca.notice+xml" for x in r if x["kind"]=="eligibility") else 1)' "$tmp/mca.log"
# mca takes its notices in lists (the default): every notice came in one, none malformed, the ones
# committed together in one POST (cdpf's failing lists below: each notice retried and dead-lettered
# on its own count); health said notices_per_message 1: each notice alone, its id in the header
ok python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; e=[x for x in r if x["kind"]=="eligibility"]; sys.exit(0 if e and all("list" in x for x in e) and max(x["list"] for x in e) >= 2 and not any(x["event"]=="MALFORMED" for x in r) else 1)' "$tmp/mca.log"
ok python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if r and not any("list" in x for x in r) and all(len(x["event"])==64 and x["kind"]=="eligibility" for x in r) else 1)' "$tmp/health.log"
ok test "$(wc -l <"$tmp/health.log")" = "$(sql "select count(*) from outbox where recipient='health'")"
ok python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if r and all("list" in x for x in r) else 1)' "$tmp/cdpf.log"
# cdpf's receiver answers 503: three attempts each, then dead letters with the last error
ok test "$(sql "select count(*) from outbox where recipient='cdpf' and state='dead' and attempts=3 and last_error='HTTP 503'")" = "$(sql "select count(*) from outbox where recipient='cdpf'")"
ok test "$(wc -l <"$tmp/cdpf.log")" = "$((3 * $(sql "select count(*) from outbox where recipient='cdpf'")))"

# an administrator lists the dead letters and replays them: each is attempted again (3 more times:
# the receiver still fails) and dead again; a department certificate may do neither
admin=$(cat "$tmp/port.admin")
dead=$(sql "select count(*) from outbox where state='dead'")
adm() { curl -s -o "$tmp/adm.json" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/$1.crt" --key "$P/$1.key" "${@:2}"; }
ok test "$(adm admin "https://localhost:$admin/v1/deadletters")" = 200
ok python3 -c 'import json,re,sys; d=json.load(open(sys.argv[1]))["dead_letters"]; sys.exit(0 if len(d) == int(sys.argv[2]) and all(x["last_error"] == "HTTP 503" and re.fullmatch(r"\d{6}\*{8}[\dX]{4}", x["person"]) for x in d) else 1)' "$tmp/adm.json" "$dead"
ok test "$(adm cdpf -X POST "https://localhost:$admin/v1/deadletters/replay")" = 403
ok test "$(adm admin -X POST "https://localhost:$admin/v1/deadletters/999999/replay")" = 404
# the same through msgw admin (the command-line client of the administrators' listener)
as_admin=(--url "https://localhost:$admin" --cert "$P/admin.crt" --key "$P/admin.key" --ca "$P/ca.crt")
"$msgw" admin "${as_admin[@]}" deadletters list >"$tmp/dl.txt"
ok grep -q "^$dead dead letters$" "$tmp/dl.txt"
ok grep -q "HTTP 503" "$tmp/dl.txt"
"$msgw" admin "${as_admin[@]}" status >"$tmp/status.txt"
ok grep -q "^ready$" "$tmp/status.txt"
"$msgw" admin --url "https://localhost:$admin" --cert "$P/cdpf.crt" --key "$P/cdpf.key" --ca "$P/ca.crt" status >/dev/null 2>&1
ok test $? -eq 1 # a department certificate is refused (403)
ok test "$("$msgw" admin "${as_admin[@]}" deadletters replay --all 2>"$tmp/replay.err")" = "$dead replayed"
ok grep -q "^replay: $dead/$dead dead letters (100%)$" "$tmp/replay.err"
for _ in $(seq 100); do [[ $(wc -l <"$tmp/cdpf.log") -ge $((6 * dead)) ]] && break; sleep 0.1; done
ok test "$(wc -l <"$tmp/cdpf.log")" = "$((6 * dead))"
for _ in $(seq 100); do [[ $(sql "select count(*) from outbox where state='dead' and attempts=3") == "$dead" ]] && break; sleep 0.1; done
ok test "$(sql "select count(*) from outbox where state='dead' and attempts=3")" = "$dead"
ok grep -q '"action":"deadletter.replay"' "$tmp"/data/audit/audit-*.jsonl
# a re-evaluation of everyone on a consistent state: every person evaluated, nothing new to notify
"$msgw" admin "${as_admin[@]}" reevaluate >"$tmp/reeval.txt" 2>"$tmp/reeval.err"
ok grep -q "^[1-9][0-9]* persons re-evaluated, 0 transitions notified$" "$tmp/reeval.txt"
ok grep -q '"action":"reevaluate"' "$tmp"/data/audit/audit-*.jsonl
# not a terminal: plain progress lines, the last at 100 %
ok grep -q "^re-evaluation: \([1-9][0-9]*\)/\1 persons (100%), 0 transitions$" "$tmp/reeval.err"
# on a terminal (script(1) gives it one): a bar redrawn in place, ending at 100 %
script -qec "$msgw admin ${as_admin[*]} reevaluate" /dev/null >"$tmp/tty.txt" 2>&1
ok grep -q $'\rre-evaluation \\[##############################\\] 100%' "$tmp/tty.txt"
# one service only; an unknown service is refused by name
"$msgw" admin "${as_admin[@]}" reevaluate --service TJ-D7-12 >"$tmp/reeval1.txt" 2>/dev/null
ok grep -q "^[1-9][0-9]* persons re-evaluated for TJ-D7-12, 0 transitions notified$" "$tmp/reeval1.txt"
"$msgw" admin "${as_admin[@]}" reevaluate --service NO-SUCH >/dev/null 2>"$tmp/reeval2.err"
ok test $? -eq 1
ok grep -q "NO-SUCH: no such service in the catalogue" "$tmp/reeval2.err"
# the operation behind it: 202 with where to follow it, then its progress
ok test "$(adm admin -X POST "https://localhost:$admin/v1/reevaluate?service=TJ-D7-12")" = 202
href=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["href"])' "$tmp/adm.json")
for _ in $(seq 100); do
  adm admin "https://localhost:$admin$href" >/dev/null
  grep -q '"state":"done"' "$tmp/adm.json" && break
  sleep 0.1
done
ok python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["state"] == "done" and d["service"] == "TJ-D7-12" and d["done"] == d["total"] > 0 and d["finished"] else 1)' "$tmp/adm.json"
ok test "$(adm admin "https://localhost:$admin/v1/operations/999")" = 404
# replaying in steps: the oldest one only, and how many remain
ok test "$(adm admin -X POST "https://localhost:$admin/v1/deadletters/replay?limit=1")" = 200
ok python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d == {"replayed": 1, "remaining": int(sys.argv[2]) - 1} else 1)' "$tmp/adm.json" "$dead"
# the gateway verifies its own audit log for an administrator
ok test "$(adm admin "https://localhost:$admin/v1/audit/verify")" = 200
ok python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["status"] == "ok" and d["entries"] > 0 else 1)' "$tmp/adm.json"
ok test "$(adm cdpf "https://localhost:$admin/v1/audit/verify")" = 403
"$msgw" admin "${as_admin[@]}" audit verify >"$tmp/av.txt"
ok grep -q "^audit log verifies: [1-9][0-9]* entries" "$tmp/av.txt"
# one byte of an entry changed in place, as someone with the disk would: 409, the entry named
python3 - "$tmp"/data/audit/audit-000001.jsonl <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    data = f.read()
    at = data.index(b'"deadletter.replay"') + len('"deadletter.repla')
    f.seek(at)
    f.write(b"z")
PY
ok test "$(adm admin "https://localhost:$admin/v1/audit/verify")" = 409
ok python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); p=d["problem"];
sys.exit(0 if d["status"] == "broken" and p["file"] == "audit-000001.jsonl" and "hash does not match its content" in p["message"] else 1)' "$tmp/adm.json"
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
