// @ts-check
/**
 * The attendee's media: the room feed with a language channel (or sound only), and, when given the floor,
 * the microphone (camera optional) published to the room. Connections are kept up by js/media.js.
 */

import { CHANNELS, MediaClient } from '../media.js';
import { languageLabel } from '../labels.js';
import { t } from '../i18n.js';
import { el, errorText, fill } from '../ui.js';

/** @typedef {import('../media.js').MediaLink} MediaLink */

const LINK_TEXT = /** @type {Record<string, string>} */ ({
  idle: '',
  connecting: t('Connecting to the room…'),
  connected: t('Connected to the room.'),
  retrying: t('Connection lost: reconnecting…'),
  stopped: '',
});

export class AttendeeMedia {
  /**
   * @param {HTMLElement} root
   * @param {() => import('../protocol.js').HemicycleClient | null} getClient
   */
  constructor(root, getClient) {
    this.getClient = getClient;
    /** @type {MediaClient | null} */ this.media = null;
    /** @type {MediaLink | null} */ this.watching = null;
    /** @type {MediaLink | null} */ this.speaking = null;
    /** @type {MediaStream | null} */ this.microphone = null;
    this.video = /** @type {HTMLVideoElement} */ (el('video', {
      class: 'room-video', autoplay: true, playsinline: true, testid: 'room-video',
      'aria-label': t('The room'),
    }));
    this.channel = /** @type {HTMLSelectElement} */ (el('select', { id: 'media-channel', testid: 'media-channel' },
      CHANNELS.map((c) => el('option', { value: c }, c === 'floor' ? t('Floor (no interpretation)') : languageLabel(c)))));
    this.audioOnly = /** @type {HTMLInputElement} */ (el('input', {
      type: 'checkbox', id: 'media-audio-only', testid: 'media-audio-only',
    }));
    this.watch = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', testid: 'media-watch' }, t('Watch and listen')));
    this.status = el('p', { class: 'muted', role: 'status', testid: 'media-state' });
    this.speak = el('div', { class: 'speak-panel', hidden: true, testid: 'speak-panel' });
    this.camera = /** @type {HTMLInputElement} */ (el('input', { type: 'checkbox', id: 'media-camera' }));
    this.speakButton = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', testid: 'media-speak' },
      t('Turn on my microphone')));
    this.speakStatus = el('p', { role: 'status', testid: 'speak-state' });
    fill(this.speak,
      el('p', {}, t('You have the floor. Your microphone reaches the room once you turn it on.')),
      el('p', { class: 'field-check' }, this.camera, el('label', { for: 'media-camera' }, t('Also send my camera'))),
      el('p', { class: 'actions' }, this.speakButton), this.speakStatus);
    fill(root,
      this.video,
      el('div', { class: 'media-controls' },
        el('label', { for: 'media-channel' }, t('Language')), ' ', this.channel, ' ',
        this.audioOnly, el('label', { for: 'media-audio-only' }, t('Sound only (weak connection)')), ' ',
        this.watch),
      this.status, this.speak);
    this.watch.addEventListener('click', () => this.toggleWatch());
    this.channel.addEventListener('change', () => {
      this.watching?.setChannel(this.channel.value).catch(() => this.watching?.restart());
    });
    this.audioOnly.addEventListener('change', () => { if (this.watching) this.startWatching(); });
    this.speakButton.addEventListener('click', () => this.toggleSpeaking());
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
      this.status.textContent = '';
      return;
    }
    this.startWatching();
  }

  startWatching() {
    const media = this.#media();
    if (!media) return;
    this.watching?.stop();
    const link = media.subscribe({
      source: 'room', channel: this.channel.value, audioOnly: this.audioOnly.checked,
    });
    this.watching = link;
    this.watch.textContent = t('Stop');
    link.addEventListener('stream', (event) => {
      const { stream } = /** @type {CustomEvent} */ (event).detail;
      if (this.video.srcObject !== stream) this.video.srcObject = stream;
      this.video.play().catch(() => {});
    });
    link.addEventListener('state', (event) => {
      const { state, error } = /** @type {CustomEvent} */ (event).detail;
      this.status.textContent = error && state === 'stopped' ? errorText(error) : LINK_TEXT[state] ?? '';
      this.status.dataset.state = state;
    });
  }

  /** Called whenever my own request changes: offer the microphone while I hold the floor. */
  onMine() {
    const speaking = this.getClient()?.mine?.entry?.state === 'speaking';
    this.speak.hidden = !speaking;
    if (!speaking && (this.speaking || this.microphone)) this.stopSpeaking(t('Your turn has ended.'));
  }

  async toggleSpeaking() {
    if (this.speaking) {
      this.stopSpeaking(t('Microphone off.'));
      return;
    }
    const media = this.#media();
    if (!media) return;
    try {
      this.microphone = await navigator.mediaDevices.getUserMedia({ audio: true, video: this.camera.checked });
    } catch (error) {
      this.speakStatus.textContent = t('The microphone could not be opened: {reason}', { reason: /** @type {Error} */ (error).message });
      return;
    }
    // The room feed carries the PA: hearing oneself with a delay is confusing.
    this.video.muted = true;
    const link = media.publish({ source: 'speaker', stream: this.microphone });
    this.speaking = link;
    this.speakButton.textContent = t('Turn off my microphone');
    link.addEventListener('state', (event) => {
      const { state, error } = /** @type {CustomEvent} */ (event).detail;
      this.speakStatus.dataset.state = state;
      this.speakStatus.textContent = state === 'connected' ? t('You are live in the room.')
        : state === 'stopped' && error ? errorText(error) : LINK_TEXT[state] ?? '';
    });
  }

  /** @param {string} text */
  stopSpeaking(text) {
    this.speaking?.stop();
    this.speaking = null;
    for (const track of this.microphone?.getTracks() ?? []) track.stop();
    this.microphone = null;
    this.video.muted = false;
    this.speakButton.textContent = t('Turn on my microphone');
    this.speakStatus.textContent = text;
  }
}
