#!/usr/bin/env bash
# Delivery over ZeroMQ to real consumer processes, and the monitoring feed (docs/zmq.md):
#  - a consumer with a key the configuration does not know gets nothing;
#  - a consumer that "crashes" after receiving some events (--drop-first) gets them again as soon
#    as it reconnects (READY), long before the acknowledgement timeout, and nothing is lost;
#  - every event arrives with its cause, once after de-duplication by event id, and its
#    acknowledgement marks it delivered (the store says so; a second consumer gets nothing);
#  - after a SIGHUP to a short acknowledgement timeout: what is not acknowledged is sent again
#    (attempts counted) and dead-lettered after delivery.max_attempts;
#  - a feed subscriber sees "delivery" events from both deliverers (ZeroMQ, and webhooks for hrss),
#    and "record" events once ingest publishes them, with masked ID numbers only, never a body.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
consumer=${MSGW_ZMQ_CONSUMER:?}
sub=${MSGW_ZMQ_SUB:?}
# check NAME COMMAND...: a named assertion; a failure says which one and what was found
check() {
  local name=$1
  shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $name"; fi
}
wait_file() { for _ in $(seq 300); do [[ -s $1 ]] && return 0; sleep 0.1; done; return 1; }
wait_exists() { for _ in $(seq 300); do [[ -e $1 ]] && return 0; sleep 0.1; done; return 1; }
sql() { python3 -c 'import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone(); print(r[0] if r else "")' "$tmp/data/msgw.db" "$1"; }
# wait_sql QUERY EXPECTED [SECONDS]: waits for the store to say EXPECTED (generous deadline, no timing asserted)
wait_sql() {
  local deadline=$((SECONDS + ${3:-120}))
  while ((SECONDS < deadline)); do
    [[ $(sql "$1") == "$2" ]] && return 0
    if ! kill -0 "$daemon" 2>/dev/null; then
      echo "  the daemon died:"
      tail -20 "$tmp/log"
      return 1
    fi
    sleep 0.2
  done
  echo "  store: '$1' is $(sql "$1"), expected $2"
  return 1
}
eq() { # eq WHAT GOT EXPECTED
  [[ $2 == "$3" ]] && return 0
  echo "  $1: got '$2', expected '$3'"
  return 1
}

MSGW_CURVE_KEYGEN=${MSGW_CURVE_KEYGEN:?} "$root/certs/dev-pki.sh" "$tmp/pki" 12 >/dev/null 2>&1
P=$tmp/pki
"${MSGW_CURVE_KEYGEN}" >"$tmp/stranger.curve"
pub() { sed -n 's/^public=//p' "$1"; }
# config ACK_TIMEOUT_MS: mca takes records from cdpf and eligibility notices, cdpf eligibility
# notices, both over ZeroMQ; hrss takes records from cdpf by webhook
config() {
  cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "zmq": { "deliver_listen": "tcp://127.0.0.1:*", "deliver_window": 100, "feed_listen": "tcp://127.0.0.1:*",
           "curve_secret_file": "$P/gateway.curve" },
  "admin": { "curve_public": ["$(pub "$P/admin.curve")"] },
  "delivery": { "max_attempts": 3, "ack_timeout_ms": $1 },
  "departments": [
    { "id": "mca", "certificate": { "organization": "12", "unit": "mca" }, "curve_public": "$(pub "$P/mca.curve")",
      "subscriptions": [ { "kinds": ["disability_certificate"], "from": ["cdpf"],
                           "fields": ["hukou_region", "disability_category", "disability_grade"] } ],
      "eligibility": true, "deliver": { "zmq": {} } },
    { "id": "cdpf", "certificate": { "organization": "12", "unit": "cdpf" }, "curve_public": "$(pub "$P/cdpf.curve")",
      "push": ["disability_certificate"], "eligibility": true, "deliver": { "zmq": {} } },
    { "id": "hrss", "certificate": { "organization": "12", "unit": "hrss" }, "curve_public": "$(pub "$P/hrss.curve")",
      "push": ["insurance_enrolment"],
      "subscriptions": [ { "kinds": ["disability_certificate"], "from": ["cdpf"], "fields": ["hukou_region", "disability_grade"] } ],
      "deliver": { "webhook": { "url": "https://localhost:$(cat "$tmp/hrss.port")/inbox" } } } ] }
