"""When a publisher's frames were taken, on the relay's clock: the frames that waited least set it."""

from __future__ import annotations

import pytest

from server.media.timeline import DRIFT, CaptureClock, signed_ticks

RATE = 90000
FRAME = 3000  # 30 frames a second


def test_a_late_frame_is_placed_where_it_was_taken() -> None:
    clock = CaptureClock(RATE)
    base = 1_000_000
    # Frames 10 ms on the way, then one 400 ms late (a keyframe), then the two due meanwhile right behind it.
    for n in range(10):
        clock.observe(base + n * FRAME, 100.0 + n / 30 + 0.010)
    late = 100.0 + 10 / 30 + 0.400
    for n in (10, 11, 12):
        clock.observe(base + n * FRAME, late)
    # Within what the estimate may rise over those 0.8 s of arrivals (it follows a slow clock).
    within = DRIFT * 0.8
    for n in range(13):
        assert clock.taken(base + n * FRAME) == pytest.approx(100.0 + n / 30 + 0.010, abs=within)
    # A frame not seen yet, and one from before the first: where their timestamps put them.
    assert clock.taken(base + 30 * FRAME) == pytest.approx(101.010, abs=within)
    assert clock.taken(base - FRAME) == pytest.approx(100.010 - 1 / 30, abs=within)


def test_the_first_frame_stands_until_one_waits_less() -> None:
    clock = CaptureClock(RATE)
    assert clock.taken(5) is None
    clock.observe(5, 10.5)  # the first keyframe, slow to encode
    assert clock.taken(5) == 10.5
    clock.observe(5 + FRAME, 10.1 + 1 / 30)  # the next frame shows where the first one sits
    assert clock.taken(5) == pytest.approx(10.1, abs=1e-6)


def test_timestamps_wrap_around_32_bits() -> None:
    clock = CaptureClock(RATE)
    start = 0xFFFFFFFF - FRAME
    for n in range(5):
        clock.observe((start + n * FRAME) & 0xFFFFFFFF, 50.0 + n / 30)
    assert clock.taken((start + 4 * FRAME) & 0xFFFFFFFF) == pytest.approx(50.0 + 4 / 30, abs=1e-6)
    assert clock.taken(start) == pytest.approx(50.0, abs=1e-6)
    assert signed_ticks(3 - 0xFFFFFFFE) == 5 and signed_ticks(0xFFFFFFFE - 3) == -5


def test_repeated_and_reordered_frames_change_nothing() -> None:
    clock = CaptureClock(RATE)
    clock.observe(0, 1.0)
    clock.observe(2 * FRAME, 1.0 + 2 / 30)
    # The same frame's later packet, then an older frame arriving after a newer one: both early-looking.
    clock.observe(2 * FRAME, 0.5)
    clock.observe(FRAME, 0.2)
    assert clock.taken(0) == pytest.approx(1.0, abs=1e-6)


def test_a_publisher_whose_clock_runs_slow_is_followed() -> None:
    """Its timestamps fall behind ours by 100 parts per million: the estimate rises with them."""
    clock = CaptureClock(RATE)
    slow = 1 - 100e-6
    for n in range(30 * 600):  # ten minutes
        ours = n / 30
        clock.observe(round(ours * slow * RATE), ours)
    last = round((30 * 600 - 1) / 30 * slow * RATE)
    assert clock.taken(last) == pytest.approx((30 * 600 - 1) / 30, abs=DRIFT / 30 + 1e-3)


def test_a_new_stream_starts_anew() -> None:
    clock = CaptureClock(RATE)
    clock.observe(1000, 5.0)
    clock.reset()
    assert clock.taken(1000) is None
    clock.observe(7, 9.0)
    assert clock.taken(7) == 9.0


def test_a_clock_that_jumps_begins_a_new_timeline() -> None:
    """An encoder that reset its clock without a new SSRC: back ten minutes, then on from there; later an
    hour forward. Each time the frames are placed from the first one of the new timeline."""
    clock = CaptureClock(RATE)
    for n in range(10):
        clock.observe(10_000_000 + n * FRAME, 20.0 + n / 30)
    restarted = (10_000_000 - 600 * RATE) & 0xFFFFFFFF
    clock.observe(restarted, 20.0 + 10 / 30)
    assert clock.taken(restarted) == 20.0 + 10 / 30
    clock.observe(restarted + FRAME, 20.0 + 11 / 30)
    assert clock.taken(restarted + FRAME) == pytest.approx(20.0 + 11 / 30, abs=1e-6)
    ahead = (restarted + 3600 * RATE) & 0xFFFFFFFF
    clock.observe(ahead, 20.0 + 12 / 30)
    assert clock.taken(ahead) == 20.0 + 12 / 30


def test_a_stall_caught_up_and_a_silence_are_not_jumps() -> None:
    """Nothing for 5 s, then the frames due meanwhile all at once; later 20 s without a packet (the clock
    running on). The estimate keeps its timeline throughout."""
    clock = CaptureClock(RATE)
    for n in range(10):
        clock.observe(n * FRAME, 1.0 + n / 30)
    burst = 1.0 + 10 / 30 + 5.0
    for n in range(10, 160):
        clock.observe(n * FRAME, burst)
    clock.observe(160 * FRAME + 20 * RATE, burst + 20.0)
    assert clock.taken(0) == pytest.approx(1.0, abs=DRIFT * 26)
    assert clock.taken(160 * FRAME + 20 * RATE) == pytest.approx(1.0 + 160 / 30 + 20.0, abs=DRIFT * 26)
