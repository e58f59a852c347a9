// @ts-check
/**
 * The AV desk's media: publish the room feed from devices picked in the browser, receive the speaker who holds
 * the floor (for the PA and the screens), check a queued speaker's devices privately (green room), and watch
 * every link's health; say at a glance who is live in the room. Connections are kept up by js/media.js.
 *
 * Test hooks: `av-live` (`data-state`: none, waiting, live, muted — by the moderators —, room — an in-room
 * speaker; `data-name`), level
 * meters `av-room-level`, `av-speaker-level`, `av-greenroom-level` (see js/level-meter.js).
 */

import { msg, t } from '../i18n.js';
import { LevelMeter } from '../level-meter.js';
import { languageLabel } from '../labels.js';
import { MediaClient } from '../media.js';
import { el, errorText, fill, userText } from '../ui.js';

/** A media link's state in words (`MediaLink` states of js/media.js). */
const LINK_STATE_WORDS = /** @type {Record<string, import('../i18n.js').Message>} */ ({
  idle: msg('Idle'),
  connecting: msg('Connecting…'),
  connected: msg('Connected'),
  retrying: msg('Reconnecting…'),
  stopped: msg('Stopped'),
});

/** A peer connection's state in words (RTCPeerConnection.connectionState, as the relay reports it). */
const CONNECTION_WORDS = /** @type {Record<string, import('../i18n.js').Message>} */ ({
  new: msg('Starting'),
  connecting: msg('Connecting…'),
  connected: msg('Connected'),
  disconnected: msg('Interrupted'),
  failed: msg('Failed'),
  closed: msg('Closed'),
});

/**
 * A relay source's name in words ("room", "speaker", "greenroom", "channel:fr"); one it does not know as is.
 * @param {string} name
 */
function sourceWords(name) {
  if (name === 'room') return t('Room feed');
  if (name === 'speaker') return t('Speaker');
  if (name === 'greenroom' || name.startsWith('greenroom:')) return t('Green room');
  if (name.startsWith('channel:')) return t('Interpretation: {language}', { language: languageLabel(name.slice(8)) });
  if (name === 'sign') return t('Sign-language interpretation');
  return name;
}

/** @typedef {import('../protocol.js').HemicycleClient} HemicycleClient */
/** @typedef {import('../media.js').MediaLink} MediaLink */

const HEALTH_EVERY_MS = 2000;
/** While a new speaker is not heard yet: how often the desk asks the relay, and for how long into the turn. */
const FAST_CHECK_EVERY_MS = 150;
const FAST_CHECK_FOR_MS = 60_000;

/** @param {import('../i18n.js').Message} title @param {string} id */
function panel(title, id) {
  const body = el('div', { class: 'panel-body' });
  const node = el('section', { class: 'panel', id, 'aria-labelledby': `${id}-heading` },
    el('h2', { id: `${id}-heading` }, title), body);
  return { node, body };
}

/** @param {boolean} muted @param {string} testid @param {import('../i18n.js').Message} label */
function video(muted, testid, label) {
  return /** @type {HTMLVideoElement} */ (el('video', {
    class: 'av-video', autoplay: true, playsinline: true, muted, testid, 'aria-label': label,
  }));
}

/**
 * @param {MediaLink} link @param {HTMLElement} status @param {HTMLVideoElement} [player]
 * @param {LevelMeter} [meter]  follows the received sound
 */
function follow(link, status, player, meter) {
  link.addEventListener('state', (event) => {
    const { state, error } = /** @type {CustomEvent} */ (event).detail;
    status.dataset.state = state;
    status.textContent = state === 'stopped' && error ? errorText(error) : String(LINK_STATE_WORDS[state] ?? state);
  });
  if (player) {
    link.addEventListener('stream', (event) => {
      const { stream } = /** @type {CustomEvent} */ (event).detail;
      if (player.srcObject !== stream) player.srcObject = stream;
      player.play().catch(() => {});
      // The stream's tracks change as media comes and goes: listen to the current ones.
      meter?.stop();
      meter?.follow(stream);
    });
    link.addEventListener('stopped', () => meter?.stop());
  }
}

