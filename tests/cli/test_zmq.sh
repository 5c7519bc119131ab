#!/usr/bin/env bash
# The ZeroMQ ingress with CURVE: an admitted department's pipelined pushes are answered after the
# commit, replays are duplicates, a key the configuration does not know gets no answer at all.
set -uo pipefail
msgw=${MSGW_BIN:?}
push=${MSGW_ZMQ_PUSH:?}
root=${MSGW_SOURCE_ROOT:?}
tmp=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
pass=0 fail=0
ok() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }

MSGW_CURVE_KEYGEN=${MSGW_CURVE_KEYGEN:?} "$root/certs/dev-pki.sh" "$tmp/pki" 12 >/dev/null 2>&1
P=$tmp/pki
"${MSGW_CURVE_KEYGEN}" >"$tmp/stranger.curve"
pub() { sed -n 's/^public=//p' "$1"; }
cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "zmq": { "listen": "tcp://127.0.0.1:*", "curve_secret_file": "$P/gateway.curve" },
  "departments": [
    { "id": "hrss", "curve_public": "$(pub "$P/hrss.curve")",
      "push": ["insurance_enrolment", "insurance_termination", "employment_registration", "unemployment_registration", "retirement"] },
    { "id": "cdpf", "curve_public": "$(pub "$P/cdpf.curve")", "push": ["disability_certificate"] } ] }
JSON
"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>"$tmp/log" &
pid=$!
for _ in $(seq 50); do [[ -s $tmp/port.zmq ]] && break; sleep 0.1; done
ep=$(cat "$tmp/port.zmq")
ok test -n "$ep"
HRSS=application/vnd.msgw.hrss+json
# five pipelined requests of the same batch: the first stores, the rest are replays
"$push" "$ep" "$P/gateway.curve" "$P/hrss.curve" $HRSS "$root/tests/data/hrss/batch-valid.json" 5 >"$tmp/replies"
ok test "$(wc -l <"$tmp/replies")" = 5
ok python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if all(x["status"]==202 for x in r) and all(o["outcome"]=="stored" for o in r[0]["records"]) and all(o["outcome"]=="duplicate" for x in r[1:] for o in x["records"]) else 1)' "$tmp/replies"
# the department is the key's, not the sender's word: cdpf may not push hrss records
"$push" "$ep" "$P/gateway.curve" "$P/cdpf.curve" $HRSS "$root/tests/data/hrss/batch-valid.json" >"$tmp/replies"
ok python3 -c 'import json,sys; sys.exit(0 if json.loads(open(sys.argv[1]).readline())["status"]==403 else 1)' "$tmp/replies"
# an unknown key is refused by the ZAP handler: no reply
"$push" "$ep" "$P/gateway.curve" "$tmp/stranger.curve" $HRSS "$root/tests/data/hrss/batch-valid.json" >"$tmp/replies" 2>&1
ok grep -q '"no reply"' "$tmp/replies"
kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0
pid=
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
