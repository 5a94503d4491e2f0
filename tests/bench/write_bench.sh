#!/bin/bash
# Write benchmark of odofs beside curl, s3fs and rclone; see README.md here.
# The work is in write_bench.py (standard library and benchlib.py), run with
# Debian's /usr/bin/python3 like read_bench.sh.
exec /usr/bin/python3 "$(dirname "$0")/write_bench.py" "$@"
