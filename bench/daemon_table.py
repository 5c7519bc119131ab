#!/usr/bin/env python3
"""The daemon benchmark's table (bench/daemon.sh, docs/benchmarks.md): medians of the runs of each
measure from the JSON lines of bench/loadgen and bench/receiver --match, the baselines of the same
run beside them, the gateway's figure as a fraction of its baseline, and the issue's targets; with
runs on PostgreSQL (labels ending in -pg: bench/daemon.sh --stores sqlite,postgresql), a second
table sets them beside SQLite's of the same rounds, with the PostgreSQL server's CPU and writes.
usage: daemon_table.py RESULTS.jsonl [--runs N] [--seconds S] [--drain S] [--nginx VERSION] [--postgresql VERSION]"""
import argparse
import json
import statistics


def fmt(x, digits=0):
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--drain", type=float, default=60)
    ap.add_argument("--nginx", default="nginx")
    ap.add_argument("--postgresql", default="")
    a = ap.parse_args()
    rows = [json.loads(line) for line in open(a.results) if line.strip()]
    by = {}
    for r in rows:
        by.setdefault(r["label"], []).append(r)

    def med(label, key="records_per_s"):
        v = [r[key] for r in by.get(label, [])]
        return statistics.median(v) if v else None

    def runs(label, key="records_per_s"):
        return ", ".join(fmt(r[key]) for r in by.get(label, [])) or "–"

    def flags(label):
        """Anything that makes a run's figure suspect: non-202 answers, duplicates, losses, a short run."""
        bad = []
        for r in by.get(label, []):
            if r.get("status_other"):
                bad.append(f"{r['status_other']} not 202")
            if r.get("duplicate"):
                bad.append(f"{r['duplicate']} duplicates")
            if r.get("lost"):
                bad.append(f"{r['lost']} unanswered")
            if r.get("exhausted"):
                bad.append("ran out of records")
        return "; ".join(sorted(set(bad)))

    def target(value, goal, more=True):
        if value is None:
            return f"{fmt(goal)}: not measured"
        met = value >= goal if more else value < goal
        return f"{'≥' if more else '<'} {fmt(goal)}: {'met' if met else 'missed'}"

    print(f"Daemon benchmark (issue 4 §11): medians of {a.runs} runs of {a.seconds:g} s, a fresh daemon and store "
          "for each run; baselines measured in the same rounds")
    print()
    print("| measure | gateway | baseline | gateway / baseline | target |")
    print("|---|---:|---:|---:|---|")
    measures = [
        ("ZeroMQ (CURVE), 1 record per request, window 64: records/s", "zmq1-gateway", "zmq1-echo",
         "libzmq echo", 50000),
        ("ZeroMQ (CURVE), 100 records per request, window 8: records/s", "zmq100-gateway", "zmq100-echo",
         "libzmq echo", 50000),
        ("HTTPS, mutual TLS, keep-alive, 16 connections, 1 record per request: requests/s", "https-gateway",
         "https-nginx", a.nginx, 10000),
    ]
    notes = []
    for name, gw, base, base_name, goal in measures:
        g, b = med(gw), med(base)
        frac = f"{100 * g / b:.1f} %" if g is not None and b else "–"
        print(f"| {name} | {fmt(g)} | {fmt(b)} ({base_name}) | {frac} | {target(g, goal)} |")
        notes.append(f"{gw}: {runs(gw)} records/s; {base}: {runs(base)}")
        for label in (gw, base):
            if flags(label):
                notes.append(f"{label}: {flags(label)}")
    def share(label, key):
        v = [100 * r.get(key, 0) / r["elapsed_s"] for r in by.get(label, []) if r.get("elapsed_s")]
        return f"{statistics.median(v):.0f} %" if v else "–"
    cpu = [f"{label} server {share(label, 'server_cpu_s')}, load generator {share(label, 'cpu_s')}"
           for label in ("zmq1-gateway", "zmq1-echo", "zmq100-gateway", "zmq100-echo", "https-gateway", "https-nginx")
           if label in by]
    if cpu:
        notes.append("CPU time during the runs, as a share of one core (medians): " + "; ".join(cpu))
    def per_record(label):
        v = [1e6 * r["server_write_mb"] / r["records_acked"] for r in by.get(label, [])
             if r.get("server_write_mb") and r.get("records_acked")]
        return f"{statistics.median(v) / 1024:.1f} KiB" if v else None
    written = [f"{label} {per_record(label)}" for label in ("zmq1-gateway", "zmq100-gateway", "https-gateway")
               if per_record(label)]
    if written:
        notes.append("written to storage by the daemon per record (medians): " + "; ".join(written))
    r100 = med("zmq100-gateway", "requests_per_s")
    if r100 is not None:
        notes.append(f"zmq100-gateway: {fmt(r100, 1)} requests/s")
    mem = by.get("memory", [{}])[0]
    if mem.get("rss_mb"):
        rss, t = mem["rss_mb"], mem["t_s"]
        steady = [r for r, s in zip(rss, t) if s >= 10] or rss
        notes.append(f"memory: resident size of the daemon over {fmt(t[-1])} s of ZeroMQ, 100 records per request, "
                     f"on a fixed population ({fmt(mem['population'])} records' persons, then the same records "
                     f"under new ids; {fmt(mem.get('records_per_s'))} records/s): "
                     + ", ".join(f"{fmt(r)} MB at {fmt(s)} s" for r, s in zip(rss, t))
                     + f"; from 10 s to the end {fmt(min(steady))}–{fmt(max(steady))} MB"
                     + (f"; the engine compacted {fmt(mem['compactions'])} times" if "compactions" in mem else ""))
    flag = by.get("flag-sustained", [{}])[0]
    if flag.get("records_per_s"):
        notes.append(f"flag-sustained: the gateway takes {fmt(flag['records_per_s'])} flagging records/s "
                     f"(closed loop, window 64; {fmt(flag.get('messages', 0))} messages caused); the latency "
                     "run offers half of that")
    for label, what in (("latency-half", "half the sustained rate of the same records"), ("latency-low", "a low rate")):
        push = by.get(label, [{}])[0]
        d = by.get(label + "-delivery", [{}])[0]
        if not d:
            continue
        lat = d["latency_ms"]
        p50, p99 = lat["p50"], lat["p99"]

        def ms(x):
            return f"> {a.drain:g} s (not delivered)" if x is None else f"{x:,.1f} ms"
        goal = ("< 20 ms: met" if p99 is not None and p99 < 20 else "< 20 ms: missed") if label == "latency-half" else ""
        achieved = push.get("records_per_s")
        behind = f", {fmt(achieved)}/s achieved" if achieved and achieved < 0.95 * d.get("rate", 0) else ""
        print(f"| push → eligibility notice delivered, {fmt(d.get('rate'))} records/s offered ({what}{behind}): "
              f"p50 / p99 | {ms(p50)} / {ms(p99)} | | | {'p99 ' + goal if goal else ''} |")
        via = []
        for t in ("webhook", "zmq"):
            v = d.get(t + "_ms") or {}
            if v.get("notices"):
                via.append(f"{t} {ms(v['p50'])} / {ms(v['p99'])} ({v['notices']:,} notices)")
        if via:
            notes.append(f"{label}, delivered notices by transport, p50 / p99: " + "; ".join(via))
        notes.append(f"{label}: {push.get('records_acked', 0):,} records pushed at {fmt(push.get('records_per_s'))}/s "
                     f"(reply p50 {push.get('latency_ms', {}).get('p50', 0):.1f} ms, p99 "
                     f"{push.get('latency_ms', {}).get('p99', 0):.1f} ms), {d['notices']:,} notices delivered, "
                     f"{d['undelivered']:,} messages undelivered after the {a.drain:g} s drain, "
                     f"deliveries {fmt(d['delivered_per_s'])}/s, max {d['latency_ms']['max']:,.0f} ms")
    print()
    for n in notes:
        print(f"- {n}")
    if any(label.endswith("-pg") or label == "memory-pg" for label in by):
        stores_table(a, by, med, runs, flags, share)


