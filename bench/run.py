#!/usr/bin/env python3
"""run.py: the project's benchmark harness, one command for the whole table of issue 11.

Usage (from anywhere; needs root for vsftpd and pure-ftpd, which log in a local user):
  bench/run.py [options]

  --runs N           rounds over every server (default 3); the servers' order rotates
  --size-mib N       transfer file size (default 1024)
  --sessions1 N      short sessions at concurrency 1 per round (default 2000)
  --sessions32 N     short sessions at concurrency 32 per round (default 10000)
  --session-secs S   stop each of those early after S seconds (default 10; the rate counts
                     the sessions done)
  --idle N[,N...]    idle logged-in sessions for the memory figure (default 1000,10000)
  --idle-all         every server at every --idle count (default: the forking servers,
                     vsftpd and pure-ftpd, only at the smallest count: 10,000 sessions are
                     20,000 processes for vsftpd)
  --servers A,B,...  only these (tokio, futures, mio, vsftpd, pure-ftpd, pyftpdlib)
  --bin-dir DIR      where the example servers are (default: build them with
                     `cargo build --release` and use target/release/examples)
  --extra NAME=PATH  one more server taking the example servers' flags, e.g. an older build
                     for before/after figures in the same rounds (repeatable)
  --only PARTS       a comma list of transfers, sessions, idle (default: all three)
  --out FILE         the Markdown report (default bench-results.md in the current directory)
  --append           also append the report to BENCHMARKS.md
  --smoke            tiny run for CI (seconds): 4 MiB, 1 round, 20/64 sessions, 50 idle
  --timeout SECS     limit for one measurement step (default 120)
  -h, --help         this text

What one round does, server after server (order rotated each round): start the server on
127.0.0.1 under bench/reaper.py (so CPU of forked session processes is counted), with a
fresh root on tmpfs holding the test file and a directory of 100 files; one unmeasured
RETR and STOR; then RETR passive, RETR active (curl -P) and STOR with curl (MB/s = bytes /
(time_total - time_pretransfer)); then short sessions (connect, USER, PASS, PWD, EPSV,
LIST of the 100 files, QUIT) with bench/loadgen.rs, a raw-socket Rust generator built with
rustc, at concurrency 1 and 32; server CPU (utime+stime of every process of the server,
from /proc) around each step. Then the server stops and idle memory is measured with
bench/idle.py's procedure on a fresh start (PSS and RSS summed over the server's processes,
source addresses spread over 127.0.0.0/8, every session must answer NOOP; then all close and,
once the server holds no more descriptors than before them, what it kept is read). The
raw loopback TCP limit (loadgen tcp: one sender and one receiver thread) opens each round.

Ratios are taken within a round and their median reported. Everything listens on 127.0.0.0/8;
every wait is bounded; servers and files are removed at the end (also on Ctrl-C).
Python 3 standard library only; curl, rustc and the peers of .ci/install-peers.
"""

import datetime
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, BENCH)
import idle  # noqa: E402  (the idle-memory procedure, shared with bench/idle.py)

PEERS = os.environ.get("FTP_PEERS_DIR", "/opt/ftp-peers")
PEER_USER = os.environ.get("FTP_PEER_USER", "ftppeer")
PEER_PASS = os.environ.get("FTP_PEER_PASS", "ftppeer-pass")
ALL = ["tokio", "futures", "mio", "vsftpd", "pure-ftpd", "pyftpdlib"]
OURS = {"tokio": "server", "futures": "futures-server", "mio": "mio-server"}
FORKING = {"vsftpd", "pure-ftpd"}
CLK = os.sysconf("SC_CLK_TCK")

PYFTPD = """import logging, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
port, root, user, password, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
logging.basicConfig(level=logging.WARNING)
auth = DummyAuthorizer()
auth.add_user(user, password, root, perm="elradfmwMT")
FTPHandler.authorizer = auth
FTPHandler.passive_ports = range(40000, 44000)
server = FTPServer(("127.0.0.1", int(port)), FTPHandler)
server.max_cons = int(n)
server.max_cons_per_ip = 0
server.serve_forever()
"""


