"""HTTP sending: the request a batch becomes (formats, headers, signatures), the guard on where
it may go, and the transport that sends it.

Empty of imports on purpose: the models and the settings read the guard and the formats on
`dispatcher enqueue`'s short way, which must not load requests.
"""
