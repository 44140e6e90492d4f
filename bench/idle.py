#!/usr/bin/env python3
"""idle.py: resident memory per idle, logged-in FTP control connection, measured against vsftpd.

Usage:
  bench/idle.py --server NAME=PATH [--server NAME=PATH ...] [options]

  --server NAME=PATH   an example server binary to measure (repeatable). It is started as
                         PATH --listen 127.0.0.1:PORT --root DIR --user bench:bench
                              --max-connections N+16
                       (the flags of `cargo run -p ftp-tokio --example server -- --help`).
  --connections N      idle connections to open and log in (default 1000)
  --batch N            connections opened, then logged in, per batch (default 50)
  --settle SECS        pause before each RSS reading (default 2)
  --timeout SECS       limit for everything done against one server (default 300)
  --no-vsftpd          do not measure vsftpd
  -h, --help           this text

For each server, one after the other: start it on 127.0.0.1 with a fresh root on tmpfs, wait
for its 220 greeting, log in and QUIT once (so one-time set-up is not charged to the
connections), and read its resident memory (RSS_before). Then open N control connections,
each bound to a source address from 127.0.0.2 to 127.0.0.254 in turn (the example servers
admit at most 32 connections per client address), read the 220, send USER and PASS and expect
230. RSS_after is read with all N connections logged in and idle; then every connection must
answer NOOP with 200. KiB per connection = (RSS_after - RSS_before) / (connections logged in).
Then the burst ends: every connection is closed, and once the server holds no more than 8
descriptors and no more processes than before the connections (polled, 60 s at most), and
--settle later, its memory is read a third time. KiB kept per connection after close =
(anonymous PSS after close - anonymous PSS before) / connections, and growth given back =
(after - after close) / (after - before), from Pss_Anon: the file-backed part of PSS moves
with other processes mapping the same files (libc), by up to a megabyte on a busy machine.

RSS is VmRSS from /proc/PID/status summed over the server and all its descendant processes
(vsftpd forks a session process, and a second, unprivileged one after login, per connection;
every process counts its shared pages again). PSS (Pss from /proc/PID/smaps_rollup, shared
pages split between the processes mapping them) is reported too: for a forking server it is the
fairer per-session figure.

vsftpd (from $FTP_PEERS_DIR, default /opt/ftp-peers, installed by .ci/install-peers) logs in
the local user ftppeer (password $FTP_PEER_PASS, default ftppeer-pass) through PAM service
ftp-peer-test, configured as in bench/transfer.sh, plus max_clients=N+16 and max_per_ip=0
(no per-address limit). It needs root; without root vsftpd is skipped with a note.

Everything is on 127.0.0.0/8. The file descriptor limit is raised to what N connections need
(client and server side share this process's limit, which the servers inherit).
Exit status: 0 if every connection logged in and answered NOOP on every server, else 1.
Python 3 standard library only.
"""

import os
import resource
import shutil
import signal
import random
import socket
import subprocess
import sys
import tempfile
import time

PEERS_DIR = os.environ.get("FTP_PEERS_DIR", "/opt/ftp-peers")
VSFTPD = os.path.join(PEERS_DIR, "vsftpd/usr/sbin/vsftpd")
PEER_USER = os.environ.get("FTP_PEER_USER", "ftppeer")
PEER_PASS = os.environ.get("FTP_PEER_PASS", "ftppeer-pass")
SOURCES = [f"127.0.0.{i}" for i in range(2, 255)]


def die(msg):
    print(f"idle.py: {msg}", file=sys.stderr)
    sys.exit(2)


def parse_args(argv):
    opts = {"servers": [], "n": 1000, "batch": 50, "settle": 2.0, "timeout": 300.0,
            "vsftpd": True}
    it = iter(argv)
    for a in it:
        def val():
            try:
                return next(it)
            except StopIteration:
                die(f"{a} needs a value")
        if a in ("-h", "--help"):
            print(__doc__.strip())
            sys.exit(0)
        elif a == "--server":
            v = val()
            name, sep, path = v.partition("=")
            if not sep or not name or not path or name == "vsftpd":
                die(f"bad --server {v} (NAME=PATH)")
            if not os.access(path, os.X_OK):
                die(f"{path}: not an executable")
            opts["servers"].append((name, os.path.abspath(path)))
        elif a == "--connections":
            opts["n"] = int(val())
        elif a == "--batch":
            opts["batch"] = int(val())
        elif a == "--settle":
            opts["settle"] = float(val())
        elif a == "--timeout":
            opts["timeout"] = float(val())
        elif a == "--no-vsftpd":
            opts["vsftpd"] = False
        else:
            die(f"unknown argument {a} (see --help)")
    if not opts["servers"] and not opts["vsftpd"]:
        die("nothing to measure (give --server NAME=PATH)")
    if opts["n"] < 1 or opts["batch"] < 1:
        die("--connections and --batch must be positive")
    return opts