def stores_table(a, by, med, runs, flags, share):
    """The lines run on both stores (bench/daemon.sh --stores sqlite,postgresql): each PostgreSQL
    median beside SQLite's of the same rounds, and what the PostgreSQL server itself cost."""
    print()
    print(f"One instance on SQLite, one on PostgreSQL{' ' + a.postgresql if a.postgresql else ''} "
          f"(fsync on, same host), the same load in the same rounds: medians of {a.runs} runs of {a.seconds:g} s")
    print()
    print("| measure | SQLite | PostgreSQL | PostgreSQL / SQLite |")
    print("|---|---:|---:|---:|")
    notes = []

    def row(name, s, p, digits=0, compare=True):
        ratio = f"{100 * p / s:.1f} %" if compare and s and p is not None else "–"
        print(f"| {name} | {fmt(s, digits)} | {fmt(p, digits)} | {ratio} |")

    for name, label in (("ZeroMQ, 1 record per request, window 64: records/s", "zmq1-gateway"),
                        ("ZeroMQ, 100 records per request, window 8: records/s", "zmq100-gateway"),
                        ("HTTPS, mutual TLS, 16 connections, 1 record per request: requests/s", "https-gateway"),
                        ("flagging records, closed loop, window 64: records/s", "flag-sustained")):
        pg = label + "-pg"
        if label not in by and pg not in by:
            continue
        row(name, med(label), med(pg))
        notes.append(f"{label}: {runs(label)}; {pg}: {runs(pg)}")
        for x in (label, pg):
            if flags(x):
                notes.append(f"{x}: {flags(x)}")
        if pg in by:
            notes.append(f"{label}, reply latency p50 / p99 (medians): SQLite {_pcts(by, label)}; "
                         f"PostgreSQL {_pcts(by, pg)}")
    for base, what in (("latency-half", "half the sustained rate"), ("latency-low", "100 records/s")):
        s, p = by.get(base + "-delivery", [{}])[0], by.get(base + "-pg-delivery", [{}])[0]
        if not s and not p:
            continue
        for q in ("p50", "p99"):  # at half of each store's own rate: not the same load, no ratio
            row(f"push → notice delivered at {what} "
                f"({fmt(s.get('rate'))} / {fmt(p.get('rate'))} records/s): {q}, ms",
                (s.get("latency_ms") or {}).get(q), (p.get("latency_ms") or {}).get(q), 1,
                s.get("rate") == p.get("rate"))
        if p:
            notes.append(f"{base}-pg: {p['notices']:,} notices delivered, {p['undelivered']:,} messages undelivered "
                         f"after the {a.drain:g} s drain")
    for label in ("memory", "memory-pg"):
        m = by.get(label, [{}])[0]
        if m.get("rss_mb"):
            steady = [r for r, t in zip(m["rss_mb"], m["t_s"]) if t >= 10] or m["rss_mb"]
            notes.append(f"{label}: the daemon's resident size from 10 s to the end {fmt(min(steady))}–"
                         f"{fmt(max(steady))} MB at {fmt(m.get('records_per_s'))} records/s")

    def per_record(label, key):
        v = [1e6 * r[key] / r["records_acked"] for r in by.get(label, [])
             if r.get(key) is not None and r.get("records_acked")]
        return f"{statistics.median(v) / 1024:.1f} KiB" if v else "–"
    for label in ("zmq1-gateway", "zmq100-gateway", "https-gateway", "flag-sustained"):
        pg = label + "-pg"
        if pg not in by:
            continue
        notes.append(f"{label}, CPU as a share of one core (medians): SQLite: daemon {share(label, 'server_cpu_s')}, "
                     f"load generator {share(label, 'cpu_s')}; PostgreSQL: daemon {share(pg, 'server_cpu_s')}, "
                     f"PostgreSQL server {share(pg, 'pg_cpu_s')}, load generator {share(pg, 'cpu_s')}; written to "
                     f"storage per record: SQLite {per_record(label, 'server_write_mb')} (daemon), PostgreSQL "
                     f"{per_record(pg, 'pg_write_mb')} (server) + {per_record(pg, 'server_write_mb')} (daemon)")
    print()
    for n in notes:
        print(f"- {n}")


def _pcts(by, label):
    v = [r["latency_ms"] for r in by.get(label, []) if r.get("latency_ms")]
    if not v:
        return "–"
    return f"{statistics.median(x['p50'] for x in v):,.1f} / {statistics.median(x['p99'] for x in v):,.1f} ms"


if __name__ == "__main__":
    main()
