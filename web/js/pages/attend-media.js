// @ts-check
/**
 * The attendee's media: the room feed with a language channel (or sound only), its volume, and, when given the
 * floor, the microphone (camera optional) published to the room, with a device picker, a level meter, a mute
 * button and the time left. While waiting in line, a device check: the microphone goes to the AV desk's green
 * room only, never to the room. Connections are kept up by js/media.js.
 */

import { CountdownView } from '../floor-ui.js';
import { msg, t } from '../i18n.js';
import { LevelMeter } from '../level-meter.js';
import { CHANNELS, MediaClient, linkFigures } from '../media.js';
import { languageLabel } from '../labels.js';
import { OriginalAudio } from '../original-audio.js';
import { SignTile } from '../sign-tile.js';
import { el, errorNode, errorText, fill, showError } from '../ui.js';

/** @typedef {import('../media.js').MediaLink} MediaLink */

// The camera picker's value for a camera the browser lists without an id: whichever it gives.
const ANY_CAMERA = 'any';

const LINK_TEXT = /** @type {Record<string, import('../i18n.js').Message | string>} */ ({
  idle: '',
  connecting: msg('Connecting to the room…'),
  connected: msg('Connected to the room.'),
  retrying: msg('Connection lost: reconnecting…'),
  stopped: '',
});

/**
 * What to do when the browser will not give the microphone or camera, by the error's name.
 * @param {unknown} error  a DOMException from getUserMedia
 * @param {string} keep  what the person keeps meanwhile, in a sentence (the floor, their place in line)
 * @returns {{code: string, message: string}}
 */
export function deviceError(error, keep) {
  const name = /** @type {any} */ (error)?.name ?? '';
  if (name === 'NotAllowedError' || name === 'SecurityError') {
    return { code: 'device_refused', message: `${t('Your browser did not allow the microphone. Allow it for this site (the icon at the start of the address bar), then press the button again.')} ${keep}` };
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError') {
    return { code: 'device_missing', message: `${t('No microphone or camera was found. Plug one in or pick another in the list, then press the button again.')} ${keep}` };
  }
  if (name === 'NotReadableError' || name === 'AbortError') {
    return { code: 'device_busy', message: `${t('The microphone or camera is in use by another application. Close it, then try again.')} ${keep}` };
  }
  return { code: 'device_error', message: `${t('The microphone could not be opened: {reason}', { reason: /** @type {any} */ (error)?.message ?? String(error) })} ${keep}` };
}

/**
 * Who muted, said by their role: the person is told which desk acted, not a staff member's name.
 * @param {string | null | undefined} role
 */
function mutedBy(role) {
  if (role === 'chair') return t('The chair');
  if (role === 'av') return t('The AV technicians');
  return t('The moderators');
}

/**
 * What a `moderation:muted` changed, in words: only what changed, and what happens next.
 * @param {{audio: boolean, video: boolean}} before
 * @param {import('../protocol.js').MutedMessage} muted
 */
export function moderatorMuteLines(before, muted) {
  const who = mutedBy(muted.by?.role);
  const lines = [];
  if (!!muted.audio !== before.audio) {
    lines.push(muted.audio
      ? t('{who} muted your microphone: the room does not hear you. You keep the floor; only they can unmute you.', { who })
      : t('{who} unmuted your microphone: the room hears you again.', { who }));
  }
  if (!!muted.video !== before.video) {
    lines.push(muted.video
      ? t('{who} turned off your camera: the room does not see you.', { who })
      : t('{who} allowed your camera again.', { who }));
  }
  if (muted.reason && (muted.audio || muted.video)) lines.push(t('Reason: {reason}', { reason: muted.reason }));
  return lines;
}

const RESUME_KEY = 'hemicycle.watching';
const RESUME_WITHIN_MS = 60_000;
/**
 * The attendee's standing choice on this browser: whether the feed starts by itself (not once they stopped it)
 * and whether it is sound only (a weak or costly connection).
 */
const FEED_KEY = 'hemicycle.feed';

/** @returns {{off: boolean, audioOnly: boolean}} */
function feedChoice() {
  try {
    const noted = JSON.parse(localStorage.getItem(FEED_KEY) ?? 'null');
    return { off: !!noted?.off, audioOnly: !!noted?.audioOnly };
  } catch {
    return { off: false, audioOnly: false };
  }
}

/** @param {{off: boolean, audioOnly: boolean}} choice */
function noteFeedChoice(choice) {
  try {
    localStorage.setItem(FEED_KEY, JSON.stringify(choice));
  } catch {
    // Not remembered: the next visit starts the feed again, with video.
  }
}

