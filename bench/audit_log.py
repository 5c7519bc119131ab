#!/usr/bin/env python3
"""A year's audit log, made up: N entries in segments of 10,000, chained and checkpointed as the
gateway does it (docs/audit.md "Format"), for bench/audit_reads.sh.

    bench/audit_log.py DIR N PERSON_MASKED KEY CERT

Pushes and deliveries about 50,000 made-up people (masked as the gateway masks them), one delivery
in 2,000 about PERSON_MASKED. A checkpoint signed with KEY (openssl) opens each segment and follows
every 1,000 entries, so the log verifies with CERT.
"""
import base64
import hashlib
import json
import os
import random
import subprocess
import sys

SEGMENT = 10000


def canonical(entry):
    return json.dumps(entry, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def masked(n):
    return "1201%02d********%03d%s" % (n % 17, n % 1000, "X" if n % 11 == 0 else str(n % 10))


def fields(seq, rnd, person):
    if seq % 2000 == 0:
        return "delivery", {"event_id": "ev-%d" % seq, "recipient": "hrss", "person": person,
                            "outcome": "delivered", "kind": "record", "transport": "webhook",
                            "attempts": 1}
    if seq % 3:
        return "delivery", {"event_id": "ev-%d" % seq, "recipient": rnd.choice(["mca", "hrss", "cdpf"]),
                            "person": masked(rnd.randrange(50000)), "outcome": "delivered",
                            "kind": "eligibility", "transport": "webhook", "attempts": 1}
    return "push", {"sender": "mca", "request": "req-%d" % seq, "records": 100, "stored": 100,
                    "duplicates": 0, "rejected": 0, "body_sha256": hashlib.sha256(b"%d" % seq).hexdigest()}


def checkpoint(seq, time, prev, key, fp):
    msg = "msgw-audit-checkpoint v1\nseq %d\ntime %s\nprev %s\n" % (seq, time, prev)
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=msg.encode(),
                         capture_output=True, check=True).stdout
    return "checkpoint", {"cert_sha256": fp, "signature": base64.b64encode(sig).decode(), "covers": seq - 1}


def main():
    out, n, person, key, cert = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "der"], capture_output=True,
                         check=True).stdout
    fp = hashlib.sha256(der).hexdigest()
    os.makedirs(out, mode=0o700, exist_ok=True)
    rnd = random.Random(7)
    prev = "0" * 64
    f = None
    for seq in range(1, n + 1):
        time = "2026-%02d-%02dT08:00:00.000000Z" % (1 + seq * 12 // (n + 1), 1 + seq % 28)
        if (seq - 1) % SEGMENT == 0:
            if f:
                f.close()
            f = open(os.path.join(out, "audit-%06d.jsonl" % ((seq - 1) // SEGMENT + 1)), "w")
        if (seq - 1) % 1000 == 0:
            kind, flds = checkpoint(seq, time, prev, key, fp)
        else:
            kind, flds = fields(seq, rnd, person)
        entry = {"seq": seq, "time": time, "kind": kind, "fields": flds, "prev": prev}
        entry["hash"] = prev = hashlib.sha256(canonical(entry).encode()).hexdigest()
        f.write(canonical(entry) + "\n")
    f.close()


if __name__ == "__main__":
    main()
