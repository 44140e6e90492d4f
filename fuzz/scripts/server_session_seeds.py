#!/usr/bin/env python3
"""Writes the seeds of the `server_session` fuzz target into seeds/server_session/.

That target takes an `Arbitrary`-derived `Input`, so its seeds are binary. This script encodes
readable op lists the way arbitrary 1.x decodes them: integers little-endian, `bool` as one
byte (odd is true), an enum variant as a u32 `v` with `(v * variant_count) >> 32` the variant's
index, and every `Vec` element preceded by a "keep going" byte (0 ends the list). It reads the
verb table and the enum variant order from fuzz_targets/server_session.rs and fails if they no
longer match what it expects, so re-run it after changing the target: `python3
scripts/server_session_seeds.py` from fuzz/.
"""
import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
FUZZ = os.path.dirname(HERE)
SRC = open(os.path.join(FUZZ, "fuzz_targets", "server_session.rs")).read()

table = SRC[SRC.index("const VERBS"):]
table = table[: table.index("];")]
VERB = {}
for i, (verb, some, canned) in enumerate(
    re.findall(r'\("([A-Z@]+)", (Some\("([^"]*)"\)|None)\)', table)
):
    key = verb + (" " + canned if canned else "") if some != "None" else verb + " _"
    VERB.setdefault(key, i)


def variants(enum):
    body = SRC[SRC.index("enum %s {" % enum):]
    body = body[: body.index("\n}\n")]
    return re.findall(r"^    ([A-Z][A-Za-z]*)", body, re.M)


OPS = variants("Op")
ANSWERS = variants("AnswerKind")
ARGS = variants("Arg")
assert ARGS == ["None", "Name", "Raw"], ARGS


def variant(index, count):
    v = ((2 * index + 1) << 32) // (2 * count)
    assert (v * count) >> 32 == index
    return struct.pack("<I", v)


def op(name, *fields):
    return b"\x01" + variant(OPS.index(name), len(OPS)) + b"".join(fields)


def arg(name):
    """No argument (the verb's canned one, if any), or the target's file name number `name`."""
    return variant(0, 3) if name is None else variant(1, 3) + bytes([name])


def cmd(key, name=None):
    return op("Command", bytes([VERB[key]]), arg(name))


def burst(*items):
    body = b"".join(b"\x01" + bytes([VERB[k]]) + arg(n) for k, n in items)
    return op("Burst", body + b"\x00")


def failed(code):
    return op("Answer", variant(ANSWERS.index("Failed"), len(ANSWERS)), bytes([code]))


def cfg(tls=0, small=0, anon=0, v6=0, req=0, login=0, trunc=0):
    """tls: 0 disabled, 1 explicit, 2 explicit required, 3 implicit; trunc: accept truncated
    TLS uploads."""
    return bytes([tls, small, anon, v6, req, login, trunc])


AUTO = op("Auto")
FIRE = op("Fire")

SEEDS = {
    "passive-retr": cfg(login=1) + cmd("TYPE A") + cmd("PASV") + AUTO + cmd("RETR _", 0)
    + AUTO * 4 + cmd("SIZE _", 0) + AUTO + cmd("QUIT"),
    "active-stor": cfg(login=1) + cmd("PORT 192,0,2,10,4,1") + cmd("REST 100")
    + cmd("STOR _", 5) + AUTO * 3 + cmd("EPRT |1|192.0.2.10|1025|") + cmd("STOU") + AUTO * 3
    + cmd("PORT 198,51,100,7,4,1") + cmd("PORT 192,0,2,10,0,21"),
    "ftps": cfg(tls=1) + cmd("AUTH TLS") + op("Tls", b"\x01") + cmd("USER alice")
    + cmd("PASS secret") + AUTO + cmd("PBSZ 0") + cmd("PROT P") + cmd("EPSV") + AUTO
    + cmd("LIST _", 4) + AUTO * 4 + cmd("CCC") + cmd("FEAT"),
    "ftps-truncated-upload": cfg(tls=1) + cmd("AUTH TLS") + op("Tls", b"\x01")
    + cmd("USER alice") + cmd("PASS secret") + AUTO + cmd("PBSZ 0") + cmd("PROT P")
    + cmd("EPSV") + AUTO + cmd("STOR _", 5) + AUTO * 3
    + op("TransferTruncated", struct.pack("<I", 512)) + op("Late", b"\x02") + cmd("NOOP"),
    "abort-during-transfer": cfg(login=1) + cmd("PASV") + AUTO + cmd("RETR _", 1) + AUTO * 3
    + cmd("STAT") + cmd("ABOR") + cmd("NOOP") + cmd("QUIT"),
    "login-failures": cfg() + cmd("USER anonymous") + cmd("PASS secret") + FIRE
    + cmd("USER alice") + cmd("PASS secret") + failed(9) + FIRE + cmd("USER alice")
    + cmd("PASS secret") + failed(0) + FIRE,
    "pipelined-small-limits": cfg(small=1, login=1)
    + burst(("NOOP", None), ("PWD", None), ("CWD _", 1), ("SYST", None), ("HELP", None),
            ("FEAT", None), ("QUIT", None)) + AUTO,
    "pipelined-auth": cfg(tls=2) + cmd("USER alice")
    + burst(("AUTH TLS", None), ("USER alice", None), ("PASS secret", None))
    + op("Tls", b"\x01") + cmd("USER alice") + cmd("PASS secret") + AUTO,
    "timeouts": cfg(login=1) + cmd("EPSV") + AUTO + cmd("MLSD _", 0) + AUTO
    + op("Advance", struct.pack("<H", 400)) + cmd("NOOP")
    + op("Advance", struct.pack("<H", 65535)),
    "stalled-transfer": cfg(login=1) + cmd("PASV") + AUTO + cmd("RETR _", 0) + AUTO * 3
    + op("Progress", struct.pack("<H", 4096)) + op("Advance", struct.pack("<H", 200))
    + op("Progress", struct.pack("<H", 0)) + op("Advance", struct.pack("<H", 200))
    + op("Late", b"\x00") + cmd("NOOP") + cmd("QUIT"),
    "file-ops": cfg(login=1, v6=1) + cmd("CWD _", 1) + AUTO + cmd("MKD _", 5) + AUTO
    + cmd("RNFR _", 0) + AUTO + cmd("RNTO _", 5) + AUTO + cmd("MLST _", 0) + AUTO
    + cmd("STAT _", 3) + AUTO + cmd("MDTM _", 0) + AUTO + cmd("MFMT 20240102030405 f") + AUTO
    + cmd("SITE CHMOD 644 f") + AUTO + cmd("OPTS MLST type;size;unix.mode;") + cmd("EPSV 1")
    + cmd("PASV") + cmd("EPRT |2|2001:db8::10|1025|") + cmd("DELE _", 2) + failed(11),
}

out = os.path.join(FUZZ, "seeds", "server_session")
os.makedirs(out, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print("wrote %d seeds to %s" % (len(SEEDS), out))
