#!/usr/bin/env bash
# A person's disclosure record (issue 17 §3, docs/disclosure.md), against what the receivers got.
# Civil affairs pushes a household roster about person A (hukou Tianjin, living in Beijing) and
# person B.  Routing sends it to human resources, who subscribe to rosters with three fields, and
# — A living in Beijing — the agreement with Beijing's gateway seals it into an envelope for
# Beijing; the verdicts A's facts change go to civil affairs as eligibility notices.  Each receiver
# keeps the bodies it got.  `msgw person` then reports on A and the test checks, for every body a
# receiver got that concerns A, that the report lists that delivery with exactly the fields of A
# the body carries (read independently: `msgw normalize` for the record, the envelope's record),
# the rule it went on and the audit log's confirmation; that it lists the record held and the
# verdicts; that nothing of B's is in A's report; and that asking was audited with who asked.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
P=$tmp/pki B=$tmp/beijing
"$root/certs/dev-pki.sh" "$P" 12 >/dev/null 2>&1
"$root/certs/dev-pki.sh" "$B" 11 >/dev/null 2>&1
receiver() { # receiver NAME CERT KEY: a webhook receiver keeping bodies in $tmp/NAME/
	mkdir -p "$tmp/$1"
	MSGW_RECEIVER_BODIES=$tmp/$1 python3 "$root/tests/cli/webhook_receiver.py" "$2" "$3" "$P/ca.crt" 200 \
		"$tmp/$1.log" "$tmp/$1.port" &
	pids+=($!)
	wait_file "$tmp/$1.port"
}
receiver mca "$P/gateway.crt" "$P/gateway.key"
receiver hrss "$P/gateway.crt" "$P/gateway.key"
receiver beijing "$B/gateway.crt" "$B/gateway.key" # Beijing's gateway, its own CA
cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "admin": { "listen": "127.0.0.1:0" },
  "peering": { "listen": "127.0.0.1:0" },
  "delivery": { "retry_base_ms": 100 },
  "departments": [
    { "id": "mca", "certificate": { "organization": "12", "unit": "mca" }, "push": ["household_assistance_roster"],
      "eligibility": true, "deliver": { "webhook": { "url": "https://localhost:$(cat "$tmp/mca.port")/inbox" } } },
    { "id": "hrss", "certificate": { "organization": "12", "unit": "hrss" }, "push": [],
      "subscriptions": [ { "kinds": ["household_assistance_roster"], "fields": ["hukou_region", "assistance_category", "income_monthly_fen"] } ],
      "deliver": { "webhook": { "url": "https://localhost:$(cat "$tmp/hrss.port")/inbox" } } } ],
  "peers": [ { "id": "beijing", "region": "11", "url": "https://localhost:$(cat "$tmp/beijing.port")", "ca": "$B/ca.crt",
               "kinds": ["household_assistance_roster"], "fields": ["id_number", "name", "residence_region", "assistance_category"],
               "envelopes_per_message": 1 } ] }
