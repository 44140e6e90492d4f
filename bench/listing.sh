#!/usr/bin/env bash
# Peak resident memory of each example server while curl lists one huge directory with LIST,
# NLST and MLSD. Usage: bench/listing.sh [ENTRIES] (default 1000000). Loopback only; the
# directory is made once under ${LISTING_DIR:-/tmp/ftp-listing-bench} and kept for reruns.
set -euo pipefail
entries="${1:-1000000}"
root="${LISTING_DIR:-/tmp/ftp-listing-bench}/$entries"
port="${LISTING_PORT:-2399}"
cd "$(dirname "$0")/.."
cargo build --release -q -p ftp-tokio --example server -p ftp-futures --example futures-server \
  -p ftp-mio --example mio-server
if [ ! -d "$root/big" ]; then
  mkdir -p "$root/big"
  python3 -c '
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    open(os.path.join(d, "f%07d" % i), "w").close()
' "$root/big" "$entries"
fi
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
printf '%-16s %-5s %9s %8s %12s\n' server cmd lines seconds "peak RSS kB"
for name in server futures-server mio-server; do
  "target/release/examples/$name" --root "$root" --listen "127.0.0.1:$port" --user bench:bench \
    >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 50); do curl -s "ftp://127.0.0.1:$port/" -u bench:bench -o /dev/null && break; sleep 0.1; done
  for cmd in LIST NLST MLSD; do
    case $cmd in LIST) args=();; NLST) args=(-l);; MLSD) args=(-X MLSD);; esac
    start=$(date +%s.%N)
    curl -sS "${args[@]}" -u bench:bench -o "$out" "ftp://127.0.0.1:$port/big/"
    end=$(date +%s.%N)
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    printf '%-16s %-5s %9d %8.2f %12d\n' "$name" "$cmd" "$(wc -l <"$out")" \
      "$(awk -v s="$start" -v e="$end" 'BEGIN { print e - s }')" "$hwm"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
