#!/usr/bin/env bash
# Installs, builds and runs every test, as CI does (.ci/run):
#   1. a -Werror build in build/: unit tests, make distcheck, and the whole
#      integration suite against the S3 mock (s3rver), PostgreSQL and the
#      Redshift emulator;
#   2. the S3 suite again against a real S3 server, one Ceph RADOS Gateway
#      for the run (tests/rgw/rgw.sh), a bucket per test;
#   3. an ASan+UBSan build in build-san/: unit tests and the integration
#      tests that exercise odofs's C code (not the tests of the test servers,
#      nor those marked heavy: much data, many keys or long bounds through
#      code lighter tests run too);
#   4. a ThreadSanitizer build in build-tsan/: the threaded tests, less the
#      heavy ones;
#   5. a short libFuzzer run of every harness in tests/fuzz/ (FUZZ_SECONDS
#      each, default 10; FUZZ_JOBS at once, default 2).
# Integration tests run on TEST_JOBS pytest-xdist workers (default 3): they
# mostly wait on I/O (bounds under test, servers), and each worker has its
# own servers. To keep the run short on two cores, the slow set-up overlaps
# that waiting: the gateway starts in the background at the beginning, and
# the sanitizer and fuzz builds and make distcheck run in the background,
# one after another, while the first integration tests run (their logs:
# build-logs/).
#
# Exits non-zero if anything failed. The last line of output is always the
# summary "N passed, N failed, N skipped" over all of them; a step that
# could not run (set-up, a build) counts as one failure. Before it, the time
# each stage took.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

PYTHON=/usr/bin/python3 # Debian's, with pytest and boto3
export PYTHONDONTWRITEBYTECODE=1
TEST_JOBS=${TEST_JOBS:-3}
n_passed=0
n_failed=0
n_skipped=0
started=$SECONDS
stage=""
stage_started=$SECONDS
stage_times=()

# say STAGE: closes the previous stage (its time is kept for the table at
# the end) and opens the next.
say() {
	if [ -n "$stage" ]; then
		stage_times+=("$(printf '%5ds  %s' $((SECONDS - stage_started)) "$stage")")
	fi
	stage=$*
	stage_started=$SECONDS
	printf '\n=== %s (at %ds)\n' "$*" $((SECONDS - started))
}
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

# run_unit BUILDDIR: make check, with the environment in the array unit_env
# (VAR=VALUE words).
unit_env=()
run_unit() {
	local builddir=$1
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
}

# run_pytest BUILDDIR NAME PYTEST-ARGS...: integration tests against
# BUILDDIR/odofs, with the environment in the array it_env; the report goes
# to BUILDDIR/pytest-NAME.xml.
it_env=()
run_pytest() {
	local builddir=$1 name=$2
	shift 2
	say "integration tests: $name ($builddir/odofs)"
	local report="$builddir/pytest-$name.xml"
	local jobs=()
	[ "$TEST_JOBS" -gt 1 ] && jobs=(-n "$TEST_JOBS")
	rm -f "$report"
	# timeout: a backstop only; each mount has its own watchdog.
	env "${it_env[@]}" ODOFS_BIN="$root/$builddir/odofs" \
		timeout --kill-after=30 1200 \
		"$PYTHON" -m pytest "$@" "${jobs[@]}" -p no:cacheprovider -q -rfEs \
		--durations=10 --junitxml="$report"
	if [ -f "$report" ]; then
		count_pytest "$report"
	else
		step_failed "pytest ($name) against $builddir/odofs wrote no report"
	fi
}

# The S3 suite: what runs on every S3 server. Left out on the gateway: the
# tests of odofs against servers of their own (test_hostile's hostile
# server, test_faults's fault proxy), and the daemon's memory bound while
# writing 2 GiB (test_cp_320_mib_file is the gateway's big multipart): none
# of them depends on which S3 server stands behind.
S3_SUITE=(tests/integration/bucket tests/integration/test_concurrency.py -k "not postgresql"
	--ignore=tests/integration/bucket/test_hostile.py
	--ignore=tests/integration/bucket/test_faults.py
	--deselect=tests/integration/bucket/test_write.py::test_memory_bounded_while_writing_2_gib)

rgw_dir=$root/build-rgw
rgw_pid=""
stop_rgw() {
	if [ -n "$rgw_pid" ]; then
		wait "$rgw_pid" 2>/dev/null
		bash tests/rgw/rgw.sh stop "$rgw_dir" || true
		rgw_pid=""
	fi
}

# The background builds: bg_build NAME CMD... runs CMD with its output in
# build-logs/NAME.log and its exit status and seconds in NAME.status;
# bg_result NAME waits for them and shows the log if it failed.
logs=$root/build-logs
bg_pid=""
bg_build() {
	local name=$1 t0=$SECONDS
	shift
	"$@" >"$logs/$name.log" 2>&1
	echo "$? $((SECONDS - t0))" >"$logs/$name.status"
}
bg_result() {
	local rc secs
	[ -n "$bg_pid" ] && wait "$bg_pid"
	bg_pid=""
	read -r rc secs <"$logs/$1.status" 2>/dev/null || rc=1
	echo "$1: exit status $rc after ${secs:-?}s (in the background)"
	if [ "$rc" -ne 0 ]; then
		tail -n 80 "$logs/$1.log"
		return 1
	fi
}
cleanup() {
	[ -n "$bg_pid" ] && kill -- "$bg_pid" 2>/dev/null
	stop_rgw
}
trap cleanup EXIT

