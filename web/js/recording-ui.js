// @ts-check
/**
 * The recording indicator every session page shows while the session is being recorded (the room display
 * too), announced to screen readers when it starts, stops or fails (its own polite live region, so that the
 * news is not lost among the presence counts of the page's announcer); and, for those who may (the
 * moderator, the AV desk), the button that starts and stops it and the error that stopped it. Page layer.
 */

import { onLanguageChange, t } from './i18n.js';
import { RECORDING_CONTROL } from './protocol/recording.js';
import { el, fill } from './ui.js';

/** @typedef {import('./protocol-types.js').RecordingView} RecordingView */

export class RecordingBar {
  /**
   * @param {import('./protocol.js').HemicycleClient} client
   * @param {HTMLElement} after  the bar goes right after it (the session header)
   */
  constructor(client, after) {
    this.client = client;
    this.indicator = el('p', { class: 'recording-indicator', testid: 'recording-indicator', hidden: true });
    this.button = el('button', { type: 'button', class: 'recording-button', testid: 'recording-button', hidden: true,
      onclick: () => this.#toggle() });
    this.error = el('p', { class: 'recording-error', testid: 'recording-error', role: 'alert', hidden: true });
    this.status = el('p', { class: 'visually-hidden', testid: 'recording-status', role: 'status',
      'aria-live': 'polite', 'aria-atomic': 'true' });
    this.node = el('div', { class: 'recording-bar', testid: 'recording-bar' },
      this.indicator, this.button, this.error, this.status);
    after.after(this.node);
    this.busy = false;
    client.on('welcome', () => this.render());
    client.on('recording', ({ recording, previous }) => {
      this.render();
      const message = RecordingBar.news(recording, previous);
      if (message) this.status.textContent = message;
    });
    onLanguageChange(() => this.render());
  }

  /**
   * What a change says to a screen reader (null: nothing changed that is worth saying).
   * @param {RecordingView} recording
   * @param {RecordingView | null} previous
   */
  static news(recording, previous) {
    if (previous && previous.id === recording.id && previous.state === recording.state) return null;
    if (recording.state === 'recording') return t('Recording started by {name}.', { name: recording.started_by });
    if (recording.state === 'failed') return t('Recording failed: {error}', { error: recording.error ?? '' });
    return recording.stopped_by ? t('Recording stopped by {name}.', { name: recording.stopped_by })
      : t('Recording stopped.');
  }

  render() {
    const recording = this.client.recording;
    const on = this.client.recordingNow;
    this.indicator.hidden = !on;
    fill(this.indicator, el('span', { class: 'recording-dot', 'aria-hidden': 'true' }), ' ', t('Recording'));
    this.indicator.title = on && recording ? t('Recording started by {name}.', { name: recording.started_by }) : '';
    const control = this.client.can(RECORDING_CONTROL);
    this.button.hidden = !control;
    this.button.textContent = on ? t('Stop recording') : t('Start recording');
    this.button.setAttribute('aria-pressed', on ? 'true' : 'false');
    this.button.disabled = this.busy;
    const failed = control && recording && recording.state === 'failed';
    this.error.hidden = !failed;
    this.error.textContent = failed ? t('Recording failed: {error}', { error: recording.error ?? '' }) : '';
  }

  async #toggle() {
    this.busy = true;
    this.render();
    try {
      if (this.client.recordingNow) await this.client.stopRecording();
      else await this.client.startRecording();
    } catch (err) {
      const message = /** @type {Error} */ (err).message;
      this.error.hidden = false;
      this.error.textContent = t('Recording: {message}', { message });
      this.busy = false;
      this.button.disabled = false;
      return;
    }
    this.busy = false;
    this.render();
  }
}
