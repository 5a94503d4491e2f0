#!/usr/bin/env bash
# Installs, builds and runs every test: the unit tests (make check) and the
# integration tests (pytest) against a -Werror build in build/, then all of
# them again against an ASan+UBSan build in build-san/, the threaded ones
# against a ThreadSanitizer build in build-tsan/, and a short libFuzzer run
# of every harness in tests/fuzz/ (FUZZ_SECONDS each, default 15).
#
# Exits non-zero if anything failed. The last line of output is always the
# summary "N passed, N failed, N skipped" over all of them; a step that
# could not run (set-up, a build) counts as one failure.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

PYTHON=/usr/bin/python3 # Debian's, with pytest and boto3
export PYTHONDONTWRITEBYTECODE=1
n_passed=0
n_failed=0
n_skipped=0
started=$SECONDS

say() { printf '\n=== %s (%ds)\n' "$*" $((SECONDS - started)); }
step_failed() {
	echo "check.sh: FAILED: $*" >&2
	n_failed=$((n_failed + 1))
}

# Adds the results of automake's test driver (the .trs files) in $1.
count_unit() {
	local counts
	counts=$(find "$1" -name '*.trs' -exec cat {} + 2>/dev/null | awk '
		$1 == ":test-result:" {
			if ($2 == "PASS" || $2 == "XFAIL") p++
			else if ($2 == "SKIP") s++
			else f++
		}
		END { printf "%d %d %d\n", p, f, s }')
	read -r p f s <<<"$counts"
	n_passed=$((n_passed + p))
	n_failed=$((n_failed + f))
	n_skipped=$((n_skipped + s))
	echo "unit tests: $p passed, $f failed, $s skipped"
}

# Adds the results of a pytest JUnit XML report $1.
count_pytest() {
	local counts
	counts=$("$PYTHON" - "$1" <<'PY'
import sys
import xml.etree.ElementTree as ET
# One count per test: a test failing in its call and again in teardown is
# reported as two test cases.
state = {}
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    key = (case.get("classname"), case.get("name"))
    if case.find("failure") is not None or case.find("error") is not None:
        state[key] = "f"
    elif case.find("skipped") is not None:
        state.setdefault(key, "s")
    else:
        state.setdefault(key, "p")
v = list(state.values())
print(v.count("p"), v.count("f"), v.count("s"))
PY
	) || { step_failed "cannot read $1"; return; }
	read -r p f s <<<"$counts"
	n_passed=$((n_passed + p))
	n_failed=$((n_failed + f))
	n_skipped=$((n_skipped + s))
	echo "integration tests: $p passed, $f failed, $s skipped"
}

# run_suite BUILDDIR [TEST-PATH...]: unit tests, then integration tests
# (all of tests/integration, or the paths given), with the environments in
# the arrays unit_env and it_env (VAR=VALUE words).
unit_env=()
it_env=()
run_suite() {
	local builddir=$1
	shift
	local paths=("$@")
	[ ${#paths[@]} -gt 0 ] || paths=(tests/integration)
	say "unit tests ($builddir)"
	find "$builddir" -name '*.trs' -delete 2>/dev/null
	if ! env "${unit_env[@]}" make -C "$builddir" -j2 check; then
		if [ -f "$builddir/test-suite.log" ]; then
			cat "$builddir/test-suite.log"
		fi
		if ! find "$builddir" -name '*.trs' | grep -q .; then
			step_failed "make check in $builddir (no test ran)"
		fi
	fi
	count_unit "$builddir"

	say "integration tests ($builddir/odofs)"
	local report="$builddir/pytest-report.xml"
	rm -f "$report"
	# timeout: a backstop only; each mount has its own watchdog.
	env "${it_env[@]}" ODOFS_BIN="$root/$builddir/odofs" \
		timeout --kill-after=30 900 \
		"$PYTHON" -m pytest "${paths[@]}" -p no:cacheprovider -q -rfEs \
		--durations=10 --junitxml="$report"
	if [ -f "$report" ]; then
		count_pytest "$report"
	else
		step_failed "pytest against $builddir/odofs wrote no report"
	fi
}

say "set-up"
bash tests/setup.sh || step_failed "tests/setup.sh"

say "build (build/, -Werror)"
if bash tests/build.sh build --enable-werror; then
	run_suite build
else
	step_failed "build in build/"
fi

say "build (build-san/, -Werror, ASan+UBSan)"
if bash tests/build.sh build-san --enable-werror --enable-sanitizers; then
	# UBSan findings are fatal. The FUSE daemon may leave libfuse's
	# allocations behind at exit, so leak checking is off for the integration
	# run; the unit tests keep it.
	unit_env=(UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1)
	it_env=(UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
		ASAN_OPTIONS=detect_leaks=0 "LINKEM_CFLAGS=-fsanitize=address,undefined")
	run_suite build-san
else
	step_failed "build in build-san/"
fi

say "build (build-tsan/, -Werror, ThreadSanitizer)"
if bash tests/build.sh build-tsan --enable-werror --enable-sanitizers=thread; then
	# A report fails the test (conftest.py's SANITIZER_RE; the daemon also
	# exits 66). halt_on_error=0 shows every race of a run;
	# second_deadlock_stack gives both stacks of a lock-order inversion.
	# The files that run many threads against one mount: the rest add
	# minutes and no interleavings the suites above have not had.
	unit_env=(TSAN_OPTIONS=halt_on_error=0:second_deadlock_stack=1:report_signal_unsafe=0)
	it_env=("${unit_env[@]}")
	# test_odd_file_names leans on the listing cache to keep s3rver from
	# seeing a signed list of a prefix with !*() (which it refuses, see
	# HACKING.md); under TSan's slowness a release racing the listing
	# sometimes sends one. It runs in both builds above.
	run_suite build-tsan tests/integration/test_read.py tests/integration/test_write.py \
		tests/integration/test_concurrency.py tests/integration/test_warehouse.py \
		tests/integration/test_faults.py -k "not test_odd_file_names"
else
	step_failed "build in build-tsan/"
fi

say "fuzz (libFuzzer, clang-14)"
if bash tests/fuzz/build.sh build-fuzzers; then
	bash tests/fuzz/run.sh build-fuzzers "${FUZZ_SECONDS:-15}" | tee build-fuzzers/fuzz.log
	read -r fp ff <<<"$(sed -n 's/^fuzz: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' build-fuzzers/fuzz.log | tail -1)"
	if [ -n "${fp:-}" ]; then
		n_passed=$((n_passed + fp))
		n_failed=$((n_failed + ff))
	else
		step_failed "the fuzz run printed no summary"
	fi
else
	step_failed "fuzz build in build-fuzzers/"
fi

say "done"
summary="$n_passed passed, $n_failed failed"
if [ "$n_skipped" -gt 0 ]; then
	summary="$summary, $n_skipped skipped"
fi
echo "$summary"
[ "$n_failed" -eq 0 ]
