"""The cold-start floor: the least a Python runner could do before answering (same venv).

Reads the launch line, imports asyncio + msgspec, binds, prints a hello and answers one
framed request with a fixed result. No dispatch, no validation, no handlers.
"""

import asyncio
import os
import socket
import sys

import msgspec


async def main() -> None:
    sys.stdin.buffer.readline()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    sock.setblocking(False)
    hello = {
        "corral": "hello",
        "protocol": ["1.0"],
        "port": sock.getsockname()[1],
        "pid": os.getpid(),
        "runner": {"name": "floor", "version": "0", "language": "python"},
    }
    sys.stdout.buffer.write(msgspec.json.encode(hello) + b"\n")
    sys.stdout.flush()
    conn, _ = await asyncio.get_running_loop().sock_accept(sock)
    reader, writer = await asyncio.open_connection(sock=conn)
    header = await reader.readuntil(b"\r\n\r\n")
    body = await reader.readexactly(int(header.split(b":")[1].split(b"\r\n")[0]))
    request = msgspec.json.decode(body)
    reply = msgspec.json.encode({"jsonrpc": "2.0", "id": request["id"], "result": {}})
    writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(reply), reply))
    await writer.drain()
    writer.close()


asyncio.run(main())
