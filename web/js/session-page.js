// @ts-check
/**
 * What every page under /s/{session id} does first: read the session id from the path, show the public
 * session, open a HemicycleClient and keep the connection line, the header and the page title in step with
 * it. Page layer (touches the DOM); the pages in js/pages/ build on it.
 *
 * Each such page has: #connection (the connection line), #session-header, #notices, #announcer.
 */

import { onLanguageChange, t } from './i18n.js';
import { roleLabel, stateLabel } from './labels.js';
import { HemicycleClient } from './protocol.js';
import { DEAD_TOKEN_CODES } from './protocol/errors.js';
import { getSession } from './protocol/http.js';
import { RecordingBar } from './recording-ui.js';
import { parsePath } from './route.js';
import { forgetToken } from './tokens.js';
import {
  ConnectionBanner, SessionHeader, announce, byId, el, errorNotice, fill, notice, refusalAdvice,
} from './ui.js';

/**
 * @typedef {object} SessionPageOptions
 * @property {string | import('./i18n.js').Message | (() => string)} pageName   shown in the browser tab
 *   ("Moderator"), in the reader's language (a function or a Message: in the language of the moment)
 * @property {string} role              the role this page is for ("moderator", "attendee", ...)
 * @property {boolean} [attendee]       refusal advice for attendees (register again) rather than staff
 */

export class SessionPage {
  /** @param {SessionPageOptions} options */
  constructor({ pageName, role, attendee = false }) {
    this.pageName = pageName;
    this.role = role;
    this.attendee = attendee;
    this.sessionId = parsePath().sessionId;
    /** @type {HemicycleClient | null} */
    this.client = null;
    this.banner = new ConnectionBanner(byId('connection'), { onReconnect: () => this.client?.connect() });
    this.header = new SessionHeader(byId('session-header'));
    this.notices = byId('notices');
    /** @type {import('./protocol.js').Session | null} */
    this.session = null;
    /** @type {import('./protocol.js').HemicycleEvent | null} */
    this.event = null;
    onLanguageChange(() => { if (this.session) this.setSession(this.session, this.event); }); // the tab's title
  }

  /** The page's name in the reader's language of the moment. */
  #page() {
    return typeof this.pageName === 'function' ? this.pageName() : String(this.pageName);
  }

  /**
   * Replace the page's notices (null clears them).
   * @param {HTMLElement | null} node
   * @param {{focus?: boolean}} [options]  move keyboard focus to it (for notices that stop the page)
   */
  showNotice(node, { focus = true } = {}) {
    fill(this.notices, node);
    if (node && focus) {
      // Move focus to the explanation so keyboard and screen-reader users land on it.
      const heading = node.querySelector('h2');
      if (heading) {
        heading.setAttribute('tabindex', '-1');
        heading.focus();
      }
    }
  }

  /**
   * The session's view, to show the header before connecting: with the page's token when it has one, which a
   * non-public session needs.
   * @param {string | null} [token]
   * @returns {Promise<{session: import('./protocol.js').Session, event: import('./protocol.js').HemicycleEvent} | null>}
   *   null when the session cannot be shown (a notice says why)
   */
  async loadPublic(token) {
    if (this.sessionId === null) {
      this.showNotice(errorNotice('unknown_session', t('No session in this address'), t('Check the link, or go back to the list of events.'),
        el('a', { href: '/' }, t('List of events'))));
      return null;
    }
    try {
      const { session, event } = await getSession(this.sessionId, token);
      this.setSession(session, event);
      return { session, event };
    } catch (err) {
      const code = /** @type {any} */ (err).code;
      if (code === 'unknown_session') {
        const advice = refusalAdvice('unknown_session');
        this.showNotice(errorNotice(code, advice.title, advice.text, el('a', { href: '/' }, t('List of events'))));
      } else {
        this.showNotice(errorNotice(code ?? 'internal', t('The session could not be loaded'), /** @type {Error} */ (err).message,
          el('button', { type: 'button', onclick: () => location.reload() }, t('Try again'))));
      }
      return null;
    }
  }

  /**
   * @param {import('./protocol.js').Session} session
   * @param {import('./protocol.js').HemicycleEvent | null} event
   */
  setSession(session, event) {
    this.session = session;
    if (event) this.event = event;
    this.header.update(session, this.event);
    document.title = t('{session} — {page} — Hemicycle', { session: session.title, page: this.#page() });
  }

  /**
   * Open the connection and keep the common parts of the page in step with it.
   * @param {object} options
   * @param {string} options.token
   * @param {string} options.tokenKey               forgotten when the server says the token is dead
   * @param {(refusal: {code: string, message: string}) => void} [options.onRefused]
   *   replaces the default refusal notice
   * @returns {HemicycleClient}
   */
  connect({ token, tokenKey, onRefused }) {
    const client = new HemicycleClient({ sessionId: /** @type {number | string} */ (this.sessionId), token });
    this.client = client;
    // Every session page, the room display's too, shows when the session is being recorded.
    this.recording = new RecordingBar(client, this.header.container);
    client.on('connection', ({ state, previous }) => {
      this.banner.update(state);
      if (state === 'refused' && client.refusal) {
        const refusal = client.refusal;
        if (DEAD_TOKEN_CODES.includes(refusal.code)) forgetToken(tokenKey);
        if (onRefused) onRefused(refusal);
        else this.showRefusal(refusal);
      } else if (state === 'connected' && previous === 'reconnecting') {
        announce(t('Connection is back.'));
      }
    });
    client.on('welcome', () => {
      if (client.session) this.setSession(client.session, client.event);
      const me = client.me;
      this.showNotice(null); // a refusal or a mismatch notice from an earlier connection no longer holds
      if (me && me.role !== this.role && me.role !== 'admin') {
        this.showNotice(notice(t('This link is for the {role} role', { role: roleLabel(me.role) }),
          t('You are on the {page} page: some of its features may be refused.', { page: this.#page() })),
        { focus: false });
      }
    });
    client.on('session:state', ({ session, by, previous }) => {
      this.setSession(session, client.event);
      if (previous !== session.state) {
        const state = stateLabel(session.state).toLocaleLowerCase();
        announce(by && by.name ? t('The session is now {state}, set by {name}.', { state, name: by.name })
          : t('The session is now {state}.', { state }));
      }
    });
    client.connect();
    return client;
  }

  /** @param {{code: string, message: string}} refusal */
  showRefusal(refusal) {
    const advice = refusalAdvice(refusal.code, { attendee: this.attendee });
    this.showNotice(errorNotice(refusal.code, advice.title, advice.text,
      el('span', { class: 'muted' }, t('Server message: {message}', { message: refusal.message }))));
  }
}
