#!/usr/bin/env bash
# A throwaway Ceph RADOS Gateway (a real S3 server) for odofs's tests.
#
#   tests/rgw/rgw.sh start DIR [PORT]   one mon, one OSD (memstore), radosgw
#                                       (beast) on 127.0.0.1:PORT; prints
#                                       "endpoint http://127.0.0.1:PORT"
#   tests/rgw/rgw.sh stop DIR           stops the daemons recorded in DIR/pids
#
# DIR must be missing or empty at start; everything (config, data, logs,
# PIDs) stays in it: nothing in /etc/ceph or /var/lib/ceph, no systemd.
# Run as root. The S3 user's keys come from RGW_ACCESS_KEY / RGW_SECRET_KEY
# (required). RGW_TIMEOUT bounds the whole start (default 240 s); RGW_MEMSTORE
# is the OSD's capacity in bytes (default 8 GiB, held in RAM as it fills).
# Needs Debian 12's ceph-mon ceph-osd radosgw ceph-common, and curl >= 7.75.
set -u

say() { echo "rgw.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# Is PID $1 alive (not a zombie) and running program $2?
runs() {
	local state
	[ -n "$1" ] || return 1
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	case $state in Z | X | "") return 1 ;; esac
	[ "$(basename "$(readlink "/proc/$1/exe" 2>/dev/null)")" = "$2" ]
}

stop() {
	local dir=$1 prog pid n
	[ -f "$dir/pids" ] || return 0
	# Gateway first, then the OSD, then the mon.
	for prog in radosgw ceph-osd ceph-mon; do
		pid=$(awk -v p="$prog" '$1 == p { print $2 }' "$dir/pids")
		runs "$pid" "$prog" || continue
		kill -TERM "$pid"
		for n in $(seq 100); do runs "$pid" "$prog" || break; sleep 0.1; done
		if runs "$pid" "$prog"; then
			say "$prog ($pid) ignored SIGTERM for 10 s: SIGKILL"
			kill -KILL "$pid"
		fi
	done
	rm -f "$dir/pids"
}

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case ${1:-} in
stop)
	[ -n "${2:-}" ] || die "usage: $0 stop DIR"
	stop "$(readlink -f "$2")"
	exit 0
	;;
start) [ -n "${2:-}" ] || die "usage: $0 start DIR [PORT]" ;;
*) die "usage: $0 start DIR [PORT] | $0 stop DIR" ;;
esac

: "${RGW_ACCESS_KEY:?set RGW_ACCESS_KEY}" "${RGW_SECRET_KEY:?set RGW_SECRET_KEY}"
for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool curl; do
	command -v "$b" >/dev/null || die "$b missing (apt-get install ceph-mon ceph-osd radosgw ceph-common)"
done
mkdir -p "$2" && D=$(readlink -f "$2") || die "cannot create $2"
[ -z "$(ls -A "$D")" ] || die "$D is not empty"
PORT=${3:-$(free_port)}
MON_PORT=$(free_port)
FSID=$(cat /proc/sys/kernel/random/uuid)
T0=$SECONDS
DEADLINE=$((SECONDS + ${RGW_TIMEOUT:-240}))
mkdir -p "$D/log" "$D/run" "$D/mon.a" "$D/osd.0" "$D/rgw"
: >"$D/pids"
CONF=$D/ceph.conf
cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon host = v1:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
ms bind msgr2 = false
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
keyring = $D/keyring
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
log to stderr = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
osd crush chooseleaf type = 0
mon data avail warn = 1
mon data avail crit = 0

[mon]
mon data = $D/mon.\$id

[osd]
osd data = $D/osd.\$id
osd objectstore = memstore
memstore device bytes = ${RGW_MEMSTORE:-8589934592}
# With cephx off, the OSD's own CRUSH updates at boot are refused ("wrong
# fsid") and it exits: this script places osd.0 in the CRUSH map instead.
osd crush update on start = false
osd class update on start = false
osd op num shards = 1
osd op num threads per shard = 2

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw data = $D/rgw
rgw dynamic resharding = false
rgw enable usage log = false
# Deleted and overwritten data is freed only by the garbage collector
# (default: after 2 hours); with memstore it is RAM.
rgw gc obj min wait = 30
rgw gc processor period = 30
EOF

