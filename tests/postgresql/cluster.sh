#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the `postgresql` test suite: no system service, nothing left
# behind.  `cluster.sh run COMMAND [ARG...]` makes a temporary directory, initdb's a cluster into
# it (trust authentication, its superuser named after the user running the tests), starts it with
# its Unix socket in that directory and no TCP listener, runs COMMAND with MSGW_PG_HOST set to the
# socket directory, and stops the cluster and removes the directory when COMMAND ends, however it
# ends.  `cluster.sh start DIR` and `cluster.sh stop DIR` do the two halves on a directory of the
# caller's; start on a directory that holds a stopped cluster starts it again (a test's restart).
# `cluster.sh bin` prints the directory of the server's programs (createdb, dropdb, psql).
#
# The server runs with fsync off (-F): these tests prove what the store does, not that the disk
# keeps it, and a commit that waits for no fsync keeps the suite within its minute.  MSGW_PG_FSYNC=on
# in the environment of `start` (or `run`) drops -F, for whoever measures durable commits
# (bench/daemon.sh --stores postgresql); the tests leave it unset.  initdb and
# the server refuse to run as root: as root they run as the `postgres` user (the Debian package
# makes it), else `nobody`.  Without the server's programs (the `postgresql` package) the tests
# are skipped (exit 77) with a line that says so.
set -uo pipefail

# The newest installed server's programs: Debian keeps them in /usr/lib/postgresql/VERSION/bin,
# off the PATH.
bindir() {
	local d best=
	for d in /usr/lib/postgresql/*/bin; do
		[[ -x $d/initdb && -x $d/pg_ctl ]] && best=$d
	done
	if [[ -z $best ]] && command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
		best=$(dirname "$(command -v initdb)")
	fi
	[[ -n $best ]] && echo "$best"
}

# The user the server runs as: the caller, or an unprivileged one when the caller is root.
owner() {
	if [[ $(id -u) != 0 ]]; then id -un
	elif id -u postgres >/dev/null 2>&1; then echo postgres
	else echo nobody; fi
}

# Runs a server program as owner, from dir (the owner may not be able to read the caller's).
as_owner() {
	local dir=$1
	shift
	if [[ $(id -u) == 0 ]]; then (cd "$dir" && runuser -u "$(owner)" -- "$@")
	else (cd "$dir" && "$@"); fi
}

skip_unless_installed() {
	bin=$(bindir) || {
		echo "SKIP: PostgreSQL's server programs (initdb, pg_ctl) are not installed: install the" \
			"postgresql package (apt-get install postgresql libpq-dev; the Makefile's DEBIAN_PACKAGES)"
		exit 77
	}
}

start() {
	local dir=$1
	skip_unless_installed
	[[ $(id -u) == 0 ]] && chown "$(owner)" "$dir"
	chmod 700 "$dir"
	[[ -f $dir/data/PG_VERSION ]] || make_cluster "$dir" || return 1
	local nofsync=-F
	[[ ${MSGW_PG_FSYNC:-off} == on ]] && nofsync=
	if ! as_owner "$dir" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-k $dir -c listen_addresses='' $nofsync" start >/dev/null; then
		echo "cluster.sh: the server did not start:"
		cat "$dir/server.log"
		return 1
	fi
}

make_cluster() {
	local dir=$1
	if ! as_owner "$dir" "$bin/initdb" -D "$dir/data" -A trust -U "$(id -un)" -E UTF8 --locale=C \
		--no-sync >"$dir/initdb.log" 2>&1; then
		echo "cluster.sh: initdb failed:"
		cat "$dir/initdb.log"
		return 1
	fi
}

stop() {
	local dir=$1
	skip_unless_installed
	[[ -f $dir/data/postmaster.pid ]] || return 0
	as_owner "$dir" "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
}

case ${1:-} in
start) start "${2:?start DIR}" ;;
stop) stop "${2:?stop DIR}" ;;
bin) skip_unless_installed; echo "$bin" ;;
run)
	shift
	[[ $# -gt 0 ]] || { echo "usage: cluster.sh run COMMAND [ARG...]"; exit 2; }
	skip_unless_installed
	dir=$(mktemp -d /tmp/msgw-pg.XXXXXX)
	trap 'stop "$dir"; rm -rf "$dir"' EXIT
	start "$dir" || exit 1
	MSGW_PG_HOST=$dir MSGW_PG_BIN=$bin "$@"
	;;
*)
	echo "usage: cluster.sh run COMMAND [ARG...] | start DIR | stop DIR | bin"
	exit 2
	;;
esac
