#!/usr/bin/env python3
"""Clients that trickle, for test_slow_clients.sh (issue 16 §4, docs/ingress.md "Connections").

usage: slow_client.py MODE PORT PKI [ARGS...]

  handshake N          N connections trickle a real TLS ClientHello, one byte every 0.2 s
  headers N            N connections finish the handshake, then trickle header bytes, 0.2 s apart
  body N               N connections send whole headers (Content-Length 100000), then 10 bytes
                       every 0.2 s (50 bytes/s)
  steady FILE MEDIA RATE
                       one push of FILE padded with spaces to 9000 bytes, its body sent at RATE
                       bytes a second: prints the status
  hold DEPT N SOURCE   N connections from address SOURCE as DEPT, each makes one GET and stays
                       open; prints each status (or "refused" when the handshake is refused), then
                       waits for stdin to close

Tricklers print one line each when the gateway closes their connection: "closed AFTER_S SENT".
A trickler the gateway never closes would run forever: the test's timeout ends it, a failure.
"""
import os
import socket
import ssl
import sys
import threading
import time

mode, port, pki = sys.argv[1], int(sys.argv[2]), sys.argv[3]
args = sys.argv[4:]
HOST = "127.0.0.1"
PRINT = threading.Lock()  # one whole line per trickler


def say(line):
    with PRINT:
        print(line, flush=True)


def context(dept="mca"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(pki, "ca.crt"))
    ctx.load_cert_chain(os.path.join(pki, dept + ".crt"), os.path.join(pki, dept + ".key"))
    ctx.check_hostname = False
    return ctx


def tls(dept="mca", source=None):
    raw = socket.create_connection((HOST, port), source_address=(source, 0) if source else None)
    return context(dept).wrap_socket(raw, server_hostname="localhost")


def report(start, sent):
    say("closed %.1f %d" % (time.monotonic() - start, sent))


GIVE_UP_S = 60  # far beyond every deadline the test configures: a connection still open is a failure


def trickle(sock, data, every, start):
    """Sends data one slice at a time until the peer closes; reports when it does."""
    sent = 0
    try:
        while time.monotonic() - start < GIVE_UP_S and not closed(sock):
            if sent < len(data):
                sock.sendall(data[sent:sent + every])
                sent += len(data[sent:sent + every])
            time.sleep(0.2)
    except (OSError, ssl.SSLError):
        pass
    if time.monotonic() - start >= GIVE_UP_S:
        say("never closed %d" % sent)
    else:
        report(start, sent)


def closed(sock):
    """Whether the peer has closed (an EOF or an error is readable), without blocking."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    except (OSError, ssl.SSLError):
        return True
    finally:
        sock.setblocking(True)


def client_hello():
    """The bytes of a real ClientHello with this client's context."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = context().wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def handshake_trickler():
    start = time.monotonic()
    s = socket.create_connection((HOST, port))
    trickle(s, client_hello(), 1, start)


def header_trickler():
    start = time.monotonic()
    s = tls()
    head = b"POST /v1/records HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n" + b"X-Slow: " + b"a" * 4000
    trickle(s, head, 1, start)


def body_trickler():
    start = time.monotonic()
    s = tls()
    s.sendall(b"POST /v1/records HTTP/1.1\r\nHost: localhost\r\n"
              b"Content-Type: application/vnd.msgw.canonical+json\r\nContent-Length: 100000\r\n\r\n")
    trickle(s, b" " * 100000, 10, start)


def many(fn, n):
    threads = [threading.Thread(target=fn) for _ in range(int(n))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def status_of(sock):
    """The status code of the answer read from sock."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return "eof"
        data += chunk
    return data.split(b" ", 2)[1].decode()


def steady(path, media, rate):
    body = open(path, "rb").read()
    body += b" " * (9000 - len(body))
    s = tls()
    s.sendall(b"POST /v1/records HTTP/1.1\r\nHost: localhost\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
              % (media.encode(), len(body)))
    piece = max(1, int(rate) // 5)  # five slices a second
    for i in range(0, len(body), piece):
        s.sendall(body[i:i + piece])
        time.sleep(0.2)
    print(status_of(s), flush=True)


def hold(dept, n, source):
    socks = []
    for _ in range(int(n)):
        try:
            s = tls(dept, source)
            s.sendall(b"GET /v1/persons/120101199001011234/eligibility HTTP/1.1\r\nHost: localhost\r\n\r\n")
            print(status_of(s), flush=True)
            socks.append(s)
        except (OSError, ssl.SSLError):
            print("refused", flush=True)
    sys.stdin.read()  # held until the test closes our stdin


if mode == "handshake":
    many(handshake_trickler, args[0])
elif mode == "headers":
    many(header_trickler, args[0])
elif mode == "body":
    many(body_trickler, args[0])
elif mode == "steady":
    steady(*args)
elif mode == "hold":
    hold(*args)
else:
    sys.exit("unknown mode " + mode)
