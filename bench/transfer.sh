#!/usr/bin/env bash
# transfer.sh: RETR and STOR throughput of FTP servers on loopback, measured against vsftpd.
#
# Usage:
#   bench/transfer.sh --server NAME=PATH [--server NAME=PATH ...] [options]
#
#   --server NAME=PATH  an example server binary to measure (repeatable). It is started as
#                         PATH --listen 127.0.0.1:PORT --root DIR --user bench:bench
#                       (the flags of `cargo run -p ftp-tokio --example server -- --help`).
#   --runs N            transfers per server and direction (default 3); the median is reported
#   --warmup N          unmeasured transfers per server and direction first (default 1; the first
#                       1 GiB STOR after start-up is often 2-3x slower, see bench/README.md)
#   --size-mib N        size of the test file in MiB (default 1024 = 1 GiB)
#   --timeout SECS      limit for one transfer (default 120)
#   --raw FILE          also write every transfer as a TSV line to FILE
#   -h, --help          this text
#
# Example (from the workspace root):
#   cargo build --release -p ftp-tokio --example server
#   bench/transfer.sh --server tokio=target/release/examples/server
#
# What it does: writes a random file to tmpfs (/dev/shm), starts every --server and vsftpd
# (from $FTP_PEERS_DIR, default /opt/ftp-peers, installed by .ci/install-peers, logging in the
# local user ftppeer as the interop tests do) on 127.0.0.1, then N times, server after server:
# curl downloads the file (RETR, to /dev/null) and uploads it (STOR, into the server's tmpfs
# root). MB/s = bytes / (curl time_total - time_pretransfer) / 10^6, i.e. from the RETR/STOR
# command to the 226 reply; login is not timed. It prints, per server and direction, the median
# MB/s (with min-max), its ratio to vsftpd's median in the same invocation, and the median server
# CPU time per transfer (utime+stime of all the server's processes and threads, read from
# /proc; includes that session's login, e.g. vsftpd's PAM password hash).
#
# Needs: bash, coreutils, curl, python3, and root (vsftpd's local-user login, chown).
# Everything listens on 127.0.0.1 only; servers and files are removed on exit.

set -euo pipefail

RUNS=3
WARMUP=1
SIZE_MIB=1024
TIMEOUT=120
RAW=""
declare -a NAMES=()          # server names, vsftpd last
declare -A BIN=()            # name -> binary (our servers only)

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; }
die() { echo "transfer.sh: $*" >&2; exit 1; }

