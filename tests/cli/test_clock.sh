#!/usr/bin/env bash
# The clock set back an hour and forward a day under a running daemon (docs/faults.md): the daily
# sweep neither repeats a day nor skips one.  The daemon's clock is moved by the fault shim
# (tests/shim/fault_shim.c, LD_PRELOAD), no root needed.  Its day D is two days after the real one;
# it starts at D 00:30, when it takes two persons of the health commission's TJ-D5-01 (65 or older):
# A, who turned 65 on D (eligible at once), and B, who turns 65 on D+1.
#  - set back an hour, to D-1 23:30: nothing is swept again; A, pushed again, is still judged on D
#    (65: no LOST notice; the gateway's calendar does not go back); A's NEW notice, refused once by
#    the receiver and due for its retry an hour after the clock now reads, is retried in seconds;
#  - a day after the start, D+1 00:30, while another sender keeps the daemon busy: D+1 is swept
#    once, within seconds — B's NEW notice is committed and delivered once — and retention runs
#    once;
#  - restarted with the clock at D again (the last record it stored is of D), then at D+1 again:
#    nothing is swept a second time.
# That the daemon runs on the moved clock is read from it (the Date header of its answers, the
# times it stores), so the test cannot pass without the shim taking effect.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=faults_lib.sh
source "$(dirname "$0")/faults_lib.sh"
health_gateway 503:1 '"delivery": { "backoff_initial_ms": 10000 }'
# D (local time, as the daemon reckons days) and the offset that puts the daemon at D 00:30 now
read -r D offset < <(python3 -c 'import datetime, time
d = datetime.date.today() + datetime.timedelta(days=2)
start = time.mktime(datetime.datetime(d.year, d.month, d.day, 0, 30).timetuple())
print(d.isoformat(), int(start - time.time()))')
day() { python3 -c 'import datetime,sys; print(datetime.date.fromisoformat(sys.argv[1]) + datetime.timedelta(days=int(sys.argv[2])))' "$D" "$1"; }
daynum() { python3 -c 'import datetime,sys; print((datetime.date.fromisoformat(sys.argv[1]) - datetime.date(1970, 1, 1)).days)' "$1"; }
clock() { control clock "$1"; }
stop() { kill -TERM "$pid"; wait "$pid"; ok test $? -eq 0; pid=; }
push() { # push FILE -> status
	curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/health.crt" --key "$P/health.key" \
		-H "Content-Type: application/vnd.msgw.canonical+json" --data-binary "@$1" "https://localhost:$port/v1/records"
}
# the daemon's local date and time, from the Date header of its answer (its clock, through the shim)
daemon_now() {
	curl -s -D - -o /dev/null --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" \
		"https://localhost:$admin/healthz" | python3 -c 'import email.utils,sys
for l in sys.stdin:
    if l.lower().startswith("date:"):
        print(email.utils.parsedate_to_datetime(l[5:].strip()).astimezone().strftime("%Y-%m-%d %H:%M"))'
}
# waits until the daemon's clock reads day $1 at hour $2
clock_reads() { for _ in $(seq 100); do [[ $(daemon_now) == "$1 $2:"* ]] && return 0; sleep 0.1; done; return 1; }
sql() { python3 -c 'import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone(); print("" if r is None or r[0] is None else r[0])' "$tmp/data/msgw.db" "$1"; }
recorded_day() { sql "select date(recorded_at / 1000000, 'unixepoch', 'localtime') || ' ' || strftime('%H', recorded_at / 1000000, 'unixepoch', 'localtime') from records where source_message_id = '$1'"; }
transitions() { sql "select group_concat(kind || ':' || coalesce(cause, 'sweep'), ' ') from (select * from transitions where person = '$1' and service = 'TJ-D5-01' order by id)"; }
sweeps() { grep -c '"msg":"the daily sweep"' "$tmp/log"; }
retentions() { grep -c '"msg":"the daily retention"' "$tmp/log"; }
pending() { sql "select count(*) from outbox where state = 'pending'"; }
drained() { for _ in $(seq 150); do [[ $(pending) == 0 ]] && return 0; sleep 0.1; done; return 1; }

A=$(python3 "$root/tests/cli/turned_65.py" "$tmp/a1.json" 0 REG-A1 "$D")
python3 "$root/tests/cli/turned_65.py" "$tmp/a2.json" 0 REG-A2 "$D" >/dev/null # A again, a new message
B=$(python3 "$root/tests/cli/turned_65.py" "$tmp/b1.json" -1 REG-B1 "$D")
for k in 1 2 3; do python3 "$root/tests/cli/turned_65.py" "$tmp/c$k.json" "-$((400 + k))" "REG-C$k" "$D" >/dev/null; done

# D 00:30: A is eligible at once (65 today), B not yet
clock "$offset"
start
ok clock_reads "$D" 00
ok test "$(push "$tmp/a1.json")" = 202
ok test "$(push "$tmp/b1.json")" = 202
ok test "$(recorded_day REG-A1)" = "$D 00" # stored at the daemon's time: the shim moves its clock
ok test "$(transitions "$A")" = "new:health:REG-A1"
ok test "$(transitions "$B")" = ""
# A's notice: the receiver refuses its first request; the notice waits 5 to 10 s for its retry
for _ in $(seq 100); do [[ -s $tmp/recv.log ]] && break; sleep 0.1; done
ok test "$(sql "select attempts || state from outbox where person = '$A'")" = 1pending

# set back an hour, across midnight: D-1 23:30
clock $((offset - 3600))
ok clock_reads "$(day -1)" 23
ok test "$(push "$tmp/a2.json")" = 202 # the worker looked at the calendar before this push's group
ok test "$(recorded_day REG-A2)" = "$(day -1) 23"
ok test "$(transitions "$A")" = "new:health:REG-A1" # judged on D still: no LOST notice
ok test "$(sweeps)" = 0
ok test "$(sql "select value from meta where key = 'swept'")" != "$(daynum "$(day -1)")"
ok grep -q "\"msg\":\"the clock reads a day before the last day swept: records are evaluated on that day\",\"clock\":\"$(day -1)\",\"swept\":\"$D\"" "$tmp/log"
# the retry, due an hour after the clock now, is sent all the same: the deliverer's clock runs on
for _ in $(seq 200); do [[ $(sql "select state from outbox where person = '$A'") == delivered ]] && break; sleep 0.1; done
ok test "$(sql "select attempts || state from outbox where person = '$A'")" = 2delivered
ok clock_reads "$(day -1)" 23

# a day after the start: D+1 00:30, while a sender keeps pushing other persons (the worker is never
# idle): swept within seconds all the same — the calendar is looked at before every group
python3 "$root/tests/cli/push_load.py" "localhost:$port" "$P/ca.crt" "$P/health.crt" "$P/health.key" "$tmp/load.log" \
	"$tmp/load.stop" 1 1 &
pids+=($!)
for _ in $(seq 100); do [[ -s $tmp/load.log ]] && break; sleep 0.1; done
clock $((offset + 86400))
ok clock_reads "$(day 1)" 00
for _ in $(seq 150); do [[ $(sql "select value from meta where key = 'swept'") == "$(daynum "$(day 1)")" ]] && break; sleep 0.1; done
ok test "$(sql "select value from meta where key = 'swept'")" = "$(daynum "$(day 1)")"
touch "$tmp/load.stop"
wait "${pids[-1]}"
ok python3 -c 'import json,sys; sys.exit(0 if all(json.loads(l)["status"] == 202 for l in open(sys.argv[1])) else 1)' "$tmp/load.log"
ok test "$(transitions "$B")" = "new:sweep"
ok test "$(transitions "$A")" = "new:health:REG-A1"
ok test "$(sweeps)" = 1
ok test "$(retentions)" = 1
ok grep -q "\"msg\":\"the daily sweep\",\"through\":\"$(day 1)\",\"days\":\"1\"" "$tmp/log"
ok grep -q '"msg":"the clock has caught up with the last day swept"' "$tmp/log"
# B's notice: queued once, delivered once
ok drained
ok test "$(sql "select count(*) from outbox where recipient = 'health' and kind = 'eligibility' and person = '$B'")" = 1
event=$(sql "select event_id from outbox where recipient = 'health' and kind = 'eligibility' and person = '$B'")
ok test "$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get("event") == sys.argv[2]))' "$tmp/recv.log" "$event")" = 1

# restarted with the clock at D again: the day swept is not swept again, then or at D+1
stop
clock "$offset"
start
ok clock_reads "$D" 00
ok test "$(push "$tmp/c1.json")" = 202
ok test "$(push "$tmp/c2.json")" = 202
clock $((offset + 86400))
ok clock_reads "$(day 1)" 00
ok test "$(push "$tmp/c3.json")" = 202
ok test "$(transitions "$B")" = "new:sweep"
ok test "$(transitions "$A")" = "new:health:REG-A1"
ok test "$(sweeps)" = 1
ok test "$(retentions)" = 1
ok test "$(sql "select value from meta where key = 'swept'")" = "$(daynum "$(day 1)")"
ok drained
ok test "$(sql "select count(*) from outbox where recipient = 'health' and kind = 'eligibility' and person = '$B'")" = 1
stop
finish
