#!/usr/bin/env bash
# Long administrators' requests (docs/admin.md, docs/audit.md "Verification"; gateway/admin/
# admin_jobs.c): the daemon as a process on an audit log of 50,000 entries (bench/audit_log.py,
# signed with the gateway's key).
#   - four GET /v1/audit/verify at once are all answered 200 with every entry checked, and while
#     they run (msgw_admin_jobs_running 4) a department's push is answered 202 (none of the four
#     has answered yet: the event loop they share with the ingress is not held by them);
#   - a fifth at the same time is refused 503 admin.busy with Retry-After, and counted;
#   - a disclosure report asked meanwhile is answered too, or refused busy, never held;
#   - a client giving up while its verification runs: the job ends, the daemon goes on;
#   - SIGTERM with a verification running: the daemon stops cleanly (exit 0) and the request is
#     answered 503 admin.stopping or its connection closed.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
P=$tmp/pki
"$root/certs/dev-pki.sh" "$P" 12 >/dev/null 2>&1
python3 "$root/bench/audit_log.py" "$tmp/data/audit" 50000 "120101********0027" "$P/gateway.key" "$P/gateway.crt"
cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" }, "admin": { "listen": "127.0.0.1:0" },
  "departments": [
    { "id": "hrss", "certificate": { "organization": "12", "unit": "hrss" }, "push": ["insurance_enrolment"] } ] }
JSON
start() {
	rm -f "$tmp"/port*
	"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>>"$tmp/log" &
	pid=$!
	wait_file "$tmp/port.admin" || { tail "$tmp/log"; exit 1; }
	admin=https://localhost:$(cat "$tmp/port.admin") ingress=https://localhost:$(cat "$tmp/port")
}
ask() { # ask PATH OUT: the status into OUT.code, the body into OUT, the headers into OUT.h
	curl -s -o "$2" -D "$2.h" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" \
		"$admin$1" >"$2.code.tmp"
	mv "$2.code.tmp" "$2.code"
}
start
for i in 1 2 3 4; do
	ask /v1/audit/verify "$tmp/v$i" &
	pids+=($!)
done
metric() { # the value of a metric without labels
	curl -s --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" "$admin/metrics" | sed -n "s/^$1 //p"
}
running() { for _ in $(seq 300); do [[ $(metric msgw_admin_jobs_running) == "$1" ]] && return 0; sleep 0.05; done; return 1; }
ok running 4 # the four are running (50,000 entries each, a step of about a millisecond per turn)
ask /v1/audit/verify "$tmp/v5"
ok test "$(cat "$tmp/v5.code")" = 503
ok grep -q '"rule":"admin.busy"' "$tmp/v5"
ok test "$(grep -ci '^Retry-After: 1' "$tmp/v5.h")" = 1 # once
ok test "$(metric msgw_admin_jobs_refused_total)" = 1
sed "s/CBDJ202611250101/CBDJ-JOBS-1/" "$root/tests/data/hrss/single-record.json" >"$tmp/push.json"
code=$(curl -s -o "$tmp/push.out" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/hrss.crt" --key "$P/hrss.key" \
	-H "Content-Type: application/json" --data-binary "@$tmp/push.json" "$ingress/v1/records")
ok test "$code" = 202
running=0
for i in 1 2 3 4; do [[ -e $tmp/v$i.code ]] || running=$((running + 1)); done
ok test "$running" = 4 # the push was answered while all four were still checking
ask "/v1/persons/120101195603070027/disclosures" "$tmp/r1"
ok grep -qx '200\|503' "$tmp/r1.code"
for i in 1 2 3 4; do
	for _ in $(seq 600); do [[ -e $tmp/v$i.code ]] && break; sleep 0.1; done
	ok test "$(cat "$tmp/v$i.code")" = 200
	ok python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["status"] == "ok" and d["last_seq"] >= 50000 and d["checkpoints"] >= 50 else 1)' "$tmp/v$i"
done
# with the jobs done, a report is answered
ask "/v1/persons/120101195603070027/disclosures" "$tmp/r2"
ok test "$(cat "$tmp/r2.code")" = 200
ok python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if len(d["disclosures"]) == 25 else 1)' "$tmp/r2"

# a client that gives up while its verification runs: the job finishes, its answer goes nowhere,
# and the daemon goes on (ASan would report a request used after libevent freed it)
curl -s -o /dev/null --max-time 0.3 --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" \
	"$admin/v1/audit/verify"
ok test $? -eq 28 # curl's timeout: the verification was still running
ok running 0
ask /v1/audit/verify "$tmp/v7"
ok test "$(cat "$tmp/v7.code")" = 200
ok kill -0 "$pid"

# stopping with a verification running
ask /v1/audit/verify "$tmp/v6" &
asked=$!
ok running 1
ok test ! -e "$tmp/v6.code"
kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0
pid=
wait "$asked"
ok grep -qx '503\|000' "$tmp/v6.code"
finish