export class AttendeeMedia {
  /**
   * @param {HTMLElement} root
   * @param {() => import('../protocol.js').HemicycleClient | null} getClient
   * @param {{finish?: () => void}} [options]  finish: end my turn (the floor panel's own button does the same)
   */
  constructor(root, getClient, { finish } = {}) {
    this.getClient = getClient;
    /** What the moderators muted (`moderation:muted`): the speaker cannot lift it from here. */
    this.forced = { audio: false, video: false };
    /** @type {MediaClient | null} */ this.media = null;
    /** @type {MediaLink | null} */ this.watching = null;
    /** @type {MediaLink | null} */ this.speaking = null;
    /** @type {MediaStream | null} */ this.microphone = null;
    this.video = /** @type {HTMLVideoElement} */ (el('video', {
      class: 'room-video', autoplay: true, playsinline: true, testid: 'room-video',
      'aria-label': msg('The room'),
    }));
    this.channel = /** @type {HTMLSelectElement} */ (el('select', { id: 'media-channel', testid: 'media-channel' },
      CHANNELS.map((c) => el('option', { value: c }, c === 'floor' ? t('Floor (no interpretation)') : languageLabel(c)))));
    this.audioOnly = /** @type {HTMLInputElement} */ (el('input', {
      type: 'checkbox', id: 'media-audio-only', testid: 'media-audio-only',
    }));
    this.audioOnly.checked = feedChoice().audioOnly;
    /** Whether the feed has been started by itself on this page already (once: a stop is respected). */
    this.autoStarted = false;
    this.watch = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', testid: 'media-watch' }, msg('Watch and listen')));
    this.volume = /** @type {HTMLInputElement} */ (el('input', {
      type: 'range', id: 'media-volume', testid: 'media-volume', min: '0', max: '100', step: '5', value: '100',
    }));
    this.soundOff = /** @type {HTMLButtonElement} */ (el('button', {
      type: 'button', class: 'secondary', testid: 'media-mute', 'aria-pressed': 'false',
    }, msg('Mute the sound')));
    /** The attendee's own choice; the page also silences the room while they speak (see #applySound). */
    this.userMuted = false;
    this.status = el('p', { class: 'muted', role: 'status', testid: 'media-state' });
    /** The listener's choice of channel; what plays is the floor while that channel is off air. */
    this.wanted = 'floor';
    /** @type {string[] | null} the interpretation channels on air; null while not known (all offered) */
    this.onAir = null;
    this.channelNote = el('p', { class: 'channel-note', role: 'status', testid: 'channel-note' });
    this.speak = el('div', { class: 'speak-panel', hidden: true, testid: 'speak-panel' });
    this.microphoneSelect = /** @type {HTMLSelectElement} */ (el('select', {
      id: 'media-microphone', testid: 'speak-microphone',
    }));
    this.camera = /** @type {HTMLSelectElement} */ (el('select', { id: 'media-camera', testid: 'speak-camera' }));
    this.speakButton = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', testid: 'media-speak' },
      msg('Turn on my microphone')));
    this.muteButton = /** @type {HTMLButtonElement} */ (el('button', {
      type: 'button', class: 'secondary', testid: 'speak-mute', 'aria-pressed': 'false', hidden: true,
    }, msg('Mute my microphone')));
    this.meter = new LevelMeter({ label: msg('Your microphone level'), testid: 'speak-level' });
    this.meter.node.hidden = true;
    this.countdown = new CountdownView({ announcePhases: false, label: msg('Your speaking time') });
    this.countdown.node.dataset.testid = 'speak-countdown'; // the floor panel has the page's `countdown`
    this.speakStatus = el('p', { role: 'status', testid: 'speak-state', class: 'speak-state' });
    this.speakError = errorNode();
    // The moderators' mute or unmute, said at the top of the speaker's own panel, where they look, at once.
    this.moderated = el('div', { class: 'speak-moderated', testid: 'speak-moderated', role: 'alert', hidden: true });
    // What the room sees of me, when a camera is on.
    this.preview = /** @type {HTMLVideoElement} */ (el('video', {
      class: 'speak-preview', testid: 'speak-preview', autoplay: true, playsinline: true, hidden: true,
      'aria-label': msg('Your camera, as the room sees it'),
    }));
    this.preview.muted = true; // never one's own voice back
    this.finishButton = /** @type {HTMLButtonElement} */ (el('button', {
      type: 'button', class: 'danger', testid: 'speak-finish', onclick: () => finish?.(),
    }, msg('End my turn')));
    this.finishButton.hidden = !finish;
    this.speakHint = el('p', { class: 'speak-hint' }, msg('Your microphone reaches the room once you turn it on.'));
    // One set of device pickers, moved to whichever panel shows: the check while waiting, the floor after.
    this.pickers = el('p', { class: 'device-pickers' },
      el('label', { for: 'media-microphone' }, msg('Microphone')), ' ', this.microphoneSelect, ' ',
      el('label', { for: 'media-camera' }, msg('Camera')), ' ', this.camera);
    this.speakActions = el('p', { class: 'actions' }, this.speakButton, ' ', this.muteButton, ' ', this.finishButton);
    // While speaking, the device choice is tucked away: the turn's controls come first.
    this.devices = el('details', { class: 'speak-devices' }, el('summary', {}, msg('Microphone and camera')));
    fill(this.speak,
      el('h3', { class: 'speak-heading' }, msg('You have the floor')),
      this.moderated,
      this.speakStatus,
      this.speakHint,
      this.countdown.node, this.speakActions, this.meter.node, this.preview, this.devices, this.speakError);

    /** @type {MediaLink | null} */ this.checking = null;
    /** @type {MediaStream | null} */ this.checkStream = null;
    this.check = el('div', { class: 'speak-panel check-panel', hidden: true, testid: 'check-panel' });
    this.checkButton = /** @type {HTMLButtonElement} */ (el('button', {
      type: 'button', class: 'secondary', testid: 'check-microphone',
    }, msg('Check my microphone')));
    this.checkActions = el('p', { class: 'actions' }, this.checkButton);
    this.checkMeter = new LevelMeter({ label: msg('Your microphone level'), testid: 'check-level' });
    this.checkMeter.node.hidden = true;
    this.checkStatus = el('p', { role: 'status', testid: 'check-state' });
    this.checkError = errorNode();
    fill(this.check,
      el('p', {}, msg('While you wait, you can check your microphone: only the AV technicians hear it, not the room.')),
      this.checkActions, this.checkMeter.node, this.checkStatus, this.checkError);
    this.#fillDevices([]);
    // The first thing an attendee sees: a start control over the player, with what it will show, rather
    // than a black box. It goes once the feed is asked for; the controls under the player do the same.
    this.posterTitle = el('span', { class: 'poster-title', dir: 'auto' });
    this.posterState = el('span', { class: 'poster-state' });
    this.startButton = /** @type {HTMLButtonElement} */ (el('button', {
      type: 'button', class: 'player-start', testid: 'player-start',
    }, el('span', { class: 'player-start-icon', 'aria-hidden': 'true' }, '▶'), ' ',
    el('span', { class: 'player-start-label' }, msg('Watch and listen')),
    this.posterTitle, this.posterState));
    // Browsers play a feed by itself only without sound until the page has been used: then this says how to
    // turn the sound on, over the picture.
    this.soundOn = /** @type {HTMLButtonElement} */ (el('button', {
      type: 'button', class: 'player-sound', testid: 'player-sound', hidden: true,
    }, msg('Turn on the sound')));
    // Issue 21: the floor under the interpretation ("original audio"), and the sign-language interpreter's
    // picture in a corner of the player (js/original-audio.js, js/sign-tile.js).
    this.original = new OriginalAudio(() => this.#media());
    this.original.onChange = () => this.#followExtras();
    this.sign = new SignTile(() => this.#media());
    this.signChoice = /** @type {HTMLInputElement} */ (el('input', {
      type: 'checkbox', id: 'media-sign', testid: 'media-sign',
    }));
    this.signOffer = el('span', { class: 'check-inline', hidden: true, testid: 'media-sign-offer' },
      this.signChoice, el('label', { for: 'media-sign' }, msg('Sign-language interpretation')));
    this.signChoice.addEventListener('change', () => this.#followExtras());
    this.player = el('div', { class: 'player', testid: 'player' }, this.video, this.sign.node, this.startButton, this.soundOn);
    fill(root,
      this.player,
      el('div', { class: 'media-controls' },
        el('label', { for: 'media-channel' }, msg('Language')), ' ', this.channel, ' ',
        // The box and its words wrap as one.
        el('span', { class: 'check-inline' },
          this.audioOnly, el('label', { for: 'media-audio-only' }, msg('Sound only (weak connection)'))), ' ',
        this.signOffer, ' ',
        this.watch),
      el('div', { class: 'media-controls' },
        el('label', { for: 'media-volume' }, msg('Volume')), ' ', this.volume, ' ', this.soundOff),
      this.original.node,
      this.channelNote, this.status, this.check, this.speak);
    this.watch.addEventListener('click', () => this.toggleWatch());
    this.startButton.addEventListener('click', () => { if (!this.watching) this.toggleWatch(); });
    // Reloading the page (or changing its language where the page cannot switch in place): what was playing
    // is noted, to play again once reconnected.
    window.addEventListener('pagehide', () => this.#noteWatching());
    this.channel.addEventListener('change', () => {
      this.wanted = this.channel.value;
      this.channelNote.textContent = '';
      this.#followChannel();
    });
    this.audioOnly.addEventListener('change', () => {
      noteFeedChoice({ off: feedChoice().off, audioOnly: this.audioOnly.checked });
      if (this.watching) this.startWatching();
    });
    this.soundOn.addEventListener('click', () => {
      this.userMuted = false;
      this.#applySound();
      this.video.play().catch(() => {});
      this.soundOff.focus(); // the control it was goes away; the sound's own button is where it can be undone
    });
    this.speakButton.addEventListener('click', () => this.toggleSpeaking());
    this.checkButton.addEventListener('click', () => this.toggleCheck());
    this.volume.addEventListener('input', () => this.#applySound());
    this.soundOff.addEventListener('click', () => {
      this.userMuted = !this.userMuted;
      this.#applySound();
    });
    this.muteButton.addEventListener('click', () => this.setMuted(this.muteButton.getAttribute('aria-pressed') !== 'true'));
    this.microphoneSelect.addEventListener('change', () => this.switchDevice('audio'));
    this.camera.addEventListener('change', () => this.switchDevice('video'));
    navigator.mediaDevices?.addEventListener?.('devicechange', () => this.listDevices());
  }

  /** The room's sound: the attendee's volume and mute, and silence while they speak (no echo of oneself). */
  #applySound() {
    this.video.volume = Number(this.volume.value) / 100;
    this.video.muted = this.userMuted || !!this.speaking;
    this.soundOff.setAttribute('aria-pressed', String(this.userMuted));
    this.soundOff.textContent = this.userMuted ? t('Unmute the sound') : t('Mute the sound');
    if (!this.userMuted) this.soundOn.hidden = true;
    this.#followExtras();
  }

  /**
   * The floor under the interpretation and the sign tile follow what plays: the channel, the page's volume
   * and mute, whether the feed is on, what is on air.
   */
  #followExtras() {
    this.original?.follow({
      watching: !!this.watching, channel: this.#playing(), volume: Number(this.volume.value) / 100,
      muted: this.userMuted || !!this.speaking,
    });
    const signOnAir = !!this.onAir?.includes('sign');
    if (this.signOffer) this.signOffer.hidden = !signOnAir;
    this.sign?.follow(!!this.watching && !this.audioOnly.checked && !!this.signChoice?.checked, this.onAir);
  }

  /** The microphones and cameras the browser offers (names appear once it has allowed one). */
  async listDevices() {
    try {
      this.#fillDevices(await navigator.mediaDevices.enumerateDevices());
    } catch { /* no list: the browser's default device is used */ }
  }

  /** @param {MediaDeviceInfo[]} devices */
  #fillDevices(devices) {
    const microphone = this.microphoneSelect.value;
    let camera = this.camera.value;
    const options = (/** @type {string} */ kind, /** @type {(number: number) => string} */ name) => devices
      .filter((d) => d.kind === kind && d.deviceId)
      .map((d, i) => el('option', { value: d.deviceId }, d.label || name(i + 1)));
    // Until the site may use a camera, browsers list cameras without an id (Firefox after a microphone-only
    // permission, Safari): offered all the same, the browser picks one when it is turned on.
    const unnamed = devices.some((d) => d.kind === 'videoinput' && !d.deviceId);
    fill(this.microphoneSelect, el('option', { value: '' }, t('Default microphone')),
      options('audioinput', (number) => t('Microphone {number}', { number })));
    fill(this.camera, el('option', { value: 'none' }, t('No camera')),
      options('videoinput', (number) => t('Camera {number}', { number })),
      unnamed ? el('option', { value: ANY_CAMERA }, t('Camera {number}', { number: 1 })) : []);
    if (camera === ANY_CAMERA && !unnamed) {
      // The list now has ids (the camera was allowed): show the one in use.
      const stream = this.microphone ?? this.checkStream;
      camera = stream?.getVideoTracks()[0]?.getSettings().deviceId ?? camera;
    }
    if ([...this.microphoneSelect.options].some((o) => o.value === microphone)) this.microphoneSelect.value = microphone;
    this.camera.value = [...this.camera.options].some((o) => o.value === camera) ? camera : 'none';
  }

  /** @returns {MediaStreamConstraints} */
  #constraints() {
    return {
      audio: this.microphoneSelect.value ? { deviceId: { exact: this.microphoneSelect.value } } : true,
      video: this.camera.value === 'none' ? false
        : this.camera.value === ANY_CAMERA ? true : { deviceId: { exact: this.camera.value } },
    };
  }

  /**
   * Mute or unmute my microphone: the track stays, silent, so unmuting is instant and needs no new offer.
   * @param {boolean} muted
   */
  setMuted(muted) {
    this.muteButton.setAttribute('aria-pressed', String(muted));
    this.muteButton.textContent = muted ? t('Unmute my microphone') : t('Mute my microphone');
    this.#applyMicrophone();
  }

  /**
   * The microphone as the room has it: off when I muted it or the moderators did (a moderator's mute silences
   * the track here too, so the level meter and the page say what the room hears).
   */
  #applyMicrophone() {
    const selfMuted = this.muteButton.getAttribute('aria-pressed') === 'true';
    const off = selfMuted || this.forced.audio;
    for (const track of this.microphone?.getAudioTracks() ?? []) track.enabled = !off;
    for (const track of this.microphone?.getVideoTracks() ?? []) track.enabled = !this.forced.video;
    this.muteButton.disabled = this.forced.audio; // only the moderators can lift their mute
    this.speak.classList.toggle('speak-muted', off);
    this.speakHint.hidden = !!this.speaking;
    this.speak.dataset.microphone = this.forced.audio ? 'muted-by-moderators' : selfMuted ? 'muted' : 'on';
    if (this.speaking?.state === 'connected') this.speakStatus.textContent = this.#liveText();
  }

  #liveText() {
    if (this.forced.audio) return t('Muted by the moderators: the room does not hear you.');
    return this.muteButton.getAttribute('aria-pressed') === 'true'
      ? t('Your microphone is muted: the room does not hear you.') : t('You are live in the room.');
  }

  /**
   * The moderators muted or unmuted my microphone or camera (`moderation:muted`).
   * @param {import('../protocol.js').MutedMessage} muted
   * @returns {string[]} what changed, in words (the page's notice says the same)
   */
  onModeratorMute(muted) {
    const lines = moderatorMuteLines(this.forced, muted);
    this.forced = { audio: !!muted.audio, video: !!muted.video };
    fill(this.moderated, lines.map((line) => el('p', {}, line)));
    this.moderated.hidden = lines.length === 0;
    this.moderated.dataset.state = muted.audio || muted.video ? 'muted' : 'unmuted';
    this.#applyMicrophone();
    return lines;
  }

  /**
   * Another microphone or camera while speaking: the new device's track replaces the old one on the same
   * connection; turning the camera on or off needs a new offer. During a device check, the check restarts.
   * @param {'audio' | 'video'} kind
   */
  async switchDevice(kind) {
    if (this.checkStream && !this.speaking) {
      // A device check in progress starts again with the newly picked devices.
      this.stopCheck('');
      this.toggleCheck();
      return;
    }
    const stream = this.microphone;
    const link = this.speaking;
    if (!stream || !link) return;
    const old = kind === 'audio' ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
    if (kind === 'video' && this.camera.value === 'none') {
      if (old) {
        old.stop();
        stream.removeTrack(old);
        link.restart();
      }
      return;
    }
    let fresh;
    try {
      const constraints = this.#constraints();
      const got = await navigator.mediaDevices.getUserMedia(kind === 'audio' ? { audio: constraints.audio }
        : { video: constraints.video });
      fresh = kind === 'audio' ? got.getAudioTracks()[0] : got.getVideoTracks()[0];
    } catch (error) {
      showError(this.speakError, deviceError(error, t('You keep the floor meanwhile.')));
      return;
    }
    showError(this.speakError, null);
    if (this.microphone !== stream || this.speaking !== link) {
      fresh.stop(); // the turn ended meanwhile
      return;
    }
    if (kind === 'audio') fresh.enabled = this.muteButton.getAttribute('aria-pressed') !== 'true';
    if (old) {
      if (!(await link.replaceTrack(old, fresh))) link.restart();
      old.stop();
    } else {
      stream.addTrack(fresh);
      link.restart();
    }
    if (kind === 'audio') {
      this.meter.stop();
      this.meter.follow(stream);
    }
    this.#applyMicrophone();
    this.#showPreview();
  }

  /** My own camera, when it is on: what the room sees. */
  #showPreview() {
    const video = this.microphone?.getVideoTracks().length ? this.microphone : null;
    if (this.preview.srcObject !== video) this.preview.srcObject = video;
    this.preview.hidden = !video;
  }

  /** @returns {MediaClient | null} */
  #media() {
    const client = this.getClient();
    if (!client) return null;
    if (!this.media || this.media.client !== client) this.media = new MediaClient(client);
    return this.media;
  }

  toggleWatch() {
    if (this.watching) {
      this.watching.stop();
      this.watching = null;
      this.video.srcObject = null;
      this.watch.textContent = t('Watch and listen');
      this.startButton.hidden = false;
      this.soundOn.hidden = true;
      this.status.textContent = '';
      noteFeedChoice({ off: true, audioOnly: this.audioOnly.checked });
      this.#followExtras();
      return;
    }
    noteFeedChoice({ off: false, audioOnly: this.audioOnly.checked });
    this.startWatching();
  }

  /**
   * This page's own link, for a help request: the microphone's while speaking, else the room feed's, with the
   * channel chosen.
   */
  async figures() {
    const link = this.speaking ?? this.watching;
    return { ...(await linkFigures(link?.peerConnection ?? null)), channel: this.wanted };
  }

  /** The channel that plays: the one chosen, or the floor while it is off air. */
  #playing() {
    if (this.wanted === 'floor' || this.onAir === null || this.onAir.includes(this.wanted)) return this.wanted;
    return 'floor';
  }

  #followChannel() {
    const channel = this.#playing();
    this.channel.dataset.playing = channel;
    if (this.watching && this.watching.payload.channel !== channel) {
      this.watching.setChannel(channel).catch(() => this.watching?.restart());
    }
    this.#followExtras();
  }

  /**
   * The interpretation channels on air changed (or were learnt): only those are offered; a listener whose
   * channel goes off air hears the floor meanwhile, and is told, and told again when it comes back.
   * @param {string[]} onAir
   */
  setOnAir(onAir) {
    const before = this.onAir;
    this.onAir = onAir;
    this.#labelChannels();
    if (this.wanted !== 'floor') {
      const language = languageLabel(this.wanted);
      const now = onAir.includes(this.wanted);
      const was = before === null ? null : before.includes(this.wanted);
      if (!now && was !== false) {
        this.channelNote.textContent = was
          ? t('The {language} interpretation went off air: you hear the floor until it is back.', { language })
          : t('The {language} interpretation is not on air: you hear the floor until it is.', { language });
      } else if (now && was === false) {
        this.channelNote.textContent = t('The {language} interpretation is on air again: you hear it now.', { language });
      }
    }
    this.#followChannel();
  }

  /** The channels' names; those known to be off air are marked, and only the chosen one of them can be picked. */
  #labelChannels() {
    for (const option of this.channel.options) {
      const code = option.value;
      if (code === 'floor') {
        option.textContent = t('Floor (no interpretation)');
        continue;
      }
      const live = this.onAir === null || this.onAir.includes(code);
      option.disabled = !live && code !== this.wanted; // the chosen one stays shown, marked
      option.textContent = live ? languageLabel(code) : t('{language} (not on air)', { language: languageLabel(code) });
    }
  }

  /**
   * The words that depend on what plays, who speaks and how the links are, again: after a change of the page's
   * language. The feed, the microphone and their links are not touched.
   */
  relabel() {
    this.#labelChannels();
    this.watch.textContent = this.watching ? t('Stop') : t('Watch and listen');
    this.#applySound();
    this.setMuted(this.muteButton.getAttribute('aria-pressed') === 'true');
    this.speakButton.textContent = this.speaking ? t('Turn off my microphone') : t('Turn on my microphone');
    this.checkButton.textContent = this.checkStream ? t('End the check') : t('Check my microphone');
    const linkWords = (/** @type {HTMLElement} */ node, /** @type {MediaLink | null} */ link, /** @type {string} */ live) => {
      // A stopped link's error stays as it was said; so does the line once the link is gone.
      if (!link || link.state === 'stopped') return;
      node.textContent = link.state === 'connected' ? live : String(LINK_TEXT[link.state] ?? '');
    };
    linkWords(this.status, this.watching, String(LINK_TEXT.connected));
    linkWords(this.speakStatus, this.speaking, this.#liveText());
    linkWords(this.checkStatus, this.checking, t('The AV technicians can hear you now; the room cannot.'));
    this.listDevices(); // "Default microphone", "Camera 1"...
  }

  #noteWatching() {
    try {
      if (this.watching) {
        sessionStorage.setItem(RESUME_KEY, JSON.stringify({
          channel: this.wanted, audioOnly: this.audioOnly.checked, at: Date.now(),
        }));
      } else {
        sessionStorage.removeItem(RESUME_KEY);
      }
    } catch {
      // Not noted: after the reload the start control is there again.
    }
  }

  /**
   * Play again what played before this page was reloaded a moment ago (a change of the page's language), on
   * the same channel. Called once the page is connected and admitted.
   */
  resumeWatching() {
    let noted = null;
    try {
      noted = JSON.parse(sessionStorage.getItem(RESUME_KEY) ?? 'null');
      sessionStorage.removeItem(RESUME_KEY);
    } catch {
      return;
    }
    if (!noted || this.watching || Date.now() - Number(noted.at) > RESUME_WITHIN_MS) return;
    if ([...this.channel.options].some((o) => o.value === noted.channel)) {
      this.channel.value = noted.channel;
      this.wanted = noted.channel;
    }
    this.audioOnly.checked = !!noted.audioOnly;
    this.startWatching();
  }

  /**
   * The feed starts at once, once the page is connected and the session is live: with sound if the browser
   * allows it, else silently with a control to turn the sound on. Not if the attendee stopped it before on this
   * browser (the start control is there), and sound only if that is what they chose.
   * @param {boolean} live
   */
  startByItself(live) {
    if (this.watching || this.autoStarted || !live || feedChoice().off) return;
    this.autoStarted = true;
    this.startWatching();
  }

  startWatching() {
    const media = this.#media();
    if (!media) return;
    this.watching?.stop();
    this.autoStarted = true; // started, by itself or not: a later stop holds for this page
    const link = media.subscribe({
      source: 'room', channel: this.#playing(), audioOnly: this.audioOnly.checked,
    });
    this.watching = link;
    this.#followExtras();
    this.watch.textContent = t('Stop');
    // Focus on the start control would fall to <body> once it hides: the Stop button takes it.
    const hadFocus = document.activeElement === this.startButton;
    this.startButton.hidden = true;
    if (hadFocus) this.watch.focus();
    link.addEventListener('stream', (event) => {
      const { stream } = /** @type {CustomEvent} */ (event).detail;
      if (this.video.srcObject !== stream) this.video.srcObject = stream;
      this.video.play().catch(() => {
        // Not allowed with sound (no click on this page yet, e.g. after a reload): play silently, and say
        // over the picture how to turn the sound on.
        this.userMuted = true;
        this.#applySound();
        this.soundOn.hidden = false;
        this.video.play().catch(() => {});
      });
    });
    link.addEventListener('state', (event) => {
      const { state, error } = /** @type {CustomEvent} */ (event).detail;
      this.status.textContent = error && state === 'stopped' ? errorText(error) : String(LINK_TEXT[state] ?? '');
      this.status.dataset.state = state;
    });
  }

  /**
   * What the start control says besides "Watch and listen": the session's title and state.
   * @param {string} title
   * @param {string} state   in words ("Live", "Scheduled")
   */
  setPoster(title, state) {
    this.posterTitle.textContent = title;
    this.posterState.textContent = state;
  }

  /**
   * Called whenever my own request or the floor changes: offer a device check while I wait in line, the
   * microphone while I hold the floor.
   */
  onMine() {
    const client = this.getClient();
    const speaking = client?.mine?.entry?.state === 'speaking';
    const queued = client?.mine?.entry?.state === 'queued';
    if ((speaking && this.speak.hidden) || (queued && this.check.hidden)) this.listDevices();
    if (!queued && (this.checking || this.checkStream)) this.stopCheck('');
    if (!queued) showError(this.checkError, null);
    this.check.hidden = !queued;
    if (queued) this.check.insertBefore(this.pickers, this.checkActions);
    if (speaking) this.devices.append(this.pickers);
    this.speak.hidden = !speaking;
    // Holding the floor, the page becomes the speaker's view (see the style sheet): the room's video, the
    // questions and the presence make way for the turn's controls.
    document.body.classList.toggle('holding-floor', !!speaking);
    // The floor's timer is the freshest (time added); my own request's until the floor says it is me.
    const floorIsMine = speaking && client?.floor?.speaking?.id === client?.mine?.entry?.id;
    const timer = !speaking ? null : floorIsMine ? client?.floor?.timer ?? null : client?.mine?.timer ?? null;
    this.countdown.set(timer, (floorIsMine ? client?.floorReceivedAt : client?.mineReceivedAt) ?? Date.now());
    if (!speaking) showError(this.speakError, null);
    if (!speaking && (this.speaking || this.microphone)) this.stopSpeaking(t('Your turn has ended.'));
  }

  async toggleSpeaking() {
    if (this.speaking) {
      this.stopSpeaking(t('Microphone off.'));
      return;
    }
    const media = this.#media();
    if (!media) return;
    showError(this.speakError, null);
    try {
      this.microphone = await navigator.mediaDevices.getUserMedia(this.#constraints());
    } catch (error) {
      // The floor is still mine: say what to do, and let the person try again.
      this.speakStatus.textContent = '';
      showError(this.speakError, deviceError(error, t('You keep the floor meanwhile.')));
      return;
    }
    if (this.getClient()?.mine?.entry?.state !== 'speaking') {
      this.stopSpeaking(t('Your turn has ended.')); // ended while the browser was asking
      return;
    }
    this.listDevices(); // the devices' names, now that the browser allowed one
    const link = media.publish({ source: 'speaker', stream: this.microphone });
    this.speaking = link;
    // The room feed carries the PA: hearing oneself with a delay is confusing.
    this.#applySound();
    this.setMuted(false);
    this.muteButton.hidden = false;
    this.meter.node.hidden = false;
    this.meter.follow(this.microphone);
    this.#showPreview();
    this.speakButton.textContent = t('Turn off my microphone');
    link.addEventListener('state', (event) => {
      const { state, error } = /** @type {CustomEvent} */ (event).detail;
      this.speakStatus.dataset.state = state;
      this.speakStatus.textContent = state === 'connected' ? this.#liveText()
        : state === 'stopped' && error ? errorText(error) : String(LINK_TEXT[state] ?? '');
    });
  }

  /** A device check while waiting in line: the microphone (and camera, if picked) to the green room. */
  async toggleCheck() {
    if (this.checking || this.checkStream) {
      this.stopCheck(t('Check ended.'));
      return;
    }
    const media = this.#media();
    if (!media) return;
    showError(this.checkError, null);
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(this.#constraints());
    } catch (error) {
      // Nothing changes in the line: the hand stays raised.
      showError(this.checkError, deviceError(error, t('Your hand stays raised.')));
      return;
    }
    if (this.getClient()?.mine?.entry?.state !== 'queued') {
      for (const track of stream.getTracks()) track.stop();
      return;
    }
    this.checkStream = stream;
    this.listDevices();
    this.checkMeter.node.hidden = false;
    this.checkMeter.follow(stream);
    this.checkButton.textContent = t('End the check');
    const link = media.publish({ source: 'greenroom', stream });
    this.checking = link;
    link.addEventListener('state', (event) => {
      const { state, error } = /** @type {CustomEvent} */ (event).detail;
      this.checkStatus.dataset.state = state;
      this.checkStatus.textContent = state === 'connected' ? t('The AV technicians can hear you now; the room cannot.')
        : state === 'stopped' && error ? errorText(error) : String(LINK_TEXT[state] ?? '');
    });
  }

  /** @param {string} text */
  stopCheck(text) {
    this.checking?.stop();
    this.checking = null;
    for (const track of this.checkStream?.getTracks() ?? []) track.stop();
    this.checkStream = null;
    this.checkMeter.stop();
    this.checkMeter.node.hidden = true;
    this.checkButton.textContent = t('Check my microphone');
    this.checkStatus.textContent = text;
    delete this.checkStatus.dataset.state;
  }

  /** @param {string} text */
  stopSpeaking(text) {
    this.speaking?.stop();
    this.speaking = null;
    for (const track of this.microphone?.getTracks() ?? []) track.stop();
    this.microphone = null;
    this.meter.stop();
    this.meter.node.hidden = true;
    this.muteButton.hidden = true;
    this.setMuted(false);
    this.#showPreview();
    this.#applySound();
    this.speakButton.textContent = t('Turn on my microphone');
    this.speakStatus.textContent = text;
  }
}
