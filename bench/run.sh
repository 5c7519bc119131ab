#!/usr/bin/env bash
# make bench: runs the decode, eligibility, daemon and cross-region forwarding benchmarks of a
# release build and keeps their tables.
#   ./bench/run.sh BUILD_DIR [bench_decode options...]   (with options: the decode benchmark only)
# BUILD_DIR must be a release build (meson setup BUILD_DIR --buildtype=release -Dtests=false);
# the table is printed and written to BUILD_DIR/bench-report.txt.  See docs/benchmarks.md.
set -euo pipefail

build=${1:?usage: bench/run.sh BUILD_DIR [bench_decode options]}
shift
bench="$build/bench/bench_decode"
if [ ! -x "$bench" ]; then
	echo "bench/run.sh: $bench not found; build it first: ninja -C $build" >&2
	exit 2
fi
buildtype=$(meson introspect --buildoptions "$build" 2>/dev/null |
	python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"))' \
	2>/dev/null || echo unknown)
if [ "$buildtype" != release ]; then
	echo "bench/run.sh: warning: $build is a '$buildtype' build; figures are meant for a release build" >&2
fi

report="$build/bench-report.txt"
# Progress goes to stderr; the table to stdout and the report file.
"$bench" --report "$report" "$@"
{
	echo
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'),"\
		"$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo); load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "build: $build ($buildtype), $(git -C "$(dirname "$0")/.." rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ)"
} | tee -a "$report"

# The eligibility engine (issue 3): every rule over 1M compact persons, the SQLite baseline,
# and a raise of the allowance standard over 10M persons through the parameter index.
if [ -x "$build/bench/bench_rules" ] && [ "${1:-}" = "" ]; then
	echo
	"$build/bench/bench_rules" --persons 1000000 --raise-persons 10000000 --runs 5 | tee -a "$report"
fi

# The daemon (issue 4 §11): msgw serve under load over ZeroMQ and HTTPS with full processing,
# push-to-delivery latency, and the baselines of the same run (nginx answering 202, raw libzmq);
# bench/daemon.sh appends its table to the report.  MSGW_BENCH_DAEMON=0 skips it.
if [ -x "$build/bench/loadgen" ] && [ "${1:-}" = "" ] && [ "${MSGW_BENCH_DAEMON:-1}" != 0 ]; then
	echo
	"$(dirname "$0")/daemon.sh" "$build"
fi

# The disclosure record and the audit verification against a log of a million entries, a push answered
# meanwhile (docs/benchmarks.md; about two minutes).  MSGW_BENCH_AUDIT_READS=0 skips it.
if [ "${1:-}" = "" ] && [ "${MSGW_BENCH_AUDIT_READS:-1}" != 0 ]; then
	echo
	"$(dirname "$0")/audit_reads.sh" "$build" --runs 3 | tee -a "$report"
fi

# Cross-region forwarding (issue 6 §7): three gateways peering on this machine, Tianjin's ingest and
# the envelopes it delivers to Hebei per second, push at Tianjin -> notice at Hebei p50 / p99, against
# the single gateway of the same rounds; bench/federation.sh appends its table to the report (about
# 4 minutes with 4 s runs).  MSGW_BENCH_FEDERATION=0 skips it.
if [ -x "$build/bench/loadgen" ] && [ "${1:-}" = "" ] && [ "${MSGW_BENCH_FEDERATION:-1}" != 0 ]; then
	echo
	"$(dirname "$0")/federation.sh" "$build" --seconds 4
fi
