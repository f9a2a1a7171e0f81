"""uvicorn's httptools protocol with limits no single connection can get around.

uvicorn accepts a request head of any size (httptools concatenates a header value chunk by chunk, so a
64 MB header keeps the event loop busy for seconds), keeps a connection that never finishes its request
open for ever, and answers a malformed request with a plain-text 400. ``GuardedHttpToolsProtocol``:

- counts the bytes of a request head before the parser sees them and answers **431** (JSON) once they
  pass ``max_header_bytes``, or once the head has more than ``max_header_count`` fields;
- answers **408** (JSON) and closes a connection whose request (head and body) is not complete
  ``request_timeout`` seconds after its first byte (or after the connection opened, when nothing came);
- answers **400** (JSON, naming the parser's reason) for bad framing (a bad Content-Length, a
  Content-Length beside chunked encoding, a broken request line).

It also sends each response in one write where uvicorn makes two (``_CoalescingTransport``).

uvicorn builds it through ``functools.partial(GuardedHttpToolsProtocol, limits=...)`` (``http=`` in
``uvicorn_options``), which pickles to the worker processes of ``serve --workers N``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from sentiment_mlops.serving.limits import HttpLimits

HEAD_END = b"\r\n\r\n"
# After an error response, how long the connection stays half-closed, discarding what the client still sends.
LINGER_SECONDS = 1.0
# Writes held to be joined (``_CoalescingTransport``) go out at once past this size: a response head and a JSON
# body are far smaller, and a larger body gains nothing from joining.
HOLD_BYTES = 64 * 1024


class _HeadTooLarge(Exception):
    """Raised inside a parser callback to stop parsing a head with too many fields."""


_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def error_response(status: int, detail: str) -> bytes:
    """A complete HTTP/1.1 response with the JSON body ``{"detail": ...}`` that closes the connection."""
    body = json.dumps({"detail": detail}).encode()
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, _REASONS[status], len(body))) + body


class _CoalescingTransport:
    """A connection's transport whose small writes within one step of the event loop go out as one ``send``.

    uvicorn writes a response's head and its body separately, and the event loop sends each at once: two
    system calls per response, and on loopback two wake-ups of the client, which reads half a response
    first. Measured with ``serve --workers 2`` under wrk on 2 cores: those sends were 18% of a worker's samples
    (py-spy), against 7% with one worker, whose busier loop meets the client later. Here the writes of one
    step are joined and sent once the step ends (``call_soon``), unless they pass ``HOLD_BYTES``: then they go
    at once, so a large or streamed body meets the transport's flow control as before. Closing, ``write_eof``
    and the end of the client's stream (``flush``, from the protocol's ``eof_received``) send what is held
    first; ``abort`` drops it; everything else is the transport's own.
    """

    __slots__ = ("_transport", "_loop", "_held", "_held_bytes")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._held_bytes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data if isinstance(data, bytes) else bytes(data))  # a caller may reuse its buffer
        self._held_bytes += len(data)
        if self._held_bytes >= HOLD_BYTES:
            self.flush()

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        """Send what is held now."""
        held, self._held, self._held_bytes = self._held, [], 0
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held, self._held_bytes = [], 0
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._held_bytes

    def __getattr__(self, name: str) -> Any:  # is_closing, pause_reading, get_extra_info, set_protocol, ...
        return getattr(self._transport, name)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with bounded heads, a request deadline, and JSON errors for bad framing."""

    def __init__(self, *args: Any, limits: HttpLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._reading_head = True  # from the first byte of a request until its head is complete
        self._head_bytes = 0
        self._head_tail = b""  # the last 3 bytes of the head so far: the end marker may straddle chunks
        self._request_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._rejected = False

    # Connection lifecycle
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        self._arm_request_timer()

    def eof_received(self) -> None:
        # The client closed its side: the transport closes itself when this returns, so what a response
        # wrote in this step goes now (a client that half-closes after its request still gets an answer that
        # was ready; one that comes later is lost, as uvicorn's own protocol loses it).
        if isinstance(self.transport, _CoalescingTransport):
            self.transport.flush()
        super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_request_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return
        if self._reading_head and not self._head_fits(data):
            self._reject(431, f"request headers are larger than the limit of {self.limits.max_header_bytes:,} "
                              "bytes (SENTIMENT_MLOPS_MAX_HEADER_BYTES)")
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as error:
            if isinstance(error.__context__, _HeadTooLarge):
                self._reject(431, str(error.__context__))
            else:
                self._reject(400, f"malformed HTTP request: {error}")

    def _head_fits(self, data: bytes) -> bool:
        """Whether the head still fits the limit once ``data`` arrived (checked before parsing it)."""
        room = self.limits.max_header_bytes - self._head_bytes
        if len(data) > room and HEAD_END not in self._head_tail + data[:max(room, 0)]:
            return False
        self._head_bytes += len(data)
        self._head_tail = (self._head_tail + data[-3:])[-3:]
        return True

    def send_400_response(self, msg: str) -> None:
        self._reject(400, f"malformed HTTP request: {msg}")

    def _reject(self, status: int, detail: str) -> None:
        self._rejected = True
        self._cancel_request_timer()
        if self.transport.is_closing():
            return
        self.transport.write(error_response(status, detail))
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        # A lingering close (RFC 9112, 9.6): closing while the client's bytes are still arriving resets the
        # connection, and the reset can discard the response before the client has read it. Send the
        # response and a FIN, drop whatever else arrives (``data_received``), and close after a short grace.
        self.transport.write_eof()
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    # Parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_request_timer()

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) >= self.limits.max_header_count:
            raise _HeadTooLarge(f"request has more than {self.limits.max_header_count} header fields "
                                "(SENTIMENT_MLOPS_MAX_HEADER_COUNT)")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel_request_timer()
        # What comes next on this connection is the head of the next request.
        self._reading_head = True
        self._head_bytes = 0
        self._head_tail = b""
        super().on_message_complete()

    # The request deadline
    def _arm_request_timer(self) -> None:
        if self._request_timer is None:
            self._request_timer = self.loop.call_later(self.limits.request_timeout, self._request_timed_out)

    def _cancel_request_timer(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _request_timed_out(self) -> None:
        self._request_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # the app already answered part of it: nothing more to say
            return
        if self.cycle is None and self._head_bytes == 0:
            self.transport.close()  # an idle connection that never sent a byte: no response is expected
            return
        self._reject(408, f"request not received in full within {self.limits.request_timeout:g} s "
                          "(SENTIMENT_MLOPS_REQUEST_TIMEOUT_SECONDS)")
