#!/usr/bin/env python3
"""A department's webhook receiver for the delivery tests: HTTPS that requires a client
certificate from the given CA, answers every POST with STATUS (STATUS:N: the first N requests
only, then 200; STATUS:Ns: for its first N seconds, then 200 — a receiver that was down and came
back; refuse-odd: a peer gateway taking lists of envelopes, answering 200 with a result per
envelope, 403 envelope.signature for those whose message id ends in an odd digit, 202 for the
rest), and appends one JSON line per request
(event id, kind, media type, client certificate subject and SHA-256 fingerprint, body length) to LOG.  A list of notices
(X-Msgw-Notices: N, docs/eligibility.md "Several notices in one message") is parsed and logged as
one line per notice, with its id from the body, "list": N and "at": its place; a list whose count
or shape is wrong is logged with "event": "MALFORMED" (tests look for it).  With the environment's
MSGW_RECEIVER_BODIES=DIR each body is also kept, as DIR/N.body beside DIR/N.json (its headers).
usage: webhook_receiver.py CERT KEY CA STATUS LOG PORT_FILE"""
import hashlib
import http.server
import json
import os
import ssl
import sys
import threading
import time
import xml.etree.ElementTree as ET

cert, key, ca, status, log, port_file = sys.argv[1:7]
refuse_odd = status == "refuse-odd"
if refuse_odd:
    status = "200"
status, _, limit = status.partition(":")
status = int(status)
until = time.monotonic() + float(limit[:-1]) if limit.endswith("s") else None
failing = int(limit) if limit and until is None else -1
lock = threading.Lock()


def answer():
    """The status for the next request."""
    global failing
    with lock:
        if until is not None:
            return status if time.monotonic() < until else 200
        if failing < 0:
            return status
        if failing == 0:
            return 200
        failing -= 1
        return status


def local(tag):
    return tag.rsplit("}", 1)[-1]


def notice_ids(media_type, body):
    """The notice ids of a list document, in order (ValueError when it is not one)."""
    base = media_type.split(";")[0].strip()
    if base.endswith("+xml"):
        root = ET.fromstring(body)
        if local(root.tag) != "EligibilityNotices":
            raise ValueError("root " + root.tag)
        ids = []
        for n in root:
            found = [e.text for e in n.iter() if local(e.tag) in ("TZBH", "NoticeId")]
            if local(n.tag) != "EligibilityNotice" or len(found) != 1:
                raise ValueError("item " + n.tag)
            ids.append(found[0])
        return ids
    doc = json.loads(body)
    if base == "application/fhir+json":
        if doc.get("resourceType") != "Bundle" or doc.get("type") != "collection":
            raise ValueError("not a collection Bundle")
        return [i["value"] for e in doc["entry"] for i in e["resource"]["identifier"]
                if i.get("system") == "urn:msgw:eligibility-notice"]
    if not isinstance(doc, list):
        raise ValueError("not an array")
    return [n["notice_id"] if "notice_id" in n else n["noticeId"] for n in doc]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        peer = dict(x[0] for x in self.connection.getpeercert()["subject"])
        line = {"event": self.headers.get("X-Msgw-Event-Id"), "kind": self.headers.get("X-Msgw-Kind"),
                "type": self.headers.get("Content-Type"), "client": peer.get("organizationalUnitName"),
                "client_sha256": hashlib.sha256(self.connection.getpeercert(binary_form=True)).hexdigest(),
                "len": len(body)}
        lines = [line]
        count = self.headers.get("X-Msgw-Notices")
        if count is not None:
            try:
                ids = notice_ids(line["type"] or "", body)
                if len(ids) != int(count):
                    raise ValueError("%d notices, X-Msgw-Notices says %s" % (len(ids), count))
                lines = [dict(line, event=i, list=len(ids), at=k) for k, i in enumerate(ids)]
            except (ValueError, KeyError, TypeError, ET.ParseError) as e:
                lines = [dict(line, event="MALFORMED", error=str(e))]
        keep = os.environ.get("MSGW_RECEIVER_BODIES")
        if keep:
            with lock:
                n = len(os.listdir(keep)) // 2
                with open(os.path.join(keep, "%d.body" % n), "wb") as f:
                    f.write(body)
                with open(os.path.join(keep, "%d.json" % n), "w") as f:
                    json.dump(line, f)
        reply = b""
        if refuse_odd:
            lines, reply = self.envelopes(line, body)
        with open(log, "a") as f:
            for x in lines:
                f.write(json.dumps(x) + "\n")
        if refuse_odd:
            self.send_response(200 if reply else 400)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
            return
        self.send_response(answer())
        self.send_header("Content-Length", "0")
        self.end_headers()

    def envelopes(self, line, body):
        """A list of envelopes: a result per envelope (refuse-odd); b"" when it is not a list."""
        if self.headers.get("X-Msgw-Envelopes") is None:
            return [dict(line, event="NOT-A-LIST")], b""
        results, lines = [], []
        for k, env in enumerate(json.loads(body)):
            mid = env["envelope"]["message_id"]
            refused = mid[-1:].isdigit() and int(mid[-1]) % 2 == 1
            results.append({"status": 403, "answer": {"status": 403, "errors": [
                {"rule": "envelope.signature", "message": "refused by the test"}]}} if refused
                           else {"status": 202, "answer": {"status": 202}})
            lines.append(dict(line, event=mid, list=int(self.headers["X-Msgw-Envelopes"]), at=k,
                              status=results[-1]["status"]))
        return lines, json.dumps({"results": results}).encode()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.load_verify_locations(ca)
ctx.verify_mode = ssl.CERT_REQUIRED
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(port_file, "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
