#!/usr/bin/env bash
# Storage stays bounded (docs/store.md, "Retention"): a steady load — the same households pushed
# again and again with new message ids, each round's incomes superseding the last — is run against
# a gateway with retention set and one without.  With retention the database stops growing: the
# records the eligibility state no longer needs are forgotten (POST /v1/retention runs what the
# gateway does once a day), and only the first and the latest record of each household remain.
# Without it, the database grows with every round.  The state survives: verdicts before and after
# are the same, and a restart rebuilds it from the records that remain without a single notice.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
P=$tmp/pki
"$root/certs/dev-pki.sh" "$P" 12 >/dev/null 2>&1
HOUSEHOLDS=20 ROUNDS=24

start() { # start NAME RETENTION_JSON -> the gateway's pid in pids, its ports in $tmp/NAME.port*
	cat >"$tmp/$1.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/$1",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" }, "admin": { "listen": "127.0.0.1:0" },
  "retention": $2,
  "departments": [ { "id": "mca", "certificate": { "organization": "12", "unit": "mca" },
                     "push": ["household_assistance_roster"] } ] }
JSON
	rm -f "$tmp/$1.port" "$tmp/$1.port.admin"
	"$msgw" serve --config "$tmp/$1.json" --port-file "$tmp/$1.port" 2>>"$tmp/$1.log" &
	pids+=($!)
	wait_file "$tmp/$1.port" && wait_file "$tmp/$1.port.admin"
}
admin() { # admin NAME METHOD PATH -> status; body in $tmp/body
	curl -s -o "$tmp/body" -w '%{http_code}' -X "$2" --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" \
		"https://localhost:$(cat "$tmp/$1.port.admin")$3"
}
push() { # push NAME ROUND
	python3 "$root/tests/cli/steady_load.py" "$2" "$HOUSEHOLDS" >"$tmp/round.json"
	curl -s -o "$tmp/pushed" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/mca.crt" --key "$P/mca.key" \
		-H "Content-Type: application/vnd.msgw.canonical+json" --data-binary "@$tmp/round.json" \
		"https://localhost:$(cat "$tmp/$1.port")/v1/records"
}
retention() { # retention NAME: run it now and wait until it is done
	[[ $(admin "$1" POST /v1/retention) == 202 ]] || return 1
	local href
	href=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["href"])' "$tmp/body")
	for _ in $(seq 100); do
		admin "$1" GET "$href" >/dev/null
		grep -q '"state":"done"' "$tmp/body" && return 0
		sleep 0.05
	done
	return 1
}
sql() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$tmp/$1/msgw.db" "$2"; }
bytes() { # the database's logical size: pages in use (the WAL included) times the page size
	python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("pragma page_count").fetchone()[0] * c.execute("pragma page_size").fetchone()[0])' "$tmp/$1/msgw.db"
}

start kept '{ "delivered_days": 0, "records_days": 0 }'
start all '{}'
for k in $(seq "$ROUNDS"); do
	ok test "$(push kept "$k")" = 202
	ok test "$(push all "$k")" = 202
	ok retention kept
	ok retention all
	[[ $k == 8 ]] && kept8=$(bytes kept) all8=$(bytes all)
done
kept_end=$(bytes kept) all_end=$(bytes all)
echo "database bytes after round 8 and round $ROUNDS: with retention $kept8 -> $kept_end, without $all8 -> $all_end"
# with retention: flat (the same two records per household whatever the number of rounds)
ok test "$(sql kept "select count(*) from records")" = $((2 * HOUSEHOLDS))
ok test "$kept_end" -le $((kept8 + kept8 / 10))
# without: every round stays, and the file grows with them
ok test "$(sql all "select count(*) from records")" = $((ROUNDS * HOUSEHOLDS))
ok test "$all_end" -gt $((all8 * 2))
# the state is the same with and without the forgotten records
verdicts() { sql "$1" "select group_concat(person || service || eligible || coalesce(since, '') || coalesce(amount, ''), ';') from (select * from eligibility order by person, service)"; }
ok test "$(verdicts kept)" = "$(verdicts all)"
ok test "$(sql kept "select count(*) from transitions")" = "$(sql all "select count(*) from transitions")"
# the retention runs are audited
ok grep -q '"action":"retention"' "$tmp"/kept/audit/audit-*.jsonl
# a restart rebuilds the state from the records that remain: nothing new is found to notify
before=$(sql kept "select count(*) from transitions")
kill -TERM "${pids[0]}"
wait "${pids[0]}"
ok test $? -eq 0
start kept '{ "delivered_days": 0, "records_days": 0 }'
ok test "$(push kept $((ROUNDS + 1)))" = 202
ok test "$(sql kept "select count(*) from transitions")" = "$before"
ok test "$(admin kept GET /readyz)" = 200
finish
