// @ts-check
/**
 * The sign-language interpreter's booth (issue 21, item 8): a camera, picked in the browser, published on the
 * relay's "sign" source (picture only). Attendees who choose it see it in a corner of the room feed; the room
 * display shows it with `?sign=1`. Kept up by js/media.js. On the interpreter's page, beside the language
 * booth (js/pages/booth-media.js).
 */

import { MediaClient } from '../media.js';
import { msg, t } from '../i18n.js';
import { el, errorText, fill } from '../ui.js';

/** @typedef {import('../media.js').MediaLink} MediaLink */

export class SignBooth {
  /**
   * @param {import('../protocol.js').HemicycleClient} client
   * @param {HTMLElement} root
   */
  constructor(client, root) {
    this.media = new MediaClient(client);
    /** @type {MediaLink | null} */ this.link = null;
    /** @type {MediaStream | null} */ this.stream = null;
    this.camera = /** @type {HTMLSelectElement} */ (el('select', { id: 'sign-camera', testid: 'sign-camera' }));
    this.button = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', class: 'secondary', testid: 'sign-publish' },
      t('Go on air in sign language')));
    this.preview = /** @type {HTMLVideoElement} */ (el('video', {
      class: 'sign-preview', testid: 'sign-preview', autoplay: true, playsinline: true, hidden: true,
      'aria-label': msg('Your camera, as attendees see it'),
    }));
    this.preview.muted = true;
    this.status = el('p', { role: 'status', testid: 'sign-state' });
    root.append(el('section', { class: 'panel', id: 'sign-booth', 'aria-labelledby': 'sign-booth-heading' },
      el('h2', { id: 'sign-booth-heading' }, msg('Sign-language interpretation')),
      el('div', { class: 'panel-body' },
        el('p', { class: 'hint' }, msg('Your camera goes to attendees who choose sign language, beside the room feed, and to the room display.')),
        el('p', {}, el('label', { for: 'sign-camera' }, msg('Camera')), ' ', this.camera),
        el('p', { class: 'actions' }, this.button), this.preview, this.status)));
    this.button.addEventListener('click', () => this.toggle());
    this.fillCameras();
  }

  async fillCameras() {
    try {
      const devices = await navigator.mediaDevices.enumerateDevices();
      fill(this.camera, devices.filter((d) => d.kind === 'videoinput')
        .map((d, i) => el('option', { value: d.deviceId }, d.label || t('Camera {number}', { number: i + 1 }))));
    } catch { /* no list: the browser's default camera is used */ }
  }

  async toggle() {
    if (this.link) {
      this.link.stop();
      this.link = null;
      for (const track of this.stream?.getTracks() ?? []) track.stop();
      this.stream = null;
      this.preview.srcObject = null;
      this.preview.hidden = true;
      this.button.textContent = t('Go on air in sign language');
      this.status.textContent = t('Off air.');
      this.status.dataset.state = 'stopped';
      return;
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        video: this.camera.value ? { deviceId: { exact: this.camera.value } } : true, audio: false,
      });
    } catch (error) {
      this.status.textContent = t('The camera could not be opened: {reason}', { reason: /** @type {Error} */ (error).message });
      return;
    }
    this.preview.srcObject = this.stream;
    this.preview.hidden = false;
    this.link = this.media.publish({ source: 'sign', stream: this.stream });
    this.link.addEventListener('state', (event) => {
      const { state, error } = /** @type {CustomEvent} */ (event).detail;
      this.status.dataset.state = state;
      this.status.textContent = state === 'stopped' && error ? errorText(error)
        : state === 'connected' ? t('On air in sign language.') : state === 'connecting' ? t('Connecting…')
          : state === 'retrying' ? t('Reconnecting…') : '';
    });
    this.button.textContent = t('Go off air');
    this.fillCameras(); // names appear once the camera is allowed
  }
}
