"""When a publisher's frames were taken, on the relay's own clock.

A frame's RTP timestamp says when it was taken, on the publisher's clock, from an unknown origin; its arrival
says when it got here, after encoding, pacing and the network. The frames that waited least tell the two
clocks apart: their arrival less their timestamp (in seconds) is, at its least, the origin of the
publisher's clock on ours plus the shortest way here. Any other frame was taken at that origin plus its
timestamp, however late it arrives.

A viewer's stream is carried across a change of source (``ForwardTrack`` in forward.py) on these times, not
on the arrivals: a keyframe that comes late, because it is big, because the publisher's encoder was behind,
or because it is replayed from a moment ago, is still placed where it was taken (or a frame after the last
one written, when it was taken before that went out). Placed by its arrival, each switch would push the
picture ahead of the sound by the keyframe's delay, and a recording with a hundred interventions would drift
out of lip sync by seconds. The same time goes with each packet to the viewer's sender, whose RTCP reports
pair it with the packet's timestamp (a player keeps picture and sound together by them), and to the
recorder, which places each kind in its file by it.
"""

from __future__ import annotations

from aiortc import clock

# How fast the estimate of the publisher's origin may rise, in seconds per second of arrivals: far above any
# real clock's drift (tens of parts per million), so that a publisher whose clock runs slow is followed, and
# slow against the delays it must see past (10 ms of jitter takes ten seconds to creep back in).
DRIFT = 0.001
# A frame that arrived this long before the time its timestamp gives it, or this long after, begins a new
# timeline: its encoder reset its clock without a new SSRC. A stall delivered late, a burst catching up, a
# silence and reordering all stay well within both. (Wrongly taken for one, a frame only starts the estimate
# again from itself, and the frames after it bring it back down.)
EARLY_LIMIT = 2.0
LATE_LIMIT = 60.0
_MASK = 0xFFFFFFFF
_HALF = 0x80000000
# Seconds from the NTP epoch (1900) to the Unix epoch (1970).
_NTP_TO_UNIX = 2_208_988_800


def signed_ticks(delta: int) -> int:
    """A 32-bit RTP timestamp difference as a signed number of ticks."""
    delta &= _MASK
    return delta - (1 << 32) if delta >= _HALF else delta


def unix_from_ntp(ntp: int) -> float:
    """A 64-bit NTP time (RFC 3550: seconds since 1900, then a fraction) in ``time.time()`` seconds."""
    return (ntp >> 32) - _NTP_TO_UNIX + (ntp & _MASK) / (1 << 32)


class CaptureClock:
    """One publisher's stream of one kind: ``observe`` each frame as it arrives, ``taken`` any timestamp."""

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        self._latest: int | None = None  # the newest frame's RTP timestamp
        self._ticks = 0  # ...and its ticks since the first frame's (unwrapped)
        self._origin = 0.0  # the first frame's time on our clock, plus the shortest way here
        self._observed = 0.0  # when the newest frame arrived

    def reset(self) -> None:
        """Another stream (a new publisher, an encoder restarted): its timestamps start anew."""
        self._latest = None
        self._ticks = 0

    def observe(self, timestamp: int, arrived: float) -> None:
        """A frame's first packet arrived at ``arrived`` (``time.perf_counter`` seconds)."""
        if self._latest is not None:
            delta = signed_ticks(timestamp - self._latest)
            late = arrived - self._origin - (self._ticks + delta) / self.clock_rate
            if -EARLY_LIMIT <= late <= LATE_LIMIT:
                if delta > 0:  # else the same frame again, or an older one reordered on the way
                    self._latest = timestamp
                    self._ticks += delta
                    origin = arrived - self._ticks / self.clock_rate
                    self._origin = min(self._origin + (arrived - self._observed) * DRIFT, origin)
                    self._observed = arrived
                return
        self._latest, self._ticks = timestamp, 0
        self._origin, self._observed = arrived, arrived

    def taken(self, timestamp: int) -> float | None:
        """When the frame of this timestamp was taken, on our clock; None before any frame was observed."""
        if self._latest is None:
            return None
        return self._origin + (self._ticks + signed_ticks(timestamp - self._latest)) / self.clock_rate

    def ntp_taken(self, timestamp: int, now: float) -> int:
        """When the frame of this timestamp was taken, as an NTP time (``now``: ``time.perf_counter()``, a
        moment ago): what a viewer's sender reports pair with its RTP timestamp (RFC 3550 6.4.1) and where the
        recorder places the frame. Now itself before any frame was observed."""
        ntp = clock.current_ntp_time()
        taken = self.taken(timestamp)
        return ntp if taken is None else ntp - round((now - taken) * (1 << 32))
