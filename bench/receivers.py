"""Receivers for the benchmark, each in a process of its own so it never competes for our GIL.

- nginx, when installed (``apt-get install nginx-light``): the fastest receiver, answering 200 to
  every POST. It is what "zero latency" means in the issue.
- A small asyncio server, when nginx is not there, and for answers after a delay (nginx cannot wait).

Run as a script it is the asyncio server: ``python receivers.py DELAY_SECONDS`` prints its port.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log crit;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {folder};
    proxy_temp_path {folder};
    fastcgi_temp_path {folder};
    uwsgi_temp_path {folder};
    scgi_temp_path {folder};
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200; }}
    }}
}}
"""


def nginx_path() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


@contextmanager
def fast_receiver(prefer_nginx: bool = True) -> Iterator[tuple[str, str]]:
    """(URL, name) of a receiver answering 200 at once, until the block ends."""
    nginx = nginx_path() if prefer_nginx else None
    if nginx is None:
        with delayed_receiver(0.0) as url:
            yield url, "python asyncio server"
        return
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as folder:
        port = _free_port()
        conf = Path(folder) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(folder=folder, port=port))
        process = subprocess.Popen([nginx, "-c", str(conf), "-p", folder], stderr=subprocess.DEVNULL)
        try:
            _wait_for_port(port)
            yield f"http://127.0.0.1:{port}/hook", "nginx"
        finally:
            process.terminate()
            process.wait(10)


@contextmanager
def delayed_receiver(delay: float) -> Iterator[str]:
    """URL of an asyncio server in its own process that answers 200 after ``delay`` seconds."""
    process = subprocess.Popen(
        [sys.executable, __file__, str(delay)], stdout=subprocess.PIPE, text=True, stderr=subprocess.DEVNULL
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        process.terminate()
        process.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"the receiver did not start on port {port}")


# --- the asyncio server ------------------------------------------------------------

_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            if delay:
                await asyncio.sleep(delay)
            writer.write(_ANSWER)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve(delay: float) -> None:
    server = await asyncio.start_server(lambda r, w: _handle(r, w, delay), "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve(float(sys.argv[1])))
