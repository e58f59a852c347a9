// @ts-check
/**
 * The core of the protocol client: one Socket.IO connection to one session (reconnecting with jitter),
 * requests and their acknowledgements, errors, and the state every page needs (who I am, the session, its
 * event, presence, the roster). It never touches the page.
 *
 * Each concern of the protocol adds its own state, events and requests as a subclass of this one (queue.js,
 * questions.js, captions.js, media.js, moderation.js, mirroring the server's); ../protocol.js puts them
 * together as HemicycleClient. A concern overrides two hooks and calls `super` in each:
 *   _listen(socket)     register its server events on a new socket
 *   _welcome(payload)   take its part of a `welcome` (a fresh read: it replaces whatever was held)
 * and uses the `_`-prefixed helpers below, which are for the concerns, not for pages.
 */

import { io as defaultIo } from '../../vendor/socket.io/socket.io.esm.min.js';
import { PROTOCOL_VERSION } from '../protocol-types.js';
import { ProtocolError } from './errors.js';
import { getAudit, getMe } from './http.js';

/** @typedef {import('../protocol-types.js').Welcome} Welcome */
/** @typedef {import('../protocol-types.js').Session} Session */
/** @typedef {import('../protocol-types.js').Event} HemicycleEvent */
/** @typedef {import('../protocol-types.js').Me} Me */
/** @typedef {import('../protocol-types.js').Person} Person */
/** @typedef {import('../protocol-types.js').Summary} PresenceSummary */
/** @typedef {import('../protocol-types.js').Actor} Actor */
/** @typedef {import('../protocol-types.js').SessionChanged} SessionStateMessage */
/** @typedef {import('../protocol-types.js').Roster} PresencePeopleMessage */
/** @typedef {import('../protocol-types.js').ErrorEvent} ServerError */
/** @typedef {import('../protocol-types.js').Ok | import('../protocol-types.js').Refused} Ack */
/** @typedef {import('./http.js').AuditEntry} AuditEntry */

/**
 * @typedef {'idle' | 'connecting' | 'waiting' | 'connected' | 'reconnecting' | 'refused' | 'closed'} ConnectionState
 *   idle: connect() not called yet; connecting: first attempt (and its retries) under way;
 *   waiting: accepted but held in the session's waiting room until a moderator admits (then `welcome`);
 *   connected: welcome received; reconnecting: the link dropped and the client retries on its own (also
 *   after a `rate_limited` refusal, once its `retry_after` has passed);
 *   refused: the server turned the token down (see `refusal`), or speaks another version of the protocol
 *   (`protocol_version`: the page must be reloaded), no retry; closed: close() was called or the server ended
 *   the connection, no retry until connect() is called again.
 */

/**
 * A versioned payload (Floor, Mine, Queue, PublicQuestions, MyQuestions, ...) with the version that orders it.
 * @param {unknown} value
 * @returns {value is {session_id: number, version: number}}
 */
export function isVersioned(value) {
  return !!value && typeof value === 'object' && typeof /** @type {any} */ (value).version === 'number';
}

/** How long a request waits for its acknowledgement. */
export const ACK_TIMEOUT_MS = 10_000;

/** An error event that arrives this long after its request settled is taken as that request's echo. */
const ERROR_ECHO_MS = 3_000;
// A connection refused as `rate_limited` is tried again after the server's `retry_after`, but never later
// than this: a person is not left waiting minutes for a page that would let them in.
const RETRY_AFTER_MAX_SECONDS = 60;

/**
 * One connection to one session, and the state every page needs.
 */
export class ClientCore extends EventTarget {
  /** @type {typeof defaultIo} */ #io;
  /** @type {any} */ #socket = null;
  /** @type {string} */ #token;
  /** @type {number | string} */ #sessionId;
  /** @type {string} */ #baseUrl;
  /** @type {number} */ #ackTimeoutMs;

  /** @type {ConnectionState} */ #connection = 'idle';
  /** @type {{code: string, message: string} | null} */ #refusal = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #retryTimer = undefined;
  /** @type {boolean} */ #welcomed = false;
  /** @type {Me | null} */ #me = null;
  /** @type {Session | null} */ #session = null;
  /** @type {HemicycleEvent | null} */ #event = null;
  /** @type {string[]} */ #permissions = [];
  /** @type {PresenceSummary | null} */ #presence = null;
  /** @type {Person[] | null} */ #people = null;
  /** Requests in flight or just settled, by event name: to mark the server's `error` echo of an ack. */
  /** @type {Map<string, {pending: number, until: number}>} */ #requests = new Map();

