#!/usr/bin/env bash
# The daemon as a process, over real TLS with real client certificates (curl): pushes are
# stored durably and answered 202, replays return the original outcome, every refusal has its
# status code, and clients without a valid certificate are refused at the handshake.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

"$root/certs/dev-pki.sh" "$tmp/pki" 12 >/dev/null 2>&1
"$root/certs/dev-pki.sh" "$tmp/other" 12 >/dev/null 2>&1 # another CA, same names
cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$tmp/pki/ca.crt", "cert": "$tmp/pki/gateway.crt", "key": "$tmp/pki/gateway.key" },
  "https": { "listen": "127.0.0.1:0", "max_body_bytes": 65536, "timeout_s": 5 },
  "departments": [
    { "id": "mca", "certificate": { "organization": "12", "unit": "mca" },
      "push": ["household_assistance_roster"],
      "subscriptions": [ { "kinds": ["disability_certificate"], "from": ["cdpf"],
                           "fields": ["hukou_region", "disability_category", "disability_grade"] } ],
      "eligibility": true,
      "deliver": { "webhook": { "url": "https://127.0.0.1:9/inbox" } } },
    { "id": "cdpf", "certificate": { "organization": "12", "unit": "cdpf" },
      "push": ["disability_certificate"], "eligibility": true,
      "deliver": { "webhook": { "url": "https://127.0.0.1:9/inbox" } } } ] }
JSON
"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>"$tmp/log" &
pid=$!
for _ in $(seq 50); do [[ -s $tmp/port ]] && break; sleep 0.1; done
port=$(cat "$tmp/port" 2>/dev/null)
ok test -n "$port"

push() { # push CERT MEDIA_TYPE FILE -> status in $tmp/code, body in $tmp/body
  curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$tmp/pki/ca.crt" --cert "$tmp/pki/$1.crt" \
    --key "$tmp/pki/$1.key" -H "Content-Type: $2" --data-binary "@$3" "https://localhost:$port/v1/records" \
    >"$tmp/code"
}
body_has() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$tmp/body" "$1"; }
MCA=application/vnd.msgw.mca.roster+xml

push mca $MCA "$root/tests/data/mca/roster-valid.xml"
ok test "$(cat "$tmp/code")" = 202
ok body_has 'all(r["outcome"] == "stored" for r in d["records"]) and len(d["records"]) == 3'
cp "$tmp/body" "$tmp/first"
push mca $MCA "$root/tests/data/mca/roster-valid.xml" # a replay: the original outcome
ok test "$(cat "$tmp/code")" = 202
ok python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); sys.exit(0 if [r["seq"] for r in a["records"]]==[r["seq"] for r in b["records"]] and all(r["outcome"]=="duplicate" for r in b["records"]) else 1)' "$tmp/first" "$tmp/body"
push cdpf $MCA "$root/tests/data/mca/roster-valid.xml" # cdpf may not push rosters
ok test "$(cat "$tmp/code")" = 403
push mca $MCA "$root/tests/data/mca/invalid-records.xml" # 1 good (known already), 2 rejected: each reported
ok test "$(cat "$tmp/code")" = 202
ok body_has '[r["outcome"] for r in d["records"]] == ["duplicate", "rejected", "rejected"] and d["records"][1]["errors"][0]["rule"] == "gb11643.check_character"'
push mca $MCA "$root/tests/data/mca/agree/bad/bad-name-too-long.xml"
ok test "$(cat "$tmp/code")" = 422
# people registered in other provinces are accepted; a retired region code with a warning naming it
push mca $MCA "$root/tests/data/mca/agree/good/other-provinces.xml"
ok test "$(cat "$tmp/code")" = 202
ok body_has 'all(r["outcome"] == "stored" for r in d["records"]) and any(w["rule"] == "code.warning" and "retired" in w["message"] for r in d["records"] for w in r.get("warnings", [])) and not any("errors" in r for r in d["records"])'
push mca $MCA "$root/tests/data/mca/invalid-truncated.xml"
ok test "$(cat "$tmp/code")" = 400
push mca text/plain "$root/tests/data/mca/roster-valid.xml"
ok test "$(cat "$tmp/code")" = 415
head -c 100000 /dev/zero | tr '\0' 'x' >"$tmp/big"
push mca $MCA "$tmp/big"
ok test "$(cat "$tmp/code")" = 413
# no client certificate, and one from another CA: refused at the handshake, no HTTP at all
curl -s -o /dev/null --cacert "$tmp/pki/ca.crt" -H "Content-Type: $MCA" --data-binary @"$root/tests/data/mca/roster-valid.xml" \
  "https://localhost:$port/v1/records"
