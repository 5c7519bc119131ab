#!/usr/bin/env bash
# Errors that are never dropped (docs/store.md, docs/audit.md): a real disk that fills up under a
# running daemon.  The daemon runs in a private mount namespace (unshare -m) with its audit log and
# its store each on a small tmpfs; the test fills one, then the other, through /proc/PID/root.
#  - audit log full: the push whose entry could not be written is committed (202) and its entry
#    held; the failure is logged once and counted (msgw_failures_total{component="audit"}),
#    /readyz is not ready and names the audit check, and pushes are refused (503
#    audit.unavailable with Retry-After: nothing is accepted that cannot be audited); freed, the
#    log recovers — cut back to its last whole entry, the failure recorded in the chain, the held
#    entry written right after it — /readyz is ready again, the refused push is stored when sent
#    again, and `msgw audit verify` accepts the whole chain;
#  - store full: the push is answered 503 with Retry-After, counted and logged, /readyz names the
#    store; freed, the same push is stored and evaluated afresh (the engine was undone, not rebuilt).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
skip() { echo "SKIP: $*"; exit 77; }
for tool in unshare mount curl openssl; do command -v "$tool" >/dev/null || skip "$tool is not installed"; done
unshare -m sh -c "mount -t tmpfs -o size=64k tmpfs '$tmp'" 2>/dev/null ||
	skip "unshare -m with a tmpfs mount is not permitted here (needs root, or user and mount namespaces)"

P=$tmp/pki
"$root/certs/dev-pki.sh" "$P" 12 >/dev/null 2>&1
mkdir -p "$tmp/audit" "$tmp/store" "$tmp/data"
cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data", "store": "sqlite:$tmp/store/msgw.db",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "admin": { "listen": "127.0.0.1:0" },
  "audit": { "dir": "$tmp/audit" },
  "departments": [
    { "id": "mca", "certificate": { "organization": "12", "unit": "mca" }, "push": ["household_assistance_roster"] } ] }
JSON
# the audit log and the store each on a tmpfs of their own, seen only by the daemon
unshare -m bash -c 'mount -t tmpfs -o size=1m tmpfs "$1/audit" && mount -t tmpfs -o size=4m tmpfs "$1/store" &&
	exec "$2" serve --config "$1/msgw.json" --port-file "$1/port"' _ "$tmp" "$msgw" 2>"$tmp/log" &
