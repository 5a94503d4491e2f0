#!/usr/bin/env bash
# Builds odofs in a separate build folder:
#   tests/build.sh BUILDDIR [CONFIGURE-ARGS...]
# e.g. tests/build.sh build --enable-werror
#      tests/build.sh build-san --enable-werror --enable-sanitizers
# Runs autoreconf when configure is missing or stale, configure when the
# folder is new or the arguments changed (none given: keep the folder's
# configuration), then make.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
builddir=${1:?usage: tests/build.sh BUILDDIR [CONFIGURE-ARGS...]}
shift
cd "$root"

if [ -f config.status ]; then
	echo "build.sh: the source tree is configured in place; run 'make distclean' there first" >&2
	exit 1
fi
if [ ! -x configure ] || [ configure.ac -nt configure ] ||
	{ [ -f Makefile.in ] && [ Makefile.am -nt Makefile.in ]; } || [ ! -f Makefile.in ]; then
	autoreconf -fi
fi

mkdir -p "$builddir"
cd "$builddir"
args="$*"
# No arguments and an existing configuration: keep it (the demo reuses the
# folder check.sh configured with -Werror).
if [ $# -eq 0 ] && [ -f config.status ] && [ -f Makefile ]; then
	args=$(cat .configure-args 2>/dev/null || true)
fi
if [ ! -f config.status ] || [ ! -f Makefile ] || [ "$(cat .configure-args 2>/dev/null)" != "$args" ]; then
	"$root/configure" "$@"
	printf '%s' "$args" > .configure-args
fi
make -j"${JOBS:-2}"
