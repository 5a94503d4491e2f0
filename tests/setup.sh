#!/usr/bin/env bash
# Installs everything odofs needs to build, test and demo on Debian 12, as
# root: Debian packages (apt) and the test S3 server (npm, into
# tests/s3rver/node_modules). Idempotent: when everything is present it
# changes nothing and takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
	build-essential autoconf automake libtool pkg-config
	libfuse3-dev fuse3 libcurl4-openssl-dev libssl-dev libpq-dev libcsv-dev
	zlib1g-dev libexpat1-dev libjson-c-dev libxxhash-dev
	awscli s3fs rclone
	python3-pytest python3-pytest-xdist python3-boto3 python3-psycopg2
	postgresql postgresql-client
	curl ca-certificates procps psmisc
	clang-14 libclang-rt-14-dev valgrind openssl iproute2
	ceph-mon ceph-osd radosgw ceph-common
)
# Debian 12's nodejs is v18; a newer node already on the machine is kept.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	packages+=(nodejs npm)
fi

installed=$(dpkg-query -W -f='${Package}\t${Status}\n' "${packages[@]}" 2>/dev/null |
	awk -F'\t' '$2 == "install ok installed" { print $1 }' || true)
missing=()
for p in "${packages[@]}"; do
	if ! grep -qxF "$p" <<<"$installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup.sh: missing packages (${missing[*]}); run as root" >&2
		exit 1
	fi
	echo "setup.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
fi

if [ ! -d tests/s3rver/node_modules/@20minutes/s3rver ]; then
	echo "setup.sh: installing the test S3 server (npm)"
	npm install --prefix tests/s3rver --no-audit --no-fund --loglevel=error
fi

modprobe fuse 2>/dev/null || true
if [ ! -e /dev/fuse ]; then
	echo "setup.sh: warning: /dev/fuse is missing; mounts will fail" >&2
fi
