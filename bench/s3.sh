#!/usr/bin/env bash
# s3.sh: RETR and STOR throughput through the S3 back-end, against a local moto server, beside
# the file-system back-end, with the same server binary in the same run.
#
# Usage:
#   bench/s3.sh SERVER [--runs N] [--size-mib N]
#
#   SERVER        an example server built with the S3 back-end, e.g.
#                   cargo build --release -p ftp-tokio --example server --features ftp-cli/s3
#                   bench/s3.sh target/release/examples/server
#   --runs N      transfers per back-end and direction (default 3); medians are reported
#   --size-mib N  size of the test file in MiB (default 128)
#
# What it does: writes a random file to /dev/shm, starts moto's server (installed by
# .ci/install-peers) and two instances of SERVER on 127.0.0.1: one with --root on /dev/shm, one
# with --storage s3://bench/ftp on moto; then N times, back-end after back-end, curl uploads the
# file (STOR) and downloads it (RETR, to /dev/null). MB/s = bytes / (curl time_total -
# time_pretransfer) / 10^6, from the STOR/RETR command to the 226. Prints the median and the
# min-max per back-end and direction. Everything is removed on exit.

set -euo pipefail
RUNS=3
SIZE_MIB=128
BIN=""
die() { echo "s3.sh: $*" >&2; exit 1; }
while (($#)); do
  case "$1" in
    --runs) RUNS=${2:-}; shift 2 ;;
    --size-mib) SIZE_MIB=${2:-}; shift 2 ;;
    -h|--help) sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) [[ -z $BIN ]] || die "one SERVER only"; BIN=$1; shift ;;
  esac
done
[[ -x $BIN ]] || die "give the server binary (see --help)"
[[ $RUNS =~ ^[1-9][0-9]?$ ]] || die "--runs wants 1..99"
[[ $SIZE_MIB =~ ^[1-9][0-9]{0,4}$ ]] || die "--size-mib wants 1..99999"
python3 -c "import moto.server" 2>/dev/null || die "no moto server: run .ci/install-peers"

WORK=$(mktemp -d /dev/shm/ftp-s3-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; die "nothing listens on $1"; }

MOTO_PORT=$(free_port)
python3 -m moto.server -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 & PIDS+=($!)
wait_port "$MOTO_PORT"
curl -sSf -X PUT "http://127.0.0.1:$MOTO_PORT/bench" -o /dev/null
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_ACCESS_KEY_ID=bench \
  AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true RUST_LOG=warn

mkdir "$WORK/root"
head -c $((SIZE_MIB << 20)) /dev/urandom >"$WORK/file.bin"
BYTES=$((SIZE_MIB << 20))
declare -A PORT=()
for backend in fs s3; do
  PORT[$backend]=$(free_port)
  if [[ $backend == fs ]]; then where=(--root "$WORK/root"); else where=(--storage s3://bench/ftp); fi
  "$BIN" --listen "127.0.0.1:${PORT[$backend]}" --user bench:bench "${where[@]}" \
    >"$WORK/$backend.log" 2>&1 & PIDS+=($!)
  wait_port "${PORT[$backend]}"
done

mbps() { python3 -c "import sys; t=float(sys.argv[1])-float(sys.argv[2]); print(f'{$BYTES/t/1e6:.1f}')" "$@"; }
declare -A RES=()
for run in $(seq "$RUNS"); do
  for backend in fs s3; do
    url="ftp://bench:bench@127.0.0.1:${PORT[$backend]}/file.bin"
    read -r total pre < <(curl -sS --max-time 300 -T "$WORK/file.bin" -w '%{time_total} %{time_pretransfer}\n' "$url")
    RES[$backend-STOR]+="$(mbps "$total" "$pre") "
    read -r total pre < <(curl -sS --max-time 300 -o /dev/null -w '%{time_total} %{time_pretransfer}\n' "$url")
    RES[$backend-RETR]+="$(mbps "$total" "$pre") "
  done
done

echo "file: $SIZE_MIB MiB, $RUNS runs; moto $(python3 -c 'import moto; print(moto.__version__)')"
printf '%-8s %-5s %10s  %s\n' backend dir "median" "all runs (MB/s)"
for backend in fs s3; do
  for dir in STOR RETR; do
    vals=${RES[$backend-$dir]}
    med=$(python3 -c 'import sys, statistics; print(f"{statistics.median(map(float, sys.argv[1:])):.1f}")' $vals)
    printf '%-8s %-5s %10s  %s\n' "$backend" "$dir" "$med" "$vals"
  done
done
