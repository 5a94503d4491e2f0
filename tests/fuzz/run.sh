#!/usr/bin/env bash
# Runs every harness built by tests/fuzz/build.sh:
#   tests/fuzz/run.sh OUTDIR [SECONDS]
# For each tests/fuzz/fuzz_NAME.c: first replays tests/fuzz/crashes/NAME/*
# (inputs that once found a bug), then fuzzes for SECONDS (default 20)
# starting from the seeds in tests/fuzz/corpus/NAME/ (read only: new inputs
# go to a temporary folder), with tests/fuzz/NAME.dict when there is one
# and -max_len from the harness's "fuzz-max-len:" comment (default 4096).
# Prints "fuzz NAME: ok (N runs)" or "fuzz NAME: FAILED (...)" per harness,
# then "fuzz: N passed, N failed"; exits non-zero if any failed.  A crash
# input is kept in OUTDIR/artifacts/NAME/, its log in OUTDIR/NAME.log.
# FUZZ_JOBS harnesses run at once (default 2).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: tests/fuzz/run.sh OUTDIR [SECONDS]}
secs=${2:-20}
out=$(cd "$out" && pwd) || exit 1
cd "$root"

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
common=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/odofs-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "fuzz $1: FAILED ($2)"
	if [ -f "$3" ]; then
		# The sanitizer's or the check's report, for CI's log.
		grep -v '^#[0-9]*\s*\(NEW\|REDUCE\|pulse\|INITED\)\|^Running:\|^INFO:' "$3" |
			tail -n 60 | sed 's/^/    /'
	fi
}

# fuzz_one NAME: replays and fuzzes one harness; prints its result line.
fuzz_one() {
	local name=$1 src=tests/fuzz/fuzz_$1.c bin log max_len opts crashes corpus artifacts seeds rc runs crash
	bin=$out/fuzz_$name
	log=$out/$name.log
	if [ ! -x "$bin" ]; then
		fail "$name" "not built: run tests/fuzz/build.sh $out" ""
		return
	fi
	max_len=$(head -n 5 "$src" | sed -n 's|.*fuzz-max-len: *\([0-9]*\).*|\1|p' | head -n 1)
	opts=("${common[@]}" -max_len="${max_len:-4096}")
	if [ -f "tests/fuzz/$name.dict" ]; then
		opts+=(-dict="tests/fuzz/$name.dict")
	fi

	# The inputs that once found a bug, every time.
	crashes=()
	if [ -d "tests/fuzz/crashes/$name" ]; then
		while IFS= read -r -d '' f; do
			crashes+=("$f")
		done < <(find "tests/fuzz/crashes/$name" -type f -print0 | sort -z)
	fi
	if [ ${#crashes[@]} -gt 0 ] &&
		! timeout --kill-after=10 $((60 + 10 * ${#crashes[@]})) \
			"$bin" "${common[@]}" "${crashes[@]}" >"$log" 2>&1; then
		fail "$name" "a committed crash input fails again, see $log" "$log"
		return
	fi

	# Fuzz from the seeds; new inputs go to a throwaway folder.
	corpus=$tmp/$name
	artifacts=$out/artifacts/$name
	mkdir -p "$corpus" "$artifacts"
	seeds=()
	[ -d "tests/fuzz/corpus/$name" ] && seeds=("tests/fuzz/corpus/$name")
	timeout --kill-after=10 $((secs + 120)) \
		"$bin" "${opts[@]}" -max_total_time="$secs" -artifact_prefix="$artifacts/" \
		"$corpus" "${seeds[@]}" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
	if [ $rc -ne 0 ]; then
		crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
		fail "$name" "crash file ${crash:-none written, exit status $rc}, log $log" "$log"
	else
		echo "fuzz $name: ok (${runs:-?} runs, ${#crashes[@]} crash inputs replayed)"
	fi
}

# FUZZ_JOBS harnesses at once (default 2: one per core); each fuzzes for its
# own SECONDS, so the run takes about SECONDS * harnesses / FUZZ_JOBS.
names=()
for src in tests/fuzz/fuzz_*.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	names+=("${name#fuzz_}")
done
for name in "${names[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "${FUZZ_JOBS:-2}" ]; do
		wait -n
	done
	fuzz_one "$name" >"$tmp/$name.result" &
done
wait
passed=0
failed=0
for name in "${names[@]}"; do
	cat "$tmp/$name.result"
	if grep -q "^fuzz $name: ok" "$tmp/$name.result"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