def write_vsftpd_conf(path, port, root, empty, logdir, max_clients):
    """vsftpd's config for the benchmarks (shared with bench/run.py): the local user
    $FTP_PEER_USER logs in through PAM service ftp-peer-test into `root` on 127.0.0.1:`port`,
    no per-address cap."""
    with open(path, "w") as f:
        f.write(f"""listen=YES
listen_ipv6=NO
background=NO
listen_address=127.0.0.1
listen_port={port}
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
local_root={root}
pam_service_name=ftp-peer-test
secure_chroot_dir={empty}
seccomp_sandbox=NO
xferlog_enable=NO
vsftpd_log_file={logdir}/vsftpd.log
utf8_filesystem=YES
max_clients={max_clients}
max_per_ip=0
""")


def free_port():
    """A free port below the ephemeral range, so that no client socket of the benchmark (10,000
    of them in the idle step) can take it between this check and the server's bind."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(10000, max(10001, low - 1))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid):
    """pid and all its descendant processes (following /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                try:
                    with open(f"/proc/{p}/task/{t}/children") as f:
                        todo.extend(int(c) for c in f.read().split())
                except OSError:
                    pass
        except OSError:
            pass
    return out


def open_fds(pid):
    """Open file descriptors summed over pid and its descendants, and the number of processes."""
    fds = procs = 0
    for p in descendants(pid):
        try:
            fds += len(os.listdir(f"/proc/{p}/fd"))
            procs += 1
        except OSError:
            pass  # exited meanwhile
    return fds, procs


def wait_closed(pid, fds0, procs0, deadline, slack=8):
    """Polls until the server holds no more than slack descriptors and no more processes than
    before the sessions (it has seen every close), or until deadline: True if it got there."""
    while True:
        fds, procs = open_fds(pid)
        if fds <= fds0 + slack and procs <= procs0:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def memory(pid):
    """(RSS KiB, PSS KiB, processes, threads, anonymous PSS KiB) summed over pid and its
    descendants."""
    rss = pss = procs = threads = anon = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                st = dict(line.split(":", 1) for line in f if ":" in line)
            with open(f"/proc/{p}/smaps_rollup") as f:
                sm = dict(line.split(":", 1) for line in f if ":" in line and not line[0].isdigit())
        except OSError:
            continue  # exited meanwhile
        rss += int(st.get("VmRSS", "0 kB").split()[0])
        threads += int(st["Threads"])
        pss += int(sm.get("Pss", "0 kB").split()[0])
        anon += int(sm.get("Pss_Anon", "0 kB").split()[0])
        procs += 1
    return rss, pss, procs, threads, anon


class Conn:
    def __init__(self, src, port, deadline):
        self.deadline = deadline
        self.buf = b""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(self.left())
        self.sock.bind((src, 0))
        self.sock.connect(("127.0.0.1", port))

    def left(self):
        t = self.deadline - time.monotonic()
        if t <= 0:
            raise TimeoutError("time limit reached")
        return min(t, 30.0)

    def line(self):
        while b"\n" not in self.buf:
            self.sock.settimeout(self.left())
            data = self.sock.recv(4096)
            if not data:
                raise ConnectionError("connection closed by the server")
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """One (possibly multi-line) reply: (code, last line)."""
        first = line = self.line()
        if len(first) >= 4 and first[3] == "-":
            while not (line[:3] == first[:3] and line[3:4] == " "):
                line = self.line()
        return int(first[:3]) if first[:3].isdigit() else 0, line

    def send(self, text):
        self.sock.settimeout(self.left())
        self.sock.sendall(text.encode() + b"\r\n")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def start(cmd, port, workdir, name, deadline, env=None):
    log = open(os.path.join(workdir, f"{name}.log"), "wb")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, env=env)
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited at start-up (status {proc.returncode}); "
                               f"log: {tail(workdir, name)}")
        try:
            c = Conn("127.0.0.1", port, min(deadline, time.monotonic() + 2))
            code, text = c.reply()
            c.close()
            if code == 220:
                return proc
        except (OSError, TimeoutError):
            pass
        if time.monotonic() > deadline - 1:
            raise RuntimeError(f"{name}: no 220 greeting on port {port}")
        time.sleep(0.2)


