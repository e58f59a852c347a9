"""Socket.IO packets encoded with orjson (signaling/wirepacket.py): the same packets python-socketio makes, by
another encoder, and the general way for what orjson refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from socketio import packet

from signaling.hub import Hub
from signaling.wirepacket import WirePacket

PAYLOADS: list[Any] = [
    ["welcome", {"me": {"id": 7, "display_name": "Délégation de l’Équateur"}, "mine": None, "ok": True}],
    ["floor", {"version": 3, "next": [{"id": 1}, {"id": 2}], "remaining_seconds": 12.5}],
    ["presence", {"by_group": {"government": 3}, 2: "a number as key"}],
    ["captions", "line\u2028separator, emoji \U0001f3db and a tab\t"],
    ["nested", [[[]], {}, "", 0, -1, 1e-7, 2**63 - 1]],
    [],
]


def same_packet(ours: str, theirs: str) -> None:
    """The same header and, once parsed, the same JSON (orjson writes UTF-8 where the standard encoder
    escapes, and may write a float differently)."""
    split = min((ours.find(c) for c in "[{" if c in ours), default=len(ours))
    assert ours[:split] == theirs[:split]
    assert json.loads(ours[split:] or "null") == json.loads(theirs[split:] or "null")


@pytest.mark.parametrize("data", PAYLOADS)
@pytest.mark.parametrize(
    ("kind", "namespace", "id"), [(packet.EVENT, "/", None), (packet.ACK, "/", 12), (packet.EVENT, "/ns", 4)]
)
def test_packets_are_those_python_socketio_makes(
    data: Any, kind: int, namespace: str, id: int | None
) -> None:
    ours = WirePacket(kind, data=data, namespace=namespace, id=id)
    theirs = packet.Packet(kind, data=data, namespace=namespace, id=id)
    assert ours.packet_type == theirs.packet_type == kind
    same_packet(ours.encode(), theirs.encode())


def test_bytes_go_as_attachments_as_before() -> None:
    data = ["file", {"name": "a.pdf", "body": b"%PDF-1.7"}]
    ours, theirs = WirePacket(packet.EVENT, data=data), packet.Packet(packet.EVENT, data=data)
    assert ours.packet_type == theirs.packet_type == packet.BINARY_EVENT
    assert (
        ours.encode()
        == theirs.encode()
        == ['51-["file",{"name":"a.pdf","body":{"_placeholder":true,"num":0}}]', b"%PDF-1.7"]
    )


@pytest.mark.parametrize("value", ["\ud800 alone", 2**70])
def test_what_orjson_refuses_is_encoded_by_the_standard_encoder(value: Any) -> None:
    data = ["odd", value]
    assert WirePacket(packet.EVENT, data=data).encode() == packet.Packet(packet.EVENT, data=data).encode()


@pytest.mark.parametrize("value", [datetime(2026, 12, 6, tzinfo=UTC), object()])
def test_what_neither_encoder_takes_raises_as_before(value: Any) -> None:
    with pytest.raises(TypeError):
        packet.Packet(packet.EVENT, data=["odd", value]).encode()
    with pytest.raises(TypeError):
        WirePacket(packet.EVENT, data=["odd", value]).encode()


def test_incoming_packets_decode_as_before_and_refuse_what_json_does_not_define() -> None:
    incoming = ('2["hand:raise",{"type":"statement"}]', '2/ns,1["x",[1,{"a":null}]]', "0/ns,", "3/ns,4[]")
    for encoded in incoming:
        ours, theirs = WirePacket(encoded_packet=encoded), packet.Packet(encoded_packet=encoded)
        assert (ours.packet_type, ours.namespace, ours.id, ours.data) == (
            theirs.packet_type,
            theirs.namespace,
            theirs.id,
            theirs.data,
        )
    for encoded in ('2["x",NaN]', '2["x",Infinity]', '2["x","\\udc00"]'):
        with pytest.raises(ValueError):
            WirePacket(encoded_packet=encoded)


def test_the_server_uses_it_and_leaves_python_socketio_s_own_packet_alone() -> None:
    assert Hub.__init__.__code__.co_names.count("WirePacket") == 1
    assert packet.Packet.json is not WirePacket.json, "clients in the same process keep the standard encoder"
