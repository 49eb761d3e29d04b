#!/bin/sh
# Run every shard of a split on this machine, PARALLEL at a time, then merge them.
#
#   examples/run-shards.sh SHARDS_DIR PARALLEL [options of relimport run...]
#
# e.g. relimport split in.csv --by location --shards 8 --out-dir shards
#      examples/run-shards.sh shards 4 --config config.yaml
#
# Each shard is an ordinary `relimport run` writing its result file beside it (the names the
# manifest expects); a shard that stops part-way is resumed by running this script again.
# The exit code is merge's: the worst of the shards'. tests/test_shard.py runs this script.
set -eu
dir=$1
parallel=$2
shift 2
# xargs exits 123 when a shard exits 1 (some rows need attention): merge tells the outcome
find "$dir" -maxdepth 1 -name '*.shard-*-of-*.csv' ! -name '*-results.csv' | sort |
    xargs -P "$parallel" -I{} sh -c 'relimport run "$0" --out "${0%.csv}-results.csv" --quiet "$@"' {} "$@" ||
    true
exec relimport merge "$(find "$dir" -maxdepth 1 -name '*.shards.json' | head -n 1)"
