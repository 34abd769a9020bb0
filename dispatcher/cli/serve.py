"""`dispatcher serve`: the HTTP API and the admin UI (the web extra)."""

from __future__ import annotations

import signal

import click

from ..errors import DispatcherError
from ..models import RunSummary
from .interrupts import STOPPING
from .root import WholeNumber, database, open_store

# What `pip install 'dispatcher[web]'` adds; a missing one means the extra is not installed.
_WEB_MODULES = {
    "fastapi",
    "fastapi_offline",
    "uvicorn",
    "jinja2",
    "multipart",
    "python_multipart",
    "prometheus_client",
    "starlette",
    "pydantic",
}


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=WholeNumber(0, 65535), default=8000, show_default=True, help="Port (0: any free one).")
@click.option("--deliver", is_flag=True, help="Also deliver, continuously, as back-to-back `process` runs would.")
@click.option(
    "--workers", type=WholeNumber(1, 256), default=8, show_default=True, help="Delivery workers, with --deliver."
)
@click.option("--metrics-public", is_flag=True, help="Serve /metrics without an API key.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, deliver: bool, workers: int, metrics_public: bool) -> None:
    """Serve the HTTP API (/api/v1), the admin UI (/admin) and /docs."""
    try:
        from ..web import server
    except ModuleNotFoundError as missing:
        if (missing.name or "").split(".")[0] not in _WEB_MODULES:
            raise
        raise DispatcherError(
            f"serve needs the web extra ({missing.name} is not installed): pip install 'dispatcher[web]'"
        ) from None
    open_store(ctx, create=True).close()  # create or upgrade the schema before the server opens it

    def report(summary: RunSummary) -> None:
        click.echo(f"delivery: {summary.line()}")
        for disabled in summary.disabled:
            click.echo(disabled.line(), err=True)
        for error in summary.errors:
            click.echo(f"Error: {error}", err=True)

    options = server.ServeOptions(host=host, port=port, deliver=deliver, workers=workers, metrics_public=metrics_public)
    # uvicorn stops gracefully on SIGINT/SIGTERM with handlers of its own, then raises the signal
    # again for the handlers it found: these, so that stopping a server is a clean exit (0, which
    # systemd expects), not a KeyboardInterrupt.
    previous = {signum: signal.signal(signum, lambda signum, frame: None) for signum in STOPPING}
    try:
        server.serve(database(ctx), options, say=click.echo, report=report)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    click.echo("stopped")
