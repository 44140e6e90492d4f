"""A pyftpdlib server for interop tests: one user, one root, a passive port range, optional
explicit FTPS. Started by tests/src/peers.rs; logs at WARNING so commands are not printed."""
import argparse
import logging

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--passive", required=True, help="LOW-HIGH")
    p.add_argument("--cert")
    p.add_argument("--key")
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    auth = DummyAuthorizer()
    auth.add_user(a.user, a.password, a.root, perm="elradfmwMT")
    if a.cert:
        from pyftpdlib.handlers import TLS_FTPHandler

        handler = TLS_FTPHandler
        handler.certfile = a.cert
        handler.keyfile = a.key
    else:
        handler = FTPHandler
    handler.authorizer = auth
    low, high = (int(x) for x in a.passive.split("-"))
    handler.passive_ports = range(low, high + 1)
    server = FTPServer(("127.0.0.1", a.port), handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
