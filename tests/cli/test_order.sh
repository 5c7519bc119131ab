#!/usr/bin/env bash
# Order per person while the pipeline overlaps (docs/ingress.md): the commit worker evaluates one
# group while the store thread commits the one before, and the deliverers post in parallel.  One
# person's insurance is enrolled and terminated twelve times in turn, each push answered before the
# next, while four other senders keep the queue full with records of other people.  The person's
# verdicts for the social security card (TJ-D3-13: has an insurance) must then read NEW, LOST, NEW,
# ... in the order of the pushes, each caused by the push it followed, and their notices must be
# queued and delivered to hrss (the service's department) in that same order.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

"$root/certs/dev-pki.sh" "$tmp/pki" 12 >/dev/null 2>&1
P=$tmp/pki
python3 "$root/tests/cli/webhook_receiver.py" "$P/gateway.crt" "$P/gateway.key" "$P/ca.crt" 200 "$tmp/hrss.log" "$tmp/hrss.port" &
pids+=($!)
wait_file "$tmp/hrss.port"
cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "delivery": { "webhook_parallel": 4 },
  "departments": [
    { "id": "hrss", "certificate": { "organization": "12", "unit": "hrss" },
      "push": ["insurance_enrolment", "insurance_termination"],
      "eligibility": true, "deliver": { "webhook": { "url": "https://localhost:$(cat "$tmp/hrss.port")/inbox" } } } ] }
JSON
"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>"$tmp/log" &
pids+=($!)
wait_file "$tmp/port"
port=$(cat "$tmp/port")
push() { # push FILE -> status
	curl -s -o /dev/null -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/hrss.crt" --key "$P/hrss.key" \
		-H "Content-Type: application/vnd.msgw.hrss+json" --data-binary "@$1" "https://localhost:$port/v1/records"
}

# hrss documents: NAME.json, one record each for the person, 50 new people each for the others
python3 "$root/tests/cli/order_docs.py" "$tmp"
person=$(cat "$tmp/person")
ok "$msgw" validate --from hrss --quiet "$tmp/p00.json" "$tmp/p01.json" "$tmp/n000.json"

# four senders of other people's records, as fast as they are answered
noise() { for n in $(seq -w 0 19); do [[ $(push "$tmp/n$1$n.json") == 202 ]] || echo "n$1$n refused" >>"$tmp/noise.err"; done; }
for s in 0 1 2 3; do noise "$s" & done
noise_pids=$(jobs -p | tail -4)
# the person's twelve pushes, one after the other
for i in $(seq -w 0 11); do
	ok test "$(push "$tmp/p$i.json")" = 202
done
for p in $noise_pids; do wait "$p"; done
ok test ! -s "$tmp/noise.err"

sql() { python3 -c 'import sqlite3,sys; print("\n".join("|".join(map(str, r)) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])))' "$tmp/data/msgw.db" "$1"; }
# the verdicts in the order of the pushes, each caused by the push it followed
expected=$(for i in $(seq -w 0 11); do echo "$([ $((10#$i % 2)) = 0 ] && echo NEW || echo LOST)|hrss:ORDER$i"; done)
ok test "$(sql "select upper(kind), cause from transitions where person = '$person' and service = 'TJ-D3-13' order by id")" = "$expected"
# hrss's notices about them queued in that order, and delivered in it
for _ in $(seq 200); do
	[[ $(sql "select count(*) from outbox where state = 'pending'") == 0 ]] && break
	sleep 0.1
done
ok test "$(sql "select count(*) from outbox where state = 'pending'")" = 0
ok test "$(sql "select cause from outbox where recipient = 'hrss' and person = '$person' and cause like 'hrss:ORDER%' and cast(body as text) like '%\"serviceCode\": \"TJ-D3-13\"%' order by id")" = "$(sql "select cause from transitions where person = '$person' and service = 'TJ-D3-13' order by id")"
ok test "$(sql "select count(*) from outbox a join outbox b on a.recipient = b.recipient and a.person = b.person and a.id < b.id where a.recipient = 'hrss' and a.person = '$person' and a.delivered_at > b.delivered_at")" = 0
# the other people's records are all there, each evaluated once
ok test "$(sql "select count(*) from records where message_id like 'hrss:NOISE%'")" = 4000
ok test "$(sql "select count(*) from outbox where person like '13%'")" = 0
finish
