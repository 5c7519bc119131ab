#!/usr/bin/env bash
# Envelopes to a peer gateway travel in lists (docs/federation.md, "Several envelopes in one
# request"), and each is settled by its own result: a peer that accepts some envelopes of a list
# and refuses others (403) has the accepted ones delivered once and the refused ones retried on
# their own, then dead-lettered with the status and rule it gave.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

"$root/certs/dev-pki.sh" "$tmp/pki" 12 >/dev/null 2>&1
P=$tmp/pki
python3 "$root/tests/cli/webhook_receiver.py" "$P/gateway.crt" "$P/gateway.key" "$P/ca.crt" refuse-odd "$tmp/peer.log" "$tmp/peer.port" &
pids+=($!)
ok wait_file "$tmp/peer.port"
cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "delivery": { "max_attempts": 3, "backoff_initial_ms": 10, "backoff_max_ms": 50 },
  "departments": [
    { "id": "mca", "certificate": { "organization": "12", "unit": "mca" }, "push": ["household_assistance_roster"] } ],
  "peering": { "listen": "127.0.0.1:0" },
  "peers": [ { "id": "hebei", "region": "13", "url": "https://localhost:$(cat "$tmp/peer.port")", "ca": "$P/ca.crt",
               "kinds": ["household_assistance_roster"],
               "fields": ["hukou_region", "residence_region", "family_relationship", "assistance_category"] } ] }
JSON
"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>"$tmp/log" &
pids+=($!)
ok wait_file "$tmp/port"
# five Langfang households' rosters in one push: five envelopes for Hebei, committed together
code=$(curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/mca.crt" --key "$P/mca.key" \
  -H "Content-Type: application/vnd.msgw.canonical+json" --data-binary @"$root/tests/data/federation/mca-langfang-batch.json" \
  "https://localhost:$(cat "$tmp/port")/v1/records")
ok test "$code" = 202
sql() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$tmp/data/msgw.db" "$1"; }
for _ in $(seq 100); do
  [[ $(sql "select count(*) from outbox where recipient='hebei' and state='pending'") == 0 ]] && break
  sleep 0.1
done
ok test "$(sql "select count(*) from outbox where recipient='hebei'")" = 5
# the five went in one request, a list of five (the peer logs each envelope it was sent)
ok python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if r and r[0]["list"] == 5 and [x["at"] for x in r[:5]] == [0, 1, 2, 3, 4] and all(x["event"] != "NOT-A-LIST" for x in r) else 1)' "$tmp/peer.log"
# the accepted ones (0102, 0104) delivered at their first attempt; the refused ones (0101, 0103,
# 0105) tried three times each, on their own, then dead with the peer's status and rule
ok test "$(sql "select group_concat(message_id || ':' || attempts, ' ') from (select cause as message_id, attempts from outbox where recipient='hebei' and state='delivered' order by cause)")" = \
  "mca:TJ-MZ-120104-202611-0102:1 mca:TJ-MZ-120104-202611-0104:1"
ok test "$(sql "select count(*) from outbox where recipient='hebei' and state='dead' and attempts=3 and last_error='HTTP 403 envelope.signature'")" = 3
ok python3 -c 'import json,sys,collections; r=[json.loads(l) for l in open(sys.argv[1])]; c=collections.Counter(x["event"] for x in r); sys.exit(0 if sorted(c.values()) == [1, 1, 3, 3, 3] and all(c[m] == 1 for m in c if m[-1] in "24") else 1)' "$tmp/peer.log"
finish
