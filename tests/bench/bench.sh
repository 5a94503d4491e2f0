#!/bin/sh
# The link benchmark: odofs beside curl, aws s3 cp, s3fs and rclone through
# linkem. tests/bench/bench.sh --help for the options; README.md for more.
exec /usr/bin/python3 "$(dirname "$0")/link_bench.py" "$@"
