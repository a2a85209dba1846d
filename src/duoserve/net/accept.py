"""From a listening socket to a stream: the accepted kind, waiting to accept, the stream."""

from __future__ import annotations

import asyncio
import socket
from typing import NamedTuple

import anyio
import anyio.abc

from .transports import LeanStream


class AcceptedKind(NamedTuple):
    """What every socket accepted from one listener shares: the class to wrap it in and
    the (family, type, proto) to build it with."""

    cls: type[socket.socket]
    args: tuple[int, int, int]


def accepted_kind(listener: socket.socket) -> AcceptedKind:
    """How to wrap the sockets `listener` accepts. The class answers `family` and `type`
    with the listener's own values: socket.socket converts them to enums through Python
    code on every read, and the event loop reads both for every connection it takes (on
    asyncio; trio takes only socket.socket itself)."""
    family, kind = listener.family, listener.type
    args = (int(family), int(kind), listener.proto)
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # trio takes a socket.socket and nothing else
        return AcceptedKind(socket.socket, args)
    cls = type(
        "AcceptedSocket",
        (socket.socket,),
        {"__slots__": (), "family": family, "type": kind, "__module__": __name__},
    )
    return AcceptedKind(cls, args)


async def open_stream(
    client: socket.socket, *, close_timeout: float, tcp: bool
) -> anyio.abc.SocketStream:
    """Wrap an accepted, non-blocking socket (`tcp`: not a Unix socket): the lean stream on
    asyncio, anyio's elsewhere. The one place a transport is chosen (TLS wraps whatever
    this returns)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # trio: anyio's streams are already lean there
        if not tcp:
            return await anyio.abc.UNIXSocketStream.from_socket(client)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return await anyio.abc.SocketStream.from_socket(client)
    if tcp and not _sets_nodelay(type(loop)):
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stream = LeanStream(client, close_timeout)
    await loop.connect_accepted_socket(lambda: stream, client)
    return stream


def _sets_nodelay(loop_type: type[asyncio.AbstractEventLoop]) -> bool:
    """Whether the loop sets TCP_NODELAY on the sockets it takes (uvloop does; asyncio's
    own loop does not for accepted sockets): one system call less per connection."""
    return loop_type.__module__.startswith("uvloop")


async def wait_readable(sock: socket.socket) -> None:
    """Wait until `sock` is readable (a listening socket: a connection is queued). On
    asyncio a reader callback and a bare future, not anyio's version (an event, a backend
    lookup and two more frames per wait, once per connection when they come one by one)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # trio
        await anyio.wait_readable(sock)
        return
    waiter: asyncio.Future[None] = loop.create_future()
    loop.add_reader(sock, _wake, waiter)
    try:
        await waiter
    finally:
        loop.remove_reader(sock)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
