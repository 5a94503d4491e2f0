#!/usr/bin/env bash
# Builds every libFuzzer harness, tests/fuzz/fuzz_NAME.c, into OUTDIR/fuzz_NAME:
#   tests/fuzz/build.sh OUTDIR
# A harness names the project sources it links on a first-lines comment:
#   /* fuzz-sources: src/a.c src/b.c */
# They are compiled with it, instrumented, as the unit tests compile the pure
# modules (-Isrc, a config.h from configure).  The config.h comes from a
# configure run with CC=clang-14 in OUTDIR/cfg, redone when configure
# changes.  Exits non-zero if any harness fails to compile.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: tests/fuzz/build.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
CC=${FUZZ_CC:-clang-14}
cd "$root"

if ! command -v "$CC" >/dev/null; then
	echo "fuzz build: $CC not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
	exit 1
fi

# configure, generated as tests/build.sh does.
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ ! -f Makefile.in ] ||
	[ Makefile.am -nt Makefile.in ]; then
	autoreconf -fi || exit 1
fi
if [ ! -f "$out/cfg/config.h" ] || [ configure -nt "$out/cfg/config.h" ]; then
	mkdir -p "$out/cfg"
	if ! (cd "$out/cfg" && CC=$CC "$root/configure" >configure.out 2>&1); then
		echo "fuzz build: configure failed, see $out/cfg/configure.out and config.log" >&2
		exit 1
	fi
fi

pkgs="fuse3 libcurl openssl expat json-c libpq zlib"
if ! deps_cflags=$(pkg-config --cflags $pkgs) || ! deps_libs=$(pkg-config --libs $pkgs); then
	echo "fuzz build: pkg-config cannot find one of: $pkgs" >&2
	exit 1
fi
flags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-fno-omit-frame-pointer -std=gnu11 -Wall -Wextra -Wno-unused-parameter -pthread
	-DFUSE_USE_VERSION=312 -I"$out/cfg" -Isrc -Itests/fuzz)

built=0
failed=0
for src in tests/fuzz/fuzz_*.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	# The sources named on the fuzz-sources line, within the first lines.
	srcs=$(head -n 5 "$src" | sed -n 's|.*fuzz-sources:\(.*\)\*/.*|\1|p' | head -n 1)
	# shellcheck disable=SC2086 # word splitting wanted for the lists
	if "$CC" "${flags[@]}" $deps_cflags "$src" $srcs -o "$out/$name" \
		$deps_libs -lcsv -lm 2>"$out/$name.log"; then
		built=$((built + 1))
		# Warnings are shown, not fatal: the harness still runs.
		[ -s "$out/$name.log" ] && cat "$out/$name.log" >&2
		echo "fuzz build: $name"
	else
		failed=$((failed + 1))
		cat "$out/$name.log" >&2
		echo "fuzz build: $name FAILED" >&2
		rm -f "$out/$name"
	fi
done
echo "fuzz build: $built built, $failed failed, in $out"
[ "$failed" -eq 0 ] && [ "$built" -gt 0 ]