say "set-up"
bash tests/setup.sh || step_failed "tests/setup.sh"
rm -rf "$logs" "$rgw_dir"
mkdir -p "$logs"

# The gateway takes 15-30 s to start and then idles: start it now.
RGW_ACCESS_KEY=AKIA$(openssl rand -hex 8 | tr a-f A-F)
RGW_SECRET_KEY=$(openssl rand -hex 20)
export RGW_ACCESS_KEY RGW_SECRET_KEY
bash tests/rgw/rgw.sh start "$rgw_dir" >"$logs/rgw-start.out" 2>"$logs/rgw-start.log" &
rgw_pid=$!

say "build (build/, -Werror)"
plain_built=""
if bash tests/build.sh build --enable-werror; then
	plain_built=1
	run_unit build
fi

# The sanitizer builds (and their unit tests' programs: TESTS= builds them,
# runs none), the fuzz harnesses and make distcheck, while the tests below
# wait on I/O.
(
	bg_build build-san sh -c 'bash tests/build.sh build-san --enable-werror --enable-sanitizers &&
		make -C build-san check TESTS='
	bg_build build-tsan sh -c 'bash tests/build.sh build-tsan --enable-werror --enable-sanitizers=thread &&
		make -C build-tsan check TESTS='
	bg_build build-fuzzers bash tests/fuzz/build.sh build-fuzzers
	if [ -n "$plain_built" ]; then
		bg_build distcheck sh -c 'make -C build distcheck && rm -f build/odofs-*.tar.gz'
	fi
) &
bg_pid=$!

if [ -n "$plain_built" ]; then
	run_pytest build s3rver tests/integration

	say "Ceph RGW (tests/rgw/rgw.sh, started in the background)"
	wait "$rgw_pid"
	rgw_ok=$?
	cat "$logs/rgw-start.log"
	endpoint=$(sed -n 's/^endpoint //p' "$logs/rgw-start.out")
	if [ "$rgw_ok" -eq 0 ] && [ -n "$endpoint" ]; then
		it_env=(ODOFS_TEST_S3=rgw ODOFS_TEST_RGW_ENDPOINT="$endpoint"
			ODOFS_TEST_RGW_KEY="$RGW_ACCESS_KEY" ODOFS_TEST_RGW_SECRET="$RGW_SECRET_KEY")
		run_pytest build rgw "${S3_SUITE[@]}"
		it_env=()
	else
		step_failed "tests/rgw/rgw.sh start (see $rgw_dir/log)"
	fi
	stop_rgw
else
	step_failed "build in build/"
fi

say "build (build-san/, -Werror, ASan+UBSan)"
if bg_result build-san; then
	# UBSan findings are fatal. The FUSE daemon may leave libfuse's
	# allocations behind at exit, so leak checking is off for the integration
	# run; the unit tests keep it.
	unit_env=(UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1)
	run_unit build-san
	it_env=(UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
		ASAN_OPTIONS=detect_leaks=0 "LINKEM_CFLAGS=-fsanitize=address,undefined")
	# The tests of the test servers themselves (the mock, the emulator) and
	# the valgrind run (which needs the plain build) add nothing here.
	run_pytest build-san asan tests/integration \
		--ignore=tests/integration/test_server.py \
		--ignore=tests/integration/wh/test_emulator.py \
		--ignore=tests/integration/test_valgrind.py -m "not heavy"
	it_env=()
else
	step_failed "build in build-san/"
fi

say "build (build-tsan/, -Werror, ThreadSanitizer)"
if bg_result build-tsan; then
	# A report fails the test (conftest.py's SANITIZER_RE; the daemon also
	# exits 66). halt_on_error=0 shows every race of a run;
	# second_deadlock_stack gives both stacks of a lock-order inversion.
	# The files that run many threads against one mount: the rest add
	# minutes and no interleavings the suites above have not had.
	unit_env=(TSAN_OPTIONS=halt_on_error=0:second_deadlock_stack=1:report_signal_unsafe=0)
	run_unit build-tsan
	it_env=("${unit_env[@]}")
	# test_odd_file_names leans on the listing cache to keep s3rver from
	# seeing a signed list of a prefix with !*() (which it refuses, see
	# HACKING.md); under TSan's slowness a release racing the listing
	# sometimes sends one. It runs in both builds above.
	run_pytest build-tsan tsan tests/integration/bucket/test_read.py \
		tests/integration/bucket/test_write.py tests/integration/test_concurrency.py \
		tests/integration/wh/test_warehouse.py tests/integration/bucket/test_faults.py \
		-k "not test_odd_file_names" -m "not heavy"
	it_env=()
else
	step_failed "build in build-tsan/"
fi

say "fuzz (libFuzzer, clang-14)"
if bg_result build-fuzzers; then
	bash tests/fuzz/run.sh build-fuzzers "${FUZZ_SECONDS:-10}" | tee build-fuzzers/fuzz.log
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

if [ -n "$plain_built" ]; then
	say "make distcheck (ran in the background)"
	bg_result distcheck || step_failed "make distcheck (build-logs/distcheck.log)"
fi

say "done"
printf '\nstage times:\n'
printf '%s\n' "${stage_times[@]}"
summary="$n_passed passed, $n_failed failed"
if [ "$n_skipped" -gt 0 ]; then
	summary="$summary, $n_skipped skipped"
fi
echo "$summary"
[ "$n_failed" -eq 0 ]