export class AvDesk {
  /**
   * @param {HemicycleClient} client
   * @param {HTMLElement} root
   */
  constructor(client, root) {
    this.client = client;
    this.media = new MediaClient(client);
    /** @type {MediaLink | null} */ this.room = null;
    /** @type {MediaStream | null} */ this.local = null;
    /** @type {MediaLink | null} */ this.speaker = null;
    /** @type {MediaLink | null} */ this.greenroom = null;

    const feed = panel(msg('Room feed'), 'room-feed');
    this.camera = /** @type {HTMLSelectElement} */ (el('select', { id: 'av-camera', testid: 'av-camera' }));
    this.microphone = /** @type {HTMLSelectElement} */ (el('select', { id: 'av-microphone', testid: 'av-microphone' }));
    this.publishButton = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', testid: 'av-publish' },
      msg('Publish the room feed')));
    this.preview = video(true, 'av-preview', msg('Room feed preview'));
    this.roomMeter = new LevelMeter({ label: msg('Room feed sound level'), testid: 'av-room-level' });
    this.roomStatus = el('p', { role: 'status', testid: 'av-room-state' });
    fill(feed.body,
      el('p', {}, el('label', { for: 'av-camera' }, msg('Camera or vision mixer')), ' ', this.camera),
      el('p', {}, el('label', { for: 'av-microphone' }, msg('Sound (room mixer)')), ' ', this.microphone),
      el('p', { class: 'actions' }, this.publishButton), this.preview, this.roomMeter.node, this.roomStatus,
      el('p', { class: 'muted' }, msg('An encoder such as OBS Studio can publish instead, over WHIP: see the protocol.')));

    const speaking = panel(msg('Remote speaker (to the PA and the screens)'), 'speaker-feed');
    this.speakerVideo = video(false, 'av-speaker', msg('Remote speaker'));
    this.speakerMeter = new LevelMeter({ label: msg('Remote speaker sound level'), testid: 'av-speaker-level' });
    this.speakerStatus = el('p', { role: 'status', testid: 'av-speaker-state' });
    fill(speaking.body, this.speakerVideo, this.speakerMeter.node, this.speakerStatus);

    const check = panel(msg('Green room: check a queued speaker'), 'greenroom');
    this.queued = /** @type {HTMLSelectElement} */ (el('select', { id: 'av-queued', testid: 'av-queued' }));
    this.checkButton = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', testid: 'av-check' }, msg('Check')));
    this.checkVideo = video(false, 'av-greenroom', msg('Device check'));
    this.checkMeter = new LevelMeter({ label: msg('Device check sound level'), testid: 'av-greenroom-level' });
    this.checkStatus = el('p', { role: 'status' });
    fill(check.body,
      el('p', {}, el('label', { for: 'av-queued' }, msg('Waiting to speak')), ' ', this.queued, ' ', this.checkButton),
      el('p', { class: 'muted' }, msg('Only the AV desk and floor staff see and hear this; attendees never do.')),
      this.checkVideo, this.checkMeter.node, this.checkStatus);

    const health = panel(msg('Link health'), 'media-health');
    this.healthView = new HealthView(this.media, client);
    fill(health.body, this.healthView.node);

    // Who the room hears now, in large type above everything: the floor says who may speak, the relay
    // says whose media actually arrives.
    this.live = el('p', { class: 'av-live', testid: 'av-live', role: 'status', dataset: { state: 'none' } });
    root.prepend(this.live, el('div', { class: 'av-media' }, feed.node, speaking.node, check.node, health.node));

    this.publishButton.addEventListener('click', () => this.togglePublishing());
    this.checkButton.addEventListener('click', () => this.startCheck());
    client.on('welcome', () => this.onConnected());
    client.on('queue', () => this.fillQueued());
    client.on('floor', () => this.showLive());
    client.on('connection', () => this.showLive());
    navigator.mediaDevices?.addEventListener?.('devicechange', () => this.fillDevices());
    this.healthAskedAt = 0;
    /** @type {ReturnType<typeof setTimeout> | null} the next quick look at the relay, while a speaker is awaited */
    this.liveCheck = null;
    /** @type {number | null} the floor's entry the desk waits to hear */
    this.waitingFor = null;
    this.waitingSince = 0;
    setInterval(() => this.refreshHealth(), HEALTH_EVERY_MS);
    this.fillDevices();
    this.showLive();
  }

  /**
   * "Live in the room: <name>" when the floor holder's media reaches this desk (the relay forwards their
   * publication and our link receives sound), "Nobody is live" otherwise; an in-room speaker is live by
   * being in the room.
   */
  showLive() {
    const speaking = this.client.connection === 'connected' ? this.client.floor?.speaking ?? null : null;
    const source = this.healthView.report?.sources?.speaker;
    const stream = /** @type {MediaStream | null} */ (this.speakerVideo.srcObject);
    const arriving = !!speaking && speaking.participant_id !== null && this.speaker?.state === 'connected'
      && !!stream?.getAudioTracks().length && source?.participant_id === speaking.participant_id
      // their sound reaches the relay (not just their offer): a publication still connecting is not heard
      && source?.connection === 'connected' && (source?.kinds?.audio?.packets ?? 0) > 0;
    const state = !speaking ? 'none' : speaking.in_room || speaking.participant_id === null ? 'room'
      : arriving && source?.muted?.audio ? 'muted' : arriving ? 'live' : 'waiting';
    // A remote speaker has the floor and is not heard yet: ask the relay every few hundred milliseconds,
    // rather than at the next poll (up to two seconds later), so that the desk says "live" as soon as the relay
    // forwards them. The desk's own link cannot tell: it is subscribed to whoever holds the floor, and its
    // sound track may still be playing the previous speaker. Only for the first moments of a turn: a speaker
    // who takes longer to turn on their microphone is seen at the regular poll.
    if (this.liveCheck) clearTimeout(this.liveCheck);
    this.liveCheck = null;
    const entry = speaking?.id ?? null;
    if (entry !== this.waitingFor) {
      this.waitingFor = entry;
      this.waitingSince = Date.now();
    }
    if (state === 'waiting' && this.speaker?.state === 'connected'
      && Date.now() - this.waitingSince < FAST_CHECK_FOR_MS) {
      const wait = Math.max(0, FAST_CHECK_EVERY_MS - (Date.now() - this.healthAskedAt));
      this.liveCheck = setTimeout(() => {
        this.liveCheck = null;
        this.healthAskedAt = Date.now();
        this.refreshHealth();
      }, wait);
    }
    const name = speaking?.display_name ?? '';
    if (this.live.dataset.state === state && this.live.dataset.name === name) return;
    this.live.dataset.state = state;
    this.live.dataset.name = name;
    const who = userText(name, 'person-name', 'strong');
    fill(this.live, el('span', { class: 'av-live-dot', 'aria-hidden': 'true' }),
      state === 'none' ? t('Nobody is live')
        : state === 'waiting' ? [t('Has the floor, no sound yet:'), ' ', who]
          : state === 'muted' ? [t('Muted by the moderators:'), ' ', who]
          : state === 'room' ? [t('Live in the room:'), ' ', who, ' ', t('(in the room)')]
            : [t('Live in the room:'), ' ', who]);
  }

  async fillDevices() {
    let devices = /** @type {MediaDeviceInfo[]} */ ([]);
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch {
      return;
    }
    for (const [select, kind] of /** @type {const} */ ([[this.camera, 'videoinput'], [this.microphone, 'audioinput']])) {
      const chosen = select.value;
      fill(select,
        devices.filter((d) => d.kind === kind).map((d, i) => el('option', { value: d.deviceId },
          d.label || (kind === 'videoinput' ? t('Camera {number}', { number: i + 1 }) : t('Microphone {number}', { number: i + 1 })))),
        kind === 'videoinput' ? el('option', { value: 'none' }, t('No picture')) : null);
      if (chosen) select.value = chosen;
    }
  }

  onConnected() {
    if (!this.speaker) {
      this.speaker = this.media.subscribe({ source: 'speaker' });
      follow(this.speaker, this.speakerStatus, this.speakerVideo, this.speakerMeter);
      this.speaker.addEventListener('state', () => this.showLive());
      this.speaker.addEventListener('stream', () => this.showLive());
    }
    this.fillQueued();
  }

  fillQueued() {
    const entries = this.client.queue?.queue ?? [];
    const chosen = this.queued.value;
    fill(this.queued, entries.filter((e) => e.participant_id).map((e) => el('option', { value: String(e.participant_id) },
      e.display_name)));
    if (chosen) this.queued.value = chosen;
    this.checkButton.disabled = this.queued.options.length === 0;
  }

  startCheck() {
    const participantId = Number(this.queued.value);
    if (!participantId) return;
    this.greenroom?.stop();
    this.greenroom = this.media.subscribe({ source: 'greenroom', participantId });
    follow(this.greenroom, this.checkStatus, this.checkVideo, this.checkMeter);
  }

  async togglePublishing() {
    if (this.room) {
      this.room.stop();
      this.room = null;
      for (const track of this.local?.getTracks() ?? []) track.stop();
      this.local = null;
      this.preview.srcObject = null;
      this.roomMeter.stop();
      this.publishButton.textContent = t('Publish the room feed');
      this.roomStatus.textContent = t('Not publishing.');
      return;
    }
    try {
      this.local = await navigator.mediaDevices.getUserMedia({
        audio: this.microphone.value ? { deviceId: { exact: this.microphone.value } } : true,
        video: this.camera.value === 'none' ? false
          : this.camera.value ? { deviceId: { exact: this.camera.value } } : true,
      });
    } catch (error) {
      this.roomStatus.textContent = t('The devices could not be opened: {reason}', { reason: /** @type {Error} */ (error).message });
      return;
    }
    this.fillDevices(); // labels appear once the browser has been allowed to use the devices
    this.preview.srcObject = this.local;
    this.roomMeter.follow(this.local);
    this.room = this.media.publish({ source: 'room', stream: this.local });
    follow(this.room, this.roomStatus);
    this.publishButton.textContent = t('Stop publishing');
  }

  async refreshHealth() {
    await this.healthView.refresh();
    this.showLive();
  }

  /**
   * The words that depend on the links' states, again: after a change of the page's language. The feeds
   * published and received are not touched.
   */
  relabel() {
    this.publishButton.textContent = this.room ? t('Stop publishing') : t('Publish the room feed');
    for (const [link, status] of /** @type {const} */ ([
      [this.room, this.roomStatus], [this.speaker, this.speakerStatus], [this.greenroom, this.checkStatus],
    ])) {
      // A stopped link's error stays as it was said.
      if (link && link.state !== 'stopped') status.textContent = String(LINK_STATE_WORDS[link.state] ?? link.state);
    }
    this.live.dataset.state = ''; // said again below, in the new words
    this.showLive();
    this.fillDevices();
    this.healthView.refresh();
  }
}

