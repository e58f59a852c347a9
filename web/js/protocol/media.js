// @ts-check
/**
 * Media signalling (signaling/media_events.py, docs/protocol.md "Media"): which interpretation channels are
 * on air, and the relay's notices that js/media.js (the peer connections) listens to.
 */

/** @typedef {import('../protocol-types.js').MediaStopped} MediaStopped */
/** @typedef {import('../protocol-types.js').Health} MediaHealth */
/** @typedef {import('../protocol-types.js').MediaChannels} MediaChannels */

/**
 * Media signalling, added to a client class.
 * @template {new (...args: any[]) => import('./core.js').ClientCore} Base
 * @param {Base} Base
 */
export const withMedia = (Base) => class extends Base {
  /** @type {string[] | null} the interpretation channels on air; null until the server has said */
  #onAir = null;

  /** The interpretation channels on air (`media:channels`, or `media:config`'s `on_air`); null: not known yet. */
  get onAir() { return this.#onAir; }

  /** @param {any} socket */
  _listen(socket) {
    super._listen(socket);
    // Media (js/media.js listens): the relay ended a connection of mine; the relay's health, for staff.
    socket.on('media:stopped', (/** @type {MediaStopped} */ payload) => this._notify('media:stopped', payload));
    socket.on('media:health', (/** @type {MediaHealth} */ payload) => this._notify('media:health', payload));
    // Which interpretation channels are on air, whenever that changes (pages offer only those).
    socket.on('media:channels', (/** @type {MediaChannels} */ payload) => {
      if (!payload || !this._isOurs(payload.session_id) || !Array.isArray(payload.on_air)) return;
      this.#onAir = payload.on_air;
      this._notify('media:channels', { onAir: payload.on_air });
    });
  }

  /**
   * Ask which interpretation channels are on air (media:config); `media:channels` follows each change.
   * @returns {Promise<string[] | null>}
   */
  async refreshOnAir() {
    const data = /** @type {{on_air?: string[] | null}} */ (await this.request('media:config', {}));
    if (Array.isArray(data?.on_air)) {
      this.#onAir = data.on_air;
      this._notify('media:channels', { onAir: data.on_air });
    }
    return this.#onAir;
  }
};
