"""Socket.IO packets encoded and decoded with orjson, and told apart from binary ones without a second walk.

python-socketio's packet walks every payload once to find out whether it holds bytes (to send them as
attachments, which Hemicycle never does), building a list per dict and per list on the way, then encodes it
with the standard library's JSON encoder. For a welcome (the session, its floor, questions and captions) the
walk and the encoding were a tenth of what a join cost the event loop when thousands joined at once.

Here the payload is encoded once, with orjson, when the packet is made: a payload orjson takes holds no
bytes, so it is not binary, and its text is what ``encode`` sends. What orjson refuses (bytes, a string with a
lone surrogate, an integer beyond 64 bits, a datetime or a dataclass, which the standard encoder refuses too)
goes the general way, unchanged: python-socketio's walk, then the standard encoder, which raises as before
on what it cannot encode. Incoming packets are decoded with orjson, which, unlike the standard decoder,
refuses ``NaN``, ``Infinity`` and lone surrogates (python-socketio's decoder error: the frame is refused with
``invalid_input``, signaling/wsdirect.py).
"""

from __future__ import annotations

import json as stdlib_json
from typing import Any

import orjson
from socketio import packet

# Integer and other non-text keys become text, as the standard encoder makes them; datetimes and dataclasses
# are not encoded (the standard encoder refuses them: a payload that holds one is a mistake, caught the same).
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _orjson(data: Any) -> str:
    """Compact JSON by orjson; TypeError for what it refuses."""
    return orjson.dumps(data, option=_OPTIONS).decode()


def dumps(data: Any, **_options: Any) -> str:
    """Compact JSON, as python-socketio asks for (``separators=(',', ':')``): orjson's, or the standard
    encoder's for what orjson refuses."""
    try:
        return _orjson(data)
    except TypeError:
        return stdlib_json.dumps(data, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


class WireJson:
    """The ``json`` a packet class names: an object with ``dumps`` and ``loads``."""

    dumps = staticmethod(dumps)
    loads = staticmethod(loads)


class WirePacket(packet.Packet):  # type: ignore[misc]
    """python-socketio's packet (protocol v5), encoded with orjson once, when it is made."""

    json = WireJson

    def __init__(
        self,
        packet_type: int = packet.EVENT,
        data: Any = None,
        namespace: str | None = None,
        id: int | None = None,
        binary: bool | None = None,
        encoded_packet: Any = None,
    ) -> None:
        self._text: str | None = None
        if encoded_packet is None and binary is None and data is not None:
            try:
                self._text = _orjson(data)
            except TypeError:
                pass  # bytes, or what only the standard encoder may take: python-socketio's own way
            else:
                binary = False
        super().__init__(packet_type, data, namespace, id, binary, encoded_packet)

    def encode(self) -> Any:
        text = self._text
        if text is None:
            return super().encode()
        # As python-socketio writes a packet without attachments: type, namespace unless the main one, id.
        encoded = str(self.packet_type)
        if self.namespace is not None and self.namespace != "/":
            encoded += self.namespace + ","
        if self.id is not None:
            encoded += str(self.id)
        return encoded + text