while (($#)); do
  case "$1" in
    --server)
      [[ ${2:-} == *=* ]] || die "--server wants NAME=PATH"
      name=${2%%=*}; path=${2#*=}
      [[ $name =~ ^[A-Za-z0-9._-]+$ && $name != vsftpd ]] || die "bad server name: $name"
      [[ -z ${BIN[$name]:-} ]] || die "server name given twice: $name"
      [[ -x $path && -f $path ]] || die "not an executable file: $path"
      BIN[$name]=$(realpath "$path"); NAMES+=("$name"); shift $(($# > 1 ? 2 : 1)) ;;
    --runs) RUNS=${2:-}; shift $(($# > 1 ? 2 : 1)) ;;
    --warmup) WARMUP=${2:-}; shift $(($# > 1 ? 2 : 1)) ;;
    --size-mib) SIZE_MIB=${2:-}; shift $(($# > 1 ? 2 : 1)) ;;
    --timeout) TIMEOUT=${2:-}; shift $(($# > 1 ? 2 : 1)) ;;
    --raw) RAW=${2:-}; shift $(($# > 1 ? 2 : 1)) ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ $RUNS =~ ^[1-9][0-9]?$ ]] || die "--runs wants 1..99"
[[ $WARMUP =~ ^[0-9]$ ]] || die "--warmup wants 0..9"
[[ $SIZE_MIB =~ ^[1-9][0-9]{0,4}$ ]] || die "--size-mib wants 1..99999"
[[ $TIMEOUT =~ ^[1-9][0-9]{0,4}$ ]] || die "--timeout wants seconds"
((${#NAMES[@]})) || die "give at least one --server NAME=PATH"
[[ $(id -u) == 0 ]] || die "run as root (vsftpd logs in a local user)"

PEERS_DIR=${FTP_PEERS_DIR:-/opt/ftp-peers}
VSFTPD=$PEERS_DIR/vsftpd/usr/sbin/vsftpd
PEER_USER=${FTP_PEER_USER:-ftppeer}
PEER_PASS=${FTP_PEER_PASS:-ftppeer-pass}
[[ -x $VSFTPD ]] || die "no $VSFTPD: run .ci/install-peers"
id "$PEER_USER" >/dev/null 2>&1 || die "no user $PEER_USER: run .ci/install-peers"
[[ -f /etc/pam.d/ftp-peer-test ]] || die "no /etc/pam.d/ftp-peer-test: run .ci/install-peers"
for tool in curl python3 timeout realpath; do
  command -v "$tool" >/dev/null || die "$tool not found"
done
NAMES+=(vsftpd)

SIZE=$((SIZE_MIB * 1024 * 1024))
CLK_TCK=$(python3 -c 'import os; print(os.sysconf("SC_CLK_TCK"))')
# The interpreter itself, not a wrapper script (a pyenv shim runs python as its own child, and
# the server's PID would be taken for the wrapper's).
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
WORK=""
declare -A PORT=() ROOT=() WRAP=() PID=() CRED=()

# Stop every server this script started (TERM, then KILL after 5 s) and remove the files.
cleanup() {
  local name pid i
  trap - EXIT INT TERM
  for name in "${!WRAP[@]}"; do kill -TERM "${WRAP[$name]}" 2>/dev/null || true; done
  for name in "${!WRAP[@]}"; do
    pid=${WRAP[$name]}
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [[ -n $WORK && -d $WORK ]] && rm -rf -- "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

WORK=$(mktemp -d /dev/shm/ftp-bench.XXXXXX)
chmod 755 "$WORK"

# Every server runs under bench/reaper.py, a child subreaper: session processes a server forks and
# does not wait for (vsftpd's) are reaped here, so their CPU time lands in the wrapper's cutime.

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Child PIDs of a process (all its threads), space-separated.
children() { echo $(cat /proc/"$1"/task/*/children 2>/dev/null); }

# utime+stime+cutime+cstime (clock ticks) of one process.
proc_ticks() {
  local stat f
  stat=$(<"/proc/$1/stat"); stat=${stat##*) }
  read -r -a f <<<"$stat"
  echo $((f[11] + f[12] + f[13] + f[14]))
}

# CPU ticks used so far by a server: the server itself (threads and waited-for children) plus
# the orphans its wrapper reaped.
server_ticks() { echo $(($(proc_ticks "${WRAP[$1]}") + $(proc_ticks "${PID[$1]}"))); }

# Waits (at most 5 s) until a server has no session processes left, so their CPU is counted.
quiesce() {
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(children "${WRAP[$1]}") == "${PID[$1]}" && -z $(children "${PID[$1]}") ]] && return 0
    sleep 0.05
  done
  echo "warning: $1 still has session processes; its CPU figure may be low" >&2
}

# Starts NAME (PATH... as its command line) under the reaper, waits for its 220 greeting, then
# checks the login and that the test file is visible.
start_server() {
  local name=$1 i line; shift
  "$PYTHON" "$BENCH_DIR/reaper.py" "$@" >"$WORK/$name.log" 2>&1 </dev/null &
  WRAP[$name]=$!
  for ((i = 0; i < 50; i++)); do
    PID[$name]=$(children "${WRAP[$name]}")
    [[ -n ${PID[$name]} ]] && break
    sleep 0.1
  done
  [[ -n ${PID[$name]} ]] || die "$name: did not start"
  for ((i = 0; i < 50; i++)); do
    kill -0 "${PID[$name]}" 2>/dev/null || { cat "$WORK/$name.log" >&2; die "$name exited early"; }
    line=$(timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1 && IFS= read -r l <&3 && echo "$l"' \
      _ "${PORT[$name]}" 2>/dev/null || true)
    [[ $line == 220* ]] && break
    sleep 0.2
  done
  [[ $line == 220* ]] || { cat "$WORK/$name.log" >&2; die "$name: no 220 greeting on port ${PORT[$name]}"; }
  local size
  size=$(timeout 30 curl -sS --max-time 20 -u "${CRED[$name]}" -I \
    "ftp://127.0.0.1:${PORT[$name]}/down.bin" | tr -d '\r' | sed -n 's/^Content-Length: //p') ||
    { cat "$WORK/$name.log" >&2; die "$name: login or SIZE failed"; }
  [[ $size == "$SIZE" ]] || die "$name: SIZE down.bin says '$size', expected $SIZE"
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)" >&2
echo "writing a ${SIZE_MIB} MiB random file to $WORK" >&2
head -c "$SIZE" /dev/urandom >"$WORK/src.bin"
chmod 644 "$WORK/src.bin"

for name in "${NAMES[@]}"; do
  ROOT[$name]=$WORK/$name/root
  mkdir -p "${ROOT[$name]}"
  chmod 755 "$WORK/$name"
  ln "$WORK/src.bin" "${ROOT[$name]}/down.bin"   # a hard link: no second GiB of memory
  PORT[$name]=$(free_port)
  if [[ $name == vsftpd ]]; then
    CRED[$name]=$PEER_USER:$PEER_PASS
    mkdir -p "$WORK/vsftpd/empty"
    chmod 777 "${ROOT[$name]}"
    chown "$PEER_USER" "${ROOT[$name]}"
    pasv=$(free_port)   # vsftpd wants a range; a free port and the 19 above it
    cat >"$WORK/vsftpd/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
background=NO
listen_address=127.0.0.1
listen_port=${PORT[$name]}
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
local_root=${ROOT[$name]}
pam_service_name=ftp-peer-test
secure_chroot_dir=$WORK/vsftpd/empty
seccomp_sandbox=NO
pasv_min_port=$pasv
pasv_max_port=$((pasv + 19 > 65535 ? 65535 : pasv + 19))
xferlog_enable=NO
vsftpd_log_file=$WORK/vsftpd/vsftpd.log
utf8_filesystem=YES
EOF
    start_server vsftpd "$VSFTPD" "$WORK/vsftpd/vsftpd.conf"
    echo "$("$VSFTPD" -v 0>&1 2>&1 | sed -n 1p) (it prints to fd 0), port ${PORT[$name]}" >&2
  else
    CRED[$name]=bench:bench
    start_server "$name" "${BIN[$name]}" --listen "127.0.0.1:${PORT[$name]}" \
      --root "${ROOT[$name]}" --user bench:bench
    echo "$name: ${BIN[$name]}, port ${PORT[$name]}" >&2
  fi
done

# One transfer; prints a TSV line: name dir run status bytes seconds MB/s cpu_seconds
# (run 0 is a warm-up).
transfer() {
  local name=$1 dir=$2 run=$3 url="ftp://127.0.0.1:${PORT[$1]}" out rc=0 status=ok
  local code=0 bytes=0 total=0 pre=0 before after
  rm -f -- "${ROOT[$name]}/up.bin"
  quiesce "$name"
  before=$(server_ticks "$name")
  if [[ $dir == RETR ]]; then
    out=$(timeout $((TIMEOUT + 10)) curl -sS --max-time "$TIMEOUT" -u "${CRED[$name]}" \
      -o /dev/null -w '%{response_code} %{size_download} %{time_total} %{time_pretransfer}' \
      "$url/down.bin" 2>"$WORK/curl.err") || rc=$?
  else
    out=$(timeout $((TIMEOUT + 10)) curl -sS --max-time "$TIMEOUT" -u "${CRED[$name]}" \
      -T "$WORK/src.bin" -w '%{response_code} %{size_upload} %{time_total} %{time_pretransfer}' \
      "$url/up.bin" 2>"$WORK/curl.err") || rc=$?
  fi
  quiesce "$name"
  after=$(server_ticks "$name")
  read -r code bytes total pre <<<"$out" || true
  if ((rc != 0)); then
    status="curl-exit-$rc"
  elif [[ $code != 226 ]]; then
    status="reply-$code"
  elif [[ $bytes != "$SIZE" ]]; then
    status="short-$bytes"
  elif [[ $dir == STOR && $(stat -c %s "${ROOT[$name]}/up.bin" 2>/dev/null) != "$SIZE" ]]; then
    status="stored-size-wrong"
  fi
  if [[ $status != ok ]]; then
    { echo "FAILED: $name $dir run $run: $status"; cat "$WORK/curl.err"; tail -n 5 "$WORK/$name.log"; } >&2
  fi
  rm -f -- "${ROOT[$name]}/up.bin"
  python3 - "$name" "$dir" "$run" "$status" "$bytes" "$total" "$pre" "$((after - before))" "$CLK_TCK" <<'EOF'
import sys
name, d, run, status, nbytes, total, pre, ticks, hz = sys.argv[1:]
secs = float(total or 0) - float(pre or 0)
mbps = int(nbytes) / secs / 1e6 if status == "ok" and secs > 0 else 0.0
print(f"{name}\t{d}\t{run}\t{status}\t{nbytes}\t{secs:.4f}\t{mbps:.1f}\t{int(ticks) / int(hz):.2f}")
EOF
}

RESULTS=$WORK/results.tsv
: >"$RESULTS"
count=${#NAMES[@]}
for ((w = 1; w <= WARMUP; w++)); do
  for name in "${NAMES[@]}"; do
    for dir in RETR STOR; do
      line=$(transfer "$name" "$dir" 0)
      echo "$line" >>"$RESULTS"
      echo "warm-up: $line" >&2
    done
  done
done
for ((run = 1; run <= RUNS; run++)); do
  for ((k = 0; k < count; k++)); do
    name=${NAMES[$(((k + run - 1) % count))]}   # rotate the order from run to run
    for dir in RETR STOR; do
      line=$(transfer "$name" "$dir" "$run")
      echo "$line" >>"$RESULTS"
      echo "run $run: $line" >&2
    done
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
[[ -n $RAW ]] && cp -- "$RESULTS" "$RAW"

python3 - "$RESULTS" "$SIZE_MIB" "$RUNS" "${NAMES[@]}" <<'EOF'
import statistics, sys
path, size_mib, runs, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
rows = [line.rstrip("\n").split("\t") for line in open(path)]
def values(name, d, col):
    return [float(r[col]) for r in rows
            if r[0] == name and r[1] == d and r[2] != "0" and r[3] == "ok"]
def fails(name):  # warm-ups included
    return sum(1 for r in rows if r[0] == name and r[3] != "ok")
med = {(n, d): statistics.median(values(n, d, 6)) if values(n, d, 6) else None
       for n in names for d in ("RETR", "STOR")}
def speed(n, d):
    v = values(n, d, 6)
    return f"{med[n, d]:.0f} ({min(v):.0f}-{max(v):.0f})" if v else "failed"
def ratio(n, d):
    a, b = med[n, d], med["vsftpd", d]
    return f"{a / b:.2f}" if a and b else "-"
def cpu(n, d):
    v = values(n, d, 7)
    return f"{statistics.median(v):.2f}" if v else "-"
print(f"\n{size_mib} MiB file, {runs} runs (after warm-up), median MB/s (min-max), MB = 10^6 bytes; "
      "CPU = server CPU seconds per transfer (median); failed counts warm-ups too\n")
print("| server | RETR MB/s | STOR MB/s | RETR / vsftpd | STOR / vsftpd | RETR CPU s | STOR CPU s | failed |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for n in names:
    print(f"| {n} | {speed(n, 'RETR')} | {speed(n, 'STOR')} | {ratio(n, 'RETR')} | "
          f"{ratio(n, 'STOR')} | {cpu(n, 'RETR')} | {cpu(n, 'STOR')} | {fails(n)} |")
sys.exit(1 if any(fails(n) for n in names) else 0)
EOF
