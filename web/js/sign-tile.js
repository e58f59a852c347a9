// @ts-check
/**
 * The sign-language interpreter's picture (issue 21, item 8), in a tile over a corner of the room feed
 * (picture-in-picture-like): on the attendee page when they choose it, on the room display with `?sign=1`.
 * Offered only while the "sign" source is on air (`media:channels`); the subscription is the relay's "sign"
 * source, picture only, kept up by js/media.js.
 *
 * Test hook: the tile's `data-state` (off, connecting, showing).
 */

import { msg } from './i18n.js';
import { el } from './ui.js';

/** @typedef {import('./media.js').MediaClient} MediaClient */
/** @typedef {import('./media.js').MediaLink} MediaLink */

export class SignTile {
  /**
   * @param {() => MediaClient | null} getMedia
   * @param {{corner?: string}} [options]  corner: bottom-right (default), bottom-left, top-right, top-left
   */
  constructor(getMedia, { corner = 'bottom-right' } = {}) {
    this.getMedia = getMedia;
    this.video = /** @type {HTMLVideoElement} */ (el('video', {
      class: 'sign-video', autoplay: true, playsinline: true, testid: 'sign-video',
      'aria-label': msg('Sign-language interpretation'),
    }));
    this.video.muted = true; // the sign channel has no sound; muted video plays without a click
    this.node = el('div', { class: `sign-tile sign-${corner}`, testid: 'sign-tile', hidden: true,
      dataset: { state: 'off' } }, this.video);
    /** @type {MediaLink | null} */ this.link = null;
    this.video.addEventListener('playing', () => { if (this.link) this.node.dataset.state = 'showing'; });
  }

  /**
   * Show the tile when wanted and on air; stop the subscription otherwise.
   * @param {boolean} wanted
   * @param {string[] | null} onAir
   */
  follow(wanted, onAir) {
    const show = wanted && !!onAir?.includes('sign');
    if (show && !this.link) this.#start();
    if (!show && this.link) this.stop();
  }

  #start() {
    const media = this.getMedia();
    if (!media) return;
    const link = media.subscribe({ source: 'sign' });
    this.link = link;
    this.node.hidden = false;
    this.node.dataset.state = 'connecting';
    link.addEventListener('stream', (event) => {
      const { stream } = /** @type {CustomEvent} */ (event).detail;
      if (this.link !== link) return;
      if (this.video.srcObject !== stream) this.video.srcObject = stream;
      this.video.play().catch(() => {});
    });
  }

  stop() {
    this.link?.stop();
    this.link = null;
    this.video.srcObject = null;
    this.node.hidden = true;
    this.node.dataset.state = 'off';
  }
}
