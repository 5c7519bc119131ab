#!/usr/bin/env bash
# Two gateway instances over one PostgreSQL store (docs/cluster.md), real processes on a throwaway
# cluster (run as `tests/postgresql/cluster.sh run bash test_cluster.sh`): both take pushes over
# ZeroMQ; the one holding the evaluator lease evaluates everything, the other's records included
# (answered "evaluation": "deferred" there); the same records pushed to both are stored once; the
# admin view and /metrics of either show both instances and who holds the lease.  Then, under load,
# the evaluator is killed with SIGKILL: the other takes the lease over within a lease period or two
# (the time is measured and printed), every record acknowledged by either is stored once and
# evaluated, every notice is delivered at least once, under its one id.  The
# killed instance restarted follows the new evaluator's order; the evaluator stopped cleanly hands
# the lease over at once.
# shellcheck source=../cli/lib.sh
source "$(dirname "$0")/../cli/lib.sh"
: "${MSGW_PG_HOST:?run me with tests/postgresql/cluster.sh run}"
push=${MSGW_ZMQ_PUSH:?}
popgen=${MSGW_POPGEN:?}
lease_ms=${MSGW_TEST_LEASE_MS:-3000} # a takeover is measured with the default (10000) by setting it
db="postgresql:///msgw_cluster?host=$MSGW_PG_HOST"
psql_q() { "$MSGW_PG_BIN/psql" -h "$MSGW_PG_HOST" -d msgw_cluster -X -A -t -q -c "$1"; }

MSGW_CURVE_KEYGEN=${MSGW_CURVE_KEYGEN:?} "$root/certs/dev-pki.sh" "$tmp/pki" 12 >/dev/null 2>&1
P=$tmp/pki
"$popgen" --seed 11 --households 600 --region tianjin --format hrss --records-per-file 20 --out "$tmp/pop" >/dev/null
files=("$tmp"/pop/hrss-*.json)
half=$((${#files[@]} / 2))
python3 "$root/tests/cli/webhook_receiver.py" "$P/gateway.crt" "$P/gateway.key" "$P/ca.crt" 200 "$tmp/recv.log" \
	"$tmp/recv.port" &
pids+=($!)
wait_file "$tmp/recv.port"

config() { # config NAME
	mkdir -p "$tmp/$1"
	cat >"$tmp/$1/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/$1/data", "store": "$db",
  "cluster": { "instance": "$1", "lease_ms": $lease_ms, "follow_ms": 50 },
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "admin": { "listen": "127.0.0.1:0" },
  "zmq": { "listen": "tcp://127.0.0.1:*", "curve_secret_file": "$P/gateway.curve" },
  "departments": [
    { "id": "hrss", "curve_public": "$(sed -n 's/^public=//p' "$P/hrss.curve")", "eligibility": true,
      "push": ["insurance_enrolment", "insurance_termination", "employment_registration", "unemployment_registration", "retirement"],
      "deliver": { "webhook": { "url": "https://localhost:$(cat "$tmp/recv.port")/inbox" } } } ] }
JSON
}
declare -A daemon ep admin
start() { # start NAME
	rm -f "$tmp/$1/port" "$tmp/$1/port.zmq" "$tmp/$1/port.admin"
	"$msgw" serve --config "$tmp/$1/msgw.json" --port-file "$tmp/$1/port" 2>>"$tmp/$1/log" &
	daemon[$1]=$!
	pids+=($!)
	wait_file "$tmp/$1/port.zmq" && wait_file "$tmp/$1/port.admin"
	ep[$1]=$(cat "$tmp/$1/port.zmq")
	admin[$1]=$(cat "$tmp/$1/port.admin")
}
push_files() { # push_files NAME FILE... : one reply line each (a missing reply: status 0)
	local name=$1
	shift
	for f in "$@"; do "$push" "${ep[$name]}" "$P/gateway.curve" "$P/hrss.curve" application/vnd.msgw.hrss+json "$f"; done
}
get() { # get NAME PATH -> status, body in $tmp/body
	curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" \
		"https://localhost:${admin[$1]}$2"
}
holder() { psql_q "select coalesce(holder, '') from leases where name = 'evaluator' and expires_at > (extract(epoch from clock_timestamp()) * 1000000)::bigint"; }
holder_is() { [[ $(holder) == "$1" ]]; }
role_is() { [[ $(psql_q "select role from instances where name = '$1'") == "$2" ]]; }
until_true() { # until_true SECONDS CMD...: polls every 0.1 s
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}
settled() { [[ $(psql_q "select count(*) from records where evaluated_seq is null") == 0 &&
	$(psql_q "select count(*) from outbox where state = 'pending'") == 0 ]]; }
acked_ids() { # acked_ids REPLIES... -> the message ids answered 202, one a line
	python3 -c 'import json,sys
for p in sys.argv[1:]:
    for l in open(p):
        d=json.loads(l)
        if d.get("status")==202:
            for r in d["records"]:
                if "message_id" in r: print(r["message_id"])' "$@" | sort -u
}

config gw-a
config gw-b
start gw-a
ok until_true 10 holder_is gw-a # alone at first: it takes the lease at once
start gw-b

# both take pushes; the same first file to both: stored once
push_files gw-a "${files[@]:0:$half}" >"$tmp/replies.a1" &
pusher=$!
push_files gw-b "${files[0]}" "${files[@]:$half}" >"$tmp/replies.b1"
wait "$pusher"
ok python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if r and all(x["status"]==202 and x.get("evaluation")=="deferred" for x in r) else 1)' "$tmp/replies.b1"
ok python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if r and all(x["status"]==202 and "evaluation" not in x for x in r) else 1)' "$tmp/replies.a1"
ok test "$(psql_q "select count(*) - count(distinct message_id) from records")" = 0
ok test "$(acked_ids "$tmp/replies.a1" "$tmp/replies.b1" | wc -l)" = "$(psql_q "select count(*) from records")"
ok until_true 30 settled # the evaluator evaluated gw-b's records too, and the notices went out
ok test "$(psql_q "select count(*) from outbox")" -gt 0
ok test "$(psql_q "select count(*) from records where sender = 'hrss' and evaluated_seq is not null")" = "$(psql_q "select count(*) from records")"
# the follower's engine follows: its place reaches the evaluator's
follows() { [[ $(psql_q "select count(distinct evaluated_through) from instances where not stopped") == 1 ]]; }
ok until_true 10 follows