  /**
   * @param {object} options
   * @param {number | string} options.sessionId
   * @param {string} options.token
   * @param {string} [options.baseUrl]   "" for the page's own origin
   * @param {typeof defaultIo} [options.io]   the Socket.IO `io` function (tests may pass a fake)
   * @param {number} [options.ackTimeoutMs]
   */
  constructor({ sessionId, token, baseUrl = '', io = defaultIo, ackTimeoutMs = ACK_TIMEOUT_MS }) {
    super();
    if (sessionId === undefined || sessionId === null || sessionId === '') {
      throw new TypeError('HemicycleClient: sessionId is required');
    }
    if (!token) throw new TypeError('HemicycleClient: token is required');
    this.#sessionId = sessionId;
    this.#token = token;
    this.#baseUrl = baseUrl;
    this.#io = io;
    this.#ackTimeoutMs = ackTimeoutMs;
  }

  // --- state, read-only from outside -------------------------------------------------------------------

  get sessionId() { return this.#sessionId; }
  get token() { return this.#token; }
  get baseUrl() { return this.#baseUrl; }
  /** @returns {ConnectionState} */
  get connection() { return this.#connection; }
  /** Why the server refused the connection (its `code` and `message`), when `connection` is "refused". */
  get refusal() { return this.#refusal; }
  get me() { return this.#me; }
  get session() { return this.#session; }
  get event() { return this.#event; }
  get permissions() { return this.#permissions; }
  get presence() { return this.#presence; }
  /** The roster, for staff; null for roles that see counts only. */
  get people() { return this.#people; }

  /** @param {string} permission  e.g. "session.set_state" */
  can(permission) {
    return this.#permissions.includes(permission);
  }

  /**
   * Listen to one of the events listed in ../protocol.js.
   * @param {string} type
   * @param {(detail: any) => void} listener
   * @returns {() => void} a function that stops listening
   */
  on(type, listener) {
    /** @param {Event} event */
    const wrapped = (event) => listener(/** @type {CustomEvent} */ (event).detail);
    this.addEventListener(type, wrapped);
    return () => this.removeEventListener(type, wrapped);
  }

  // --- for the concerns -------------------------------------------------------------------------------

  /**
   * Dispatch an event to the page (after the state it announces is updated).
   * @param {string} type
   * @param {unknown} detail
   */
  _notify(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * Whether a payload is about this client's session. Compared as strings: the path gives "12" or 12, the
   * server sends 12.
   * @param {unknown} sessionId
   */
  _isOurs(sessionId) {
    return sessionId === undefined || String(sessionId) === String(this.#sessionId);
  }

  /**
   * Keep an update only if it is newer than the one held (updates may arrive out of order from several
   * processes). Returns whether it is to be taken.
   * @template {{session_id: number, version: number}} T
   * @param {T | null} held
   * @param {unknown} incoming
   * @returns {incoming is T}
   */
  _newer(held, incoming) {
    if (!isVersioned(incoming) || !this._isOurs(/** @type {any} */ (incoming).session_id)) return false;
    return !held || /** @type {any} */ (incoming).version > held.version;
  }

  /**
   * Held in the waiting room: what the server says of me, the session and its event stands until a welcome.
   * @param {{me?: Me, session: Session, event?: HemicycleEvent}} held
   */
  _wait({ me, session, event }) {
    this.#session = session;
    this.#event = event ?? this.#event;
    this.#me = me ?? this.#me;
    this.#setConnection('waiting');
  }

  /**
   * Register this concern's server events on a new socket (subclasses call `super._listen(socket)`).
   * @param {any} socket
   */
  _listen(socket) {}

  /**
   * Take this concern's part of a welcome (subclasses call `super._welcome(payload)`).
   * @param {Welcome} payload
   */
  _welcome(payload) {}

  /**
   * The one place the connection state changes.
   * @param {ConnectionState} state
   */
  #setConnection(state) {
    if (state === this.#connection) return;
    const previous = this.#connection;
    this.#connection = state;
    this._notify('connection', { state, previous, refusal: this.#refusal });
  }

  // --- connection --------------------------------------------------------------------------------------

  /** Open the connection (or open it again after `close()` or a server disconnect). */
  connect() {
    this.#refusal = null;
    if (this.#socket) {
      this.#setConnection(this.#welcomed ? 'reconnecting' : 'connecting');
      this.#socket.connect();
      return;
    }
    /** @type {Record<string, unknown>} */
    const options = {
      // A function, so that every reconnection sends the current token.
      auth: (/** @type {(auth: object) => void} */ callback) =>
        callback({ token: this.#token, session_id: this.#sessionId }),
      autoConnect: false,
      forceNew: true, // one manager per client: two clients never share a connection or its auth
      // WebSocket first: one connection instead of a polling handshake then an upgrade (less load with
      // hundreds of attendees, no upgrade race when a page reloads). If it fails, long-polling is tried at
      // once (tryAllTransports), and if it stalls, later attempts start with polling (see connect_error).
      transports: ['websocket', 'polling'],
      tryAllTransports: true,
      // When a server process is lost, all of its attendees (thousands at a session's opening) drop at the
      // same moment. The first attempt waits 1 s ± 90% (0.1 to 1.9 s, evenly spread), so the surviving
      // processes take the crowd in over two seconds instead of in one burst, and nobody waits long; each
      // later attempt doubles (still ± 90%), up to 8 s, for a service that is down a while.
      reconnectionDelay: 1000,
      randomizationFactor: 0.9,
      reconnectionDelayMax: 8000,
      // A key, random per page, that a load balancer in front of several processes keeps all requests of
      // this page together by (deploy/nginx): long-polling needs every request of a connection on the process
      // that holds it, and keying by address alone would put a whole venue behind one NAT on one process.
      // The server ignores it.
      query: { route: Math.random().toString(36).slice(2, 12) },
    };
    const socket = this.#baseUrl ? this.#io(this.#baseUrl, options) : this.#io(options);
    this.#socket = socket;
    this._listen(socket);

    socket.on('welcome', (/** @type {Welcome} */ payload) => this.#onWelcome(payload));
    socket.on('session:state', (/** @type {SessionStateMessage} */ payload) => {
      if (payload && payload.session) this.#applySession(payload.session, payload.by ?? null);
    });
    socket.on('presence', (/** @type {PresenceSummary} */ payload) => this.#applyPresence(payload));
    socket.on('presence:people', (/** @type {PresencePeopleMessage} */ payload) => {
      if (payload && Array.isArray(payload.people) && this._isOurs(payload.session_id)) {
        this.#people = payload.people;
        this._notify('presence:people', payload);
      }
    });
    socket.on('error', (/** @type {ServerError} */ payload) => {
      const entry = payload && this.#requests.get(/** @type {string} */ (payload.event));
      const handledByRequest = !!entry && (entry.pending > 0 || Date.now() < entry.until);
      this._notify('error', { ...payload, handledByRequest });
    });
    socket.on('connect_error', (/** @type {Error & {data?: any}} */ err) => {
      const data = err && err.data;
      const wait = data && data.code === 'rate_limited' && data.details ? Number(data.details.retry_after) : NaN;
      if (Number.isFinite(wait) && wait >= 0) {
        // Too many attempts (a reconnect storm, or a page in a loop): the server says when to come back.
        // Try again then, spread by up to half as much again so that a crowd refused together does not
        // return together; until then the page says it is reconnecting, not refused.
        const delay = Math.min(wait, RETRY_AFTER_MAX_SECONDS) * (1 + Math.random() / 2) * 1000;
        clearTimeout(this.#retryTimer);
        this.#retryTimer = setTimeout(() => {
          if (this.#connection === 'connecting' || this.#connection === 'reconnecting') socket.connect();
        }, delay);
        this.#setConnection(this.#welcomed ? 'reconnecting' : 'connecting');
        return;
      }
      if ((data && typeof data.code === 'string') || !socket.active) {
        // Refused by the server (bad token, wrong session...): Socket.IO does not retry these (the socket
        // is no longer `active`), and retrying would not help. Stop the manager too, so nothing retries
        // behind the page's back.
        this.#refusal = {
          code: data && typeof data.code === 'string' ? data.code : 'refused',
          message: String((data && data.message) || (err && err.message) || 'The server refused the connection.'),
        };
        socket.disconnect();
        this.#setConnection('refused');
      } else {
        // The server could not be reached: Socket.IO retries with backoff. If WebSocket was tried, the next
        // attempts start with long-polling and upgrade when they can (Socket.IO's default), which gets through
        // proxies that block or stall WebSockets.
        const manager = socket.io;
        if (manager && manager.opts && Array.isArray(manager.opts.transports)
            && manager.opts.transports[0] === 'websocket') {
          manager.opts.transports = ['polling', 'websocket'];
        }
        this.#setConnection(this.#welcomed ? 'reconnecting' : 'connecting');
      }
    });
    socket.on('disconnect', (/** @type {string} */ reason) => {
      if (this.#connection === 'refused') return;
      if (reason === 'io client disconnect' || reason === 'io server disconnect') {
        // Ours (close()) or the server's decision (e.g. flooding): Socket.IO does not retry.
        this.#setConnection('closed');
      } else {
        this.#setConnection('reconnecting');
      }
    });

    this.#setConnection('connecting');
    socket.connect();
  }

  /** Close the connection; nothing retries until `connect()`. */
  close() {
    clearTimeout(this.#retryTimer);
    if (this.#socket) this.#socket.disconnect();
    this.#setConnection('closed');
  }

  /** @param {Welcome} payload */
  #onWelcome(payload) {
    if (!payload || !payload.session || !this._isOurs(payload.session.id)) return;
    if (Math.trunc(Number(payload.protocol)) !== PROTOCOL_VERSION) {
      // This page was built for another version of the protocol (the server was updated while it was open,
      // or a cache served an old page): what it would show could be wrong. Stop, and say to reload.
      this.#refusal = {
        code: 'protocol_version',
        message: `The server speaks protocol version ${payload.protocol}, this page version ${PROTOCOL_VERSION}: `
          + 'reload the page.',
      };
      this.#socket.disconnect();
      this.#setConnection('refused');
      return;
    }
    this.#me = payload.me ?? null;
    this.#session = payload.session;
    this.#event = payload.event ?? null;
    this.#permissions = Array.isArray(payload.permissions) ? payload.permissions : [];
    this.#presence = payload.presence ?? null;
    this.#people = Array.isArray(payload.people) ? payload.people : null;
    this._welcome(payload);
    this.#welcomed = true;
    this.#refusal = null;
    this.#setConnection('connected');
    this._notify('welcome', payload);
  }

  /**
   * Take a new version of the session (from a broadcast or from our own ack); dispatch only on change, so
   * the ack and the broadcast of the same change make one event.
   * @param {Session} session
   * @param {Actor | null} by
   */
  #applySession(session, by) {
    if (!this._isOurs(session.id)) return;
    const previous = this.#session;
    if (previous && JSON.stringify(previous) === JSON.stringify(session)) return;
    this.#session = session;
    this._notify('session:state', { session, by, previous: previous ? previous.state : null });
  }

  /** @param {PresenceSummary} summary */
  #applyPresence(summary) {
    if (!summary || typeof summary.total !== 'number' || !this._isOurs(summary.session_id)) return;
    this.#presence = summary;
    this._notify('presence', summary);
  }

  // --- requests ----------------------------------------------------------------------------------------

  /**
   * Send a client event and wait for its acknowledgement.
   * @param {string} event
   * @param {Record<string, unknown>} [payload]
   * @param {{timeoutMs?: number}} [options]
   * @returns {Promise<Record<string, any>>} the ack's `data`; rejects with a ProtocolError
   */
  request(event, payload = {}, { timeoutMs = this.#ackTimeoutMs } = {}) {
    if (!this.#socket || this.#connection !== 'connected') {
      // Socket.IO would buffer the message and send it on reconnection, possibly long after it made sense
      // (a state change decided on stale information): refuse now instead.
      return Promise.reject(new ProtocolError(
        'not_connected', 'Not connected to the server. Wait until the connection is back, then try again.',
        { event },
      ));
    }
    const entry = this.#requests.get(event) ?? { pending: 0, until: 0 };
    entry.pending += 1;
    this.#requests.set(event, entry);
    const settle = () => {
      entry.pending -= 1;
      entry.until = Date.now() + ERROR_ECHO_MS;
    };
    return new Promise((resolve, reject) => {
      this.#socket.timeout(timeoutMs).emit(event, payload, (/** @type {Error | null} */ err, /** @type {Ack} */ ack) => {
        settle();
        if (err) {
          reject(new ProtocolError(
            'timeout', `The server did not answer within ${Math.round(timeoutMs / 1000)} seconds. Try again.`,
            { event },
          ));
        } else if (!ack || typeof ack !== 'object') {
          reject(new ProtocolError('bad_response', 'The server sent an answer this page does not understand.',
            { event }));
        } else if (ack.ok === true) {
          resolve(ack.data ?? {});
        } else {
          const error = /** @type {any} */ (ack).error || {};
          reject(new ProtocolError(String(error.code || 'internal'), String(error.message || 'Request refused.'),
            { event, details: error.details }));
        }
      });
    });
  }

  /**
   * Change the session state (admin, moderator, chair).
   * @param {'scheduled' | 'live' | 'ended'} state
   * @returns {Promise<Session>}
   */
  async setState(state) {
    const data = await this.request('session:set_state', { state });
    const me = this.#me;
    if (data.session) this.#applySession(data.session, me ? { id: me.id, name: me.display_name, role: me.role } : null);
    return data.session;
  }

  /** Ask for fresh counts (and the roster, for staff). */
  async refreshPresence() {
    const data = await this.request('presence:get', {});
    if (Array.isArray(data.people)) {
      this.#people = data.people;
      this._notify('presence:people', { session_id: this.#sessionId, people: data.people });
    }
    if (data.presence) this.#applyPresence(data.presence);
    return data;
  }

  // --- HTTP with this client's token ---------------------------------------------------------------------

  /** @returns {Promise<{entries: AuditEntry[]}>} */
  audit() {
    return getAudit(this.#sessionId, this.#token);
  }

  /** @returns {Promise<{me: Me, expires_at: string}>} */
  whoami() {
    return getMe(this.#token);
  }
}
