// @ts-check
/**
 * Recording (server/recording/, docs/protocol.md "Recording"): whether the session is being recorded, who
 * started or stopped it, and why it failed; and the requests to start and stop it (moderator, AV desk).
 *
 * The state comes with each welcome (the session's last recording, or null), then follows `recording`.
 */

/** @typedef {import('../protocol-types.js').RecordingView} RecordingView */

/** The permission that starts and stops a recording (server/domain/roles.py). */
export const RECORDING_CONTROL = 'recording.control';

/**
 * Recording, added to a client class.
 * @template {new (...args: any[]) => import('./core.js').ClientCore} Base
 * @param {Base} Base
 */
export const withRecording = (Base) => class extends Base {
  /** @type {RecordingView | null} */ #recording = null;

  /** The session's last recording (running, stopped or failed), or null if it was never recorded. */
  get recording() { return this.#recording; }
  /** Whether the session is being recorded now. */
  get recordingNow() { return this.#recording?.state === 'recording'; }

  /** @param {any} socket */
  _listen(socket) {
    super._listen(socket);
    socket.on('recording', (/** @type {{recording: RecordingView}} */ payload) => {
      if (payload && payload.recording && this._isOurs(payload.recording.session_id)) this.#take(payload.recording);
    });
  }

  /** @param {import('../protocol-types.js').Welcome} payload */
  _welcome(payload) {
    super._welcome(payload);
    this.#recording = payload.recording ?? null;
  }

  /** @param {RecordingView} recording */
  #take(recording) {
    const previous = this.#recording;
    // An older recording's news never replaces a newer one's.
    if (previous && recording.id < previous.id) return;
    this.#recording = recording;
    this._notify('recording', { recording, previous });
  }

  /** Start recording the session. @returns {Promise<RecordingView>} */
  async startRecording() {
    const { recording } = await this.request('recording:start', {});
    this.#take(recording);
    return recording;
  }

  /** Stop the recording. @returns {Promise<RecordingView>} */
  async stopRecording() {
    const { recording } = await this.request('recording:stop', {});
    this.#take(recording);
    return recording;
  }
};
