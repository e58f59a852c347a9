"""The sign-language channel (issue 21, item 8) through a real server with real aiortc peers: an interpreter
publishes their picture on the "sign" source; attendees who choose it receive its video frames beside the room
feed; it is announced on air while published and off air when it stops; only interpreters, the AV desk and
the administrator may publish it, and a bad offer is refused, changing nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from server.domain.roles import Role
from server.media.edge import needed_links
from server.media.relay import SIGN, link_kinds
from server.media_http import MEDIA_KEY

from .conftest import make_settings, run_app
from .helpers import Client, Running, eventually, mint
from .media_peers import Publisher, Viewer
from .test_booths import booth_link, go_on, interpreter_client
from .test_media_cascade import SDP, running_cluster
from .test_media_signaling import attendee, peer_count, publish, staff, subscribe


@pytest.fixture
async def hemicycle(tmp_path: Path) -> AsyncIterator[Running]:
    async for running in run_app(make_settings(tmp_path, media_connect_seconds=3.0)):
        yield running


async def publish_sign(client: Client) -> tuple[Publisher, dict[str, Any]]:
    """A camera only: the sign channel carries no sound."""
    publisher = Publisher()
    reply = await client.call(
        "media:publish", {"source": "sign", "sdp": await publisher.offer(audio=False, video=True)}
    )
    if reply["ok"]:
        await publisher.accept(reply["data"]["sdp"])
    else:
        await publisher.close()
    return publisher, reply


async def test_a_sign_interpreter_reaches_attendees_beside_the_room_feed(hemicycle: Running) -> None:
    av = await staff(hemicycle, Role.AV)
    room, published = await publish(av, "room")
    assert published["ok"], published
    interpreter = await staff(hemicycle, Role.INTERPRETER)
    person = await attendee(hemicycle)
    config = await person.call("media:config")
    assert "sign" not in config["data"]["on_air"]

    signer, reply = await publish_sign(interpreter)
    assert reply["ok"], reply
    assert reply["data"]["source"] == SIGN
    # On air: everyone in the session is told, within the relay's upkeep second.
    notice = await person.wait_for("media:channels", lambda p: "sign" in p["on_air"], timeout=5)
    assert notice["on_air"] == ["sign"]

    # The attendee watches the room and, beside it, the sign channel (video only): two subscriptions.
    feed, watched = await subscribe(person)
    assert watched["ok"], watched
    tile, chosen = await subscribe(person, "sign")
    assert chosen["ok"], chosen
    assert chosen["data"]["source"] == SIGN
    await eventually(lambda: tile.frames["video"] >= 5 and feed.frames["video"] >= 5, timeout=15)
    assert tile.frames["audio"] == 0  # nothing is sent on sound: the sign channel has none
    assert tile.sizes  # decoded pictures
    relay = hemicycle.server.app[MEDIA_KEY].relay(hemicycle.live_session)
    assert relay is not None
    assert relay.publisher(SIGN) is not None

    # Off air when the interpreter stops: listeners are told, the tile's feed ends.
    stopped = await interpreter.call("media:stop", {"resource_id": reply["data"]["resource_id"]})
    assert stopped["ok"], stopped
    await person.wait_for("media:channels", lambda p: "sign" not in p["on_air"], timeout=5)
    for peer in (signer, room, feed, tile):
        await peer.close()
    await eventually(lambda: peer_count(hemicycle) == 0, timeout=10)


async def test_who_may_publish_the_sign_channel(hemicycle: Running) -> None:
    person = await attendee(hemicycle)
    before = peer_count(hemicycle)
    for client in (
        person,
        await staff(hemicycle, Role.MODERATOR),
        await staff(hemicycle, Role.CHAIR),
        await staff(hemicycle, Role.CAPTIONER),
        await staff(hemicycle, Role.DISPLAY),
    ):
        _, refused = await publish_sign(client)
        assert refused["error"]["code"] == "not_interpreter", refused
        assert "sign-language" in refused["error"]["message"]
    # A sign offer with sound, and a channel named with it: refused, nothing made.
    av = await staff(hemicycle, Role.AV)
    with_sound = Publisher()
    reply = await av.call("media:publish", {"source": "sign", "sdp": await with_sound.offer(audio=True)})
    assert reply["error"]["code"] == "invalid_offer", reply
    await with_sound.close()
    video_only = Publisher()
    reply = await av.call(
        "media:publish", {"source": "sign", "channel": "fr", "sdp": await video_only.offer(audio=False)}
    )
    assert reply["error"]["code"] == "invalid_channel", reply
    await video_only.close()
    viewer = Viewer()
    reply = await person.call(
        "media:subscribe", {"source": "sign", "channel": "fr", "sdp": await viewer.offer(audio=False)}
    )
    assert reply["error"]["code"] == "invalid_channel", reply
    await viewer.close()
    assert peer_count(hemicycle) == before
    assert all(c.sio.connected for c in (person, av))
    # The AV desk and the administrator may (a camera on the interpreter in the room).
    for role in (Role.AV, Role.ADMIN):
        publisher, reply = await publish_sign(await staff(hemicycle, role))
        assert reply["ok"], (role, reply)
        await publisher.close()


async def test_the_sign_channel_follows_booth_links(hemicycle: Running) -> None:
    """A booth link names "sign" to publish the sign source; a link for booths only is refused it (nothing
    made, the connection goes on), a link for "sign" only publishes no booth; the session's own interpreter
    link, which names nothing, still publishes both."""
    status, refused = await booth_link(hemicycle, ["sign", "sign"], "Twice")
    assert status == 422 and refused["error"]["code"] == "invalid_input", refused
    status, refused = await booth_link(hemicycle, ["signs"], "Nobody")
    assert status == 422 and refused["error"]["details"]["field"].startswith("languages"), refused
    status, issued = await booth_link(hemicycle, ["sign", "es"], "Sam")
    assert status == 201 and issued["booths"] == ["es", "sign"], issued
    person = await attendee(hemicycle)
    spoken_only = await interpreter_client(hemicycle, ["es"], "Ana")
    both = await hemicycle.join(issued["link"].split("#token=", 1)[1])
    signer_only = await interpreter_client(hemicycle, ["sign"], "Signe")
    legacy = await staff(hemicycle, Role.INTERPRETER)
    got = {name: (await c.call("booth:get"))["data"] for name, c in (("es", spoken_only), ("both", both))}
    assert (got["es"]["mine"], got["es"]["sign"]) == (["es"], False)
    assert (got["both"]["mine"], got["both"]["sign"]) == (["es"], True)
    mine = (await signer_only.call("booth:get"))["data"]
    assert (mine["mine"], mine["sign"]) == ([], True)
    # The session's own link is not any booth link issued before it (it was, until booth links were skipped).
    assert (await legacy.call("booth:get"))["data"] | {"booths": None, "floor": None} == {
        "booths": None,
        "floor": None,
        "mine": ["ar", "zh", "en", "fr", "ru", "es"],
        "sign": True,
    }

    before = peer_count(hemicycle)
    nothing, refused = await publish_sign(spoken_only)
    assert refused["error"]["code"] == "not_in_booth", refused
    assert "es booth" in refused["error"]["message"] and "sign-language" in refused["error"]["message"]
    assert peer_count(hemicycle) == before and spoken_only.sio.connected
    assert "sign" not in ((await person.call("media:config"))["data"]["on_air"] or [])  # no relay: None
    # A sign-only link publishes in no booth.
    voice, refused = await go_on(signer_only, "es", 440.0)
    assert refused["error"]["code"] == "not_in_booth", refused
    assert peer_count(hemicycle) == before

    for client in (both, signer_only, legacy):
        signer, reply = await publish_sign(client)
        assert reply["ok"], reply
        await person.wait_for("media:channels", lambda p: "sign" in p["on_air"], timeout=5)
        viewer, watched = await subscribe(person, "sign")
        assert watched["ok"], watched
        await eventually(lambda v=viewer: v.frames["video"] >= 3, timeout=15)
        stopped = await client.call("media:stop", {"resource_id": reply["data"]["resource_id"]})
        assert stopped["ok"], stopped
        await person.wait_for("media:channels", lambda p: "sign" not in p["on_air"], timeout=5)
        await viewer.close()
        await signer.close()
    # The session's own link still works in the booths too.
    mic, reply = await go_on(legacy, "fr", 660.0)
    assert reply["ok"], reply
    for peer in (mic, nothing, voice):
        await peer.close()
    await eventually(lambda: peer_count(hemicycle) == 0, timeout=10)


async def test_the_sign_channel_crosses_to_an_edge_once(
    pg_database_url: str, fresh_redis_url: str, tmp_path: Path
) -> None:
    """Two processes on PostgreSQL and Redis: the interpreter publishes on the origin (WHIP, source=sign),
    a viewer on the other process (WHEP, source=sign) decodes it, pulled over one picture-only link; an
    attendee's WHIP of the sign source is refused there with the same code as over Socket.IO."""
    assert needed_links(SIGN, None, ["audio", "video"]) == {SIGN} and link_kinds(SIGN) == ("video",)
    async with running_cluster(pg_database_url, fresh_redis_url, tmp_path, [{}, {}]) as cluster:
        url_a, url_b = cluster.urls
        signer, viewer, refused = Publisher(), Viewer(), Publisher()
        try:
            interpreter = await mint(cluster.core, Role.INTERPRETER, cluster.session_id)
            async with cluster.http.post(
                f"{url_a}/api/sessions/{cluster.session_id}/whip",
                params={"source": "sign"},
                data=await signer.offer(audio=False),
                headers={**SDP, "Authorization": f"Bearer {interpreter}"},
            ) as response:
                assert response.status == 201, await response.text()
                await signer.accept(await response.text())
            await cluster.whep(url_b, await cluster.attendee(url_b, "Viewer"), viewer, source="sign")
            await eventually(lambda: viewer.frames["video"] >= 10, timeout=20)
            assert viewer.frames["audio"] == 0
            origin = await cluster.health(url_a, await mint(cluster.core, Role.AV, cluster.session_id))
            assert [link["source"] for link in origin["links"]] == [SIGN]
            async with cluster.http.post(
                f"{url_b}/api/sessions/{cluster.session_id}/whip",
                params={"source": "sign"},
                data=await refused.offer(audio=False),
                headers={**SDP, "Authorization": f"Bearer {await cluster.attendee(url_b, 'Not Signer')}"},
            ) as response:
                assert response.status == 403
                assert (await response.json())["error"]["code"] == "not_interpreter"
        finally:
            for peer in (viewer, signer, refused):
                await peer.close()
