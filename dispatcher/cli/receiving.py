"""The receiving side: check a saved request's signature, or run a local receiver to try endpoints with."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import signing
from ..capture import Capture, read_headers
from ..errors import DispatcherError
from ..receiver import Receiver, serve_until_stopped
from ..sending.request import parse_header
from .root import WholeNumber

_SCHEME = click.Choice(signing.SCHEMES)
_HEADER_HELP = "Where the signature is, if not the scheme's own header (not with standard)."
_PREFIX_HELP = "What comes before the signature value, e.g. sha256= (mautic and hex only)."


def _headers(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    try:
        return dict(parse_header(text) for text in values)
    except DispatcherError as error:
        raise click.BadParameter(str(error), ctx, param) from None


@click.command()
@click.option("--secret", "secrets", multiple=True, required=True, help="A secret to accept; repeat for several.")
@click.option("--scheme", type=_SCHEME, default="mautic", show_default=True, help="How the request is signed.")
@click.option("--signature-header", help=_HEADER_HELP)
@click.option("--signature-prefix", help=_PREFIX_HELP)
@click.option(
    "--header", "headers", multiple=True, callback=_headers, help="A request header, 'Name: value'; repeat for each."
)
@click.option(
    "--headers-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file of 'Name: value' lines, e.g. one saved by listen --save; --header adds to it.",
)
@click.option("--tolerance", type=WholeNumber(0), default=300, show_default=True, help="Timestamp leeway, seconds.")
def verify(
    secrets: tuple[str, ...],
    scheme: str,
    signature_header: str | None,
    signature_prefix: str | None,
    headers: dict[str, str],
    headers_file: Path | None,
    tolerance: int,
) -> None:
    """Check the signature of a request whose body is on stdin; prints genuine, or exits 1."""
    given = {**(read_headers(headers_file) if headers_file else {}), **headers}
    body = sys.stdin.buffer.read()
    signing.verify(body, given, secrets, scheme, signature_header, signature_prefix, tolerance)
    click.echo("genuine")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=WholeNumber(0, 65535), default=8000, show_default=True, help="0 for any free port.")
@click.option("--secret", "secrets", multiple=True, help="A secret to check signatures with; repeat for several.")
@click.option("--scheme", type=_SCHEME, default="mautic", show_default=True, help="How requests are signed.")
@click.option("--signature-header", help=_HEADER_HELP)
@click.option("--signature-prefix", help=_PREFIX_HELP)
@click.option("--status", type=WholeNumber(100, 599), default=200, show_default=True, help="The answer's status.")
@click.option("--reject-invalid", is_flag=True, help="Answer 401 when the signature does not verify.")
@click.option(
    "--save",
    "save_to",
    type=click.Path(file_okay=False, path_type=Path),
    help="Save each request in this folder, as 0001.headers and 0001.body, for verify.",
)
def listen(
    host: str,
    port: int,
    secrets: tuple[str, ...],
    scheme: str,
    signature_header: str | None,
    signature_prefix: str | None,
    status: int,
    reject_invalid: bool,
    save_to: Path | None,
) -> None:
    """Print every request that arrives, with its signature checked, until Ctrl-C."""
    receiver = Receiver(
        list(secrets),
        host,
        port,
        status,
        scheme=scheme,
        signature_header=signature_header,
        signature_prefix=signature_prefix,
        printer=click.echo,
        reject_invalid=reject_invalid,
        capture=Capture(save_to) if save_to else None,
    )
    serve_until_stopped(receiver, click.echo)
