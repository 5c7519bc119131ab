#!/usr/bin/env bash
# Order per person across instances (docs/cluster.md, "The order of evaluation"): two instances over
# one PostgreSQL store, on a throwaway cluster.  One person's insurance is enrolled and terminated
# twelve times in turn, the pushes alternating between the instance that evaluates and the one that
# only stores (each push answered before the next), while four senders keep both busy with other
# people's records.  The person's verdicts for the social security card (TJ-D3-13) must read NEW,
# LOST, NEW, ... in the order of the pushes, each caused by the push it followed, and the notices
# must be queued and delivered in that order — whichever instance stored the record.
# shellcheck source=../cli/lib.sh
source "$(dirname "$0")/../cli/lib.sh"
: "${MSGW_PG_HOST:?run me with tests/postgresql/cluster.sh run}"
psql_q() { "$MSGW_PG_BIN/psql" -h "$MSGW_PG_HOST" -d msgw_order -X -A -t -q -c "$1"; }

"$root/certs/dev-pki.sh" "$tmp/pki" 12 >/dev/null 2>&1
P=$tmp/pki
python3 "$root/tests/cli/webhook_receiver.py" "$P/gateway.crt" "$P/gateway.key" "$P/ca.crt" 200 "$tmp/hrss.log" \
	"$tmp/hrss.port" &
pids+=($!)
wait_file "$tmp/hrss.port"
declare -A port
for name in gw-a gw-b; do
	mkdir -p "$tmp/$name"
	cat >"$tmp/$name/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/$name/data",
  "cluster": { "instance": "$name", "follow_ms": 20 },
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "departments": [
    { "id": "hrss", "certificate": { "organization": "12", "unit": "hrss" },
      "push": ["insurance_enrolment", "insurance_termination"],
      "eligibility": true, "deliver": { "webhook": { "url": "https://localhost:$(cat "$tmp/hrss.port")/inbox" } } } ] }
JSON
	# the store named on the command line (msgw serve --store), not in the configuration
	"$msgw" serve --config "$tmp/$name/msgw.json" --store "postgresql:///msgw_order?host=$MSGW_PG_HOST" \
		--port-file "$tmp/$name/port" 2>"$tmp/$name/log" &
	pids+=($!)
	wait_file "$tmp/$name/port"
	port[$name]=$(cat "$tmp/$name/port")
	# the first takes the evaluator lease before the second starts
	for _ in $(seq 100); do grep -q '"msg":"evaluating"\|"msg":"following the evaluator"' "$tmp/$name/log" && break; sleep 0.1; done
done
ok grep -q '"msg":"evaluating"' "$tmp/gw-a/log"
ok grep -q '"msg":"following the evaluator"' "$tmp/gw-b/log"
push() { # push INSTANCE FILE -> status
	curl -s -o /dev/null -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/hrss.crt" --key "$P/hrss.key" \
		-H "Content-Type: application/vnd.msgw.hrss+json" --data-binary "@$2" "https://localhost:${port[$1]}/v1/records"
}

python3 "$root/tests/cli/order_docs.py" "$tmp"
person=$(cat "$tmp/person")
noise() { # noise SENDER INSTANCE
	for n in $(seq -w 0 19); do [[ $(push "$2" "$tmp/n$1$n.json") == 202 ]] || echo "n$1$n refused" >>"$tmp/noise.err"; done
}
noise 0 gw-a &
noise 1 gw-b &
noise 2 gw-a &
noise 3 gw-b &
noise_pids=$(jobs -p | tail -4)
# the person's twelve pushes, one after the other, to the follower and the evaluator in turn
for i in $(seq -w 0 11); do
	ok test "$(push "$([ $((10#$i % 2)) = 0 ] && echo gw-b || echo gw-a)" "$tmp/p$i.json")" = 202
done
for p in $noise_pids; do wait "$p"; done
ok test ! -s "$tmp/noise.err"

settled() { [[ $(psql_q "select count(*) from records where evaluated_seq is null") == 0 &&
	$(psql_q "select count(*) from outbox where state = 'pending'") == 0 ]]; }
for _ in $(seq 300); do settled && break; sleep 0.1; done
ok settled
# the verdicts in the order of the pushes, each caused by the push it followed
expected=$(for i in $(seq -w 0 11); do echo "$([ $((10#$i % 2)) = 0 ] && echo NEW || echo LOST)|hrss:ORDER$i"; done)
ok test "$(psql_q "select upper(kind), cause from transitions where person = '$person' and service = 'TJ-D3-13' order by id")" = "$expected"
# and evaluated in that order, whichever instance stored them
ok test "$(psql_q "select string_agg(message_id, ' ' order by evaluated_seq) from records where message_id like 'hrss:ORDER%'")" = "$(for i in $(seq -w 0 11); do printf 'hrss:ORDER%s ' "$i"; done | sed 's/ $//')"
# hrss's notices about them queued in that order, and delivered in it
ok test "$(psql_q "select cause from outbox where recipient = 'hrss' and person = '$person' and cause like 'hrss:ORDER%' and convert_from(body, 'UTF8') like '%\"serviceCode\": \"TJ-D3-13\"%' order by id")" = "$(psql_q "select cause from transitions where person = '$person' and service = 'TJ-D3-13' order by id")"
ok test "$(psql_q "select count(*) from outbox a join outbox b on a.recipient = b.recipient and a.person = b.person and a.id < b.id where a.recipient = 'hrss' and a.person = '$person' and a.delivered_at > b.delivered_at")" = 0
# the other people's records are all there, each stored once and evaluated
ok test "$(psql_q "select count(*) from records where message_id like 'hrss:NOISE%' and evaluated_seq is not null")" = 4000
ok test "$(psql_q "select count(*) from outbox where person like '13%'")" = 0
finish