def tail(workdir, name, n=5):
    try:
        with open(os.path.join(workdir, f"{name}.log"), errors="replace") as f:
            return " | ".join(f.read().splitlines()[-n:])
    except OSError:
        return "(no log)"


def stop(proc):
    pids = descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass
    for p in pids:  # session processes (vsftpd), and the server if TERM was not enough
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def login(c, user, password):
    code, text = c.reply()
    if code != 220:
        raise RuntimeError(f"greeting {code} {text}")
    c.send(f"USER {user}")
    code, text = c.reply()
    if code != 331:
        raise RuntimeError(f"USER: {code} {text}")
    c.send(f"PASS {password}")


def measure(name, cmd, port, user, password, opts, workdir):
    n, deadline = opts["n"], time.monotonic() + opts["timeout"]
    res = {"name": name, "n": n, "ok": 0, "noop": 0, "errors": {}}

    def err(what, e):
        key = f"{what}: {e}"
        res["errors"][key] = res["errors"].get(key, 0) + 1

    try:
        proc = start(cmd, port, workdir, name, deadline, opts.get("env"))
    except RuntimeError as e:
        res["fatal"] = str(e)
        return res
    conns = []
    try:
        # One full session first, so one-time set-up is not charged to the N connections.
        c = Conn("127.0.0.1", port, deadline)
        login(c, user, password)
        code, text = c.reply()
        if code != 230:
            raise RuntimeError(f"{name}: warm-up login answered {code} {text}")
        c.send("QUIT")
        c.reply()
        c.close()
        time.sleep(opts["settle"])
        res["before"] = memory(proc.pid)
        fds0, procs0 = open_fds(proc.pid)

        for start_i in range(0, n, opts["batch"]):
            batch = []
            for i in range(start_i, min(n, start_i + opts["batch"])):
                try:
                    batch.append(Conn(SOURCES[i % len(SOURCES)], port, deadline))
                except (OSError, TimeoutError) as e:
                    err("connect", e)
            stage = []
            for c in batch:  # greeting and USER; PASS sent to the whole batch, then read
                try:
                    login(c, user, password)
                    stage.append(c)
                except (OSError, TimeoutError, RuntimeError, ValueError) as e:
                    err("greeting/USER", e)
                    c.close()
            for c in stage:
                try:
                    code, text = c.reply()
                    if code != 230:
                        raise RuntimeError(f"PASS: {code} {text}")
                    conns.append(c)
                except (OSError, TimeoutError, RuntimeError, ValueError) as e:
                    err("PASS", e)
                    c.close()
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited (status {proc.returncode}) after "
                                   f"{len(conns)} logins; log: {tail(workdir, name)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: time limit reached after {len(conns)} logins")
        res["ok"] = len(conns)
        time.sleep(opts["settle"])
        res["after"] = memory(proc.pid)

        for c in conns:
            try:
                c.send("NOOP")
            except (OSError, TimeoutError) as e:
                err("NOOP send", e)
        for c in conns:
            try:
                code, text = c.reply()
                if code == 200:
                    res["noop"] += 1
                else:
                    err("NOOP", f"{code} {text}")
            except (OSError, TimeoutError, ValueError) as e:
                err("NOOP", e)

        # The burst ends: close every session, wait until the server has seen all the closes
        # (its descriptors and processes back to where they were), and read what it kept.
        for c in conns:
            c.close()
        conns = []
        if not wait_closed(proc.pid, fds0, procs0, min(deadline, time.monotonic() + 60)):
            fds, procs = open_fds(proc.pid)
            raise RuntimeError(f"{name}: still {fds} descriptors and {procs} processes after "
                               f"the sessions closed (before them: {fds0}, {procs0})")
        time.sleep(opts["settle"])
        res["closed"] = memory(proc.pid)
    except (RuntimeError, OSError, TimeoutError) as e:
        res["fatal"] = str(e)
    finally:
        for c in conns:
            c.close()
        stop(proc)
    return res


