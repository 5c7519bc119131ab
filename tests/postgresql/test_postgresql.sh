#!/usr/bin/env bash
# The PostgreSQL store as an operator meets it, on a throwaway cluster (run as
# `tests/postgresql/cluster.sh run bash test_postgresql.sh`, which sets MSGW_PG_HOST): `msgw store
# migrate` on a database the server does not have yet (created, then brought from 0 to the latest step), `msgw store version`, a
# database recorded as newer than this msgw knows refused with store.schema_newer (by migrate, by
# the daemon), an unreachable server named without its password, and the daemon `msgw serve` on a
# postgresql:// store: a push over HTTPS stored in the database, a replay answered from it, the
# server stopped under it while pushes keep coming (503 with Retry-After, /readyz not ready and
# saying why, no crash) and started again (ready again by itself, pushes stored).
# shellcheck source=../cli/lib.sh
source "$(dirname "$0")/../cli/lib.sh"
: "${MSGW_PG_HOST:?run me with tests/postgresql/cluster.sh run}"
cluster=$root/tests/postgresql/cluster.sh
address() { echo "postgresql:///$1?host=$MSGW_PG_HOST"; }
psql_at() { "$MSGW_PG_BIN/psql" -h "$MSGW_PG_HOST" -d "$1" -X -A -t -q -c "$2"; }
has() { grep -qF -- "$2" "$1" || { echo "not in $1: $2"; cat "$1"; false; }; }

# the steps this build knows: one file each
known=$(find "$root/gateway/store/migrations/postgresql" -name '[0-9]*.sql' | wc -l)

# migrate: the database is created, then brought from version 0 to the latest; again, nothing to do
"$msgw" store migrate --store "$(address msgw_cli)" >"$tmp/out" 2>"$tmp/err"
ok test $? = 0
ok has "$tmp/out" "schema version before: 0"
ok has "$tmp/out" "schema version after: $known"
ok test "$(psql_at msgw_cli 'select max(version) from schema_version')" = "$known"
"$msgw" store migrate --store "postgres:///msgw_cli?host=$MSGW_PG_HOST" >"$tmp/out" 2>"$tmp/err"
ok has "$tmp/out" "schema version before: $known"
"$msgw" store version --store "$(address msgw_cli)" >"$tmp/out" 2>"$tmp/err"
ok has "$tmp/out" "schema version: $known"
ok has "$tmp/out" "highest known: $known"

# a schema newer than this msgw knows: refused, naming both versions
psql_at msgw_cli "insert into schema_version values (42, 0)"
"$msgw" store migrate --store "$(address msgw_cli)" >"$tmp/out" 2>"$tmp/err"
ok test $? = 2
ok has "$tmp/err" "store.schema_newer"
ok has "$tmp/err" "schema is version 42, newer than this msgw knows (version $known)"
"$msgw" store version --store "$(address msgw_cli)" >"$tmp/out" 2>"$tmp/err"
ok has "$tmp/out" "schema version: 42"

# a server that is not there: an error naming the address, not its password
"$msgw" store version --store "postgresql://msgw:secret@127.0.0.1:1/msgw" >"$tmp/out" 2>"$tmp/err"
ok test $? = 2
ok has "$tmp/err" "postgresql://msgw:***@127.0.0.1:1/msgw"
ok has "$tmp/err" "store.open"
ok test "$(grep -c secret "$tmp/err")" = 0

# the daemon on a postgresql:// store
"$root/certs/dev-pki.sh" "$tmp/pki" 12 >/dev/null 2>&1
config() { # config STORE_ADDRESS
	cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data", "store": "$1",
  "tls": { "ca": "$tmp/pki/ca.crt", "cert": "$tmp/pki/gateway.crt", "key": "$tmp/pki/gateway.key" },
  "https": { "listen": "127.0.0.1:0", "timeout_s": 5 },
  "admin": { "listen": "127.0.0.1:0" },
  "cluster": { "lease_ms": 3000 },
  "departments": [
    { "id": "mca", "certificate": { "organization": "12", "unit": "mca" },
      "push": ["household_assistance_roster"], "eligibility": true,
      "deliver": { "webhook": { "url": "https://127.0.0.1:9/inbox" } } } ] }
