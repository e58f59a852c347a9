// @ts-check
/**
 * The interpretation booth: publish one language channel (sound only) from a microphone picked in the browser.
 * Attendees who pick that language hear it instead of the floor. Kept up by js/media.js.
 */

import { CHANNELS, MediaClient } from '../media.js';
import { languageLabel } from '../labels.js';
import { t } from '../i18n.js';
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
    this.channel = /** @type {HTMLSelectElement} */ (el('select', { id: 'booth-channel', testid: 'booth-channel' },
      CHANNELS.filter((c) => c !== 'floor').map((c) => el('option', { value: c }, languageLabel(c)))));
    this.microphone = /** @type {HTMLSelectElement} */ (el('select', { id: 'booth-microphone' }));
    this.button = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', testid: 'booth-publish' },
      t('Go on air')));
    this.status = el('p', { role: 'status', testid: 'booth-state' });
    const body = el('div', { class: 'panel-body' },
      el('p', {}, el('label', { for: 'booth-channel' }, t('Language channel')), ' ', this.channel),
      el('p', {}, el('label', { for: 'booth-microphone' }, t('Microphone')), ' ', this.microphone),
      el('p', { class: 'actions' }, this.button), this.status);
    root.prepend(el('section', { class: 'panel', id: 'booth', 'aria-labelledby': 'booth-heading' },
      el('h2', { id: 'booth-heading' }, t('Interpretation channel')), body));
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
      this.status.textContent = state === 'connected' ? t('On air: {language}.', { language: languageLabel(this.channel.value) })
        : state === 'stopped' && error ? errorText(error)
          : state === 'connecting' ? t('Connecting…') : state === 'retrying' ? t('Reconnecting…') : state;
    });
    this.button.textContent = t('Go off air');
  }
}
