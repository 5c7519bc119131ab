#!/usr/bin/env bash
# A parameter raised in a cluster is notified once (docs/cluster.md, "Who does what"): two instances
# over one PostgreSQL store, on a throwaway cluster.  Disability certificates pushed to the instance
# that does not evaluate are evaluated by the one that does; then the deployment raises the care
# allowance (TJ-D7-12) from today in an overlay, and both instances are sent SIGHUP.  Both apply
# the new value; only the evaluator commits what it changes: one CHANGED transition, one verdict
# with the new amount and one notice per person, never two.
# shellcheck source=../cli/lib.sh
source "$(dirname "$0")/../cli/lib.sh"
: "${MSGW_PG_HOST:?run me with tests/postgresql/cluster.sh run}"
psql_q() { "$MSGW_PG_BIN/psql" -h "$MSGW_PG_HOST" -d msgw_reload -X -A -t -q -c "$1"; }
P=$tmp/pki
"$root/certs/dev-pki.sh" "$P" 12 >/dev/null 2>&1
echo '{ "parameters": {} }' >"$tmp/overlay.json"
declare -A port daemon
for name in gw-a gw-b; do
	mkdir -p "$tmp/$name"
	cat >"$tmp/$name/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "catalogue_overlay": "$tmp/overlay.json", "data_dir": "$tmp/$name/data",
  "store": "postgresql:///msgw_reload?host=$MSGW_PG_HOST", "cluster": { "instance": "$name", "follow_ms": 20 },
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "departments": [
    { "id": "mca", "certificate": { "organization": "12", "unit": "mca" }, "push": ["household_assistance_roster"],
      "eligibility": true, "deliver": { "webhook": { "url": "https://127.0.0.1:9/inbox" } } },
    { "id": "cdpf", "certificate": { "organization": "12", "unit": "cdpf" }, "push": ["disability_certificate"],
      "eligibility": true, "deliver": { "webhook": { "url": "https://127.0.0.1:9/inbox" } } } ] }
JSON
	"$msgw" serve --config "$tmp/$name/msgw.json" --port-file "$tmp/$name/port" 2>"$tmp/$name/log" &
	daemon[$name]=$!
	pids+=($!)
	wait_file "$tmp/$name/port"
	port[$name]=$(cat "$tmp/$name/port")
	for _ in $(seq 100); do grep -q '"msg":"evaluating"\|"msg":"following the evaluator"' "$tmp/$name/log" && break; sleep 0.1; done
done
ok grep -q '"msg":"evaluating"' "$tmp/gw-a/log"
ok grep -q '"msg":"following the evaluator"' "$tmp/gw-b/log"

# certificates pushed to the follower, evaluated by the evaluator
code=$(curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/cdpf.crt" --key "$P/cdpf.key" \
	-H "Content-Type: application/vnd.msgw.cdpf.certificate+xml" --data-binary "@$root/tests/data/cdpf/certificate-events.xml" \
	"https://localhost:${port[gw-b]}/v1/records")
ok test "$code" = 202
ok grep -q '"evaluation": *"deferred"' "$tmp/body"
evaluated() { [[ $(psql_q "select count(*) from records where evaluated_seq is null") == 0 ]]; }
for _ in $(seq 100); do evaluated && break; sleep 0.1; done
ok evaluated
care=$(psql_q "select count(*) from eligibility where service = 'TJ-D7-12' and eligible and amount = 20000")
echo "care allowance at 200 yuan: $care persons"
ok test "$care" -gt 0
# the follower's engine follows: it holds the evaluator's place
follows() { [[ $(psql_q "select count(distinct evaluated_through) from instances") == 1 ]]; }
for _ in $(seq 100); do follows && break; sleep 0.1; done
ok follows

# the raise, to both instances
cat >"$tmp/overlay.json" <<JSON
{ "parameters": { "disability_care": { "type": "money",
    "values": [ { "from": "$(date +%F)", "value": "250yuan", "source": { "text": "test: a raise" } } ] } } }
JSON
kill -HUP "${daemon[gw-b]}" "${daemon[gw-a]}"
for name in gw-a gw-b; do
	for _ in $(seq 100); do grep -q '"parameter values applied"' "$tmp/$name/log" && break; sleep 0.1; done
	ok grep -q '"parameter values applied"' "$tmp/$name/log"
done
sleep 1 # a second notifier, if there were one, would have committed by now
ok test "$(psql_q "select count(*) from eligibility where service = 'TJ-D7-12' and eligible and amount = 25000")" = "$care"
ok test "$(psql_q "select count(*) from transitions where service = 'TJ-D7-12' and kind = 'changed' and cause is null")" = "$care"
ok test "$(psql_q "select count(*) from transitions where service = 'TJ-D7-12' and kind = 'changed' and cause is null group by person having count(*) > 1")" = ""
ok test "$(psql_q "select count(*) from outbox where kind = 'eligibility' and cause is null and convert_from(body, 'UTF8') like '%TJ-D7-12%'")" -ge "$care"
ok test "$(psql_q "select count(*) - count(distinct (recipient, event_id)) from outbox")" = 0
finish
