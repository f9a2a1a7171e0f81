"""``http_guard._CoalescingTransport``: the writes of one event-loop step leave as one send, in order, and
nothing held is lost or sent after the connection is told to close."""

from __future__ import annotations

import asyncio
import socket

from sentiment_mlops.serving.http_guard import _CoalescingTransport


class _Peer(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]


async def _connected() -> tuple[_CoalescingTransport, asyncio.Transport, socket.socket, list[bytes]]:
    """A coalescing transport over a real event-loop transport on one end of a socket pair (the inner one's
    ``write`` calls recorded), the inner transport, the pair's other end, and the record."""
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    _, peer = await asyncio.get_running_loop().connect_accepted_socket(_Peer, ours)
    assert peer.transport is not None
    sent: list[bytes] = []
    write = peer.transport.write

    class Recording:
        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(peer.transport, name)

        def write(self, data: bytes) -> None:
            sent.append(bytes(data))
            write(data)

    recording = Recording()
    coalescing = _CoalescingTransport(recording, asyncio.get_running_loop())  # type: ignore[arg-type]
    return coalescing, recording, theirs, sent  # type: ignore[return-value]


async def _read(sock: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while len(data) < size:
        data += await loop.sock_recv(sock, size - len(data))
    return data


def test_the_writes_of_one_step_leave_as_one_send_in_order() -> None:
    async def scenario() -> None:
        coalescing, transport, peer, sent = await _connected()
        coalescing.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        coalescing.write(bytearray(b"ok"))
        assert sent == [] and coalescing.get_write_buffer_size() == 40
        await asyncio.sleep(0)
        assert sent == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
        assert await _read(peer, 40) == sent[0]
        coalescing.write(b"second")
        await asyncio.sleep(0)
        assert sent[1:] == [b"second"] and await _read(peer, 6) == b"second"
        assert coalescing.get_extra_info("peername") == transport.get_extra_info("peername")
        coalescing.close()
        peer.close()

    asyncio.run(scenario())


def test_close_and_write_eof_send_what_is_held_first_and_abort_drops_it() -> None:
    async def scenario() -> None:
        coalescing, transport, peer, sent = await _connected()
        coalescing.write(b"last words")
        coalescing.write_eof()
        assert sent == [b"last words"] and await _read(peer, 10) == b"last words"
        assert await asyncio.get_running_loop().sock_recv(peer, 10) == b""  # then the end of the stream
        coalescing.close()
        await asyncio.sleep(0)
        assert sent == [b"last words"] and coalescing.is_closing()
        peer.close()

        coalescing, transport, peer, sent = await _connected()
        coalescing.write(b"never")
        coalescing.abort()
        await asyncio.sleep(0)
        assert sent == []
        peer.close()

    asyncio.run(scenario())


def test_a_large_write_goes_at_once_so_flow_control_sees_it() -> None:
    from sentiment_mlops.serving.http_guard import HOLD_BYTES

    async def scenario() -> None:
        coalescing, transport, peer, sent = await _connected()
        coalescing.write(b"head")
        coalescing.write(b"x" * HOLD_BYTES)
        assert sent == [b"head" + b"x" * HOLD_BYTES]
        assert coalescing.get_write_buffer_size() == transport.get_write_buffer_size()
        coalescing.write(b"tail")
        await asyncio.sleep(0)
        assert sent[1:] == [b"tail"]
        coalescing.close()
        peer.close()

    asyncio.run(scenario())