def die(msg):
    print(f"run.py: {msg}", file=sys.stderr)
    sys.exit(2)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args(argv):
    o = {"runs": 3, "size": 1024, "s1": 2000, "s32": 10000, "idle": [1000, 10000],
         "idle_all": False, "servers": list(ALL), "bin_dir": None, "out": "bench-results.md",
         "append": False, "smoke": False, "timeout": 120.0, "extra": {}, "only": {"transfers", "sessions", "idle"}, "session_secs": 10.0}
    it = iter(argv)
    for a in it:
        def val():
            try:
                return next(it)
            except StopIteration:
                die(f"{a} needs a value")
        try:
            if a in ("-h", "--help"):
                print(__doc__.strip())
                sys.exit(0)
            elif a == "--runs":
                o["runs"] = int(val())
            elif a == "--size-mib":
                o["size"] = int(val())
            elif a == "--sessions1":
                o["s1"] = int(val())
            elif a == "--sessions32":
                o["s32"] = int(val())
            elif a == "--session-secs":
                o["session_secs"] = float(val())
            elif a == "--idle":
                o["idle"] = sorted(int(x) for x in val().split(",") if x)
            elif a == "--idle-all":
                o["idle_all"] = True
            elif a == "--servers":
                o["servers"] = [s for s in val().split(",") if s] + list(o["extra"])
            elif a == "--bin-dir":
                o["bin_dir"] = os.path.abspath(val())
            elif a == "--extra":
                name, _, path = val().partition("=")
                if not name or not path or name in ALL or not os.access(path, os.X_OK):
                    die("--extra wants NAME=PATH of an executable, NAME not a known server")
                o["extra"][name] = os.path.abspath(path)
                o["servers"].append(name)
            elif a == "--only":
                o["only"] = set(x for x in val().split(",") if x)
                if not o["only"] or o["only"] - {"transfers", "sessions", "idle"}:
                    die("--only wants a comma list of transfers, sessions, idle")
            elif a == "--out":
                o["out"] = val()
            elif a == "--append":
                o["append"] = True
            elif a == "--smoke":
                o.update(smoke=True, runs=1, size=4, s1=20, s32=64, idle=[50])
            elif a == "--timeout":
                o["timeout"] = float(val())
            else:
                die(f"unknown argument {a} (see --help)")
        except ValueError:
            die(f"{a}: not a number")
    bad = [s for s in o["servers"] if s not in ALL and s not in o["extra"]]
    if bad:
        die(f"unknown servers {bad}; known: {ALL}")
    if not (1 <= o["runs"] <= 20 and 1 <= o["size"] <= 8192 and o["s1"] > 0 and o["s32"] > 0
            and all(0 < n <= 20000 for n in o["idle"]) and o["idle"]):
        die("a count is out of range")
    return o


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def sh(cmd, timeout, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def build(o):
    """The three example servers and the load generator; returns the generator's path."""
    if o["bin_dir"] is None:
        log("building the example servers (release)")
        r = subprocess.run(["cargo", "build", "--release", "-q", "-p", "ftp-tokio", "--example",
                            "server", "-p", "ftp-futures", "--example", "futures-server", "-p",
                            "ftp-mio", "--example", "mio-server"], cwd=ROOT, timeout=1800)
        if r.returncode:
            die("cargo build failed")
        o["bin_dir"] = os.path.join(ROOT, "target/release/examples")
    src = os.path.join(BENCH, "loadgen.rs")
    out = os.path.join(ROOT, "target/bench/loadgen")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        log("building bench/loadgen.rs with rustc -O")
        r = sh(["rustc", "-O", "--edition", "2021", "-o", out, src], 300)
        if r.returncode:
            die(f"rustc failed:\n{r.stderr}")
    return out


class Server:
    """One server's command line, credentials and root, and its running process."""

    def __init__(self, name, work, o):
        self.name, self.o = name, o
        self.base = os.path.join(work, name)
        self.root = os.path.join(self.base, "root")
        self.user, self.password = (PEER_USER, PEER_PASS) if name in FORKING else ("bench",
                                                                                   "bench")
        self.wrap = self.pid = None
        self.log = None

    def ours(self):
        """The binary of one of our example servers (or an --extra one), else None."""
        if self.name in self.o["extra"]:
            return self.o["extra"][self.name]
        if self.name in OURS:
            return os.path.join(self.o["bin_dir"], OURS[self.name])
        return None

    def available(self):
        if self.ours():
            p = self.ours()
            return None if os.access(p, os.X_OK) else f"no {p}"
        if self.name == "pyftpdlib":
            r = sh([sys.executable, "-c", "import pyftpdlib"], 30)
            return None if r.returncode == 0 else "pyftpdlib not importable"
        if os.geteuid() != 0:
            return "not root (it logs in a local user)"
        exe = self.exe()
        if not os.access(exe, os.X_OK):
            return f"no {exe} (run .ci/install-peers)"
        return None

    def exe(self):
        return {"vsftpd": f"{PEERS}/vsftpd/usr/sbin/vsftpd",
                "pure-ftpd": f"{PEERS}/pure-ftpd/usr/sbin/pure-ftpd"}[self.name]

    def prepare(self, bigfile):
        """A fresh root: the test file (a hard link) and list100/ with 100 empty files."""
        shutil.rmtree(self.base, ignore_errors=True)
        os.makedirs(os.path.join(self.root, "list100"))
        os.chmod(self.base, 0o755)
        os.chmod(self.root, 0o777)
        os.link(bigfile, os.path.join(self.root, "down.bin"))
        for i in range(100):
            open(os.path.join(self.root, "list100", f"file{i:03}.dat"), "w").close()
        if self.name in FORKING:
            shutil.chown(self.root, PEER_USER)

    def command(self, port, n):
        """The command line for `n` simultaneous sessions (and a little more)."""
        cap = str(n + 64)
        if self.ours():
            return [self.ours(), "--listen",
                    f"127.0.0.1:{port}", "--root", self.root, "--user", "bench:bench",
                    "--max-connections", cap, "--max-per-ip", cap]
        if self.name == "pyftpdlib":
            script = os.path.join(self.base, "pyftpd.py")
            with open(script, "w") as f:
                f.write(PYFTPD)
            return [sys.executable, script, str(port), self.root, self.user, self.password, cap]
        if self.name == "vsftpd":
            empty = os.path.join(self.base, "empty")
            os.makedirs(empty, exist_ok=True)
            conf = os.path.join(self.base, "vsftpd.conf")
            idle.write_vsftpd_conf(conf, port, self.root, empty, self.base, cap)
            return [self.exe(), conf]
        # pure-ftpd: a PureDB virtual user mapped to the local user, chrooted to the root.
        pdb = os.path.join(self.base, "pure.pdb")
        if not os.path.exists(pdb):
            h = sh(["openssl", "passwd", "-6", self.password], 30)
            uid = sh(["id", "-u", PEER_USER], 30).stdout.strip()
            gid = sh(["id", "-g", PEER_USER], 30).stdout.strip()
            pw = os.path.join(self.base, "passwd")
            with open(pw, "w") as f:
                f.write(f"{PEER_USER}:{h.stdout.strip()}:{uid}:{gid}::{self.root}/./"
                        "::::::::::::\n")
            r = sh([f"{PEERS}/pure-ftpd/usr/bin/pure-pw", "mkdb", pdb, "-f", pw], 30)
            if r.returncode:
                raise RuntimeError(f"pure-pw mkdb: {r.stderr}")
        return [self.exe(), "-S", f"127.0.0.1,{port}", "-p", "44000:47999", "-E", "-H", "-A",
                "-c", cap, "-C", cap, "-l", f"puredb:{pdb}"]

    def start(self, n):
        self.port = idle.free_port()
        cmd = self.command(self.port, n)
        env = dict(os.environ, RUST_LOG="warn")
        self.log = open(os.path.join(self.base, "server.log"), "ab")
        self.wrap = subprocess.Popen([sys.executable, os.path.join(BENCH, "reaper.py")] + cmd,
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            kids = idle.descendants(self.wrap.pid)[1:]
            if kids:
                self.pid = kids[0]
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{self.name}: did not start")
        while True:
            if self.wrap.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up; {self.tail()}")
            try:
                c = idle.Conn("127.0.0.1", self.port, time.monotonic() + 2)
                code, _ = c.reply()
                c.close()
                if code == 220:
                    return
            except (OSError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: no 220 greeting; {self.tail()}")
            time.sleep(0.1)

    def tail(self):
        try:
            with open(os.path.join(self.base, "server.log"), errors="replace") as f:
                return "log: " + " | ".join(f.read().splitlines()[-5:])
        except OSError:
            return "(no log)"

    def ticks(self):
        """CPU ticks of every process of the server, living or reaped."""
        total = 0
        for p in idle.descendants(self.wrap.pid):
            try:
                with open(f"/proc/{p}/stat") as f:
                    fields = f.read().rsplit(") ", 1)[1].split()
            except (OSError, IndexError):
                continue
            own = int(fields[11]) + int(fields[12])
            waited = int(fields[13]) + int(fields[14])
            # The wrapper's own time is not the server's; what it reaped is.
            total += waited if p == self.wrap.pid else own + waited
        return total

    def quiesce(self):
        """Waits (at most 5 s) until the session processes of a forking server are gone."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if len(idle.descendants(self.wrap.pid)) <= 2:
                return
            time.sleep(0.05)

    def stop(self):
        if self.wrap is not None:
            idle.stop(self.wrap)
            self.wrap = None
        if self.log:
            self.log.close()
            self.log = None


def curl(s, what, size, timeout):
    """(MB/s, server CPU s) of one transfer; raises on failure."""
    url = f"ftp://127.0.0.1:{s.port}/"
    base = ["curl", "-sS", "--max-time", str(int(timeout)), "-u", f"{s.user}:{s.password}",
            "-w", "%{time_pretransfer} %{time_total} %{size_download} %{size_upload}"]
    if what == "STOR":
        cmd = base + ["-T", s.o["src"], url + "up.bin"]
    else:
        cmd = base + ["-o", "/dev/null", url + "down.bin"]
        if what == "RETR active":
            cmd[1:1] = ["-P", "127.0.0.1"]
    t0 = s.ticks()
    r = sh(cmd, timeout + 10)
    s.quiesce()
    cpu = (s.ticks() - t0) / CLK
    if r.returncode:
        raise RuntimeError(f"{what}: curl {r.returncode}: {r.stderr.strip()}")
    pre, total, down, up = r.stdout.split()
    moved = int(float(up if what == "STOR" else down))
    if moved != size:
        raise RuntimeError(f"{what}: moved {moved} of {size} bytes")
    if what == "STOR":
        stored = os.path.getsize(os.path.join(s.root, "up.bin"))
        os.unlink(os.path.join(s.root, "up.bin"))
        if stored != size:
            raise RuntimeError(f"STOR: {stored} of {size} bytes on disk")
    return size / (float(total) - float(pre)) / 1e6, cpu


def sessions(s, gen, conc, n, timeout):
    """Short sessions: (sessions/s, server CPU ms per session, generator CPU ms per session)."""
    t0 = s.ticks()
    r = sh([gen, "sessions", f"127.0.0.1:{s.port}", s.user, s.password, "list100", str(conc),
            str(n), str(timeout)], timeout + 30)
    s.quiesce()
    cpu = (s.ticks() - t0) / CLK
    kv = dict(x.split("=", 1) for x in r.stdout.split())
    ok, failed = int(kv.get("ok", 0)), int(kv.get("failed", n))
    if r.returncode or ok == 0 or failed:
        raise RuntimeError(f"sessions c={conc}: ok={ok} failed={failed} {r.stderr.strip()}")
    return float(kv["per_s"]), cpu * 1000 / ok, float(kv["gen_cpu"]) * 1000 / ok


def memory(s, n, o, work):
    """Idle memory (bench/idle.py's procedure): (PSS KiB, RSS KiB per session, NOOP ok,
    logged in, (KiB kept per session after the sessions closed, fraction given back))."""
    port = idle.free_port()
    cmd = s.command(port, n)
    # RUST_LOG=warn as in the other steps: at INFO the example servers' log subscriber keeps
    # a span slot per session that was open at once, for reuse (BENCHMARKS.md, "Memory given
    # back after a burst of sessions").
    opts = {"n": n, "batch": 50, "settle": 1.0 if o["smoke"] else 2.0,
            "timeout": max(o["timeout"], n / 20), "env": dict(os.environ, RUST_LOG="warn")}
    res = idle.measure(s.name, cmd, port, s.user, s.password, opts, work)
    if res.get("fatal") or "after" not in res or not res["ok"] or "closed" not in res:
        raise RuntimeError(f"idle {n}: {res.get('fatal')} {res['errors']}")
    b, a = res["before"], res["after"]
    return ((a[1] - b[1]) / res["ok"], (a[0] - b[0]) / res["ok"], res["noop"], res["ok"],
            idle.kept(res))


def med(xs):
    return statistics.median(xs) if xs else None


def fmt(x, digits=0):
    return "–" if x is None else f"{x:,.{digits}f}"


def spread(xs, digits=0):
    if not xs:
        return "–"
    if len(xs) == 1:
        return fmt(xs[0], digits)
    return f"{fmt(med(xs), digits)} ({fmt(min(xs), digits)}–{fmt(max(xs), digits)})"


def ratio(res, name, ref, key, runs):
    """Median over the rounds of name's figure / ref's figure in the same round."""
    rs = []
    for r in range(runs):
        a, b = res.get((name, r, key)), res.get((ref, r, key))
        if a is not None and b:
            rs.append(a / b)
    return med(rs)


def report(o, servers, res, loop, notes, started, load0, load1, argv):
    runs = o["runs"]
    head = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%h (%cs)"],
                          capture_output=True, text=True).stdout.strip()
    vals = lambda n, k: [res[(n, r, k)] for r in range(runs) if (n, r, k) in res]  # noqa: E731
    out = [f"## Harness run {started:%Y-%m-%d %H:%M} UTC" + (" (smoke)" if o["smoke"] else ""),
           "", f"Command: `bench/run.py {' '.join(argv)}` at commit {head}.", "",
           f"- {os.cpu_count()} CPUs; load average (1/5/15 min) {load0} before, {load1} after.",
           f"- {runs} rounds, servers in rotated order; file {o['size']} MiB on tmpfs; MB = "
           "10^6 bytes; medians with (min–max) over the rounds; ratios are medians of "
           "same-round ratios.",
           f"- Loopback TCP limit (loadgen tcp, 1 sender + 1 receiver thread): "
           f"{spread(loop)} MB/s.", ""]
    names = [s.name for s in servers]
    ref_x = "vsftpd" if "vsftpd" in names else None
    ref_s = "pyftpdlib" if "pyftpdlib" in names else None
    xfer = ["### Transfers (curl)", "",
            "| server | RETR passive MB/s | RETR active MB/s | STOR MB/s | RETR / vsftpd "
            "| STOR / vsftpd | RETR / loopback | RETR CPU s/GiB | STOR CPU s/GiB |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    gib = o["size"] / 1024
    for n in names:
        rp, ra, st = vals(n, "RETR"), vals(n, "RETR active"), vals(n, "STOR")
        lr = [res[(n, r, "RETR")] / res[("loop", r, "mb")] for r in range(runs)
              if (n, r, "RETR") in res and ("loop", r, "mb") in res]
        xfer.append(f"| {n} | {spread(rp)} | {spread(ra)} | {spread(st)} | "
                   f"{fmt(ratio(res, n, ref_x, 'RETR', runs), 2) if ref_x else '–'} | "
                   f"{fmt(ratio(res, n, ref_x, 'STOR', runs), 2) if ref_x else '–'} | "
                   f"{fmt(med(lr), 2)} | "
                   f"{fmt(med([c / gib for c in vals(n, 'RETR cpu')]), 3)} | "
                   f"{fmt(med([c / gib for c in vals(n, 'STOR cpu')]), 3)} |")
    out += xfer + [""] if "transfers" in o["only"] else []
    sess = ["### Short sessions (login, PWD, EPSV + LIST of 100 files, QUIT; loadgen)", "",
            "| server | sessions/s c=1 | sessions/s c=32 | / pyftpdlib c=1 | / pyftpdlib c=32 "
            "| server CPU ms/session c=1 | c=32 | CPU / pyftpdlib (c=32) "
            "| generator CPU ms/session c=32 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in names:
        r1 = fmt(ratio(res, n, ref_s, "s1", runs), 2) if ref_s else "–"
        r32 = fmt(ratio(res, n, ref_s, "s32", runs), 2) if ref_s else "–"
        rc = fmt(ratio(res, n, ref_s, "cpu32", runs), 2) if ref_s else "–"
        sess.append(f"| {n} | {spread(vals(n, 's1'))} | {spread(vals(n, 's32'))} | {r1} | {r32} "
                   f"| {spread(vals(n, 'cpu1'), 2)} | {spread(vals(n, 'cpu32'), 2)} | {rc} "
                   f"| {spread(vals(n, 'gen32'), 3)} |")
    out += sess + [""] if "sessions" in o["only"] else []
    mem = ["### Memory per idle logged-in session (bench/idle.py's procedure)", "",
            "| server | sessions | PSS KiB/session | RSS KiB/session | / pyftpdlib (PSS) "
            "| NOOP answered | KiB kept/session after close | growth given back |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for n in names:
        for k in o["idle"]:
            p = vals(n, f"pss{k}")
            if not p:
                continue
            rr = fmt(ratio(res, n, ref_s, f"pss{k}", runs), 2) if ref_s else "–"
            noop = vals(n, f"noop{k}")
            back = [100 * x for x in vals(n, f"back{k}")]
            mem.append(f"| {n} | {k:,} | {spread(p, 1)} | {spread(vals(n, f'rss{k}'), 1)} | "
                       f"{rr} | {min(noop) if noop else '–'}/{k} in every round | "
                       f"{spread(vals(n, f'kept{k}'), 1)} | "
                       f"{spread(back) + ' %' if back else '–'} |")
    out += mem if "idle" in o["only"] else []
    if notes:
        out += ["", "Problems met (each left that figure out of its round):", ""]
        out += [f"- {x}" for x in notes]
    return "\n".join(out) + "\n"


def main():
    argv = sys.argv[1:]
    o = parse_args(argv)
    for tool in ("curl", "rustc"):
        if not shutil.which(tool):
            die(f"{tool} not found")
    # The limit is per process: this one holds the client sockets, each server its own.
    need = max(o["idle"]) + 512 if "idle" in o["only"] else 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            try:  # root may raise the hard limit too
                resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            except (ValueError, OSError):
                die(f"open-file limit {hard} < {need}: raise it (ulimit -Hn) or lower --idle")
        else:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    # 10,000 idle sessions from one address each would meet per-address caps: spread them.
    idle.SOURCES = [f"127.0.{b}.{c}" for b in range(0, 40) for c in range(2, 255)]
    gen = build(o)
    started = datetime.datetime.now(datetime.timezone.utc)
    load0 = loadavg()
    work = tempfile.mkdtemp(prefix="ftp-run.", dir="/dev/shm")
    os.chmod(work, 0o755)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    servers, notes, res, loop = [], [], {}, []
    try:
        big = os.path.join(work, "file.bin")
        with open(big, "wb") as f:
            for _ in range(o["size"]):
                f.write(os.urandom(1 << 20))
        os.chmod(big, 0o644)
        o["src"] = big
        for name in o["servers"]:
            s = Server(name, work, o)
            why = s.available()
            if why:
                log(f"{name}: skipped: {why}")
                notes.append(f"{name} skipped: {why}")
            else:
                servers.append(s)
        if not servers:
            die("no server to measure")
        log(f"load average {load0}; servers: {', '.join(s.name for s in servers)}")
        for r in range(o["runs"]):
            t = sh([gen, "tcp", str(max(256, 2 * o["size"]))], o["timeout"])
            kv = dict(x.split("=", 1) for x in t.stdout.split())
            if "mb_s" in kv:
                res[("loop", r, "mb")] = float(kv["mb_s"])
                loop.append(float(kv["mb_s"]))
            order = servers[r % len(servers):] + servers[:r % len(servers)]
            for s in order:
                log(f"round {r + 1}: {s.name}")
                try:
                    s.prepare(big)
                    s.start(64)
                    xfers = ("RETR", "RETR active", "STOR") if "transfers" in o["only"] else ()
                    if xfers:
                        curl(s, "STOR", o["size"] << 20, o["timeout"])  # warm-up
                        curl(s, "RETR", o["size"] << 20, o["timeout"])
                    for what in xfers:
                        mb, cpu = curl(s, what, o["size"] << 20, o["timeout"])
                        res[(s.name, r, what)] = mb
                        res[(s.name, r, what + " cpu")] = cpu
                    runs = ((1, o["s1"], "1"), (32, o["s32"], "32"))
                    for conc, n, key in runs if "sessions" in o["only"] else ():
                        rate, cpu, gcpu = sessions(s, gen, conc, n, o["session_secs"])
                        res[(s.name, r, "s" + key)] = rate
                        res[(s.name, r, "cpu" + key)] = cpu
                        res[(s.name, r, "gen" + key)] = gcpu
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                    notes.append(f"round {r + 1}, {s.name}: {e}")
                    log(f"{s.name}: {e}")
                finally:
                    s.stop()
                for k in o["idle"] if "idle" in o["only"] else ():
                    if k != min(o["idle"]) and s.name in FORKING and not o["idle_all"]:
                        continue
                    if k != min(o["idle"]) and r != o["runs"] - 1 and not o["idle_all"]:
                        continue  # the big counts once, in the last round
                    try:
                        log(f"round {r + 1}: {s.name} idle {k}")
                        pss, rss, noop, ok, kept = memory(s, k, o, work)
                        res[(s.name, r, f"pss{k}")] = pss
                        res[(s.name, r, f"kept{k}")] = kept[0]
                        if kept[1] is not None:
                            res[(s.name, r, f"back{k}")] = kept[1]
                        res[(s.name, r, f"rss{k}")] = rss
                        res[(s.name, r, f"noop{k}")] = noop
                        if noop != k or ok != k:
                            notes.append(f"round {r + 1}, {s.name}, idle {k}: {ok} logged "
                                         f"in, {noop} answered NOOP")
                    except (RuntimeError, OSError) as e:
                        notes.append(f"round {r + 1}, {s.name}: {e}")
                        log(f"{s.name}: {e}")
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    load1 = loadavg()
    text = report(o, servers, res, loop, notes, started, load0, load1, argv)
    with open(o["out"], "w") as f:
        f.write(text)
    if o["append"]:
        with open(os.path.join(ROOT, "BENCHMARKS.md"), "a") as f:
            f.write("\n" + text)
    print(text)
    sys.exit(1 if notes and any("skipped" not in n for n in notes) else 0)


if __name__ == "__main__":
    main()
