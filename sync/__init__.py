"""The client side of the server protocol: HTTP, pull, outbox push, events, backoff.

No Qt here: the thin adapter that turns this into signals lives in ``ui/``.
"""
