"""A WHIP publisher built on GStreamer's webrtcbin: a WebRTC stack that is neither aiortc nor Chromium.

Run it under a Python that has PyGObject and GStreamer (Debian: python3-gi, gir1.2-gst-plugins-bad-1.0,
gstreamer1.0-plugins-{base,good,bad,ugly}, gstreamer1.0-nice), as an external encoder would run:

    python3 tests/gst_publisher.py WHIP_URL TOKEN [--video vp8|h264] [--profile constrained-baseline]
        [--setup actpass|active|passive]

It encodes a test picture and a tone with the payloaders' own defaults (their 1400-byte MTU, webrtcbin's
RSA certificate and ``a=setup:actpass``), POSTs the offer to the WHIP endpoint, applies the answer and runs
until killed. It prints one line per event a test may wait for: ``location …``, ``connection-state …``,
``keyframe-request`` (the relay asked the encoder for a keyframe), ``error …``. Standard library and GStreamer
only: the test suite's own packages are not importable from the system Python.
"""

from __future__ import annotations

import argparse
import signal
import sys
import urllib.error
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

VIDEO = {
    "vp8": (
        "vp8enc deadline=1 target-bitrate=1500000 keyframe-max-dist=3000 ! rtpvp8pay name=pay pt=96"
        " ! application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000"
    ),
    "h264": (
        "x264enc tune=zerolatency speed-preset=ultrafast bitrate=1500 key-int-max=3000 ! "
        "video/x-h264,profile={profile} ! rtph264pay name=pay pt=102 config-interval=-1"
        " aggregate-mode=zero-latency"
        " ! application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000"
    ),
}


def say(*words: object) -> None:
    print(*words, flush=True)


class WhipPublisher:
    def __init__(self, url: str, token: str, video: str, profile: str, setup: str) -> None:
        self.url = url
        self.token = token
        self.setup = setup
        self.loop = GLib.MainLoop()
        description = (
            "webrtcbin name=webrtc bundle-policy=max-bundle "
            "videotestsrc is-live=true pattern=smpte ! video/x-raw,width=640,height=480,framerate=30/1 "
            "! videoconvert ! queue ! " + VIDEO[video].format(profile=profile) + " ! webrtc. "
            "audiotestsrc is-live=true wave=sine freq=440 volume=0.3 ! audioconvert ! audioresample "
            "! queue ! opusenc inband-fec=true dtx=true ! rtpopuspay pt=111 "
            "! application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000 ! webrtc. "
        )
        self.pipeline = Gst.parse_launch(description)
        self.webrtc = self.pipeline.get_by_name("webrtc")
        self.webrtc.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.webrtc.connect("notify::ice-gathering-state", self.on_gathering)
        self.webrtc.connect("notify::connection-state", self.on_connection_state)
        self.offered = False
        self.bus = self.pipeline.get_bus()
        self.bus.add_signal_watch()
        self.bus.connect("message::error", self.on_error)
        # A keyframe request from the far end reaches the encoder as an upstream force-key-unit event.
        pay = self.pipeline.get_by_name("pay")
        pay.get_static_pad("src").add_probe(Gst.PadProbeType.EVENT_UPSTREAM, self.on_upstream_event)

    def run(self) -> None:
        for transceiver_index in range(2):
            transceiver = self.webrtc.emit("get-transceiver", transceiver_index)
            if transceiver is not None:
                transceiver.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        self.pipeline.set_state(Gst.State.PLAYING)
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, self.stop)
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, self.stop)
        self.loop.run()
        self.pipeline.set_state(Gst.State.NULL)

    def stop(self) -> bool:
        self.loop.quit()
        return False

    def fail(self, message: str) -> None:
        say("error", message)
        self.loop.quit()

    def on_error(self, _bus: Gst.Bus, message: Gst.Message) -> None:
        error, _debug = message.parse_error()
        self.fail(f"gstreamer: {error.message}")

    def on_upstream_event(self, _pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        event = info.get_event()
        structure = event.get_structure() if event is not None else None
        if structure is not None and structure.get_name() == "GstForceKeyUnit":
            say("keyframe-request")
        return Gst.PadProbeReturn.OK

    def on_negotiation_needed(self, _element: Gst.Element) -> None:
        promise = Gst.Promise.new_with_change_func(self.on_offer_created, None)
        self.webrtc.emit("create-offer", None, promise)

    def on_offer_created(self, promise: Gst.Promise, _data: object) -> None:
        promise.wait()
        # The reply is held while its offer is used: PyGObject frees the offer with an unreferenced reply.
        reply = promise.get_reply()
        offer = reply.get_value("offer")
        self.webrtc.emit("set-local-description", offer, Gst.Promise.new())
        del reply

    def on_gathering(self, _element: Gst.Element, _spec: object) -> None:
        # Non-trickle WHIP: the offer goes out once it carries every candidate.
        state = self.webrtc.get_property("ice-gathering-state")
        if state == GstWebRTC.WebRTCICEGatheringState.COMPLETE and not self.offered:
            self.offered = True
            GLib.idle_add(self.post_offer)

    def on_connection_state(self, _element: Gst.Element, _spec: object) -> None:
        state = self.webrtc.get_property("connection-state")
        say("connection-state", state.value_nick)

    def post_offer(self) -> bool:
        offer = self.webrtc.get_property("local-description").sdp.as_text()
        if self.setup != "actpass":
            # Offer a fixed DTLS role, as some encoders do; webrtcbin itself offered actpass and takes
            # whichever role the answer leaves it.
            offer = offer.replace("a=setup:actpass", f"a=setup:{self.setup}")
        request = urllib.request.Request(
            self.url,
            data=offer.encode(),
            method="POST",
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = response.read().decode()
                say("location", response.headers["Location"])
        except urllib.error.HTTPError as refused:
            self.fail(f"whip {refused.code} {refused.read().decode()[:300]}")
            return False
        except OSError as exc:
            self.fail(f"whip {exc}")
            return False
        result, message = GstSdp.SDPMessage.new_from_text(answer)
        if result != GstSdp.SDPResult.OK:
            self.fail("the answer is not SDP")
            return False
        description = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, message)
        self.webrtc.emit("set-remote-description", description, Gst.Promise.new())
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("--video", choices=sorted(VIDEO), default="vp8")
    parser.add_argument("--profile", default="constrained-baseline")
    parser.add_argument("--setup", choices=("actpass", "active", "passive"), default="actpass")
    args = parser.parse_args()
    Gst.init(None)
    WhipPublisher(args.url, args.token, args.video, args.profile, args.setup).run()
    sys.exit(0)


if __name__ == "__main__":
    main()
