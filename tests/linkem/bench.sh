#!/usr/bin/env bash
# Measures linkem's ceiling on this machine: a 256 MiB file served by
# blobserve (sendfile) and fetched with curl, directly and through linkem with
# each profile, as 1 stream and as 16 parallel range GETs of 16 MiB.
#
#   bash tests/linkem/bench.sh [BUILDDIR]   (default: build-linkem)
#
# Env: SIZE_MIB (256), RUNS (3; the best run is printed), PROFILES
# ("direct none region wan"). Prints one line per case, in MB/s (decimal).
# A benchmark: it prints figures and never fails on time.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-linkem}
size_mib=${SIZE_MIB:-256}
runs=${RUNS:-3}
profiles=${PROFILES:-direct none region wan}
mkdir -p "$build"
cc -O2 -Wall -Wextra -std=gnu11 -o "$build/linkem" "$root/tests/linkem/linkem.c"
cc -O2 -Wall -Wextra -std=gnu11 -o "$build/blobserve" "$root/tests/linkem/blobserve.c"

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

head -c $((size_mib * 1024 * 1024)) /dev/urandom >"$work/blob"

# start_waiting OUTFILE CMD...: runs CMD in the background (killed at exit),
# waits for its "listening" line, sets $port. Not in $(...): the pid must be
# recorded in this shell for the clean-up.
start_waiting() {
	local out=$1
	shift
	"$@" >"$out" &
	pids+=($!)
	for _ in $(seq 100); do
		if grep -q '^listening' "$out"; then
			port=$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$out")
			return
		fi
		sleep 0.05
	done
	echo "bench.sh: $* did not start" >&2
	exit 1
}

start_waiting "$work/server.out" "$build/blobserve" "$work"
server_port=$port

# fetch PORT STREAMS: seconds to get the whole file as STREAMS range GETs.
fetch() {
	local port=$1 streams=$2 chunk=$((size_mib * 1024 * 1024 / $2)) t0 t1 i p
	local curls=()
	t0=$(date +%s.%N)
	for ((i = 0; i < streams; i++)); do
		curl -sf -o /dev/null -r $((i * chunk))-$(((i + 1) * chunk - 1)) \
			"http://127.0.0.1:$port/blob" &
		curls+=($!)
	done
	for p in "${curls[@]}"; do
		wait "$p" || { echo "bench.sh: curl failed" >&2; exit 1; }
	done
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}

printf '%-8s %8s %12s\n' "link" "streams" "MB/s (best of $runs)"
for prof in $profiles; do
	if [ "$prof" = direct ]; then
		port=$server_port
	else
		start_waiting "$work/linkem-$prof.out" "$build/linkem" --profile "$prof" \
			--stats "$work/linkem-$prof.stats" \
			--target "127.0.0.1:$server_port"
	fi
	for streams in 1 16; do
		best=0
		for ((r = 0; r < runs; r++)); do
			s=$(fetch "$port" "$streams")
			best=$(awk -v m="$size_mib" -v s="$s" -v b="$best" \
				'BEGIN { v = m * 1.048576 / s; print (v > b ? v : b) }')
		done
		printf '%-8s %8d %12.0f\n' "$prof" "$streams" "$best"
	done
done