def kept(res):
    """After the burst closed: (KiB kept per session, fraction of the growth given back), or
    None if the close step did not complete. From the anonymous part of PSS (heap, stacks):
    the file-backed part (the binary, libc) moves with other processes that map the same
    files, by up to a megabyte on a shared machine, which is 1 KiB per session at 1,000."""
    if "closed" not in res or not res["ok"]:
        return None
    b, a, c = res["before"][4], res["after"][4], res["closed"][4]
    grown = a - b
    return (c - b) / res["ok"], ((a - c) / grown if grown > 0 else None)


def main():
    opts = parse_args(sys.argv[1:])
    n = opts["n"]
    need = 2 * n + 256  # client sockets here, and the servers' (they inherit the limit)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            die(f"open-file limit {hard} < {need}: raise it (ulimit -n) first")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

    with open("/proc/loadavg") as f:
        load0 = " ".join(f.read().split()[:3])
    print(f"load average at start: {load0} ({os.cpu_count()} CPUs); {n} connections",
          file=sys.stderr)
    workdir = tempfile.mkdtemp(prefix="ftp-idle.", dir="/dev/shm")
    os.chmod(workdir, 0o755)
    results = []
    try:
        for name, path in opts["servers"]:
            root = os.path.join(workdir, name, "root")
            os.makedirs(root)
            port = free_port()
            cmd = [path, "--listen", f"127.0.0.1:{port}", "--root", root, "--user", "bench:bench",
                   "--max-connections", str(n + 16)]
            print(f"{name}: {path}, port {port}", file=sys.stderr)
            results.append(measure(name, cmd, port, "bench", "bench", opts, workdir))
        if opts["vsftpd"]:
            if os.geteuid() != 0:
                print("vsftpd skipped: not root (it logs in a local user)", file=sys.stderr)
            elif not os.access(VSFTPD, os.X_OK):
                print(f"vsftpd skipped: no {VSFTPD} (run .ci/install-peers)", file=sys.stderr)
            else:
                base = os.path.join(workdir, "vsftpd")
                root, empty = os.path.join(base, "root"), os.path.join(base, "empty")
                os.makedirs(root)
                os.makedirs(empty)
                os.chmod(base, 0o755)
                os.chmod(root, 0o777)
                shutil.chown(root, PEER_USER)
                port = free_port()
                conf = os.path.join(base, "vsftpd.conf")
                write_vsftpd_conf(conf, port, root, empty, base, n + 16)
                print(f"vsftpd: {VSFTPD}, port {port}", file=sys.stderr)
                results.append(measure("vsftpd", [VSFTPD, conf], port, PEER_USER, PEER_PASS,
                                       opts, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    with open("/proc/loadavg") as f:
        load1 = " ".join(f.read().split()[:3])
    print(f"load average at end: {load1}", file=sys.stderr)
    print(f"| server | logged in | RSS before KiB | RSS after KiB | RSS KiB / conn "
          f"| PSS KiB / conn | processes | threads | NOOP 200 | RSS after close KiB "
          f"| KiB kept / conn after close | growth given back |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    good = True
    for r in results:
        if "after" in r and r["ok"]:
            b, a = r["before"], r["after"]
            k = kept(r)
            closed = f"{r['closed'][0]} | {k[0]:.1f} | " if k else "– | – | "
            closed += f"{k[1]:.0%}" if k and k[1] is not None else "–"
            print(f"| {r['name']} | {r['ok']}/{r['n']} | {b[0]} | {a[0]} | "
                  f"{(a[0] - b[0]) / r['ok']:.1f} | {(a[1] - b[1]) / r['ok']:.1f} | "
                  f"{b[2]} → {a[2]} | {b[3]} → {a[3]} | {r['noop']}/{r['ok']} | {closed} |")
        else:
            print(f"| {r['name']} | {r['ok']}/{r['n']} | – | – | – | – | – | – | – | – | – | – |")
        if (r.get("fatal") or r["errors"] or r["ok"] != r["n"] or r["noop"] != r["ok"]
                or "closed" not in r):
            good = False
        if r.get("fatal"):
            print(f"{r['name']}: failed: {r['fatal']}", file=sys.stderr)
        for e, count in r["errors"].items():
            print(f"{r['name']}: {count} x {e}", file=sys.stderr)
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
