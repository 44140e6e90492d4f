#!/usr/bin/env python3
"""idle_after_list.py: memory per idle logged-in session that has listed a directory once.

Usage: bench/idle_after_list.py SERVER_BINARY [SERVER_BINARY ...]

Each binary takes the example servers' flags. It is started on 127.0.0.1 (bench/idle.py's
procedure and helpers), then 500 sessions each log in, run EPSV and LIST of a directory of 20
files (read to its end, 226 expected) and stay open. Printed per binary: growth of anonymous
PSS and of RSS between before the sessions and 1.5 s after the last LIST, per session. What a
session keeps after its first data transfer (its report channel, tables) shows here and not in
bench/idle.py, whose sessions never open a data connection.
"""
import sys, os, time, tempfile, socket, re
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import idle
N = 500
def run(binary):
    workdir = tempfile.mkdtemp(prefix="ftp-il.", dir="/dev/shm")
    root = os.path.join(workdir, "root"); os.makedirs(os.path.join(root, "d"))
    for i in range(20): open(os.path.join(root, "d", f"f{i}"), "w").close()
    port = idle.free_port()
    cmd = [binary, "--listen", f"127.0.0.1:{port}", "--root", root, "--user", "bench:bench",
           "--max-connections", "2000", "--max-per-ip", "2000"]
    deadline = time.monotonic() + 120
    proc = idle.start(cmd, port, workdir, "s", deadline, dict(os.environ, RUST_LOG="warn"))
    try:
        c = idle.Conn("127.0.0.1", port, deadline); idle.login(c, "bench", "bench"); c.reply(); c.send("QUIT"); c.reply(); c.sock.close()
        time.sleep(1.5)
        before = idle.memory(proc.pid)
        conns = []
        for i in range(N):
            src = f"127.0.0.{2 + i % 250}"
            c = idle.Conn(src, port, deadline)
            idle.login(c, "bench", "bench")
            code, _ = c.reply(); assert code == 230, code
            c.send("EPSV"); code, text = c.reply(); assert code == 229, text
            dport = int(re.search(r"\|\|\|(\d+)\|", text).group(1))
            d = socket.socket(); d.bind((src, 0)); d.connect(("127.0.0.1", dport))
            c.send("LIST d"); code, _ = c.reply(); assert code in (125, 150), code
            data = b""
            while True:
                b = d.recv(65536)
                if not b: break
                data += b
            d.close()
            code, _ = c.reply(); assert code == 226, code
            conns.append(c)
        time.sleep(1.5)
        after = idle.memory(proc.pid)
        return (after[4] - before[4]) / N, (after[0]-before[0]) / N
    finally:
        idle.stop(proc)
for b in sys.argv[1:]:
    print(b, "anon KiB/session %.2f, rss KiB/session %.2f" % run(b))