fail() {
	say "$*; logs in $D/log; stopping what was started"
	stop "$D"
	exit 1
}
# Start a daemon in the foreground of its own session; record its PID.
daemon() {
	local prog=$1
	shift
	setsid "$prog" -c "$CONF" -f "$@" </dev/null >>"$D/log/$prog.out" 2>&1 &
	echo "$prog $!" >>"$D/pids"
}
# Wait until a command succeeds, against the overall deadline.
until_ok() {
	local what=$1
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$DEADLINE" ] || fail "no $what after $((SECONDS - T0)) s"
		grep -q . "$D/log/exited" 2>/dev/null && fail "a daemon exited: $(cat "$D/log/exited")"
		sleep 0.2
	done
}
cephc() { timeout 20 ceph -c "$CONF" --connect-timeout 10 "$@"; }
alive() { # every daemon started so far still runs
	local prog pid
	while read -r prog pid; do runs "$pid" "$prog" || { echo "$prog" >"$D/log/exited"; return 1; }; done <"$D/pids"
}

# The monitor.
monmaptool --create --fsid "$FSID" --addv a "[v1:127.0.0.1:$MON_PORT]" "$D/monmap" >"$D/log/mkfs.out" 2>&1 &&
	ceph-mon -c "$CONF" --mkfs -i a --monmap "$D/monmap" >>"$D/log/mkfs.out" 2>&1 || fail "mon mkfs failed"
daemon ceph-mon -i a
mon_up() { alive && cephc mon stat; }
until_ok "monitor" mon_up

# The OSD, placed in the CRUSH map by hand (see above). A mon command can
# fail now and then ("problem getting command descriptions from mon") on a
# busy machine: each is retried (they are idempotent) until the deadline.
mon_cmd() { cephc "$@" >>"$D/log/mkfs.out" 2>&1; }
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
osd_new() { [ "$(cephc osd new "$OSD_UUID" 2>>"$D/log/mkfs.out")" = 0 ]; }
until_ok "osd.0 from 'ceph osd new'" osd_new
until_ok "CRUSH host" mon_cmd osd crush add-bucket localhost host
until_ok "CRUSH host under the root" mon_cmd osd crush move localhost root=default
until_ok "osd.0 in the CRUSH map" mon_cmd osd crush add osd.0 1.0 host=localhost
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" >>"$D/log/mkfs.out" 2>&1 || fail "osd mkfs failed"
daemon ceph-osd -i 0
osd_up() { alive && cephc osd dump | grep -q '^osd\.0 up'; }
until_ok "osd.0 up" osd_up

# The gateway: its first start creates the default zone and its pools.
daemon radosgw -n client.rgw.a
answers() { alive && curl -s -o /dev/null --max-time 10 "http://127.0.0.1:$PORT/"; }
until_ok "S3 answer on 127.0.0.1:$PORT" answers
radosgw-admin -c "$CONF" user create --uid=test --display-name=test \
	--access-key="$RGW_ACCESS_KEY" --secret-key="$RGW_SECRET_KEY" >"$D/log/user.out" 2>&1 ||
	fail "radosgw-admin user create failed: $(tail -2 "$D/log/user.out")"
# A signed ListBuckets. RGW wants x-amz-content-sha256, which curl's
# --aws-sigv4 does not add (here: the hash of an empty body).
signed_ok() {
	alive && curl -sf -o /dev/null --max-time 10 --aws-sigv4 "aws:amz:us-east-1:s3" \
		-u "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
		"http://127.0.0.1:$PORT/"
}
until_ok "signed S3 answer on 127.0.0.1:$PORT" signed_ok
say "up in $((SECONDS - T0)) s"
echo "endpoint http://127.0.0.1:$PORT"
