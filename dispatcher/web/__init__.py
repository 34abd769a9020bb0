"""`dispatcher serve`: the HTTP API (/api/v1), the admin UI (/admin), /docs, /healthz and /metrics.

A thin face over the same library the CLI uses: routes parse the request, call one library
function and present its answer. Imported only by `serve` (the web stack is an extra, and
`process` and `enqueue` must not pay for it).
"""
