"""The stream moves `http2.lifecycle` makes by assignment leave h2's stream objects exactly
as h2's own `process_input` leaves them, from every state, errors included; streams made
by `StreamMaker` are h2's own, attribute for attribute, and independent of each other."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("h2")
import h2.config
import h2.exceptions
import h2.stream

from duoserve.http2 import lifecycle

State = h2.stream.StreamState
Inputs = h2.stream.StreamInputs
CONFIG = h2.config.H2Configuration(client_side=False)


def machine_in(state: State, client: bool | None, headers_sent: bool | None) -> Any:
    machine = h2.stream.H2StreamStateMachine(7)
    machine.state = state
    machine.client = client
    machine.headers_sent = headers_sent
    return machine


def outcome(machine: Any, move: Callable[[], object]) -> tuple[Any, ...]:
    try:
        move()
        error = None
    except h2.exceptions.ProtocolError as exc:
        error = type(exc)
    return error, sorted(vars(machine).items())


def h2_moves(machine: Any, *inputs: Inputs) -> None:
    for step in inputs:
        machine.process_input(step)


STARTS = list(itertools.product(State, (None, False, True), (None, True)))


END = [Inputs.SEND_END_STREAM]
# Each move made here, and the inputs h2's state machine takes for it.
MOVES: dict[str, tuple[Callable[[Any], object], list[Inputs]]] = {
    "head": (lambda m: lifecycle.head_sent(m, False), [Inputs.SEND_HEADERS]),
    "head, end": (lambda m: lifecycle.head_sent(m, True), [Inputs.SEND_HEADERS, *END]),
    "data": (lambda m: lifecycle.data_sent(m, False), [Inputs.SEND_DATA]),
    "data, end": (lambda m: lifecycle.data_sent(m, True), [Inputs.SEND_DATA, *END]),
    "whole": (lifecycle.responded, [Inputs.SEND_HEADERS, Inputs.SEND_DATA, *END]),
}


@pytest.mark.parametrize(("state", "client", "sent"), STARTS)
@pytest.mark.parametrize("move", list(MOVES))
def test_each_move_is_h2s(state: State, client: Any, sent: Any, move: str) -> None:
    ours, theirs = machine_in(state, client, sent), machine_in(state, client, sent)
    make, inputs = MOVES[move]
    assert outcome(ours, lambda: make(ours)) == outcome(theirs, lambda: h2_moves(theirs, *inputs))


@pytest.mark.parametrize("ended", [False, True])
def test_opened_is_h2s_request_received(ended: bool) -> None:
    ours, theirs = h2.stream.H2StreamStateMachine(3), h2.stream.H2StreamStateMachine(3)
    lifecycle.opened(ours, ended)
    h2_moves(theirs, Inputs.RECV_HEADERS, *([Inputs.RECV_END_STREAM] if ended else []))
    assert vars(ours) == vars(theirs)


def described(stream: Any) -> dict[str, Any]:
    own = {"state_machine", "_inbound_window_manager"}
    found = {k: v for k, v in vars(stream).items() if k not in own}
    found["state_machine"] = vars(stream.state_machine)
    found["_inbound_window_manager"] = vars(stream._inbound_window_manager)
    return found


def test_made_streams_are_h2s_own_and_independent() -> None:
    maker = lifecycle.StreamMaker(CONFIG, 65_535, 1_000_000, 32_768)
    one, three = maker.make(1), maker.make(3)
    real = h2.stream.H2Stream(3, CONFIG, 65_535, 1_000_000)
    real.max_outbound_frame_size = 32_768
    assert type(three) is h2.stream.H2Stream
    assert described(three) == described(real)
    lifecycle.opened(one.state_machine, False)
    one._inbound_window_manager.window_consumed(100)
    one.outbound_flow_control_window -= 10
    assert described(maker.make(3)) == described(real)  # nothing shared moved
    assert one.state_machine is not three.state_machine
    assert one._inbound_window_manager is not three._inbound_window_manager


def test_a_stream_with_objects_of_its_own_is_made_by_h2(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []
    real_init = h2.stream.H2Stream.__init__

    def init(self: Any, stream_id: int, *args: Any) -> None:
        made.append(stream_id)
        real_init(self, stream_id, *args)
        self.pending = []  # an attribute a later h2 might add: not to be shared

    monkeypatch.setattr(h2.stream.H2Stream, "__init__", init)
    maker = lifecycle.StreamMaker(CONFIG, 65_535, 65_535, 16_384)
    first, second = maker.make(1), maker.make(3)
    assert made == [0, 1, 3]
    assert first.pending is not second.pending  # type: ignore[attr-defined]