pid=$!
wait_file "$tmp/port.admin"
port=$(cat "$tmp/port") admin=$(cat "$tmp/port.admin")
inside=/proc/$pid/root # the daemon's view of the file system
push() { # push FILE -> status; headers in $tmp/headers, body in $tmp/body
	curl -s -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/mca.crt" \
		--key "$P/mca.key" -H "Content-Type: ${MT:-application/vnd.msgw.mca.roster+xml}" --data-binary "@$1" \
		"https://localhost:$port/v1/records"
}
get() { curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" \
	"https://localhost:$admin$1"; }
has() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$tmp/body" "$1"; }
fill() { dd if=/dev/zero of="$1" bs=4k 2>/dev/null; sync; } # until the tmpfs is full
# a roster per push, each a new record (a new household id)
roster() { sed "s/-202611-/-2026$1-/g" "$root/tests/data/mca/roster-valid.xml" >"$tmp/r$1.xml"; echo "$tmp/r$1.xml"; }

ok test "$(push "$(roster 01)")" = 202
ok test "$(get /readyz)" = 200

# 1. the audit log's disk fills up
fill "$inside$tmp/audit/filler"
# the segment's last page may still hold a few entries: push until the audit log cannot be written
for i in 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19; do
	ok test "$(push "$(roster $i)")" = 202 # committed all the same
	[[ $(get /readyz) == 503 ]] && break
done
ok test "$(get /readyz)" = 503
ok has '[c for c in d["checks"] if c["name"] == "audit"][0]["ok"] is False and "No space left" in [c for c in d["checks"] if c["name"] == "audit"][0]["detail"]'
ok test "$(get /metrics)" = 200
ok grep -Eq '^msgw_failures_total\{component="(audit|fsync)"\} 1$' "$tmp/body" # once, when it broke
ok test "$(grep -c '"msg":"the audit log cannot be written' "$tmp/log")" = 1
broke=$i # the push whose entry could not be written: committed, its entry held
ok test "$(push "$(roster 40)")" = 503
ok grep -qi '^Retry-After: [0-9]' "$tmp/headers"
ok has 'd["errors"][0]["rule"] == "audit.unavailable" and "No space left" in d["errors"][0]["message"]'
rm -f "$inside$tmp/audit/filler"
for _ in $(seq 30); do [[ $(get /readyz) == 200 ]] && break; sleep 0.1; done # it retries once a second
ok test "$(get /readyz)" = 200 # recovered
ok grep -q '"msg":"the audit log is writable again"' "$tmp/log"
ok test "$(push "$(roster 20)")" = 202
ok test "$(push "$tmp/r40.xml")" = 202 # refused while the log was broken: nothing of it was stored
ok has 'all(r["outcome"] == "stored" for r in d["records"])'
ok "$msgw" audit verify --dir "$inside$tmp/audit" --cert "$P/gateway.crt"
# the failure's record, then the held entry of the push that broke the log
ok python3 -c 'import json,sys,glob
entries = [json.loads(l) for f in sorted(glob.glob(sys.argv[1] + "/audit-*.jsonl")) for l in open(f)]
i = [k for k, e in enumerate(entries) if e["fields"].get("action") == "audit.write_failed"][0]
held = entries[i + 1]
sys.exit(0 if entries[i]["fields"]["held"] >= 1 and held["kind"] == "push" and
         any("-2026%s-" % sys.argv[2] in m for m in held["fields"]["message_ids"]) else 1)' "$inside$tmp/audit" "$broke"

# 2. the store's disk fills up
fill "$inside$tmp/store/filler"
for i in 21 22 23 24 25 26 27 28; do # SQLite may still have room in its pages
	code=$(push "$(roster $i)")
	[[ $code == 503 ]] && break
done
ok test "$code" = 503
ok grep -qi '^Retry-After: [0-9]' "$tmp/headers"
ok has 'd["errors"][0]["rule"] == "store.unavailable"'
ok test "$(get /readyz)" = 503
ok has '[c for c in d["checks"] if c["name"] == "store"][0]["ok"] is False'
# people the gateway has not heard of yet: refused too, and nothing of them may stay in the engine
newcomers=$root/tests/data/mca/roster-gb18030.xml MCA18030='application/vnd.msgw.mca.roster+xml; charset=GB18030'
ok test "$(MT=$MCA18030 push "$newcomers")" = 503
# pushes arriving together are committed in groups, two in flight at once (one evaluated while the
# one before is committed): a group whose commit fails takes the one evaluated after it with it,
# and every one of them is refused
cpush() { curl -s -o /dev/null -w '%{http_code}\n' --cacert "$P/ca.crt" --cert "$P/mca.crt" --key "$P/mca.key" \
	-H "Content-Type: application/vnd.msgw.mca.roster+xml" --data-binary "@$1" "https://localhost:$port/v1/records" >"$1.code"; }
together() { for i in 30 31 32 33 34 35 36 37; do cpush "$(roster $i)" & done; wait; cat "$tmp"/r3[0-7].xml.code | sort | uniq -c; }
ok test "$(together)" = "      8 503"
ok test "$(get /metrics)" = 200
ok grep -Eq '^msgw_failures_total\{component="store"\} [1-9]' "$tmp/body"
ok grep -qx 'msgw_engine_rebuilds_total 1' "$tmp/body" # undone, not replayed
ok grep -q '"msg":"a group of pushes could not be committed: answered 503, engine undone"' "$tmp/log"
rm -f "$inside$tmp/store/filler"
ok test "$(push "$tmp/r$i.xml")" = 202 # the same roster: stored now
ok has 'all(r["outcome"] == "stored" for r in d["records"])'
ok test "$(MT=$MCA18030 push "$newcomers")" = 202 # evaluated afresh: the engine forgot the refused push
ok has 'all(r["outcome"] == "stored" for r in d["records"]) and d["transitions"] > 0'
ok test "$(together)" = "      8 202" # none of them was applied: stored now
ok test "$(get /metrics)" = 200
ok grep -qx 'msgw_engine_rebuilds_total 1' "$tmp/body"
ok test "$(get /readyz)" = 200
kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0
pid=
finish
