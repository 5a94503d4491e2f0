#!/usr/bin/env bash
# The main job on a local default: installs what is missing, builds odofs,
# starts a local S3 server (the test one) with a bucket "demo", mounts it on
# /tmp/odofs-demo/mnt and shows ls and cat working through the mount; then
# starts a throwaway PostgreSQL, mounts it on /tmp/odofs-demo/db and shows a
# table read as CSV and a CSV file loaded into it with cp.
#
#   tests/demo.sh            leave the mount and the server up; print how to stop
#   tests/demo.sh --cleanup  unmount and stop the server at the end
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

cleanup=no
case "${1:-}" in
--cleanup) cleanup=yes ;;
"") ;;
*)
	echo "usage: tests/demo.sh [--cleanup]" >&2
	exit 2
	;;
esac

demo=/tmp/odofs-demo
mnt=$demo/mnt

dbmnt=$demo/db

stop_demo() {
	for m in "$mnt" "$dbmnt"; do
		if grep -qs " $m fuse" /proc/mounts; then
			fusermount3 -u "$m" 2>/dev/null || umount -l "$m"
		fi
	done
	if [ -f "$demo/pg.dir" ]; then
		local pgdir
		pgdir=$(cat "$demo/pg.dir")
		runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$pgdir/data" -m fast \
			-w stop >/dev/null 2>&1 || true
		rm -rf "$pgdir" "$demo/pg.dir"
	fi
	if [ -f "$demo/server.pid" ]; then
		local pid
		pid=$(cat "$demo/server.pid")
		# Only our own server: check its command line before signalling it.
		if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "tests/s3rver/server.js"; then
			kill -TERM "$pid" 2>/dev/null || true
		fi
		rm -f "$demo/server.pid"
	fi
}

echo "== set-up"
bash tests/setup.sh
echo "== build"
bash tests/build.sh build

echo "== test S3 server"
stop_demo # a previous demo
rm -rf "$demo/data" "$demo/files"
mkdir -p "$demo/data" "$demo/files" "$mnt"
key_id="DEMO$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)"
secret="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
setsid node tests/s3rver/server.js --port 0 --dir "$demo/data" \
	--key-id "$key_id" --secret "$secret" >"$demo/server.out" 2>"$demo/server.log" </dev/null &
echo $! >"$demo/server.pid"
port=
for _ in $(seq 100); do
	port=$(awk '$1 == "listening" { print $2 }' "$demo/server.out")
	[ -n "$port" ] && break
	if ! kill -0 "$(cat "$demo/server.pid")" 2>/dev/null; then
		cat "$demo/server.log" >&2
		echo "demo.sh: the S3 server did not start" >&2
		exit 1
	fi
	sleep 0.1
done
[ -n "$port" ] || { echo "demo.sh: the S3 server did not start in 10 s" >&2; exit 1; }

export AWS_ACCESS_KEY_ID=$key_id
export AWS_SECRET_ACCESS_KEY=$secret
export AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_EC2_METADATA_DISABLED=true
# Debian 12's aws (2.9) predates AWS_ENDPOINT_URL: pass it explicitly too.
aws_bin=/usr/bin/aws
[ -x "$aws_bin" ] || aws_bin=$(command -v aws)
aws() { "$aws_bin" --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }
echo "S3 server on $AWS_ENDPOINT_URL (data in $demo/data)"

echo "== bucket \"demo\""
files=$demo/files
printf 'Hello from S3, read through odofs.\n' >"$files/hello.txt"
mkdir -p "$files/reports/2024" "$files/data"
printf 'region,sales\nnorth,120\nsouth,95\n' >"$files/reports/2024/q1.csv"
printf 'region,sales\nnorth,130\nsouth,101\n' >"$files/reports/2024/q2.csv"
head -c 5M /dev/urandom >"$files/data/random.bin"
printf 'spaces and unicode work too: é ü 日本\n' >"$files/notes with spaces é.txt"
aws s3 mb s3://demo
aws s3 cp --recursive --only-show-errors "$files" s3://demo/
aws s3 ls --recursive s3://demo/

