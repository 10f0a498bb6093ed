"""The HTTP transport's own limits: uvicorn reads request headers with no deadline, so a client that opens
connections and sends nothing, or trickles its headers a byte at a time (slow-loris), would hold a
connection (and a slot of ``limit_concurrency``) for ever. :class:`GuardedH11Protocol` gives every request
``header_timeout_s`` from its first byte (or from the connection's opening) to finish its headers, then
answers 408 and closes. The body has its own deadline in the application (``body_timeout_s``); header size
is bounded by h11's ``max_incomplete_event_size``; the idle time between requests by ``timeout_keep_alive``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)


def _timeout_answer(seconds: float) -> bytes:
    body = f"request headers not received within {seconds:g} s\n".encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class GuardedH11Protocol(H11Protocol):  # type: ignore[misc]
    """uvicorn's h11 protocol with a deadline on reading each request's headers."""

    header_timeout_s: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm()  # a connection that never sends a byte is closed too

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # the headers are in: the body and the answer have their own limits

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm(self) -> None:
        if getattr(self, "_header_timer", None) is not None:
            assert self._header_timer is not None
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # still answering the previous request: its own limits apply
        log.info("closing a connection whose request headers took over %g s", self.header_timeout_s)
        self.transport.write(_timeout_answer(self.header_timeout_s))
        self.transport.close()


def guarded_h11(header_timeout_s: float) -> type[GuardedH11Protocol]:
    """The protocol class with this header deadline (uvicorn builds one instance per connection)."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"header_timeout_s": header_timeout_s})


def uvicorn_config(
    app: Any,
    *,
    host: str,
    port: int,
    header_timeout_s: float = 10.0,
    log_level: str = "info",
    **overrides: Any,
) -> uvicorn.Config:
    """The one uvicorn configuration of ``zhplm serve`` (the tests run the same one): the header deadline,
    request headers of 16 KiB at most (400 beyond), 5 s keep-alive, 1024 connections at most (503 beyond),
    30 s for in-flight requests at shutdown."""
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "http": guarded_h11(header_timeout_s),
        "log_level": log_level,
        "timeout_keep_alive": 5,
        "timeout_graceful_shutdown": 30,
        "limit_concurrency": 1024,
        "h11_max_incomplete_event_size": 16 * 1024,
        "access_log": False,
        **overrides,
    }
    return uvicorn.Config(app, **options)
