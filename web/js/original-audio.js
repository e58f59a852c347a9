// @ts-check
/**
 * "Original audio" for listeners (issue 21, item 7): the floor, at a low level, under the interpretation
 * channel the listener chose — as Zoom's "hear the original audio" does. Mixed here, in the browser, with the
 * Web Audio API, from a second, sound-only subscription to the room feed on the floor channel.
 *
 * Why in the browser: the relay forwards media as it comes and never decodes it (one machine serves hundreds
 * of viewers); mixing on the server would decode and re-encode a stream per language and per level chosen.
 * Here it costs the listeners who ask for it one more sound stream, and each picks their own level.
 *
 * Test hook: the control's `data-state` (off, connecting, mixing), `data-gain` (the gain applied to the floor),
 * and its meter's `data-level` (the floor's level as mixed, in dBFS).
 */

import { msg } from './i18n.js';
import { LevelMeter, audioContext } from './level-meter.js';
import { el } from './ui.js';

/** @typedef {import('./media.js').MediaClient} MediaClient */
/** @typedef {import('./media.js').MediaLink} MediaLink */

/** The floor's level under the interpretation, out of 100, until the listener moves it. */
export const DEFAULT_LEVEL = 20;

export class OriginalAudio {
  /**
   * @param {() => MediaClient | null} getMedia
   */
  constructor(getMedia) {
    this.getMedia = getMedia;
    this.checkbox = /** @type {HTMLInputElement} */ (el('input', {
      type: 'checkbox', id: 'media-original', testid: 'media-original',
    }));
    this.level = /** @type {HTMLInputElement} */ (el('input', {
      type: 'range', id: 'media-original-level', testid: 'media-original-level', min: '0', max: '100', step: '5',
      value: String(DEFAULT_LEVEL),
    }));
    this.meter = new LevelMeter({ label: msg('Level of the floor under the interpretation'), testid: 'media-original-meter' });
    this.node = el('div', { class: 'media-controls original-audio', testid: 'original-audio', dataset: { state: 'off', gain: '0' } },
      el('span', { class: 'check-inline' },
        this.checkbox, el('label', { for: 'media-original' }, msg('Hear the floor under the interpretation'))), ' ',
      el('label', { for: 'media-original-level' }, msg('Floor level')), ' ', this.level, ' ', this.meter.node);
    /** @type {MediaLink | null} */ this.link = null;
    /** @type {HTMLAudioElement | null} */ this.sink = null;
    /** @type {MediaStreamAudioSourceNode | null} */ this.source = null;
    /** @type {GainNode | null} */ this.gain = null;
    /** What the page's own sound is now: the mix follows its volume and mute. */
    this.outer = { volume: 1, muted: false };
    /** Whether the floor should be heard now: chosen, watching, and an interpretation (not the floor) playing. */
    this.wanted = false;
    /** @type {(() => void) | null} called when the listener ticks or unticks the box (the page then follows) */
    this.onChange = null;
    this.checkbox.addEventListener('change', () => this.onChange?.());
    this.level.addEventListener('input', () => this.#applyGain());
    this.hidden = true;
  }

  /** @param {boolean} hidden  offered only while an interpretation is chosen */
  set hidden(hidden) { this.node.hidden = hidden; }


  /**
   * Follow what the page plays.
   * @param {{watching: boolean, channel: string, volume: number, muted: boolean}} now  channel: the one playing
   */
  follow({ watching, channel, volume, muted }) {
    this.outer = { volume, muted };
    this.hidden = channel === 'floor' && !this.checkbox.checked;
    const wanted = this.checkbox.checked && watching && channel !== 'floor';
    if (wanted && !this.link) this.#start();
    if (!wanted && this.link) this.stop();
    this.wanted = wanted;
    this.#applyGain();
  }

  #start() {
    const media = this.getMedia();
    if (!media) return;
    this.node.dataset.state = 'connecting';
    const context = audioContext();
    context.resume().catch(() => {});
    this.gain = context.createGain();
    this.gain.connect(context.destination);
    this.#applyGain();
    const link = media.subscribe({ source: 'room', channel: 'floor', audioOnly: true });
    this.link = link;
    link.addEventListener('stream', (event) => {
      const { stream } = /** @type {CustomEvent} */ (event).detail;
      if (this.link !== link || !this.gain) return;
      // Chromium lets a remote WebRTC stream's sound into Web Audio only while a media element plays it:
      // one plays it here, muted (what is heard goes through the gain).
      if (!this.sink) {
        this.sink = /** @type {HTMLAudioElement} */ (el('audio', { hidden: true }));
        this.sink.muted = true;
        this.node.append(this.sink);
      }
      this.sink.srcObject = stream;
      this.sink.play().catch(() => {});
      this.source?.disconnect();
      this.source = audioContext().createMediaStreamSource(stream);
      this.source.connect(this.gain);
      this.meter.follow(stream);
      this.node.dataset.state = 'mixing';
    });
    link.addEventListener('state', (event) => {
      const { state } = /** @type {CustomEvent} */ (event).detail;
      if (this.link === link && state !== 'connected') this.node.dataset.state = state === 'stopped' ? 'off' : 'connecting';
      else if (this.link === link && this.source) this.node.dataset.state = 'mixing';
    });
  }

  /** The floor's gain: its own level, times the page's volume, and nothing while the page is muted. */
  #applyGain() {
    const gain = this.outer.muted ? 0 : (Number(this.level.value) / 100) * this.outer.volume;
    if (this.gain) this.gain.gain.value = gain;
    this.node.dataset.gain = String(this.link ? Math.round(gain * 100) / 100 : 0);
  }

  stop() {
    this.link?.stop();
    this.link = null;
    this.meter.stop();
    this.source?.disconnect();
    this.source = null;
    this.gain?.disconnect();
    this.gain = null;
    if (this.sink) this.sink.srcObject = null;
    this.node.dataset.state = 'off';
    this.node.dataset.gain = '0';
  }
}
