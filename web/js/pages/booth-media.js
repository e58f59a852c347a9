// @ts-check
/**
 * The interpretation booth: publish one language channel (sound only) from a microphone picked in the browser.
 * Attendees who pick that language hear it instead of the floor. Kept up by js/media.js.
 */

import { CHANNELS, MediaClient } from '../media.js';
import { languageLabel } from '../labels.js';
import { msg, t } from '../i18n.js';
import { el, errorText, fill } from '../ui.js';

/** @typedef {import('../media.js').MediaLink} MediaLink */

export class InterpreterBooth {
  /**
   * @param {import('../protocol.js').HemicycleClient} client
   * @param {HTMLElement} root
   */
  constructor(client, root) {
    this.media = new MediaClient(client);
    /** @type {MediaLink | null} */ this.link = null;
    /** @type {MediaStream | null} */ this.stream = null;
    this.channel = /** @type {HTMLSelectElement} */ (el('select', { id: 'booth-channel', testid: 'booth-channel' }));
    this.#fillChannels();
    this.microphone = /** @type {HTMLSelectElement} */ (el('select', { id: 'booth-microphone' }));
    this.button = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', testid: 'booth-publish' },
      msg('Go on air')));
    this.status = el('p', { role: 'status', testid: 'booth-state' });
    const body = el('div', { class: 'panel-body' },
      el('p', {}, el('label', { for: 'booth-channel' }, msg('Language channel')), ' ', this.channel),
      el('p', {}, el('label', { for: 'booth-microphone' }, msg('Microphone')), ' ', this.microphone),
      el('p', { class: 'actions' }, this.button), this.status);
    root.prepend(el('section', { class: 'panel', id: 'booth', 'aria-labelledby': 'booth-heading' },
      el('h2', { id: 'booth-heading' }, msg('Interpretation channel')), body));
    this.button.addEventListener('click', () => this.toggle());
    this.fillMicrophones();
  }

  async fillMicrophones() {
    try {
      const devices = await navigator.mediaDevices.enumerateDevices();
      fill(this.microphone, devices.filter((d) => d.kind === 'audioinput')
        .map((d, i) => el('option', { value: d.deviceId }, d.label || t('Microphone {number}', { number: i + 1 }))));
    } catch { /* no devices to list: the browser's default is used */ }
  }

  async toggle() {
    if (this.link) {
      this.link.stop();
      this.link = null;
      for (const track of this.stream?.getTracks() ?? []) track.stop();
      this.stream = null;
      this.button.textContent = t('Go on air');
      this.status.textContent = t('Off air.');
      this.channel.disabled = false;
      return;
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: this.microphone.value ? { deviceId: { exact: this.microphone.value } } : true, video: false,
      });
    } catch (error) {
      this.status.textContent = t('The microphone could not be opened: {reason}', { reason: /** @type {Error} */ (error).message });
      return;
    }
    this.channel.disabled = true;
    this.link = this.media.publish({ source: 'channel', channel: this.channel.value, stream: this.stream });
    this.link.addEventListener('state', (event) => {
      const { state, error } = /** @type {CustomEvent} */ (event).detail;
      this.status.dataset.state = state;
      this.status.textContent = state === 'stopped' && error ? errorText(error) : this.#stateWords(state);
    });
    this.button.textContent = t('Go off air');
  }

  /** @param {string} state  the link's */
  #stateWords(state) {
    return state === 'connected' ? t('On air: {language}.', { language: languageLabel(this.channel.value) })
      : state === 'connecting' ? t('Connecting…') : state === 'retrying' ? t('Reconnecting…') : state;
  }

  #fillChannels() {
    const chosen = this.channel.value;
    fill(this.channel, CHANNELS.filter((c) => c !== 'floor').map((c) => el('option', { value: c }, languageLabel(c))));
    if (chosen) this.channel.value = chosen;
  }

  /** The words again after a change of the page's language; the channel stays on air. */
  relabel() {
    this.#fillChannels();
    this.button.textContent = this.link ? t('Go off air') : t('Go on air');
    if (this.link && this.link.state !== 'stopped') this.status.textContent = this.#stateWords(this.link.state);
    this.fillMicrophones();
  }
}