# the admin view and /metrics of the follower: both instances, the evaluator named
ok test "$(get gw-b /v1/cluster)" = 200
ok python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); i={x["name"]: x for x in d["instances"]}
sys.exit(0 if d["instance"]=="gw-b" and i["gw-a"]["evaluator"] and not i["gw-b"]["evaluator"] and i["gw-a"]["alive"] and i["gw-b"]["alive"] and i["gw-b"]["self"] and any(l["name"]=="evaluator" and l["holder"]=="gw-a" and l["valid"] for l in d["leases"]) else 1)' "$tmp/body"
ok test "$(get gw-b /metrics)" = 200
ok grep -qx 'msgw_cluster_evaluator{instance="gw-a"} 1' "$tmp/body"
ok grep -qx 'msgw_cluster_evaluator{instance="gw-b"} 0' "$tmp/body"
ok grep -qx 'msgw_cluster_instance_up{instance="gw-b"} 1' "$tmp/body"
# an administrator's operation on the follower is refused, naming why; the evaluator runs it
ok test "$(curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" \
	-X POST "https://localhost:${admin[gw-b]}/v1/retention")" = 202
op=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["operation"])' "$tmp/body")
refused() { get gw-b "/v1/operations/$op" >/dev/null && grep -q '"state": *"refused"' "$tmp/body"; }
ok until_true 10 refused

# failover: load on both, then SIGKILL the evaluator
"$popgen" --seed 12 --households 600 --region tianjin --format hrss --records-per-file 20 --out "$tmp/pop2" >/dev/null
files2=("$tmp"/pop2/hrss-*.json)
half2=$((${#files2[@]} / 2))
push_files gw-a "${files2[@]:0:$half2}" >"$tmp/replies.a2" &
pusher_a=$!
push_files gw-b "${files2[@]:$half2}" >"$tmp/replies.b2" &
pusher_b=$!
sleep 1
kill -9 "${daemon[gw-a]}"
killed=$(date +%s.%N)
kill "$pusher_a" 2>/dev/null
wait "$pusher_a" 2>/dev/null
ok until_true $((lease_ms * 3 / 1000)) holder_is gw-b
took=$(python3 -c 'import sys,time; print(round(time.time()-float(sys.argv[1]),2))' "$killed")
# the takeover in gw-b's audit log, with the lease's new epoch; the log verifies
ok grep -qh '"action":"cluster.lease_taken".*"epoch":2' "$tmp"/gw-b/data/audit/audit-*.jsonl
ok "$msgw" audit verify --dir "$tmp/gw-b/data/audit" --cert "$P/gateway.crt"
echo "failover: gw-b holds the evaluator lease ${took} s after gw-a was killed (lease ${lease_ms} ms)"
wait "$pusher_b"
ok until_true 60 settled
# every record acknowledged by either is stored once and evaluated
acked_ids "$tmp"/replies.* >"$tmp/acked"
ok test "$(wc -l <"$tmp/acked")" -gt 0
psql_q "select message_id from records where evaluated_seq is not null" | sort -u >"$tmp/evaluated"
ok test -z "$(comm -23 "$tmp/acked" "$tmp/evaluated")"
ok test "$(psql_q "select count(*) - count(distinct message_id) from records")" = 0
psql_q "select event_id from outbox where kind = 'eligibility'" >"$tmp/sent"
# every notice delivered at least once (the same id again after a failover: the recipient
# de-duplicates by it), and every list well-formed
ok python3 -c 'import json,sys
sent=set(open(sys.argv[2]).read().split())
got={}
for l in open(sys.argv[1]):
    d=json.loads(l); got[d["event"]]=got.get(d["event"], 0)+1
missing=sent-set(got)
print("not delivered:", list(missing)[:3]) if missing else None
sys.exit(0 if sent and not missing and "MALFORMED" not in got else 1)' "$tmp/recv.log" "$tmp/sent"

# the killed instance, restarted, follows the new evaluator
start gw-a
ok until_true 10 role_is gw-a follower
ok until_true 20 follows
# the evaluator stopped cleanly gives the lease up: the other takes it at its next renewal
kill -TERM "${daemon[gw-b]}"
wait "${daemon[gw-b]}"
ok test "$(psql_q "select stopped from instances where name = 'gw-b'")" = t
ok until_true $((lease_ms * 2 / 1000)) holder_is gw-a
ok grep -q '"msg":"evaluating"' "$tmp/gw-a/log"
if [[ $fail != 0 ]]; then
	tail -n 40 "$tmp"/gw-*/log
	psql_q "select state, kind, count(*) from outbox group by 1, 2"
	psql_q "select name, role, evaluated_through, stopped from instances"
	psql_q "select max(evaluated_seq), count(*) from records"
	get gw-b "/v1/operations/$op"; cat "$tmp/body"
	wc -l "$tmp/recv.log"; grep -c MALFORMED "$tmp/recv.log"
fi
finish
