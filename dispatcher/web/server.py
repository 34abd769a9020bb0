"""Running the web app under uvicorn: binding, the key check, and a clean stop on SIGINT/SIGTERM."""

from __future__ import annotations

import ipaddress
import shlex
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from ..delivery import RunOptions
from ..errors import DispatcherError
from ..models import RunSummary
from ..store import Location, Store, open_store
from .app import WebOptions, create_app

# Requests still running this long after SIGINT/SIGTERM are cut off.
GRACEFUL_S = 30


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000  # 0: any free port
    deliver: bool = False
    workers: int = 8  # delivery workers, with ``deliver``
    metrics_public: bool = False


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_keys(store: Store, db: str | Path | Location, host: str) -> str | None:
    """Refuse to serve other machines with no API key in the database; on loopback, say how to
    make one (the returned line)."""
    if store.count_api_keys():
        return None
    create = f"dispatcher --db {shlex.quote(str(db))} api-key create --name admin"
    if not is_loopback(host):
        raise DispatcherError(f"no API key yet, and {host} is not a loopback address: first run {create}")
    return f"no API key yet: make one with `{create}`, then log in at /admin/login"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not left 0: asyncio sets TCP_NODELAY only on connections of a socket that
    # says it is TCP, and without it an answer's headers and body wait 40 ms on each other (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise DispatcherError(f"cannot listen on {host}:{port}: {error.strerror or error}", exit_code=1) from None
    sock.listen(2048)
    return sock


def serve(
    db: str | Path | Location, options: ServeOptions, say: Callable[[str], None], report: Callable[[RunSummary], None]
) -> None:
    """Serve until SIGINT or SIGTERM; ``say`` gets the lines a person reads, ``report`` each delivery run."""
    store = open_store(db, create=False)
    try:
        hint = check_keys(store, db, options.host)
    finally:
        store.close()
    sock = _bind(options.host, options.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host

    def started() -> None:
        say(f"listening on http://{shown}:{port}")
        if hint:
            say(hint)

    app = create_app(
        WebOptions(
            db=db,
            deliver=RunOptions(workers=options.workers) if options.deliver else None,
            metrics_public=options.metrics_public,
            on_started=started,
            on_delivery=report,
        )
    )
    config = uvicorn.Config(
        app,
        log_level="warning",
        proxy_headers=True,  # behind a reverse proxy on this host: https and the client's address
        timeout_graceful_shutdown=GRACEFUL_S,
    )
    uvicorn.Server(config).run(sockets=[sock])
