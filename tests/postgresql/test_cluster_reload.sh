#!/usr/bin/env bash
# The calendar and the parameters, once for the cluster (docs/cluster.md, "Who does what"): two
# instances over one PostgreSQL store, on a throwaway cluster.  Disability certificates pushed to
# the instance that does not evaluate are evaluated by the one that does; then the deployment
# raises the care allowance (TJ-D7-12) from today in an overlay, and both instances are sent
# SIGHUP.  Both apply the new value; only the evaluator commits what it changes: one CHANGED
# transition, one verdict with the new amount and one notice per person, never two.  Then a
# birthday while the cluster was down (test_catchup.sh's history, made by hand in the database):
# both restarted, the evaluator sweeps the missed days and notifies the person's 65th birthday
# (TJ-D5-01) once; the follower sweeps them silently.
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
      "eligibility": true, "deliver": { "webhook": { "url": "https://127.0.0.1:9/inbox" } } },
    { "id": "health", "certificate": { "organization": "12", "unit": "health" }, "push": ["person_registration"],
      "eligibility": true, "deliver": { "webhook": { "url": "https://127.0.0.1:9/inbox" } } } ] }
JSON
done
start() { # start NAME
	local name=$1
	rm -f "$tmp/$name/port"
	"$msgw" serve --config "$tmp/$name/msgw.json" --port-file "$tmp/$name/port" 2>>"$tmp/$name/log" &
	daemon[$name]=$!
	pids+=($!)
	wait_file "$tmp/$name/port"
	port[$name]=$(cat "$tmp/$name/port")
	for _ in $(seq 100); do grep -q '"msg":"evaluating"\|"msg":"following the evaluator"' "$tmp/$name/log" && break; sleep 0.1; done
}
stop() { kill -TERM "${daemon[$1]}"; wait "${daemon[$1]}"; ok test $? -eq 0; }
start gw-a
start gw-b
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

# a person registered with the follower, 64 then; the cluster stopped; the history rewritten so
# that every record arrived five days ago and nothing was swept since; 65 three days ago
id=$(python3 "$root/tests/cli/turned_65.py" "$tmp/person.json")
ok test "$(curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/health.crt" --key "$P/health.key" \
	-H "Content-Type: application/vnd.msgw.canonical+json" --data-binary "@$tmp/person.json" \
	"https://localhost:${port[gw-b]}/v1/records")" = 202
for _ in $(seq 100); do evaluated && break; sleep 0.1; done
ok evaluated
stop gw-b
stop gw-a
psql_q "update records set recorded_at = recorded_at - 5 * 86400000000, evaluated_at = evaluated_at - 5 * 86400000000"
psql_q "delete from eligibility where person = '$id'; delete from transitions where person = '$id'; delete from outbox where person = '$id'"
psql_q "delete from meta where key = 'swept'"
start gw-a
start gw-b
swept() { [[ $(psql_q "select count(*) from eligibility where person = '$id' and service = 'TJ-D5-01' and eligible") == 1 ]]; }
for _ in $(seq 100); do swept && break; sleep 0.1; done
ok swept
sleep 1 # a second notifier, if there were one, would have committed by now
ok test "$(psql_q "select count(*) from transitions where person = '$id' and service = 'TJ-D5-01' and cause is null")" = 1
ok test "$(psql_q "select count(*) from outbox where person = '$id' and kind = 'eligibility' and cause is null")" -ge 1
ok test "$(psql_q "select value = (extract(epoch from current_date) / 86400)::int from meta where key = 'swept'")" = t
finish
