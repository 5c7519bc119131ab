#!/usr/bin/env python3
"""What the fault tests check after a load (tests/cli/push_load.py's LOG) against the store and the
engine.
  faults_check.py store LOG DB
      every record of a request answered 202 is stored exactly once; every request (one batch) is
      stored whole or not at all; prints the counts, and which requests answered 503 were stored
      all the same (a commit whose sync failed may have reached the disk: docs/faults.md).
  faults_check.py engine LOG DB HOST:PORT CA CERT KEY OUT
      the engine's verdicts (GET /v1/persons/{id}/eligibility, the health commission's services)
      of every person of a request not answered 202 and of every fifth one of the others, written
      to OUT; each must agree with the verdicts the store holds as notified (the eligibility
      table): the engine holds nothing of a batch that was not stored.
  faults_check.py same A B
      two such files hold the same verdicts (the running engine and a fresh rebuild).
  faults_check.py audit LOG DIR DB
      the audit log in DIR lost nothing while it could not be written: every record of a request
      answered 202 is named by a push entry, every message the store holds as delivered by a
      delivery entry, and each audit.write_failed entry is followed by as many entries as it says
      it held, before the next checkpoint."""
import collections
import datetime
import http.client
import json
import os
import sqlite3
import ssl
import sys


def requests(log):
    """The requests of the load, each with its last answer: {(client, batch): line}."""
    last = {}
    for raw in open(log):
        line = json.loads(raw)
        last[(line["client"], line["batch"])] = line
    return last


def stored_counts(db):
    con = sqlite3.connect(db)
    return collections.Counter(r[0] for r in con.execute("SELECT source_message_id FROM records"))


def check_store(log, db):
    reqs, stored = requests(log), stored_counts(db)
    acked = [s for line in reqs.values() if line["status"] == 202 for s in line["sources"]]
    missing = [s for s in acked if stored.get(s, 0) == 0]
    twice = [s for s, n in stored.items() if n > 1]
    half = [k for k, line in reqs.items() if 0 < sum(1 for s in line["sources"] if stored.get(s)) < len(line["sources"])]
    refused_stored = [k for k, line in reqs.items() if line["status"] != 202 and all(stored.get(s) for s in line["sources"])]
    answers = collections.Counter(json.loads(raw)["status"] for raw in open(log))
    print("answers %s; records acknowledged %d, missing %d, stored twice %d; batches %d, half stored %d; "
          "refused at the last try but stored whole %d" % (dict(answers), len(acked), len(missing), len(twice),
                                                           len(reqs), len(half), len(refused_stored)))
    for what, v in (("missing", missing), ("stored twice", twice), ("half stored", half)):
        if v:
            print("FAIL: %s: %s" % (what, v[:5]))
    return not (missing or twice or half) and acked


def engine(log, db, address, ca, cert, key, out):
    reqs = requests(log)
    persons = []
    for i, line in enumerate(sorted(reqs.values(), key=lambda l: (l["client"], l["batch"]))):
        if line["status"] != 202 or i % 5 == 0:
            persons.extend(line["persons"])
    tls = ssl.create_default_context(cafile=ca)
    tls.load_cert_chain(cert, key)
    tls.check_hostname = False
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=tls, timeout=30)
    con = sqlite3.connect(db)
    notified = collections.defaultdict(list)
    for p, s, since in con.execute(
            "SELECT person, service, since FROM eligibility WHERE eligible = 1 AND service = 'TJ-D5-01'"):
        notified[p].append("%s since %s" % (s, datetime.date(1970, 1, 1) + datetime.timedelta(days=since)))
    verdicts, disagree = {}, []
    for p in persons:
        conn.request("GET", "/v1/persons/%s/eligibility" % p)
        r = conn.getresponse()
        body = json.loads(r.read())
        mine = sorted("%s since %s" % (s["service"], s.get("since")) for s in body.get("eligible", [])
                      if s["service"] == "TJ-D5-01")
        verdicts[p] = mine
        if mine != sorted(notified.get(p, [])):
            disagree.append((p[:6] + "********" + p[-4:], mine))
    json.dump(verdicts, open(out, "w"), sort_keys=True)
    print("persons %d, eligible %d, disagreeing with the notified verdicts %d" %
          (len(verdicts), sum(1 for v in verdicts.values() if v), len(disagree)))
    for d in disagree[:5]:
        print("FAIL: the engine's verdicts differ from the store's:", d)
    return not disagree


def same(a, b):
    x, y = json.load(open(a)), json.load(open(b))
    diff = [p for p in x if x[p] != y.get(p)]
    print("persons %d, verdicts differing after the rebuild %d" % (len(x), len(diff)))
    return x.keys() == y.keys() and not diff


def chain(directory):
    entries = []
    for name in sorted(f for f in os.listdir(directory) if f.startswith("audit-")):
        entries.extend(json.loads(l) for l in open(os.path.join(directory, name)))
    return entries


def held_written(entries):
    """Each write_failed entry with the entries written after it up to the next checkpoint."""
    out = []
    for i, e in enumerate(entries):
        if e["kind"] == "admin" and e["fields"].get("action") == "audit.write_failed":
            n = 0
            while i + 1 + n < len(entries) and entries[i + 1 + n]["kind"] != "checkpoint":
                n += 1
            out.append((e["fields"], n))
    return out


def audit(log, directory, db):
    entries = chain(directory)
    pushed = collections.Counter(m for e in entries if e["kind"] == "push" for m in e["fields"]["message_ids"])
    reported = {e["fields"]["event_id"] for e in entries
                if e["kind"] == "delivery" and e["fields"]["outcome"] == "delivered"}
    acked = [m for line in requests(log).values() if line["status"] == 202 for m in line["message_ids"] if m]
    unaudited = [m for m in acked if not pushed.get(m)]
    con = sqlite3.connect(db)
    delivered = [r[0] for r in con.execute("SELECT event_id FROM outbox WHERE state = 'delivered'")]
    unreported = [d for d in delivered if d not in reported]
    failures = held_written(entries)
    short = [(f, n) for f, n in failures if n != f["held"]]
    print("entries %d; records acknowledged %d, without a push entry %d; messages delivered %d, without a delivery "
          "entry %d; write failures recorded %d, held entries %s" %
          (len(entries), len(acked), len(unaudited), len(delivered), len(unreported), len(failures),
           [(f["held"], f["lost"], n) for f, n in failures]))
    for what, v in (("no push entry", unaudited), ("no delivery entry", unreported), ("held entries missing", short)):
        if v:
            print("FAIL: %s: %s" % (what, v[:5]))
    return failures and not (unaudited or unreported or short)


def main():
    what, args = sys.argv[1], sys.argv[2:]
    ok = {"store": check_store, "engine": engine, "same": same, "audit": audit}[what](*args)
    sys.exit(0 if ok else 1)


main()