JSON
}
# hrss takes its messages by webhook (its key is admitted all the same)
python3 "$root/tests/cli/webhook_receiver.py" "$P/gateway.crt" "$P/gateway.key" "$P/ca.crt" 200 "$tmp/hrss.log" "$tmp/hrss.port" &
pids+=($!)
check "hrss's webhook receiver starts" wait_file "$tmp/hrss.port"
config 120000 # two minutes: anything redelivered sooner was redelivered because of READY
"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>"$tmp/log" &
daemon=$!
pids+=($daemon)
check "daemon starts and writes its endpoints" wait_file "$tmp/port"
ep=$(cat "$tmp/port.zdeliver")
feed=$(cat "$tmp/port.feed")
check "delivery endpoint written" test -n "$ep"
check "feed endpoint written" test -n "$feed"

# the feed is the administrators': a department's key is refused at the handshake
"$sub" "$feed" "$P/gateway.curve" "$P/mca.curve" --ready-file "$tmp/dept.ready" --timeout 3 >/dev/null 2>&1
check "feed refuses a department's CURVE key" test ! -e "$tmp/dept.ready"
# the feed subscriber (an administrator's key, admin.curve_public) listens from the start
"$sub" "$feed" "$P/gateway.curve" "$P/admin.curve" --ready-file "$tmp/sub.ready" --timeout 200 >"$tmp/feed.out" 2>"$tmp/feed.err" &
subpid=$!
pids+=($subpid)
check "feed subscriber connects (CURVE handshake with an administrator's key)" wait_exists "$tmp/sub.ready"
sleep 1 # its subscription travels upstream to the publishers (the feed is lossy by design)

