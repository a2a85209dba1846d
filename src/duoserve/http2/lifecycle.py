"""A request stream's usual life in h2's stream objects, by assignment rather than dispatch.

h2 moves a stream through `H2StreamStateMachine.process_input`: a dict lookup keyed on two
enums (each hashed in Python), a callback and a list of events per move, five moves for a
request without a body. The moves nearly every stream takes (opened by its request's
HEADERS, its response head sent, its last DATA sent) are made here by setting what h2's
callbacks set; any other state, or any other move, goes to h2's own `process_input`, so
its checks and its errors stay h2's. New streams are copies of one h2 made for the
connection's current settings (`StreamMaker`), which costs a fraction of h2's constructor.
"""

from __future__ import annotations

from typing import Any

import h2.config
import h2.stream
import h2.windows

_State = h2.stream.StreamState
_OPEN, _REMOTE, _LOCAL, _CLOSED = (
    _State.OPEN,
    _State.HALF_CLOSED_REMOTE,
    _State.HALF_CLOSED_LOCAL,
    _State.CLOSED,
)
_SEND_HEADERS = h2.stream.StreamInputs.SEND_HEADERS
_SEND_DATA = h2.stream.StreamInputs.SEND_DATA
_SEND_END = h2.stream.StreamInputs.SEND_END_STREAM
_BY_END = h2.stream.StreamClosedBy.SEND_END_STREAM
_new = object.__new__
Machine = h2.stream.H2StreamStateMachine
# The attributes an h2 stream holds that are its own objects; the others are plain values
# (ints, bytes, None, the shared configuration), safe to copy from one stream to the next.
_OWN = frozenset({"state_machine", "_inbound_window_manager"})
_PLAIN = (int, bytes, type(None), h2.config.H2Configuration)


def opened(machine: Machine, ended: bool) -> None:
    """A new stream's request HEADERS received (IDLE to OPEN), and its END_STREAM with
    them (to HALF_CLOSED_REMOTE): h2's `request_received`, then `stream_half_closed`."""
    machine.client = False
    machine.headers_received = True
    machine.state = _REMOTE if ended else _OPEN


def head_sent(machine: Machine, end_stream: bool) -> None:
    """The final response head sent (h2's `response_sent`), with END_STREAM or not;
    ProtocolError as h2 raises it when the stream cannot send one."""
    state = machine.state
    if (
        (state is _REMOTE or state is _OPEN)
        and machine.client is False
        and not machine.headers_sent
    ):
        machine.headers_sent = True
        if end_stream:
            _ended(machine, state)
        return
    machine.process_input(_SEND_HEADERS)
    if end_stream:
        machine.process_input(_SEND_END)


def data_sent(machine: Machine, last: bool) -> None:
    """DATA sent, the last with END_STREAM: no change in OPEN or HALF_CLOSED_REMOTE but
    the end; ProtocolError as h2 raises it in any other state."""
    state = machine.state
    if state is _REMOTE or state is _OPEN:
        if last:
            _ended(machine, state)
        return
    machine.process_input(_SEND_DATA)
    if last:
        machine.process_input(_SEND_END)


def responded(machine: Machine) -> None:
    """head_sent() and data_sent() of a whole response: the head, then DATA with
    END_STREAM; ProtocolError as h2 raises it when the stream cannot send them."""
    state = machine.state
    if (
        (state is _REMOTE or state is _OPEN)
        and machine.client is False
        and not machine.headers_sent
    ):
        machine.headers_sent = True
        _ended(machine, state)
    else:
        head_sent(machine, False)
        data_sent(machine, True)


def _ended(machine: Machine, state: _State) -> None:
    if state is _REMOTE:  # h2's send_end_stream
        machine.state = _CLOSED
        machine.stream_closed_by = _BY_END
    else:
        machine.state = _LOCAL


class StreamMaker:
    """h2 stream objects for one connection's settings: the first made by h2, the next
    ones copies of its attributes with a state machine and a window of their own. Make a
    new maker whenever a setting they depend on changes (the window sizes, the frame size).
    Should h2 ever give a stream another object of its own, the maker calls h2's
    constructor every time instead of copying it."""

    __slots__ = ("_machine", "_stream", "_window", "args")

    def __init__(
        self, config: h2.config.H2Configuration, inbound: int, outbound: int, frame_size: int
    ) -> None:
        self.args = (config, inbound, outbound, frame_size)
        first = self._make(0)
        attrs: dict[str, Any] = vars(first)
        copyable = all(isinstance(v, _PLAIN) for k, v in attrs.items() if k not in _OWN)
        self._stream = {k: v for k, v in attrs.items() if k not in _OWN} if copyable else None
        self._machine = dict(vars(first.state_machine))
        self._window = dict(vars(first._inbound_window_manager))

    def _make(self, stream_id: int) -> h2.stream.H2Stream:
        config, inbound, outbound, frame_size = self.args
        stream = h2.stream.H2Stream(stream_id, config, inbound, outbound)
        stream.max_outbound_frame_size = frame_size
        return stream

    def make(self, stream_id: int) -> h2.stream.H2Stream:
        """A new idle stream, as h2 makes it for a client's new stream."""
        attrs = self._stream
        if attrs is None:
            return self._make(stream_id)
        machine = _new(Machine)
        machine.__dict__ = {**self._machine, "stream_id": stream_id}
        window = _new(h2.windows.WindowManager)
        window.__dict__ = self._window.copy()
        stream: h2.stream.H2Stream = _new(h2.stream.H2Stream)
        stream.__dict__ = {
            **attrs,
            "stream_id": stream_id,
            "state_machine": machine,
            "_inbound_window_manager": window,
        }
        return stream
