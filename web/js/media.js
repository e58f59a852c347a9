// @ts-check
/**
 * The browser side of the media relay: RTCPeerConnections that publish to it or view from it, over the
 * Socket.IO events of docs/protocol.md ("Media"). No DOM here: pages give streams to <video> elements.
 *
 * - `MediaClient(client)` wraps a connected HemicycleClient (js/protocol.js): `subscribe({source, channel,
 *   audioOnly})` and `publish({source, stream, channel})` each return a `MediaLink`.
 * - A `MediaLink` keeps itself up: when its connection fails, is closed by the relay (the floor ended, the
 *   Socket.IO connection dropped, a new codec) or the network changes (`online`), it makes a new offer, with
 *   back-off, until `stop()`. The relay's `media:stopped` (pushed through the protocol client) acts at once:
 *   a publication ended by the floor, a session that ended or a removal stop the link for good (`stopped`
 *   with code `no_floor`, `session_ended` or `removed`); any other reason makes a new offer.
 * - Offers are complete (ICE gathered before sending): the relay answers with all its candidates.
 *
 * Events (`link.addEventListener(name, e => e.detail)`): `state` {state, error?}, `stream` {stream} (viewers),
 * `stopped` {code, message} (the link gave up: no floor, not allowed...).
 */

/** @typedef {'idle' | 'connecting' | 'connected' | 'retrying' | 'stopped'} LinkState */

/** Refusals after which a link stops instead of trying again. */
const FINAL_CODES = new Set([
  'no_floor', 'not_queued', 'not_av', 'not_interpreter', 'forbidden', 'wrong_session', 'invalid_input',
  'invalid_source', 'invalid_channel', 'codec_unsupported', 'invalid_offer', 'invalid_sdp', 'session_ended',
  'token_revoked', 'token_expired', 'token_invalid',
]);
const GATHER_TIMEOUT_MS = 4000;
const DISCONNECTED_GRACE_MS = 4000;
const RETRY_MS = [500, 1000, 2000, 4000, 8000];
const REPORT_EVERY_MS = 5000;

/**
 * @typedef {object} Requester  what a MediaLink needs of HemicycleClient
 * @property {(event: string, payload?: object) => Promise<Record<string, any>>} request
 * @property {string} connection
 * @property {(type: string, listener: (detail: any) => void) => () => void} [on]   pushed events
 */

/** Reasons after which a link stops for good rather than making a new offer. */
const FINAL_REASONS = new Map([
  ['floor_ended', 'no_floor'], ['session_ended', 'session_ended'], ['removed', 'removed'],
]);

export class MediaClient {
  /**
   * @param {Requester} client
   * @param {{RTCPeerConnection?: typeof RTCPeerConnection, online?: EventTarget | null}} [options]
   */
  constructor(client, { RTCPeerConnection: Peer = globalThis.RTCPeerConnection, online = globalThis } = {}) {
    this.client = client;
    this.Peer = Peer;
    this.online = online;
    /** @type {Promise<RTCIceServer[]> | null} */
    this.iceServers = null;
    /** @type {Set<MediaLink>} */
    this.links = new Set();
    // The relay says at once when it ends a connection: no need to wait for the peer connection to notice.
    client.on?.('media:stopped', (/** @type {{resource_id?: string, reason?: string}} */ stopped) => {
      for (const link of this.links) {
        if (stopped && link.resourceId === stopped.resource_id) link.relayStopped(String(stopped.reason ?? ''));
      }
    });
  }

  /** ICE servers (TURN credentials included) from the server, fetched once per client. */
  async ice() {
    if (!this.iceServers) {
      this.iceServers = this.client.request('media:config').then((data) => data.ice_servers ?? []);
      this.iceServers.catch(() => { this.iceServers = null; });
    }
    return this.iceServers;
  }

  /**
   * View a source: the room feed (with a language channel), the speaker, or a green room (staff).
   * @param {{source?: 'room' | 'speaker' | 'greenroom' | 'sign', channel?: string, audioOnly?: boolean,
   *   participantId?: number}} [options]
   */
  subscribe({ source = 'room', channel, audioOnly = false, participantId } = {}) {
    const payload = /** @type {Record<string, any>} */ ({ source, audio_only: audioOnly });
    if (channel && source === 'room') payload.channel = channel;
    if (participantId !== undefined) payload.participant_id = participantId;
    const link = new MediaLink(this, 'media:subscribe', payload, null);
    this.links.add(link);
    link.start();
    return link;
  }

