#!/usr/bin/env bash
# The audit log failing under load (docs/faults.md, docs/audit.md "Durability"): four senders push
# new persons continuously (push_load.py), a third of them 65 or older, so notices are delivered to
# the health commission meanwhile, while the fault shim (tests/shim/fault_shim.c, no root) makes the
# audit log's files fail.  The gateway fails closed: nothing is accepted that cannot be audited.
#  1. fsync EIO (at a checkpoint, every 20 entries here): pushes over HTTPS and ZeroMQ are refused
#     503 audit.unavailable with Retry-After, /readyz names the audit log, deliveries wait, the
#     failure is logged and counted; lifted, the log recovers by itself: 202s and /readyz ready;
#  2. write ENOSPC (a full disk): the same; the senders stop while it lasts, and the log recovers
#     with no push at all;
#  3. nothing was lost: every record answered 202 is named by a push entry, every message delivered
#     by a delivery entry — those that could not be written when the log broke were held and
#     written, in order, right after its audit.write_failed entry — and the chain verifies;
#  4. restarted with room for 5 held entries: 8 lookups of a person while the log cannot be written
#     hold 5 and lose 3, and the chain says so (audit.write_failed: held 5, lost 3).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=faults_lib.sh
source "$(dirname "$0")/faults_lib.sh"
zpush=${MSGW_ZMQ_PUSH:?}
[[ -f $P/health.curve ]] || skip "no CURVE keys (MSGW_CURVE_KEYGEN is not built)"
members() {
	echo '"audit": { "checkpoint_every": 20, "held_max": '"$1"' },
	"zmq": { "listen": "tcp://127.0.0.1:*", "curve_secret_file": "'"$P"'/gateway.curve" }'
}
health_gateway 200 "$(members 10000)"
audit=$tmp/data/audit # the prefix the faults are injected under
audit_check() { # /readyz is not ready, its audit check naming the failure $1
	[[ $(get /readyz) == 503 ]] && has "[c for c in d['checks'] if c['name'] == 'audit'][0]['ok'] is False and '$1' in [c for c in d['checks'] if c['name'] == 'audit'][0]['detail']"
}
zmq_refused() { # a push over ZeroMQ is answered 503 audit.unavailable
	python3 "$root/tests/cli/turned_65.py" "$tmp/z.json" 1000 "ZMQ-$1" >/dev/null
	"$zpush" "$(cat "$tmp/port.zmq")" "$P/gateway.curve" "$P/health.curve" application/vnd.msgw.canonical+json \
		"$tmp/z.json" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["status"] == 503 and d["errors"][0]["rule"] == "audit.unavailable" else 1)'
}
pending() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from outbox where state = \"pending\"").fetchone()[0])' "$tmp/data/msgw.db"; }

start
wait_file "$tmp/port.zmq"
load "$tmp/load.log" 0
ok more "$tmp/load.log" 20 202

# 1. fsync fails with EIO
control fsync EIO "$audit"
ok more "$tmp/load.log" 1 503 audit.unavailable
ok audit_check "cannot sync the audit log: Input/output error"
ok zmq_refused 1
ok test "$(injected fsync)" -gt 0
ok test "$(metric 'msgw_failures_total{component="fsync"}')" = 1
ok grep -q '"msg":"the audit log cannot be written: entries are held until it recovers"' "$tmp/log"
ok grep -q '"msg":"deliveries wait: the audit log cannot be written"' "$tmp/log"
control
ok more "$tmp/load.log" 20 202 # by itself
ok ready
ok grep -q '"msg":"the audit log is writable again"' "$tmp/log"
ok grep -q '"msg":"deliveries go on: the audit log is writable again"' "$tmp/log"

# 2. the disk is full: writes fail with ENOSPC; the senders stop meanwhile
control write ENOSPC "$audit"
ok more "$tmp/load.log" 1 503 audit.unavailable
ok audit_check "cannot write the audit log: No space left on device"
ok test "$(injected write)" -gt 0
ok test "$(metric 'msgw_failures_total{component="audit"}')" = 1
unload
ok zmq_refused 2
control
ok ready # no push: the gateway tried the log itself
ok retry_after "$tmp/load.log"
ok test "$(grep -c '"msg":"the audit log is writable again"' "$tmp/log")" = 2

# 3. nothing lost: what could not be written was held and written after the failure's record
for _ in $(seq 300); do [[ $(pending) == 0 ]] && break; sleep 0.1; done
ok test "$(pending)" = 0
ok test "$(get /v1/audit/verify)" = 200
ok python3 "$root/tests/cli/faults_check.py" audit "$tmp/load.log" "$audit" "$tmp/data/msgw.db"
ok test "$(metric msgw_audit_held_entries)" = 0
kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0

# 4. held beyond the bound: lost, counted, and their number recorded
health_config "$(members 5)"
start
person=$(python3 "$root/tests/cli/turned_65.py" "$tmp/p.json" 1000 P-1)
control write ENOSPC "$audit"
for _ in $(seq 8); do get "/v1/persons/$person" >/dev/null; done # each lookup is an audited access
ok audit_check "No space left on device (5 entries held)"
ok test "$(metric msgw_audit_lost_total)" = 3
ok grep -q '"msg":"the audit log holds as many entries as it may: further ones are lost"' "$tmp/log"
control
ok ready
ok python3 -c 'import json,sys,glob
entries = [json.loads(l) for f in sorted(glob.glob(sys.argv[1] + "/audit-*.jsonl")) for l in open(f)]
i = max(k for k, e in enumerate(entries) if e["fields"].get("action") == "audit.write_failed")
f, after = entries[i]["fields"], entries[i + 1:i + 6]
sys.exit(0 if f["held"] == 5 and f["lost"] == 3 and all(e["fields"].get("action") == "person.lookup" for e in after)
         and entries[i + 6]["kind"] == "checkpoint" else 1)' "$audit"
kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0
pid=
ok "$msgw" audit verify --dir "$audit" --cert "$P/gateway.crt"
finish
