"""A bound on request bodies, enforced before anything is parsed.

FastAPI/Starlette read an upload to the end before a route sees it, so a size
check inside the route comes too late (a 2 GB upload would already be held).
This ASGI middleware refuses a body whose Content-Length is over the limit at
once, and counts the bytes of bodies sent without one (chunked), stopping at
the limit. Either way the client gets 413 with the limit and the fix.
"""
from __future__ import annotations

import json


def too_large_message(limit: int) -> str:
    return (f"upload over the limit of {limit / 2**20:g} MiB: send a smaller image, "
            f"or start the server with a larger --max-upload-mb")


class BoundedBody:
    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send)
        seen = 0
        started = refused = False

        async def counted_receive():
            # Over the limit: answer 413 now, and tell the app the client has gone
            # (FastAPI would turn an exception raised here into its own 400).
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes and not refused:
                    refused = True
                    if not started:
                        await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message):
            nonlocal started
            if refused:
                return  # the 413 has been sent: whatever the app answers after it is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except Exception:
            if not refused:
                raise  # the app's own failure; a disconnect we caused is not one

    async def _refuse(self, send):
        body = json.dumps({"detail": too_large_message(self.max_bytes)}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