JSON
"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>"$tmp/log" &
pid=$!
wait_file "$tmp/port.admin" || { tail "$tmp/log"; exit 1; }
A=120101195603070027
python3 - "$root/tests/data/canonical/roster.json" "$tmp/roster.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
doc[0]["persons"][0]["residence_region"] = "110105"  # A lives in Beijing
json.dump(doc, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
PY
code=$(curl -s -o "$tmp/answer" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/mca.crt" --key "$P/mca.key" \
	-H "Content-Type: application/vnd.msgw.canonical+json" --data-binary "@$tmp/roster.json" \
	"https://localhost:$(cat "$tmp/port")/v1/records")
ok test "$code" = 202
# every receiver has what it will get: hrss the record, Beijing the envelope, civil affairs notices
for _ in $(seq 100); do
	[[ -s $tmp/hrss.log && -s $tmp/beijing.log && -s $tmp/mca.log ]] && break
	sleep 0.1
done
sleep 1 # the deliveries' audit entries follow their settlement
admin=(--url "https://localhost:$(cat "$tmp/port.admin")" --cert "$P/admin.crt" --key "$P/admin.key" --ca "$P/ca.crt")
ok "$msgw" person "${admin[@]}" --json "$A" >"$tmp/report.json"
ok "$msgw" person "${admin[@]}" "$A" >"$tmp/report.txt"
ok grep -q "一、持有的记录 Records held about you (1)" "$tmp/report.txt"
ok grep -q "hrss (department): record" "$tmp/report.txt"
ok grep -q "beijing (peer gateway): record" "$tmp/report.txt"
# the report against the bodies the receivers got, read independently of the gateway
ok python3 - "$msgw" "$tmp" "$A" <<'PY'
import glob, json, os, sys
import xml.etree.ElementTree as ET
msgw, tmp, person = sys.argv[1:4]
report = json.load(open(os.path.join(tmp, "report.json"), encoding="utf-8"))
problems = []

def fields_of(record):
    """A's fields in a canonical record, named as the report names them."""
    out = set()
    for p in record.get("persons", []):
        if p.get("id_number") == person:
            out |= {"person." + k for k in p}
    h = record.get("household") or {}
    if any(m.get("id_number") == person for m in h.get("members", [])):
        out |= {"household." + k for k in h}
    for f in record.get("facts", []):
        if f.get("subject") == person:
            out |= {"fact.%s.%s" % (f["type"], k) for k in f if k not in ("type", "subject", "attributes")}
            out |= {"fact.%s.%s" % (f["type"], k) for k in f.get("attributes", {})}
    return out

by_event = {d["event_id"]: d for d in report["disclosures"]}


def local(tag):
    return tag.rsplit("}", 1)[-1]


def notices_about(body):
    """The ids of the eligibility notices about A in a civil-affairs XML body (one or a list)."""
    root = ET.fromstring(body)
    items = list(root) if local(root.tag) == "EligibilityNotices" else [root]
    return [next(e.text for e in n.iter() if local(e.tag) in ("TZBH", "NoticeId"))
            for n in items if any((e.text or "").strip() == person for e in n.iter())]


def check(receiver, event, got, rule):
    d = by_event.get(event)
    if not d:
        problems.append("%s got %s, which the report does not list" % (receiver, event))
        return
    if d["recipient"] != receiver or d["state"] != "delivered" or "audit" not in d:
        problems.append("%s: %s" % (event, json.dumps(d, ensure_ascii=False)[:300]))
    if got is not None and set(d["fields"]) != got:
        problems.append("%s to %s: the report says %s, the body carried %s"
                        % (event, receiver, sorted(d["fields"]), sorted(got)))
    if not (d["basis"]["rule"] or "").startswith(rule):
        problems.append("%s: rule %s, not %s" % (event, d["basis"]["rule"], rule))


seen = 0
for receiver in ("hrss", "beijing", "mca"):
    for meta_path in sorted(glob.glob(os.path.join(tmp, receiver, "*.json"))):
        meta = json.load(open(meta_path))
        body = open(meta_path[:-5] + ".body", "rb").read()
        if receiver == "mca":  # eligibility notices, one or a list in a body
            for notice in notices_about(body):
                seen += 1
                check(receiver, notice, None, "service ")
            continue
        if receiver == "hrss":
            # the projected record in canonical JSON (a projection is no whole record: read as it is)
            doc = json.loads(body)
            got = set().union(*(fields_of(r) for r in (doc if isinstance(doc, list) else [doc])))
        else:
            got = fields_of(json.loads(body)["record"])
        if got:
            seen += 1
            check(receiver, meta["event"], got, {"hrss": "subscription hrss/0", "beijing": "agreement beijing"}[receiver])
if seen < 3:
    problems.append("only %d deliveries about A were received (a record, an envelope and a notice at least)" % seen)
if len(report["disclosures"]) != seen:
    problems.append("the report lists %d disclosures, the receivers got %d about A: %s" % (len(report["disclosures"]), seen, [(d["recipient"], d["what"], d["state"], d["event_id"][:12]) for d in report["disclosures"]]))
if [r["message_id"] for r in report["records"]] != ["mca:TJ-HP-2024-000123"] or report["records"][0]["department"] != "mca":
    problems.append("records held: %s" % report["records"])
if not report["verdicts"] or not report["transitions"]:
    problems.append("no verdicts or transitions for A")
if "120101198807150014" in json.dumps(report) or "150014" in json.dumps(report["disclosures"]):
    problems.append("B's number is in A's report")
if person in json.dumps(report):
    problems.append("the report carries A's full number (it is masked)")
for p in problems:
    print("PROBLEM: " + p)
print("%d deliveries about A checked against the report" % seen)
sys.exit(1 if problems else 0)
PY
# asking was audited, with who asked, and shows in the next report
ok "$msgw" person "${admin[@]}" --json "$A" >"$tmp/report2.json"
ok python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["accesses"]; sys.exit(0 if sum(x["action"]=="person.disclosures" and x["by"]=="admin" for x in a) >= 2 else 1)' "$tmp/report2.json"
ok grep -q '"action":"person.disclosures","by":"admin","person":"120101\*\{8\}0027"' "$tmp"/data/audit/audit-*.jsonl
# a valid number nobody holds anything of: an empty report; an invalid one: refused
ok "$msgw" person "${admin[@]}" --json 11010519491231002X >"$tmp/empty.json"
ok python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if not r["records"] and not r["disclosures"] else 1)' "$tmp/empty.json"
"$msgw" person "${admin[@]}" 12345 >/dev/null 2>&1
ok test $? -eq 1
kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0
# restarted, the log has a second segment: the report reads the log a segment per turn of the
# admin listener's loop and finds the same disclosures and every lookup, before and after (the
# first report saw itself; three more since: the text report, report2, this one)
rm -f "$tmp"/port*
"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>>"$tmp/log" &
pid=$!
wait_file "$tmp/port.admin" || { tail "$tmp/log"; exit 1; }
admin[1]="https://localhost:$(cat "$tmp/port.admin")"
ok test "$(ls "$tmp"/data/audit/audit-*.jsonl | wc -l)" -ge 2
ok "$msgw" person "${admin[@]}" --json "$A" >"$tmp/report3.json"
ok python3 -c 'import json,sys; a, b = (json.load(open(p)) for p in sys.argv[1:3]);
ids = lambda r: sorted((d["event_id"], d["state"], "audit" in d) for d in r["disclosures"])
n = [sum(x["action"] == "person.disclosures" for x in r["accesses"]) for r in (a, b)]
sys.exit(0 if ids(a) == ids(b) and n == [1, 4] else 1)' \
	"$tmp/report.json" "$tmp/report3.json"
kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0
pid=
finish