ok test $? -ne 0
curl -s -o /dev/null --cacert "$tmp/pki/ca.crt" --cert "$tmp/other/mca.crt" --key "$tmp/other/mca.key" \
  -H "Content-Type: $MCA" --data-binary @"$root/tests/data/mca/roster-valid.xml" "https://localhost:$port/v1/records"
ok test $? -ne 0
# TLS 1.1 is not spoken
curl -s -o /dev/null --tls-max 1.1 --cacert "$tmp/pki/ca.crt" --cert "$tmp/pki/mca.crt" --key "$tmp/pki/mca.key" \
  "https://localhost:$port/v1/records"
ok test $? -ne 0
# a department's view of a person's eligibility
code=$(curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$tmp/pki/ca.crt" --cert "$tmp/pki/mca.crt" --key "$tmp/pki/mca.key" \
  "https://localhost:$port/v1/persons/120101195603070027/eligibility")
ok test "$code" = 200
# routing: cdpf's certificates reach mca projected to its fields; the eligibility they cause
# (TJ-D7-12 for the Tianjin holders of grade 2) reaches the departments the catalogue names
CDPF=application/vnd.msgw.cdpf.certificate+xml
push cdpf $CDPF "$root/tests/data/cdpf/certificate-events.xml"
ok test "$(cat "$tmp/code")" = 202
ok body_has 'd["messages"] >= 4 and d["transitions"] >= 2'
sql() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$tmp/data/msgw.db" "$1"; }
ok test "$(sql "select count(*) from outbox where recipient='mca' and kind='record'")" = 4
ok test "$(sql "select count(*) from outbox where recipient='mca' and kind='record' and cast(body as text) like '%disability_grade%' and instr(cast(body as text), '\"name\"') = 0 and instr(cast(body as text), 'birth_date') = 0")" = 4
ok test "$(sql "select count(*) from outbox where kind='eligibility' and cast(body as text) like '%TJ-D7-12%' and recipient in ('mca','cdpf')")" -ge 4
# each recipient gets the notices in its own format (docs/eligibility.md, "Eligibility notices")
ok test "$(sql "select count(*) from outbox where kind='eligibility' and recipient='mca' and media_type = 'application/vnd.msgw.mca.notice+xml' and cast(body as text) like '%<FWBM>TJ-D7-12</FWBM>%'")" -ge 2
ok test "$(sql "select count(*) from outbox where kind='eligibility' and recipient='cdpf' and media_type = 'application/vnd.msgw.cdpf.notice+xml' and cast(body as text) like '%<Code>TJ-D7-12</Code>%'")" -ge 2
ok test "$(sql "select count(*) from outbox where kind='eligibility' and media_type not in ('application/vnd.msgw.mca.notice+xml', 'application/vnd.msgw.cdpf.notice+xml')")" = 0
ok test "$(sql "select count(*) from outbox where state='pending'")" = "$(sql "select count(*) from outbox")"
# a department speaks in its own name only: canonical JSON that names another department as its
# source is rejected (record.source) and nothing of it is stored; without a source it is the sender's
CANON=application/vnd.msgw.canonical+json
"$msgw" normalize --from cdpf "$root/tests/data/cdpf/certificate-events.xml" | head -1 |
  python3 -c 'import json,sys; r=json.load(sys.stdin); r["source"]={"department": "mca", "message_id": "CANON-1"}; print(json.dumps(r))' >"$tmp/claim.json"
push cdpf $CANON "$tmp/claim.json"
ok test "$(cat "$tmp/code")" = 422
ok body_has 'd["records"][0]["outcome"] == "rejected" and d["records"][0]["errors"][0]["rule"] == "record.source" and "department mca" in d["records"][0]["errors"][0]["message"]'
ok test "$(sql "select count(*) from records where message_id like '%CANON-1'")" = 0
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); del r["source"]; r["facts"][0]["valid_from"]="2026-10-16"; print(json.dumps(r))' "$tmp/claim.json" >"$tmp/own.json"
push cdpf $CANON "$tmp/own.json"
ok test "$(cat "$tmp/code")" = 202
ok test "$(sql "select sender || ' ' || substr(message_id, 1, 12) from records order by seq desc limit 1")" = "cdpf cdpf:sha256:"
before=$(sql "select count(*) from outbox")
# SIGHUP reloads the configuration: a department added to the file may push at once
push health application/fhir+json "$root/tests/data/health/transaction-tianjin-langfang.json"
ok test "$(cat "$tmp/code")" = 403
python3 - "$tmp/msgw.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["departments"].append({"id": "health", "certificate": {"organization": "12", "unit": "health"},
                         "push": ["person_registration", "condition", "observation", "pregnancy", "death"]})