echo "== mount"
build/odofs s3://demo "$mnt" -o "endpoint=$AWS_ENDPOINT_URL"
for _ in $(seq 100); do
	grep -qs " $mnt fuse" /proc/mounts && break
	sleep 0.1
done
echo "\$ build/odofs s3://demo $mnt -o endpoint=$AWS_ENDPOINT_URL"
echo "\$ ls -l $mnt"
ls -l "$mnt"
echo "\$ ls -l $mnt/reports/2024"
ls -l "$mnt/reports/2024"
echo "\$ cat $mnt/hello.txt"
cat "$mnt/hello.txt"
echo "\$ cat $mnt/reports/2024/q1.csv"
cat "$mnt/reports/2024/q1.csv"
echo "\$ sha256sum $mnt/data/random.bin $files/data/random.bin"
sha256sum "$mnt/data/random.bin" "$files/data/random.bin"

echo "== PostgreSQL tables as CSV files"
mkdir -p "$dbmnt"
# A throwaway cluster, started as the tests start theirs (tests/integration/pgserver.py).
pg_info=$(cd tests/integration && /usr/bin/python3 -c '
from pgserver import PgServer
pg = PgServer().start()
print(pg.workdir)
print(pg.url)
print(pg.dsn)
')
pgdir=$(sed -n 1p <<<"$pg_info")
pgurl=$(sed -n 2p <<<"$pg_info")
pgdsn=$(sed -n 3p <<<"$pg_info")
echo "$pgdir" >"$demo/pg.dir"
psql -X -q -d "$pgdsn" -c "CREATE SCHEMA shop;
CREATE TABLE shop.orders (id bigint, customer text, amount numeric(10,2), placed date);
INSERT INTO shop.orders VALUES (1, 'Ada', 12.50, '2024-05-01'), (2, 'Grace, Ltd.', 99.99, '2024-05-02');"
build/odofs "$pgurl" "$dbmnt" -o "cache_dir=$demo/cache"
for _ in $(seq 100); do
	grep -qs " $dbmnt fuse" /proc/mounts && break
	sleep 0.1
done
shown_url=$(sed 's#://\([^:@/]*\):[^@]*@#://\1@#' <<<"$pgurl")
echo "\$ build/odofs $shown_url $dbmnt   # (password given in the URL; hidden from ps)"
echo "\$ ls -l $dbmnt/shop"
ls -l "$dbmnt/shop"
echo "\$ cat $dbmnt/shop/orders.csv"
cat "$dbmnt/shop/orders.csv"
printf 'id,customer,amount,placed\n3,Linus,5.00,2024-05-03\n' >"$files/new_orders.csv"
echo "\$ cp $files/new_orders.csv $dbmnt/shop/orders/"
cp "$files/new_orders.csv" "$dbmnt/shop/orders/"
echo "\$ psql -c 'SELECT * FROM shop.orders'"
psql -X -d "$pgdsn" -c 'SELECT * FROM shop.orders ORDER BY id'

if [ "$cleanup" = yes ]; then
	echo "== clean-up"
	stop_demo
	echo "unmounted $mnt and $dbmnt, stopped the S3 server and PostgreSQL"
else
	cat <<EOF

The mount and the S3 server are still up. To use the server with aws:
  export AWS_ACCESS_KEY_ID=$key_id AWS_SECRET_ACCESS_KEY=$secret
  export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
  aws --endpoint-url $AWS_ENDPOINT_URL s3 ls s3://demo/
The PostgreSQL tables are mounted on $dbmnt.
To unmount and stop the servers:
  fusermount3 -u $mnt; fusermount3 -u $dbmnt
  kill $(cat "$demo/server.pid")
  runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D $pgdir/data stop
(or run: tests/demo.sh --cleanup, which sets everything up again, shows it, and stops)
EOF
fi