  /**
   * Publish a stream: the room feed, a language channel (sound only), the speaker or a device check.
   * @param {{source: 'room' | 'speaker' | 'greenroom' | 'channel' | 'sign', stream: MediaStream, channel?: string}} options
   */
  publish({ source, stream, channel }) {
    const payload = /** @type {Record<string, any>} */ ({ source });
    if (channel) payload.channel = channel;
    const link = new MediaLink(this, 'media:publish', payload, stream);
    this.links.add(link);
    link.start();
    return link;
  }

  /** The relay's health report (AV desk and floor staff). */
  health() {
    return this.client.request('media:health', {});
  }
}

export class MediaLink extends EventTarget {
  /** @type {RTCPeerConnection | null} */ #pc = null;
  /** @type {LinkState} */ #state = 'idle';
  /** @type {string | null} */ #resourceId = null;
  #attempt = 0;
  /** @type {ReturnType<typeof setTimeout> | null} */ #retryTimer = null;
  /** @type {ReturnType<typeof setTimeout> | null} */ #graceTimer = null;
  /** @type {ReturnType<typeof setInterval> | null} */ #reportTimer = null;
  #generation = 0;
  #onOnline = () => this.restart();

  /**
   * @param {MediaClient} media
   * @param {'media:subscribe' | 'media:publish'} event
   * @param {Record<string, any>} payload  without the sdp
   * @param {MediaStream | null} stream  what to publish; null to view
   */
  constructor(media, event, payload, stream) {
    super();
    this.media = media;
    this.event = event;
    this.payload = payload;
    this.stream = stream;
    /** The stream a viewer plays; the same object across reconnections. */
    this.remote = stream ? null : new MediaStream();
    this.media.online?.addEventListener?.('online', this.#onOnline);
  }

  get state() { return this.#state; }
  get resourceId() { return this.#resourceId; }
  get peerConnection() { return this.#pc; }

  /** @param {LinkState} state @param {object} [extra] */
  #setState(state, extra = {}) {
    this.#state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, ...extra } }));
  }

  start() {
    if (this.#state === 'stopped') return;
    this.#connect();
  }

  /** A new offer now (network change, or the page asks): the relay frees the old one. */
  restart() {
    if (this.#state === 'stopped') return;
    this.#attempt = 0;
    this.#teardown(true);
    this.#connect();
  }

  /** Switch a room-feed viewer's language without a new connection. */
  async setChannel(channel) {
    this.payload.channel = channel;
    if (this.#resourceId && this.#state === 'connected') {
      await this.media.client.request('media:channel', { resource_id: this.#resourceId, channel });
    }
  }

  /**
   * A publisher switches device (another microphone or camera) without a new offer: the relay keeps
   * forwarding the same track, now fed by the new device. The published stream follows, so a later
   * reconnection offers the new device too. A track of a kind not yet sent needs a new offer (`restart`).
   * @param {MediaStreamTrack} oldTrack
   * @param {MediaStreamTrack} newTrack
   * @returns {Promise<boolean>} false when no sender carried `oldTrack` (the caller should `restart()`)
   */
  async replaceTrack(oldTrack, newTrack) {
    if (!this.stream) return false;
    this.stream.removeTrack(oldTrack);
    this.stream.addTrack(newTrack);
    if (!this.#pc) return true; // the next offer carries the new track
    const sender = this.#pc.getSenders().find((s) => s.track === oldTrack);
    if (!sender) return false;
    await sender.replaceTrack(newTrack);
    return true;
  }

  /** Stop for good: the relay frees the connection at once. */
  stop() {
    if (this.#state === 'stopped') return;
    this.#teardown(true);
    this.media.online?.removeEventListener?.('online', this.#onOnline);
    this.media.links.delete(this);
    this.#setState('stopped');
  }

  /**
   * The relay ended this link (`media:stopped`): stop for good when the floor ended, the session ended or
   * the person was removed; otherwise (a new codec, a lost connection) make a new offer now.
   * @param {string} reason
   */
  relayStopped(reason) {
    if (this.#state === 'stopped') return;
    const code = FINAL_REASONS.get(reason);
    if (!code) {
      this.restart();
      return;
    }
    this.#teardown(false);
    this.media.online?.removeEventListener?.('online', this.#onOnline);
    this.media.links.delete(this);
    const error = { code, message: `The relay ended this connection (${reason}).` };
    this.#setState('stopped', { error });
    this.dispatchEvent(new CustomEvent('stopped', { detail: error }));
  }

  async #connect() {
    const generation = ++this.#generation;
    this.#setState(this.#attempt ? 'retrying' : 'connecting');
    try {
      const iceServers = await this.media.ice();
      if (generation !== this.#generation) return;
      const pc = new this.media.Peer({ iceServers });
      this.#pc = pc;
      this.#prepare(pc);
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      if (generation !== this.#generation) { pc.close(); return; }
      const data = await this.media.client.request(this.event, {
        ...this.payload, sdp: pc.localDescription?.sdp ?? '',
      });
      if (generation !== this.#generation) {
        this.media.client.request('media:stop', { resource_id: data.resource_id }).catch(() => {});
        return;
      }
      this.#resourceId = data.resource_id;
      await pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
    } catch (error) {
      if (generation !== this.#generation) return;
      const code = /** @type {any} */ (error)?.code ?? 'internal';
      if (FINAL_CODES.has(code)) {
        this.#teardown(false);
        this.media.online?.removeEventListener?.('online', this.#onOnline);
        this.media.links.delete(this);
        this.#setState('stopped', { error });
        this.dispatchEvent(new CustomEvent('stopped', { detail: error }));
        return;
      }
      this.#retry(error);
    }
  }

  /** @param {RTCPeerConnection} pc */
  #prepare(pc) {
    if (this.stream) {
      for (const track of this.stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [this.stream] });
    } else {
      pc.addTransceiver('audio', { direction: 'recvonly' });
      if (!this.payload.audio_only) pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addEventListener('track', (event) => {
        const remote = /** @type {MediaStream} */ (this.remote);
        const track = event.track;
        // A track joins the played stream only while media flows on it: a <video> holding a video track
        // that never gets a frame (a speaker without camera, no room feed yet) would not play the sound either.
        const attach = () => {
          for (const old of remote.getTracks().filter((t) => t.kind === track.kind && t !== track)) {
            remote.removeTrack(old);
          }
          if (!remote.getTracks().includes(track)) remote.addTrack(track);
          this.dispatchEvent(new CustomEvent('stream', { detail: { stream: remote } }));
        };
        const detach = () => {
          if (!remote.getTracks().includes(track)) return;
          remote.removeTrack(track);
          this.dispatchEvent(new CustomEvent('stream', { detail: { stream: remote } }));
        };
        if (!track.muted) attach();
        track.addEventListener('unmute', attach);
        track.addEventListener('mute', detach);
        track.addEventListener('ended', detach);
      });
    }
    pc.addEventListener('connectionstatechange', () => {
      if (this.#pc !== pc) return;
      const state = pc.connectionState;
      if (state === 'connected') {
        this.#attempt = 0;
        if (this.#graceTimer) { clearTimeout(this.#graceTimer); this.#graceTimer = null; }
        this.#setState('connected');
        if (this.stream) this.#startReports(pc);
      } else if (state === 'failed' || state === 'closed') {
        this.#retry(null);
      } else if (state === 'disconnected' && !this.#graceTimer) {
        // A short loss of connectivity often recovers by itself; a longer one needs a new offer.
        this.#graceTimer = setTimeout(() => {
          this.#graceTimer = null;
          if (this.#pc === pc && pc.connectionState !== 'connected') this.#retry(null);
        }, DISCONNECTED_GRACE_MS);
      }
    });
  }

  /** Publishers tell the relay their round-trip time and loss, for the AV desk's health view. */
  #startReports(pc) {
    if (this.#reportTimer) clearInterval(this.#reportTimer);
    this.#reportTimer = setInterval(async () => {
      if (this.#pc !== pc || !this.#resourceId) return;
      try {
        const report = summarise(await pc.getStats());
        await this.media.client.request('media:health', { resource_id: this.#resourceId, ...report });
      } catch { /* the next report will do */ }
    }, REPORT_EVERY_MS);
  }

  /** @param {unknown} error */
  #retry(error) {
    if (this.#state === 'stopped') return;
    this.#teardown(false);
    const delay = RETRY_MS[Math.min(this.#attempt, RETRY_MS.length - 1)];
    this.#attempt += 1;
    this.#setState('retrying', { error, delayMs: delay });
    this.#retryTimer = setTimeout(() => { this.#retryTimer = null; this.#connect(); }, delay);
  }

  /** @param {boolean} tellServer */
  #teardown(tellServer) {
    this.#generation += 1;
    for (const timer of [this.#retryTimer, this.#graceTimer]) if (timer) clearTimeout(timer);
    if (this.#reportTimer) clearInterval(this.#reportTimer);
    this.#retryTimer = this.#graceTimer = this.#reportTimer = null;
    if (this.#pc) this.#pc.close();
    this.#pc = null;
    if (tellServer && this.#resourceId && this.media.client.connection === 'connected') {
      this.media.client.request('media:stop', { resource_id: this.#resourceId }).catch(() => {});
    }
    this.#resourceId = null;
  }
}

/**
 * Wait until ICE gathering is complete, or give up after a while and send what there is.
 * @param {RTCPeerConnection} pc
 */
function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== 'complete') return;
      pc.removeEventListener('icegatheringstatechange', done);
      clearTimeout(timer);
      resolve(undefined);
    };
    const timer = setTimeout(() => { pc.removeEventListener('icegatheringstatechange', done); resolve(undefined); },
      GATHER_TIMEOUT_MS);
    pc.addEventListener('icegatheringstatechange', done);
  });
}

/**
 * Round-trip time, loss and bitrate from a publisher's own statistics.
 * @param {RTCStatsReport} stats
 * @returns {{rtt_ms?: number, loss_pct?: number}}
 */
export function summarise(stats) {
  let rtt = null;
  let lost = 0;
  let received = 0;
  stats.forEach((/** @type {any} */ entry) => {
    if (entry.type === 'remote-inbound-rtp') {
      if (typeof entry.roundTripTime === 'number') rtt = Math.max(rtt ?? 0, entry.roundTripTime);
      lost += Math.max(0, entry.packetsLost ?? 0);
    } else if (entry.type === 'outbound-rtp') {
      received += entry.packetsSent ?? 0;
    }
  });
  /** @type {{rtt_ms?: number, loss_pct?: number}} */
  const report = {};
  if (rtt !== null) report.rtt_ms = Math.round(rtt * 1000 * 10) / 10;
  if (received > 0) report.loss_pct = Math.min(100, Math.round((1000 * lost) / received) / 10);
  return report;
}

/**
 * What a page knows of its own link, for a help request (js/help-ui.js): round-trip time, loss, bitrate and
 * the audio level, from two readings of the connection's statistics `waitMs` apart (a bitrate needs two),
 * and its connection state. A viewer's figures come from what it receives, a speaker's from what it sends.
 * Figures the browser does not give are left out; the server bounds the rest (docs/protocol.md "Help desk").
 * @param {RTCPeerConnection | null} pc
 * @param {number} [waitMs]
 * @returns {Promise<{rtt_ms?: number, loss_pct?: number, bitrate_kbps?: number, audio_level_dbov?: number,
 *   connection: string}>}
 */
export async function linkFigures(pc, waitMs = 500) {
  if (!pc) return { connection: 'none' };
  /** @type {{rtt_ms?: number, loss_pct?: number, bitrate_kbps?: number, audio_level_dbov?: number, connection: string}} */
  const figures = { connection: pc.connectionState };
  try {
    const first = await pc.getStats();
    await new Promise((resolve) => { setTimeout(resolve, waitMs); });
    const second = await pc.getStats();
    const sent = summarise(second);
    let bytes = 0;
    let before = 0;
    let elapsed = 0;
    let lost = 0;
    let received = 0;
    /** @type {number | null} */ let rtt = sent.rtt_ms ?? null;
    /** @type {number | null} */ let level = null;
    second.forEach((/** @type {any} */ entry) => {
      const earlier = /** @type {any} */ (first.get(entry.id));
      if (entry.type === 'candidate-pair' && entry.nominated && typeof entry.currentRoundTripTime === 'number') {
        rtt = rtt ?? Math.round(entry.currentRoundTripTime * 10000) / 10;
      }
      if (entry.type === 'inbound-rtp' || entry.type === 'outbound-rtp') {
        const key = entry.type === 'inbound-rtp' ? 'bytesReceived' : 'bytesSent';
        if (earlier && typeof entry[key] === 'number' && typeof earlier[key] === 'number') {
          bytes += entry[key];
          before += earlier[key];
          elapsed = Math.max(elapsed, entry.timestamp - earlier.timestamp);
        }
      }
      if (entry.type === 'inbound-rtp') {
        lost += Math.max(0, entry.packetsLost ?? 0);
        received += entry.packetsReceived ?? 0;
        if (entry.kind === 'audio' && typeof entry.audioLevel === 'number') level = entry.audioLevel;
      }
      if (entry.type === 'media-source' && entry.kind === 'audio' && typeof entry.audioLevel === 'number') {
        level = entry.audioLevel;
      }
    });
    if (rtt !== null) figures.rtt_ms = Math.min(60000, rtt);
    if (sent.loss_pct !== undefined) figures.loss_pct = sent.loss_pct;
    else if (received + lost > 0) figures.loss_pct = Math.round((1000 * lost) / (received + lost)) / 10;
    if (elapsed > 0) figures.bitrate_kbps = Math.round(((bytes - before) * 8) / elapsed);
    if (level !== null) figures.audio_level_dbov = level > 0 ? Math.max(-127, Math.round(20 * Math.log10(level) * 10) / 10) : -127;
  } catch { /* what the state says is still worth sending */ }
  return figures;
}

/** The six UN languages and the floor, as the relay names its channels. */
export const CHANNELS = Object.freeze(['floor', 'ar', 'zh', 'en', 'fr', 'ru', 'es']);
