#!/usr/bin/env python3
"""A steady load of pushes for the fault tests (tests/cli/test_store_faults.sh, test_audit_faults.sh):
CLIENTS senders, each on its own kept-alive HTTPS connection with the health commission's
certificate, push canonical person registrations, RECORDS new persons a request (one request, one
batch), until STOP exists.  Every person is new (a valid GB 11643 ID number of their own, a third
of them 65 or older, so notices are routed to the health commission), and so is every source
message id.  A request answered 503 or 429 is sent again unchanged (the same ids) after its
Retry-After (at most 0.3 s: the test must not wait long), at most TRIES times in all; then it is
given up.  One JSON line per answer goes to LOG:
{"client", "batch", "try", "status", "retry_after", "rule", "sources" (the source message ids),
 "persons", "outcomes" (each record's outcome on a 202), "message_ids", "t" (seconds since start)}.
usage: push_load.py HOST:PORT CA CERT KEY LOG STOP CLIENTS RECORDS [TRIES] [FIRST]
FIRST numbers the first client (0): a second load numbered after the first pushes other persons
under other ids."""
import datetime
import http.client
import json
import os
import ssl
import sys
import threading
import time

W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_number(birth, seq):
    body = "120101" + birth.strftime("%Y%m%d") + "%03d" % seq
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, W)) % 11]


def person(n):
    """The n-th person of the load: a distinct (birth date, sequence) pair, every third one old."""
    base = datetime.date(1930, 1, 1) if n % 3 == 0 else datetime.date(1980, 1, 1)
    return id_number(base + datetime.timedelta(days=n // 1000 % 5000), n % 1000)


def document(client, batch, records):
    docs, sources, persons = [], [], []
    for i in range(records):
        n = client * 500000 + batch * records + i
        idn, src = person(n), "L-%d-%d-%d" % (client, batch, i)
        birth = datetime.date(int(idn[6:10]), int(idn[10:12]), int(idn[12:14]))
        docs.append({"kind": "person_registration", "source": {"department": "health", "message_id": src},
                     "persons": [{"id_number": idn, "name": "测试", "sex": "1" if int(idn[16]) % 2 else "2", "birth_date": birth.isoformat(),
                                  "hukou_region": "120101", "hukou_type": "1", "residence_region": "120101"}],
                     "facts": []})
        sources.append(src)
        persons.append(idn)
    return json.dumps(docs, ensure_ascii=False).encode(), sources, persons


class Sender(threading.Thread):
    def __init__(self, shared, client):
        super().__init__(daemon=True)
        self.s, self.client, self.conn = shared, client, None

    def connect(self):
        host, port = self.s["address"].rsplit(":", 1)
        self.conn = http.client.HTTPSConnection(host, int(port), context=self.s["tls"], timeout=30)

    def post(self, body):
        for _ in range(3):  # a connection the gateway closed (its timeout) is opened again
            try:
                if self.conn is None:
                    self.connect()
                self.conn.request("POST", "/v1/records", body, {"Content-Type": "application/vnd.msgw.canonical+json"})
                r = self.conn.getresponse()
                return r.status, r.getheader("Retry-After"), r.read()
            except (OSError, http.client.HTTPException):
                self.conn = None
        return 0, None, b""

    def run(self):
        s, batch = self.s, 0
        while not os.path.exists(s["stop"]):
            body, sources, persons = document(self.client, batch, s["records"])
            for attempt in range(1, s["tries"] + 1):
                status, retry, raw = self.post(body)
                try:
                    answer = json.loads(raw)
                except ValueError:
                    answer = {}
                line = {"client": self.client, "batch": batch, "try": attempt, "status": status,
                        "retry_after": retry, "rule": (answer.get("errors") or [{}])[0].get("rule"),
                        "sources": sources, "persons": persons, "t": round(time.monotonic() - s["t0"], 3)}
                if status == 202:
                    line["outcomes"] = [r.get("outcome") for r in answer.get("records", [])]
                    line["message_ids"] = [r.get("message_id") for r in answer.get("records", [])]
                with s["lock"]:
                    s["log"].write(json.dumps(line) + "\n")
                    s["log"].flush()
                if status not in (429, 503) or os.path.exists(s["stop"]):
                    break
                time.sleep(min(float(retry or 1), 0.3))
            batch += 1


def main():
    address, ca, cert, key, log, stop, clients, records = sys.argv[1:9]
    tries = int(sys.argv[9]) if len(sys.argv) > 9 else 3
    tls = ssl.create_default_context(cafile=ca)
    tls.load_cert_chain(cert, key)
    tls.check_hostname = False
    shared = {"address": address, "tls": tls, "stop": stop, "records": int(records), "tries": tries,
              "lock": threading.Lock(),
              "log": open(log, "a"), "t0": time.monotonic()}
    first = int(sys.argv[10]) if len(sys.argv) > 10 else 0
    senders = [Sender(shared, first + c) for c in range(int(clients))]
    for t in senders:
        t.start()
    for t in senders:
        t.join()


main()
