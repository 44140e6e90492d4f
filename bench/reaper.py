#!/usr/bin/env python3
"""reaper.py PROGRAM [ARGS...]: runs PROGRAM as the child of a child subreaper, for the benchmarks.

Session processes a server forks and does not wait for (vsftpd's) are reparented here and
reaped, so their CPU time lands in this process's cutime/cstime (/proc/PID/stat), where
bench/transfer.sh and bench/run.py add it to the server's. TERM and INT are passed on; when
the server exits, orphaned sessions left over are killed. Exits with the server's status.
"""
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
def forward(sig, _frame):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
signal.signal(signal.SIGTERM, forward)
signal.signal(signal.SIGINT, forward)
code = 1
while True:
    try:
        p, status = os.wait()
    except ChildProcessError:
        break
    if p == pid:
        code = os.waitstatus_to_exitcode(status)
        for task in os.listdir(f"/proc/{os.getpid()}/task"):  # orphaned sessions left over
            with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
                for child in f.read().split():
                    try:
                        os.kill(int(child), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
sys.exit(code)