json.dump(c, open(sys.argv[1], "w"))
PY
kill -HUP "$pid"
for _ in $(seq 30); do grep -q '"reloaded"' "$tmp/log" && break; sleep 0.1; done
push health application/fhir+json "$root/tests/data/health/transaction-tianjin-langfang.json"
ok test "$(cat "$tmp/code")" = 202
ok kill -0 "$pid"
# stopping: SIGTERM ends it cleanly; the store holds exactly what was acknowledged
kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0
pid=
ok test "$(sql "select count(*) || ',' || count(distinct message_id) from records where sender != 'health'")" = "10,10"
# a restart rebuilds the eligibility state from the store: replays cause nothing new
rm -f "$tmp/port"
"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>>"$tmp/log" &
pid=$!
for _ in $(seq 50); do [[ -s $tmp/port ]] && break; sleep 0.1; done
port=$(cat "$tmp/port")
push cdpf $CDPF "$root/tests/data/cdpf/certificate-events.xml"
ok test "$(cat "$tmp/code")" = 202
ok body_has 'all(r["outcome"] == "duplicate" for r in d["records"]) and d["messages"] == 0'
ok test "$(sql "select count(*) from outbox")" = "$before"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$tmp/pki/ca.crt" --cert "$tmp/pki/cdpf.crt" --key "$tmp/pki/cdpf.key" \
  "https://localhost:$port/v1/persons/$(python3 -c 'import json; print([json.loads(l) for l in open("/dev/stdin")][0]["persons"][0]["id_number"])' < <("$msgw" normalize --from cdpf "$root/tests/data/cdpf/certificate-events.xml"))/eligibility")
ok test "$code" = 200
ok body_has 'any(s["service"] == "TJ-D7-12" for s in d["eligible"])'
kill -TERM "$pid"
wait "$pid"
pid=
# the daemon's log: JSON lines with a level, and no ID number in the clear anywhere (valid and
# invalid records, replays, a restart and a reload all went through it)
ok python3 - "$tmp/log" <<'PY'
import json, re, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
ok = bool(lines)
for l in lines:
    if l.startswith("{"):
        ok = ok and "level" in json.loads(l)
ok = ok and not re.search(r"(?<![0-9A-Za-z])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])", "".join(lines))
sys.exit(0 if ok else 1)
PY
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
