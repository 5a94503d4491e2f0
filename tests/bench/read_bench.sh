#!/bin/bash
# Read benchmark of odofs beside curl, s3fs and rclone; see README.md here.
# The work is in read_bench.py (stdlib + boto3, hence Debian's /usr/bin/python3).
exec /usr/bin/python3 "$(dirname "$0")/read_bench.py" "$@"