/** Each publisher's link: connection, round-trip time, loss, bitrates, level and how many watch it. */
export class HealthView {
  /**
   * @param {MediaClient} media
   * @param {HemicycleClient} client
   */
  constructor(media, client) {
    this.media = media;
    this.client = client;
    this.node = el('div', { class: 'health', testid: 'av-health' });
    /** @type {Record<string, any> | null} the latest report */
    this.report = null;
  }

  async refresh() {
    if (this.client.connection !== 'connected') return;
    let report;
    try {
      report = await this.media.health();
    } catch {
      return;
    }
    this.report = report;
    const sources = Object.entries(report.sources ?? {});
    if (!sources.length) {
      fill(this.node, el('p', { class: 'muted' }, t('Nothing is being published.')));
      return;
    }
    /** @param {number | null | undefined} value @param {string} unit */
    const show = (value, unit) => (value === null || value === undefined ? '\u2014' : `${value} ${unit}`);
    fill(this.node, el('table', { class: 'health-table' },
      el('thead', {}, el('tr', {}, [t('Source'), t('Connection'), t('Round trip'), t('Loss'), t('Video'), t('Sound'), t('Level'), t('Viewers')]
        .map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, sources.map(([name, s]) => el('tr', { dataset: { source: name } },
        el('th', { scope: 'row' }, sourceWords(name)),
        el('td', { dataset: { connection: s.connection ?? '' } }, CONNECTION_WORDS[s.connection ?? ''] ?? s.connection ?? ''),
        el('td', {}, show(s.rtt_ms, 'ms')),
        el('td', {}, show(s.loss_pct, '%')),
        el('td', {}, show(s.kinds?.video?.bitrate_kbps, 'kbit/s')),
        el('td', {}, show(s.kinds?.audio?.bitrate_kbps, 'kbit/s')),
        el('td', {}, show(s.kinds?.audio?.audio_level_dbov, 'dBov')),
        el('td', {}, String(s.viewers ?? 0))))),
      this.relays(report)));
  }

  /**
   * Where the session's media runs: this process's place (origin or edge), its relay links, and every live
   * process's forwarded streams against its capacity, so the AV desk sees a cascade filling up.
   * @param {Record<string, any>} report
   */
  relays(report) {
    const links = Array.isArray(report.links) ? report.links : [];
    const processes = Array.isArray(report.processes) ? report.processes : [];
    if (!report.process) return null;
    const tier = report.tier === 'edge' ? t('edge relay') : t('origin relay');
    return el('div', { class: 'health-relays', testid: 'av-relays' },
      el('p', { dataset: { tier: report.tier ?? '' } },
        t('This report comes from process {process}, the {tier}.', { process: String(report.process), tier })),
      links.length
        ? el('table', { class: 'health-table', testid: 'av-relay-links' },
          el('caption', {}, t('Relay links')),
          el('thead', {}, el('tr', {}, [t('Source'), t('Other process'), t('Connection')]
            .map((h) => el('th', { scope: 'col' }, h)))),
          el('tbody', {}, links.map((link) => el('tr', { dataset: { link: link.source ?? '' } },
            el('th', { scope: 'row' }, sourceWords(String(link.source ?? ''))),
            el('td', {}, String(link.edge ?? link.origin ?? '\u2014')),
            el('td', { dataset: { connection: link.connection ?? '' } },
              CONNECTION_WORDS[link.connection ?? ''] ?? link.connection ?? '')))))
        : null,
      processes.length
        ? el('table', { class: 'health-table', testid: 'av-processes' },
          el('caption', {}, t('Processes')),
          el('thead', {}, el('tr', {}, [t('Process'), t('Streams forwarded'), t('Capacity')]
            .map((h) => el('th', { scope: 'col' }, h)))),
          el('tbody', {}, processes.map((load) => el('tr', { dataset: { process: String(load.process ?? '') } },
            el('th', { scope: 'row' }, String(load.process ?? '')),
            el('td', {}, String(load.streams ?? 0)),
            el('td', {}, String(load.capacity ?? '\u2014'))))))
        : null);
  }
}

/** For floor staff: whether the speaker and the room feed are live, and how well (the moderator's console). */
export class MediaHealthPanel {
  /**
   * @param {HemicycleClient} client
   * @param {HTMLElement} root
   */
  constructor(client, root) {
    this.view = new HealthView(new MediaClient(client), client);
    root.append(el('section', { class: 'panel', id: 'media-health', 'aria-labelledby': 'media-health-heading' },
      el('h2', { id: 'media-health-heading' }, t('Media links')), this.view.node));
    setInterval(() => this.view.refresh(), HEALTH_EVERY_MS);
  }
}
