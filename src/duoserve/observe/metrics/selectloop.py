"""The metrics listener inside the supervisor's select() loop: no thread, bounded clients.

Non-blocking accept, read and write, a deadline per client, never a thread (the supervisor
forks)."""

from __future__ import annotations

import contextlib
import selectors
import socket
from dataclasses import dataclass, field

from .endpoints import CLIENT_TIMEOUT, MAX_CLIENTS, MAX_REQUEST, Source, complete, respond


@dataclass(slots=True)
class _Client:
    sock: socket.socket
    deadline: float
    received: bytearray = field(default_factory=bytearray)
    pending: memoryview | None = None  # the response, as far as it is not sent yet


class SelectListener:
    """Registers its sockets in the supervisor's selector (with itself as the key's data);
    the loop calls ready() for them and expire() by deadline()."""

    def __init__(
        self, sock: socket.socket, source: Source, selector: selectors.BaseSelector
    ) -> None:
        self.sock = sock
        self._source = source
        self._selector = selector
        self._clients: dict[int, _Client] = {}
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, self)

    def deadline(self) -> float:
        return min((c.deadline for c in self._clients.values()), default=float("inf"))

    def ready(self, fd: int, now: float) -> None:
        if fd == self.sock.fileno():
            self._accept(now)
            return
        client = self._clients.get(fd)
        if client is None:
            return
        try:
            if client.pending is None:
                self._read(client)
            if client.pending is not None:
                self._write(client)
        except OSError:
            self._drop(fd)

    def expire(self, now: float) -> None:
        for fd, client in list(self._clients.items()):
            if now >= client.deadline:
                self._drop(fd)

    def close(self) -> None:
        for fd in list(self._clients):
            self._drop(fd)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(self.sock)
        self.sock.close()

    def close_in_child(self) -> None:
        """In a forked worker: drop the copies of the sockets, touch nothing else."""
        for client in self._clients.values():
            client.sock.close()
        self.sock.close()

    # -- one client ------------------------------------------------------------------------
    def _accept(self, now: float) -> None:
        for _ in range(MAX_CLIENTS):
            try:
                sock, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # the client left, or out of descriptors: the next scrape retries
            if len(self._clients) >= MAX_CLIENTS:
                sock.close()
                continue
            sock.setblocking(False)
            self._clients[sock.fileno()] = _Client(sock, now + CLIENT_TIMEOUT)
            self._selector.register(sock, selectors.EVENT_READ, self)

    def _read(self, client: _Client) -> None:
        try:
            data = client.sock.recv(MAX_REQUEST + 1)
        except BlockingIOError:
            return
        if not data:
            raise ConnectionResetError
        client.received += data
        if complete(client.received):
            response = respond(bytes(client.received), self._source)
            client.pending = memoryview(response)
            self._selector.modify(client.sock, selectors.EVENT_WRITE, self)

    def _write(self, client: _Client) -> None:
        assert client.pending is not None
        try:
            sent = client.sock.send(client.pending)
        except BlockingIOError:
            return
        client.pending = client.pending[sent:]
        if not client.pending:
            self._drop(client.sock.fileno())

    def _drop(self, fd: int) -> None:
        client = self._clients.pop(fd, None)
        if client is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(client.sock)
        with contextlib.suppress(OSError):
            client.sock.shutdown(socket.SHUT_WR)
        client.sock.close()
