#!/usr/bin/env python3
"""A department's webhook receiver for the delivery tests: HTTPS that requires a client
certificate from the given CA, answers every POST with STATUS (STATUS:N: the first N requests
only, then 200; STATUS:Ns: for its first N seconds, then 200 — a receiver that was down and came
back), and appends one JSON line per request
(event id, kind, media type, client certificate subject, body length) to LOG.
usage: webhook_receiver.py CERT KEY CA STATUS LOG PORT_FILE"""
import http.server
import json
import ssl
import sys
import threading
import time

cert, key, ca, status, log, port_file = sys.argv[1:7]
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


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        peer = dict(x[0] for x in self.connection.getpeercert()["subject"])
        with open(log, "a") as f:
            f.write(json.dumps({"event": self.headers.get("X-Msgw-Event-Id"), "kind": self.headers.get("X-Msgw-Kind"),
                                "type": self.headers.get("Content-Type"), "client": peer.get("organizationalUnitName"),
                                "len": len(body)}) + "\n")
        self.send_response(answer())
        self.send_header("Content-Length", "0")
        self.end_headers()

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