DOC=$root/tests/data/cdpf/certificate-events.xml
code=$(curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/cdpf.crt" --key "$P/cdpf.key" \
  -H "Content-Type: application/vnd.msgw.cdpf.certificate+xml" --data-binary @"$DOC" "https://localhost:$(cat "$tmp/port")/v1/records")
check "cdpf's push is accepted (202)" eq "HTTP status" "$code" 202
n_mca=$(sql "select count(*) from outbox where recipient='mca'")
n_cdpf=$(sql "select count(*) from outbox where recipient='cdpf'")
n_hrss=$(sql "select count(*) from outbox where recipient='hrss'")
check "the push queued messages for mca, cdpf and hrss" test "$n_mca" -gt 3 -a "$n_cdpf" -gt 0 -a "$n_hrss" -gt 0
check "hrss's messages are delivered by webhook meanwhile" wait_sql "select count(*) from outbox where recipient='hrss' and state='delivered'" "$n_hrss"

# a key the configuration does not know: refused by ZAP, no READY, no event; nothing moves
"$consumer" "$ep" "$P/gateway.curve" "$tmp/stranger.curve" --timeout 3 >"$tmp/stranger.out" 2>"$tmp/stranger.err"
check "unknown key receives no event" eq "events to the stranger" "$(wc -l <"$tmp/stranger.out")" 0
check "unknown key never completes a handshake" grep -q ' 0 READY' "$tmp/stranger.err"
# an admitted key whose department is not delivered over ZeroMQ (hrss: webhook) is ignored
"$consumer" "$ep" "$P/gateway.curve" "$P/hrss.curve" --timeout 3 >"$tmp/hrss.out" 2>"$tmp/hrss.err"
check "a department not delivered over ZeroMQ receives nothing" eq "events to hrss" "$(wc -l <"$tmp/hrss.out")" 0
check "nothing was attempted for mca meanwhile" eq "mca attempts" "$(sql "select sum(attempts) from outbox where recipient='mca'")" 0

# mca's consumer drops the first 3 events unacknowledged, reconnects, and must get everything
"$consumer" "$ep" "$P/gateway.curve" "$P/mca.curve" --drop-first 3 --exit-after "$n_mca" --timeout 60 \
  --report-duplicates >"$tmp/mca.out" 2>"$tmp/mca.err"
check "mca's consumer gets all $n_mca events after reconnecting (before the 2-minute ack timeout)" test $? -eq 0
check "mca's consumer dropped 3 events" eq "dropped" "$(grep -c '^dropped ' "$tmp/mca.err")" 3
check "mca's consumer said READY again after reconnecting" grep -q ' 2 READY' "$tmp/mca.err"
for id in $(sed -n 's/^dropped //p' "$tmp/mca.err"); do
  check "dropped event $id was redelivered" grep -q "^$id " "$tmp/mca.out"
  check "dropped event $id counts two attempts" eq "attempts of $id" "$(sql "select attempts from outbox where recipient='mca' and event_id='$id'")" 2
done
# exactly the outbox's events, each once, each with its cause, kind and media type
python3 - "$tmp/data/msgw.db" "$tmp/mca.out" >"$tmp/cmp.txt" <<'PY'
import sqlite3, sys
rows = {r[0]: r[1:] for r in sqlite3.connect(sys.argv[1]).execute(
    "select event_id, coalesce(cause, ''), kind, media_type, length(body) from outbox where recipient = 'mca'")}
lines = [l.split() for l in open(sys.argv[2])]
ids = [l[0] for l in lines]
problems = []
if len(ids) != len(set(ids)): problems.append("an event id printed twice after de-duplication")
if set(ids) != set(rows): problems.append("events %s missing, %s unexpected" % (set(rows) - set(ids), set(ids) - set(rows)))
# a record's size is its own; a notice came in a list (the default notices_per_message), whose
# size the consumer prints: at least the notice's, more where notices travelled together
listed = 0
for l in lines:
    want = rows.get(l[0])
    size_ok = want and (int(l[4]) == want[3] if want[1] == "record" else int(l[4]) >= want[3])
    if want and (l[1] != (want[0] or "-") or l[2] != want[1] or l[3] != want[2] or not size_ok):
        problems.append("event %s arrived as %s, queued as %s" % (l[0], l[1:], want))
    if want and not want[0]: problems.append("event %s has no cause" % l[0])
    listed += bool(want and want[1] == "eligibility" and int(l[4]) > want[3])
if not listed: problems.append("no notice travelled in a list with others")
print("\n".join(problems) or "ok")
PY
check "mca's events: the outbox's, once each, with cause, kind, media type and size ($(head -1 "$tmp/cmp.txt"))" eq "comparison" "$(cat "$tmp/cmp.txt")" ok
check "acknowledgements mark all of mca's messages delivered" wait_sql "select count(*) from outbox where recipient='mca' and state='delivered'" "$n_mca"
"$consumer" "$ep" "$P/gateway.curve" "$P/mca.curve" --timeout 3 >"$tmp/mca2.out" 2>"$tmp/mca2.err"
check "a second consumer run for mca gets nothing (all acknowledged)" eq "events on the second run" "$(wc -l <"$tmp/mca2.out")" 0

# SIGHUP: a 1.5 s acknowledgement timeout; the socket and endpoint stay
config 1500
kill -HUP "$daemon"
for _ in $(seq 100); do grep -q '"reloaded"' "$tmp/log" && break; sleep 0.1; done
check "SIGHUP reloads the configuration" grep -q '"reloaded"' "$tmp/log"
# cdpf's consumer acknowledges only its first event: the rest are sent again after each timeout,
# three attempts, then dead letters
"$consumer" "$ep" "$P/gateway.curve" "$P/cdpf.curve" --acks 1 --timeout 20 --report-duplicates >"$tmp/cdpf.out" 2>"$tmp/cdpf.err" &
cpid=$!
pids+=($cpid)
check "cdpf: one message acknowledged and delivered" wait_sql "select count(*) from outbox where recipient='cdpf' and state='delivered'" 1
check "cdpf: the others dead-lettered after 3 unacknowledged attempts" wait_sql "select count(*) from outbox where recipient='cdpf' and state='dead' and attempts=3 and last_error='not acknowledged after 3 attempts'" "$((n_cdpf - 1))" 150
check "cdpf: nothing left pending" wait_sql "select count(*) from outbox where recipient='cdpf' and state='pending'" 0
kill "$cpid" 2>/dev/null
wait "$cpid" 2>/dev/null
check "cdpf: unacknowledged events were redelivered after the ack timeout" grep -q '^duplicate ' "$tmp/cdpf.err"
check "cdpf: every message reached the consumer at least once" eq "distinct cdpf events" "$(wc -l <"$tmp/cdpf.out")" "$n_cdpf"
check "cdpf: no event printed twice" eq "distinct lines" "$(cut -d' ' -f1 "$tmp/cdpf.out" | sort -u | wc -l)" "$n_cdpf"

# the feed: delivery events for what happened, ID numbers masked, no bodies
kill "$subpid" 2>/dev/null
wait "$subpid" 2>/dev/null
python3 - "$tmp/feed.out" "$DOC" "$n_mca" "$n_cdpf" "$n_hrss" >"$tmp/feed.txt" <<'PY'
import json, re, sys
feed, doc, n_mca, n_cdpf, n_hrss = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
text = open(feed, encoding="utf-8").read()
events = [(l.split(" ", 1)[0], json.loads(l.split(" ", 1)[1])) for l in text.splitlines() if " " in l]
source = open(doc, encoding="utf-8").read()
ids = set(re.findall(r"\b\d{17}[\dX]\b", source))
names = set(re.findall(r"<Name>([^<]+)</Name>", source))
problems = []
for i in ids:
    if i in text: problems.append("unmasked ID number %s on the feed" % i)
for n in names:
    if n in text: problems.append("a name (%s) on the feed" % n)
delivered = {e["event_id"] for t, e in events if t == "delivery" and e["recipient"] == "mca" and e["outcome"] == "delivered"}
if len(delivered) != n_mca: problems.append("%d of %d mca deliveries on the feed" % (len(delivered), n_mca))
dead = [e for t, e in events if t == "delivery" and e["recipient"] == "cdpf" and e["outcome"] == "dead"]
retry = [e for t, e in events if t == "delivery" and e["recipient"] == "cdpf" and e["outcome"] == "retry"]
if len(dead) != n_cdpf - 1: problems.append("%d of %d cdpf dead letters on the feed" % (len(dead), n_cdpf - 1))
if not retry: problems.append("no retry event on the feed")
hooks = {e["event_id"] for t, e in events if t == "delivery" and e["recipient"] == "hrss" and e["outcome"] == "delivered"
         and e["transport"] == "webhook"}
if len(hooks) != n_hrss: problems.append("%d of %d hrss webhook deliveries on the feed" % (len(hooks), n_hrss))
masked = re.compile(r"^\d{6}\*{8}[\dX]{4}$")
for t, e in events:
    if t == "delivery" and (not masked.match(e.get("person", "")) or not e.get("cause")
                            or e.get("transport") != ("webhook" if e["recipient"] == "hrss" else "zmq")):
        problems.append("delivery event without a masked person, a cause or its transport: %s" % e)
        break
    for p in e.get("persons", []):
        if not masked.match(p): problems.append("record event with an unmasked person: %s" % e)
print("\n".join(problems) or "ok")
print("record events: %d" % sum(1 for t, _ in events if t == "record"))
PY
check "feed: delivery events complete, masked, without bodies ($(head -1 "$tmp/feed.txt"))" eq "feed" "$(head -1 "$tmp/feed.txt")" ok
# "record" events come from the ingest worker, published once the group is committed
check "feed: record events seen" grep -q '^record events: [1-9]' "$tmp/feed.txt"

kill -TERM "$daemon"
wait "$daemon"
check "daemon stops cleanly (exit 0, sanitizers quiet)" test $? -eq 0
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
