#!/usr/bin/env python3
"""The daemon benchmark's table (bench/daemon.sh, docs/benchmarks.md): medians of the runs of each
measure from the JSON lines of bench/loadgen and bench/receiver --match, the baselines of the same
run beside them, the gateway's figure as a fraction of its baseline, and the issue's targets.
usage: daemon_table.py RESULTS.jsonl [--runs N] [--seconds S] [--drain S] [--nginx VERSION]"""
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


if __name__ == "__main__":
    main()
