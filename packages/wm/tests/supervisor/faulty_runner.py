"""A runner that misbehaves on purpose, for the supervisor's fault matrix (test-only).

    python faulty_runner.py MODE

exit-before-hello   prints a reason on stderr and exits 5 without a hello
garbage-hello       prints "this is not a hello" on stdout, then sleeps
silent              never prints anything, sleeps
no-initialize       prints a valid hello, accepts the connection, never answers
"""

import json
import os
import socket
import sys
import time

mode = sys.argv[1]
sys.stdin.readline()
if mode == "exit-before-hello":
    sys.stderr.write("faulty runner: cannot start (simulated)\n")
    sys.exit(5)
if mode == "garbage-hello":
    sys.stdout.write("this is not a hello\n")
    sys.stdout.flush()
    time.sleep(60)
if mode == "silent":
    time.sleep(60)
if mode == "no-initialize":
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    hello = {
        "corral": "hello",
        "protocol": ["1.0"],
        "port": sock.getsockname()[1],
        "pid": os.getpid(),
        "runner": {"name": "faulty", "version": "0", "language": "python"},
    }
    sys.stdout.write(json.dumps(hello) + "\n")
    sys.stdout.flush()
    conn, _ = sock.accept()
    time.sleep(60)
sys.exit(2)
