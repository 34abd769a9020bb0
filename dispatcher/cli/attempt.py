"""How `dispatcher attempts show` prints one attempt: the exchange as curl -v shows one."""

from __future__ import annotations

from collections.abc import Iterator

from ..attempt_detail import AttemptDetail
from ..clock import to_text
from ..models import Headers

NOT_RECORDED = "not recorded"


def describe_attempt(detail: AttemptDetail) -> Iterator[str]:
    """The lines printed: a summary, the notes, then `>` request and `<` response lines with their bodies."""
    carried = "test request" if detail.test else f"events {','.join(map(str, detail.event_ids)) or '-'}"
    yield f"attempt {detail.id}: endpoint {detail.endpoint}, batch {detail.batch_id}, {carried}"
    outcome = "ok" if detail.ok else f"failed: {detail.error or 'no reason recorded'}"
    yield f"started {to_text(detail.started_at)}, took {detail.duration_ms} ms, {outcome}"
    request = detail.request
    yield f"format {request.format or NOT_RECORDED}, signature scheme {request.signature_scheme or NOT_RECORDED}"
    for note in detail.notes:
        yield f"note: {note}"
    yield ""
    if request.body_state == "not sent":
        yield "> (not sent)"
    else:
        yield f"> {request.line or f'POST (URL {NOT_RECORDED})'}"
        yield from _headers(">", request.headers)
    yield ">"
    if request.body is not None:
        yield request.body
    yield ""
    response = detail.response
    if response is None:
        yield "< (no response)"
        return
    yield f"< HTTP {response.status_code}"
    yield from _headers("<", response.headers)
    if response.headers_cut:
        yield f"< ({response.headers_cut} more not kept)"
    yield "<"
    if response.body_excerpt:
        yield response.body_excerpt


def _headers(mark: str, headers: Headers | None) -> Iterator[str]:
    if headers is None:
        yield f"{mark} (headers {NOT_RECORDED})"
        return
    for name, value in headers:
        yield f"{mark} {name}: {value}"