JSON
}
serve() { # serve: the daemon in $pid, its port in $port
	rm -f "$tmp/port"
	"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>>"$tmp/log" &
	pid=$!
	wait_file "$tmp/port" && wait_file "$tmp/port.admin"
	port=$(cat "$tmp/port" 2>/dev/null)
	admin=$(cat "$tmp/port.admin" 2>/dev/null)
}
readyz() { # readyz -> the status of /readyz, its body in $tmp/ready
	curl -s -o "$tmp/ready" -w '%{http_code}' --cacert "$tmp/pki/ca.crt" --cert "$tmp/pki/admin.crt" \
		--key "$tmp/pki/admin.key" "https://localhost:$admin/readyz"
}
ready_is() { [[ $(readyz) == "$1" ]]; }
push() { # push FILE -> status in $tmp/code, body in $tmp/body
	curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$tmp/pki/ca.crt" --cert "$tmp/pki/mca.crt" \
		--key "$tmp/pki/mca.key" -H "Content-Type: application/vnd.msgw.mca.roster+xml" \
		-D "$tmp/headers" --data-binary "@$1" "https://localhost:$port/v1/records" >"$tmp/code"
}
until_true() { # until_true SECONDS CMD...: polls every 0.1 s
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}
body_has() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$tmp/body" "$1"; }

# refused at start: the store's schema is newer
config "$(address msgw_cli)"
"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" >"$tmp/out" 2>"$tmp/err"
ok test $? -ne 0
ok has "$tmp/err" "store.schema_newer"

config "$(address msgw_serve)"
serve
ok test -n "$port"
push "$root/tests/data/mca/roster-valid.xml"
ok test "$(cat "$tmp/code")" = 202
ok body_has 'len(d["records"]) == 3 and all(r["outcome"] == "stored" for r in d["records"])'
ok test "$(psql_at msgw_serve 'select count(*) from records')" = 3
ok test "$(psql_at msgw_serve "select count(*) from records where sender = 'mca' and canonical like '{%'")" = 3
ok test "$(psql_at msgw_serve 'select count(*) > 0 from facts')" = t
ok test "$(psql_at msgw_serve 'select max(version) from schema_version')" = "$known"
cp "$tmp/body" "$tmp/first"
push "$root/tests/data/mca/roster-valid.xml" # a replay: the original outcome, from the database
ok test "$(cat "$tmp/code")" = 202
ok python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); sys.exit(0 if [r["seq"] for r in a["records"]]==[r["seq"] for r in b["records"]] and all(r["outcome"]=="duplicate" for r in b["records"]) else 1)' "$tmp/first" "$tmp/body"
ok test "$(psql_at msgw_serve 'select count(*) from records')" = 3

# the server goes away under the daemon, while pushes keep coming: they are refused with 503 and
# Retry-After (never a crash), /readyz says not ready and why; once it is back the daemon
# reconnects by itself, stores again and is ready
ok test "$(readyz)" = 200
loader() { # pushes without a pause, each status a line of $tmp/codes
	while :; do
		curl -s -o /dev/null -w '%{http_code}\n' --cacert "$tmp/pki/ca.crt" --cert "$tmp/pki/mca.crt" \
			--key "$tmp/pki/mca.key" -H "Content-Type: application/vnd.msgw.mca.roster+xml" \
			--data-binary "@$root/tests/data/mca/agree/good/other-provinces.xml" \
			"https://localhost:$port/v1/records" >>"$tmp/codes"
	done
}
loader &
load=$!
"$cluster" stop "$MSGW_PG_HOST"
sleep 1
push "$root/tests/data/mca/agree/good/other-provinces.xml"
ok test "$(cat "$tmp/code")" = 503
ok grep -qi '^Retry-After: [1-9]' "$tmp/headers"
ok until_true 10 ready_is 503
ok grep -q '"name": *"store", *"ok": *false' "$tmp/ready"
ok kill -0 "$pid"
"$cluster" start "$MSGW_PG_HOST"
ok until_true 20 ready_is 200
kill "$load"
wait "$load" 2>/dev/null
push "$root/tests/data/mca/agree/good/other-provinces.xml"
ok test "$(cat "$tmp/code")" = 202
ok grep -qx 503 "$tmp/codes" # the pushes under way met the outage, answered
ok test "$(psql_at msgw_serve 'select count(*) > 3 from records')" = t
kill "$pid"
wait "$pid"
ok test $? = 0
pid=
finish
