// @ts-check
/**
 * Interpretation booths (docs/protocol.md "Interpretation booths"): every booth's state (who is on air, since
 * when, an offer, the cough key), the floor as booths see it (its language, the next two, the booth that stays
 * off air), and "slow down" notices. Read again after every welcome (`booth:get`, for the roles that see
 * booths), then kept from `booth:state`, `booth:floor` and `booth:notice`.
 */

/** @typedef {import('../protocol-types.js').BoothView} BoothView */
/** @typedef {import('../protocol-types.js').BoothFloor} BoothFloor */
/** @typedef {import('../protocol-types.js').SlowDownNotice} SlowDownNotice */

/** The roles `booth:get` answers. */
const BOOTH_ROLES = new Set(['interpreter', 'av', 'admin', 'moderator', 'chair']);

/**
 * Booths, added to a client class.
 * @template {new (...args: any[]) => import('./core.js').ClientCore} Base
 * @param {Base} Base
 */
export const withBooths = (Base) => class extends Base {
  /** @type {Map<string, BoothView>} */ #booths = new Map();
  /** @type {BoothFloor | null} */ #boothFloor = null;
  /** @type {string[]} */ #boothsMine = [];

  /** Every booth, by language. */
  get booths() { return this.#booths; }

  /** The floor as booths see it: its language, the next two with theirs, the booth to stay off air. */
  get boothFloor() { return this.#boothFloor; }

  /** The booths my link works in. */
  get boothsMine() { return this.#boothsMine; }

  /** @param {any} socket */
  _listen(socket) {
    super._listen(socket);
    socket.on('booth:state', (/** @type {BoothView & {session_id: number}} */ booth) => {
      if (!booth || !this._isOurs(booth.session_id)) return;
      const { session_id: _ignored, ...view } = booth;
      this.#take(view);
    });
    socket.on('booth:floor', (/** @type {BoothFloor} */ floor) => {
      if (!floor || !this._isOurs(floor.session_id)) return;
      this.#boothFloor = floor;
      this._notify('booth:floor', { floor });
    });
    socket.on('booth:notice', (/** @type {SlowDownNotice} */ notice) => {
      if (notice && this._isOurs(notice.session_id)) this._notify('booth:notice', { notice });
    });
  }

  /** @param {import('../protocol-types.js').Welcome} payload */
  _welcome(payload) {
    super._welcome(payload);
    if (BOOTH_ROLES.has(String(this.me?.role))) queueMicrotask(() => { this.refreshBooths().catch(() => {}); });
  }

  /** @param {BoothView} booth */
  #take(booth) {
    this.#booths.set(booth.language, booth);
    this._notify('booths', { booth });
  }

  /** Read every booth, my booths and the floor again. */
  async refreshBooths() {
    const data = await this.request('booth:get', {});
    this.#booths = new Map((data.booths ?? []).map((/** @type {BoothView} */ b) => [b.language, b]));
    this.#boothsMine = data.mine ?? [];
    this.#boothFloor = data.floor ?? null;
    this._notify('booths', { booth: null });
    this._notify('booth:floor', { floor: this.#boothFloor });
  }

  /** The one on air offers the handover. @param {string} language */
  async offerBooth(language) {
    const data = await this.request('booth:offer', { language });
    this.#take(data.booth);
    return data.booth;
  }

  /** A partner takes the channel (after an offer, or when nobody is on air). @param {string} language */
  async takeBooth(language) {
    const data = await this.request('booth:take', { language });
    this.#take(data.booth);
    return data.booth;
  }

  /** Hold (or release) the cough key. @param {string} language @param {boolean} on */
  async coughBooth(language, on) {
    const data = await this.request('booth:cough', { language, on });
    this.#take(data.booth);
    return data.booth;
  }

  /** Tell the chair and the moderator the speaker is too fast. @param {string} language */
  slowDown(language) {
    return this.request('booth:slow_down', { language });
  }
};
