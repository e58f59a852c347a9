// @ts-check
/**
 * A sound level meter for a MediaStream: a `<meter>` (role "meter", with an accessible name) that follows the
 * stream's loudness through the Web Audio API. Page layer: js/media.js stays free of audio graphs and of the
 * DOM; pages attach a meter to the streams they publish or receive.
 *
 * The level is read ten times a second, enough for the eye and cheap for a weak laptop; `stop()` frees the
 * audio graph (a page keeps a meter only while the stream matters: while speaking, while publishing).
 *
 * Test hook: the meter's `data-level` holds the last level in dBFS, rounded (-100 for silence).
 */

import { el } from './ui.js';

const EVERY_MS = 100;
const FLOOR_DB = -60;

/** @type {AudioContext | null} */
let shared = null;

/** One AudioContext per page: browsers limit how many may run (the original-audio mix shares it). */
export function audioContext() {
  if (!shared) {
    const context = new AudioContext();
    shared = context;
    // Created before the page was used, it starts suspended (browsers' autoplay rules): the first click or
    // key press wakes it.
    const wake = () => { context.resume().catch(() => {}); };
    document.addEventListener('pointerdown', wake, { once: true });
    document.addEventListener('keydown', wake, { once: true });
  }
  if (shared.state === 'suspended') shared.resume().catch(() => {});
  return shared;
}

export class LevelMeter {
  /**
   * @param {{label: string, testid?: string}} options  label: the accessible name ("Your microphone level")
   */
  constructor({ label, testid }) {
    this.node = /** @type {HTMLMeterElement} */ (el('meter', {
      class: 'level-meter', min: '0', max: '1', low: '0.6', high: '0.9', optimum: '0.5', value: '0',
      'aria-label': label, testid, dataset: { level: '-100' },
    }));
    /** @type {MediaStreamAudioSourceNode | null} */ this.source = null;
    /** @type {AnalyserNode | null} */ this.analyser = null;
    /** @type {ReturnType<typeof setInterval> | null} */ this.timer = null;
    /** @type {MediaStream | null} */ this.stream = null;
  }

  /**
   * Follow a stream's sound (null, or a stream without sound, stops the meter).
   * @param {MediaStream | null} stream
   */
  follow(stream) {
    if (stream === this.stream && this.timer) return;
    this.stop();
    if (!stream || !stream.getAudioTracks().length || typeof AudioContext === 'undefined') return;
    this.stream = stream;
    const context = audioContext();
    this.source = context.createMediaStreamSource(stream);
    this.analyser = context.createAnalyser();
    this.analyser.fftSize = 1024;
    this.source.connect(this.analyser); // not to the speakers: the meter only listens
    const samples = new Float32Array(this.analyser.fftSize);
    this.timer = setInterval(() => {
      if (!this.analyser) return;
      this.analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const sample of samples) sum += sample * sample;
      const rms = Math.sqrt(sum / samples.length);
      const db = rms > 0 ? 20 * Math.log10(rms) : -100;
      this.node.value = Math.max(0, Math.min(1, 1 - db / FLOOR_DB));
      this.node.dataset.level = String(Math.max(-100, Math.round(db)));
    }, EVERY_MS);
  }

  /** Stop listening and show silence. */
  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.source?.disconnect();
    this.source = null;
    this.analyser = null;
    this.stream = null;
    this.node.value = 0;
    this.node.dataset.level = '-100';
  }
}
