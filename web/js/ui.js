// @ts-check
/**
 * Rendering helpers shared by the pages. Page layer: this is where the DOM is touched.
 *
 * Every string that comes from a person (names, affiliations, titles, server messages) goes into the page as
 * text: through `el()` children, `textContent` or attributes, never parsed as HTML. Such text is wrapped in
 * elements with `dir="auto"` so an Arabic or Hebrew name runs right to left inside an English page.
 *
 * Test hooks (`data-testid`): session-state, presence-total, roster, person, connection-state,
 * error-message, state-live, state-end, state-reopen (and a few more named where they are made).
 */

import {
  GROUP_ORDER, ROLE_ORDER, countryName, groupLabel, isStaffRole, roleLabel, stateLabel,
} from './labels.js';
import { Message, liveAttribute, liveText, locale, msg, onLanguageChange, t, tn } from './i18n.js';
import { ProtocolError } from './protocol/errors.js';
import { canTransition } from './protocol/http.js';

// ---------------------------------------------------------------------------------------------------------
// Elements

/**
 * @typedef {string | number | Node | Message | null | undefined | false} Child
 */

/**
 * Create an element. Props: `class`, `text`, `testid`, `dataset`, `on<event>` handlers, DOM properties given
 * as non-strings (`disabled: true`, `hidden: true`), anything else as an attribute. Children: nodes, or
 * strings/numbers that become text nodes. A `msg()` (js/i18n.js), as a child or an attribute's value, stays in
 * the reader's language when it changes.
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElement}
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = String(value);
    else if (key === 'testid') node.dataset.testid = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (typeof value === 'boolean' && key in node) /** @type {any} */ (node)[key] = value;
    else if (value instanceof Message) liveAttribute(node, key, value); // kept in the reader's language
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

/**
 * @param {Node} node
 * @param {(Child | Child[])[]} children
 */
function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(child instanceof Message ? liveText(child)
      : typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/**
 * Text written by a person, isolated for bidirectional text.
 * @param {string | null | undefined} value
 * @param {string} [className]
 * @param {string} [tag]
 */
export function userText(value, className, tag = 'span') {
  return el(tag, { class: className, dir: 'auto' }, value ?? '');
}

/**
 * Replace the children of a node.
 * @param {Element} node
 * @param {...(Child | Child[])} children
 */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/**
 * Make a node's children exactly `children`, in this order, removing and moving as few as possible: a child
 * kept in its place is left alone, so the focus in it and a screen reader's place in the list stay put.
 * @param {Element} node
 * @param {Element[]} children
 */
export function arrange(node, children) {
  const wanted = new Set(children);
  for (const child of [...node.children]) if (!wanted.has(child)) child.remove();
  let cursor = node.firstElementChild;
  for (const child of children) {
    if (child === cursor) cursor = cursor.nextElementSibling;
    else node.insertBefore(child, cursor);
  }
  return node;
}

/**
 * @param {string} id
 * @returns {HTMLElement}
 */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`page is missing #${id}`);
  return node;
}

// ---------------------------------------------------------------------------------------------------------
// Announcements (screen readers), polite and throttled

/** Messages said within the same moment, read together. */
/** @type {string[]} */
let saying = [];

/**
 * Say something through the page's polite live region (`#announcer`). Messages that come together (the floor
 * granted and one's place moving up, from one update) are read together, not the last one alone.
 * @param {string} message
 */
export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  if (!saying.length) {
    // Clearing first makes a repeated message be read again.
    region.textContent = '';
    setTimeout(() => {
      region.textContent = saying.join(' ');
      saying = [];
    }, 50);
  }
  if (!saying.includes(message)) saying.push(message);
}

/**
 * Presence changes many times a minute in a large session: tell screen-reader users at most once per
 * `intervalMs`, with the latest figure.
 * @param {number} [intervalMs]
 * @returns {(message: string) => void}
 */
export function throttledAnnouncer(intervalMs = 20_000) {
  let last = 0;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  /** @type {string} */
  let pending = '';
  return (message) => {
    pending = message;
    const wait = last + intervalMs - Date.now();
    if (wait <= 0) {
      last = Date.now();
      announce(pending);
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        last = Date.now();
        announce(pending);
      }, wait);
    }
  };
}

// ---------------------------------------------------------------------------------------------------------
// Formatting

/**
 * @param {string | null | undefined} iso
 * @param {string} [timeZone]  the event's time zone; the viewer's when absent or unknown
 * @param {Intl.DateTimeFormatOptions} [options]
 */
export function formatTime(iso, timeZone, options = { dateStyle: 'medium', timeStyle: 'short' }) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  try {
    return new Intl.DateTimeFormat(locale(), { ...options, timeZone }).format(date);
  } catch {
    return new Intl.DateTimeFormat(locale(), options).format(date);
  }
}

/**
 * "12 Nov 2025, 10:00–11:30 (Europe/Zurich)".
 * @param {{starts_at: string, ends_at: string}} session
 * @param {string} [timeZone]
 */
export function formatSlot(session, timeZone) {
  const start = formatTime(session.starts_at, timeZone);
  const end = formatTime(session.ends_at, timeZone, { timeStyle: 'short' });
  if (!start) return '';
  return `${start}–${end}${timeZone ? ` (${timeZone})` : ''}`;
}

// ---------------------------------------------------------------------------------------------------------
// Session header and state badge

/**
 * @param {string} state
 * @param {string} [testid]
 */
export function stateBadge(state, testid = 'session-state') {
  return el('span', { class: `badge state-${state}`, testid, dataset: { state } }, stateLabel(state));
}

/**
 * Title, event, room, time and state of a session, rendered into `container` and updated in place.
 */
export class SessionHeader {
  /**
   * @param {HTMLElement} container
   * @param {{headingLevel?: 1 | 2}} [options]
   */
  constructor(container, { headingLevel = 1 } = {}) {
    this.container = container;
    this.heading = el(`h${headingLevel}`, { class: 'session-title', dir: 'auto', testid: 'session-title' });
    this.eventLine = el('p', { class: 'session-event', dir: 'auto' });
    this.meta = el('p', { class: 'session-meta' });
    this.badge = stateBadge('scheduled');
    this.badge.hidden = true;
    fill(container, el('div', { class: 'session-heading' }, this.heading, this.badge), this.eventLine, this.meta);
    /** @type {[import('./protocol.js').Session, import('./protocol.js').HemicycleEvent | null | undefined] | null} */
    this.shown = null;
    onLanguageChange(() => { if (this.shown) this.update(...this.shown); });
  }

  /**
   * @param {import('./protocol.js').Session | null} session
   * @param {import('./protocol.js').HemicycleEvent | null} [event]
   */
  update(session, event) {
    if (!session) return;
    this.shown = [session, event];
    this.heading.textContent = session.title;
    this.eventLine.textContent = event ? event.title : '';
    this.eventLine.hidden = !event;
    fill(this.meta,
      session.ref ? el('span', { class: 'session-ref', dir: 'auto' }, session.ref) : null,
      // The room's name carries its own word ("CICG, Room 1"): shown as it is, with nothing added.
      session.room ? el('span', { class: 'session-room' }, userText(session.room)) : null,
      el('span', { class: 'session-slot' }, formatSlot(session, event?.timezone)));
    this.badge.hidden = false;
    this.badge.dataset.state = session.state;
    this.badge.className = `badge state-${session.state}`;
    this.badge.textContent = stateLabel(session.state);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Connection

/** @type {Record<string, Message>} */
const CONNECTION_TEXT = {
  // Only the connected state's text contains the word "connected": tests and people can rely on it.
  idle: msg('Offline.'),
  connecting: msg('Connecting…'),
  waiting: msg('In the waiting room.'),
  connected: msg('Connected.'),
  reconnecting: msg('Connection lost — reconnecting… What you see may be out of date until it is back.'),
  refused: msg('Link refused by the server.'),
  closed: msg('Connection closed by the server.'),
};

/**
 * The connection line at the top of a page (`data-testid="connection-state"`, `data-state` = the state).
 * A status role makes screen readers read changes politely.
 */
export class ConnectionBanner {
  /**
   * @param {HTMLElement} node
   * @param {{onReconnect?: () => void}} [options]
   */
  constructor(node, { onReconnect } = {}) {
    this.node = node;
    this.onReconnect = onReconnect;
    node.dataset.testid = 'connection-state';
    node.setAttribute('role', 'status');
    this.update('idle');
  }

  /** @param {import('./protocol.js').ConnectionState} state */
  update(state) {
    this.node.dataset.state = state;
    this.node.className = `connection connection-${state}`;
    const button = state === 'closed' && this.onReconnect
      ? el('button', { type: 'button', class: 'link-button', onclick: this.onReconnect }, msg('Reconnect'))
      : null;
    fill(this.node, el('span', { class: 'connection-dot', 'aria-hidden': 'true' }), CONNECTION_TEXT[state] ?? state,
      button ? ' ' : null, button);
  }
}

/**
 * What a refusal means for the person, and what to do.
 * @param {string} code
 * @param {{attendee?: boolean}} [options]
 * @returns {{title: string, text: string}}
 */
export function refusalAdvice(code, { attendee = false } = {}) {
  const askStaff = t('Ask the organisers for a new link.');
  switch (code) {
    case 'token_expired':
      return attendee
        ? { title: t('Your registration has expired'), text: t('Register again to follow the session.') }
        : { title: t('This link has expired'), text: askStaff };
    case 'token_revoked':
      return attendee
        ? { title: t('Your registration was withdrawn'),
            text: t('You can register again. If you think this is a mistake, contact the organisers.') }
        : { title: t('This link was withdrawn'), text: askStaff };
    case 'token_invalid':
    case 'token_unknown':
      return attendee
        ? { title: t('Your registration is not recognised'),
            text: t('It may come from another server or have been damaged. Register again to follow the session.') }
        : { title: t('This link is not valid'),
            text: t('It may have been copied incompletely, or come from another server. {advice}', { advice: askStaff }) };
    case 'token_missing':
      return attendee
        ? { title: t('You are not registered'), text: t('Register to follow the session.') }
        : { title: t('This page needs a link'), text: t('Open the link you were given for this role. {advice}', { advice: askStaff }) };
    case 'wrong_session':
      return attendee
        ? { title: t('Your registration is for another event'), text: t('Register for this event to follow the session.') }
        : { title: t('This link is for another session'), text: t('Open the link you were given for this session.') };
    case 'unknown_session':
      return { title: t('No such session'), text: t('Check the address, or go back to the list of events.') };
    case 'forbidden':
      return { title: t('This role may not open this page'), text: t('Open the page that goes with your link.') };
    default:
      return { title: t('The server refused the connection'), text: t('Reload the page to try again.') };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Errors and notices

/**
 * Words for the error codes any request may meet. The server's `message` is in English: a page shows these
 * instead when it knows the code, and the server's own message otherwise (a field's validation, say).
 * Refusals particular to the queue and questions are in js/floor-ui.js and js/question-ui.js.
 * @type {Record<string, string>}
 */
const ERROR_WORDS = {
  not_connected: t('Not connected to the server. Wait until the connection is back, then try again.'),
  timeout: t('The server did not answer in time. Try again.'),
  bad_response: t('The server sent an answer this page does not understand.'),
  internal: t('Something went wrong on the server. Try again in a moment.'),
  rate_limited: t('Too many requests in a short time. Wait a few seconds, then try again.'),
  forbidden: t('Your role may not do this.'),
  token_missing: t('This page needs a link.'),
  token_expired: t('This link has expired.'),
  token_revoked: t('This link was withdrawn.'),
  token_invalid: t('This link is not valid.'),
  token_unknown: t('This link is not valid.'),
  wrong_session: t('This link is for another session.'),
  unknown_session: t('No such session.'),
  unknown_event: t('No such event.'),
  session_ended: t('The session has ended.'),
  session_not_live: t('The session is not live.'),
  invalid_transition: t('The session cannot go to that state from its current one.'),
  stale_state: t('Someone else changed the session meanwhile. The page now shows the latest state.'),
  no_change: t('Nothing to change: that is already the case.'),
  payload_too_large: t('Too much text at once.'),
  // Media links (js/media.js)
  no_floor: t('Only the participant who holds the floor may speak.'),
  not_av: t('Only the AV desk may do this.'),
  not_interpreter: t('Only the AV desk and interpreters publish language channels.'),
  invalid_channel: t('There is no such language channel.'),
  too_many_media: t('Too many media connections at once: stop one first.'),
  relay_closed: t('The media relay of this session is closing.'),
  codec_unsupported: t('This browser offers no video or sound format the relay can forward.'),
  media_not_found: t('This media connection no longer exists.'),
};

/**
 * What an error means, in the reader's language: words for its code when there are some, else its message.
 * @param {unknown} error   a ProtocolError, an Error, a string
 */
export function errorText(error) {
  if (!error) return '';
  if (typeof error === 'string') return error;
  const e = /** @type {{code?: string, message?: string}} */ (error);
  return (e.code && ERROR_WORDS[e.code]) || e.message || String(error);
}

/**
 * Show an error in a node (`role="alert"`; `data-testid="error-message"` and `data-code` while shown); an empty
 * error hides it.
 * @param {HTMLElement} node
 * @param {unknown} error   a ProtocolError, an Error, a string, or null to clear
 */
export function showError(node, error) {
  node.setAttribute('role', 'alert');
  if (!error) {
    node.hidden = true;
    node.textContent = '';
    // Only errors on show carry the test hook, so `[data-testid=error-message]` finds what the user sees.
    delete node.dataset.testid;
    delete node.dataset.code;
    return;
  }
  // A ProtocolError carries the server's English message: its code has words in the reader's language. Pages
  // pass their own words for the refusals they explain ({code, message}), shown as they are.
  const message = error instanceof ProtocolError ? errorText(error)
    : typeof error === 'string' ? error : /** @type {any} */ (error).message || String(error);
  const code = typeof error === 'object' && /** @type {any} */ (error).code;
  node.hidden = false;
  node.textContent = message;
  node.dataset.testid = 'error-message';
  if (code) node.dataset.code = code; else delete node.dataset.code;
}

/**
 * Save a fetched file (an export, a report) under its name, through a short-lived Blob URL: the token that
 * fetched it never appears in any URL.
 * @param {Blob} blob
 * @param {string} filename
 */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = el('a', { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** An empty, hidden error node to place next to a control (see showError). */
export function errorNode() {
  const node = el('p', { class: 'error', role: 'alert' });
  node.hidden = true;
  return node;
}

let noticeCount = 0;

/**
 * A notice box with a heading, text and optional actions (`data-testid="notice"`).
 * @param {string} title
 * @param {string} text
 * @param {...(Child | Child[])} actions
 */
export function notice(title, text, ...actions) {
  const id = `notice-${++noticeCount}`;
  return el('section', { class: 'notice', testid: 'notice', 'aria-labelledby': id },
    el('h2', { id }, title),
    el('p', {}, text),
    actions.length ? el('p', { class: 'actions' }, ...actions) : null);
}

/**
 * A notice for something that stops the page (refused link, unknown session): `data-testid="error-message"`,
 * `data-code` = the error code.
 * @param {string} code
 * @param {string} title
 * @param {string} text
 * @param {...(Child | Child[])} actions
 */
export function errorNotice(code, title, text, ...actions) {
  const node = notice(title, text, ...actions);
  node.classList.add('notice-error');
  node.dataset.testid = 'error-message';
  node.dataset.code = code;
  return node;
}

// ---------------------------------------------------------------------------------------------------------
// State controls

/**
 * Go live / End / Reopen buttons, enabled by the allowed transitions. Buttons are created once and updated in
 * place, so keyboard focus stays where it is when the state changes.
 */
export class StateControls {
  /**
   * @param {HTMLElement} container
   * @param {(state: 'live' | 'ended') => Promise<unknown>} change   performs the change; rejects on error
   * @param {{large?: boolean}} [options]
   */
  constructor(container, change, { large = false } = {}) {
    this.change = change;
    /** @type {string | null} */
    this.state = null;
    this.busy = false;
    this.enabled = true;
    const button = (/** @type {string} */ testid, /** @type {Message} */ label, /** @type {'live' | 'ended'} */ target,
      /** @type {Message} */ hint) =>
      el('button', {
        type: 'button', class: `state-button state-button-${target}${large ? ' large' : ''}`, testid,
        title: hint, onclick: () => this.#go(target),
      }, label);
    this.live = button('state-live', msg('Go live'), 'live', msg('Start the session: it becomes live for everyone'));
    this.end = button('state-end', msg('End session'), 'ended', msg('End the session'));
    this.reopen = button('state-reopen', msg('Reopen'), 'live', msg('Make an ended session live again'));
    this.error = errorNode();
    this.status = el('p', { class: 'state-status', role: 'status' });
    fill(container,
      el('div', { class: 'state-controls', role: 'group', 'aria-label': msg('Session state') },
        this.live, this.end, this.reopen),
      this.status, this.error);
    this.update(null);
  }

  /** @param {'live' | 'ended'} target */
  async #go(target) {
    if (this.busy) return;
    // Ending closes the floor and the list of speakers for everyone at once: one stray click must not do it.
    if (target === 'ended' && !(await this.#confirmEnd())) return;
    const buttons = /** @type {HTMLButtonElement[]} */ ([this.live, this.end, this.reopen]);
    const pressed = buttons.find((button) => button === document.activeElement) ?? null;
    this.busy = true;
    showError(this.error, null);
    this.status.textContent = target === 'live' ? t('Going live…') : t('Ending…');
    this.#refresh();
    try {
      await this.change(target);
      this.status.textContent = '';
    } catch (err) {
      this.status.textContent = '';
      showError(this.error, err);
    } finally {
      this.busy = false;
      this.#refresh();
      // Buttons are disabled while the request runs, and the one pressed may now be disabled or hidden
      // (End → Reopen): give keyboard focus back to the pressed one, or to one that still works.
      if (pressed) {
        const usable = (/** @type {HTMLButtonElement} */ button) => !button.disabled && !button.hidden;
        (usable(pressed) ? pressed : buttons.find(usable))?.focus();
      }
    }
  }

  /** Asks before ending; a session that has not started says that it will be skipped. */
  async #confirmEnd() {
    const scheduled = this.state === 'scheduled';
    const answer = await askDialog({
      title: scheduled ? t('End this session before it starts?') : t('End the session?'),
      text: scheduled
        ? t('It has not started yet: ending it now means it never goes live, and everyone sees that it has ended. It can be reopened.')
        : t('Everyone sees that the session has ended: nobody can ask for the floor or ask a question until it is reopened.'),
      confirm: t('End session'),
      danger: true,
      testid: 'end-session-dialog',
    });
    return answer !== null;
  }

  /**
   * @param {string | null} state    the session's current state
   * @param {{enabled?: boolean}} [options]  false while disconnected or without the permission
   */
  update(state, { enabled = true } = {}) {
    this.state = state;
    this.enabled = enabled;
    this.#refresh();
  }

  #refresh() {
    const off = this.busy || !this.enabled;
    this.live.hidden = this.state === 'ended';
    this.reopen.hidden = this.state !== 'ended';
    /** @type {HTMLButtonElement} */ (this.live).disabled = off || !canTransition(this.state, 'live');
    /** @type {HTMLButtonElement} */ (this.end).disabled = off || !canTransition(this.state, 'ended');
    /** @type {HTMLButtonElement} */ (this.reopen).disabled = off || !canTransition(this.state, 'live');
  }
}

// ---------------------------------------------------------------------------------------------------------
// Presence

/**
 * Counts: `data-testid="presence-total"` holds the number of people connected (every role, the summary's
 * `total`); by role (`data-testid="role-count"`, `data-role`) and by stakeholder group
 * (`data-testid="group-count"`, `data-group`, attendees only).
 */
export class PresenceCounts {
  /**
   * @param {HTMLElement} container
   * @param {{roles?: boolean, groups?: boolean, remote?: boolean,
   *   totalLabel?: (count: number) => string}} [options]
   *   remote: add how many of them are attendees (`data-testid="remote-total"`); totalLabel: the words after the
   *   total, for a count
   */
  constructor(container, {
    roles = true, groups = true, remote = false,
    totalLabel = (/** @type {number} */ count) => tn(count, 'person connected', 'people connected'),
  } = {}) {
    this.showRoles = roles;
    this.showGroups = groups;
    this.totalLabel = totalLabel;
    this.total = el('span', { class: 'count', testid: 'presence-total' }, '–');
    this.totalWords = el('span', {}, ` ${totalLabel(2)}`);
    this.remote = remote ? el('span', { testid: 'remote-total' }, '0') : null;
    this.remoteWords = el('span', {});
    this.roles = el('ul', { class: 'counts counts-roles', 'aria-label': msg('By role') });
    this.groups = el('ul', { class: 'counts counts-groups', 'aria-label': msg('Attendees by stakeholder group') });
    fill(container,
      el('p', { class: 'presence-total' }, this.total, this.totalWords,
        this.remote ? [', ', this.remote, this.remoteWords] : null),
      roles ? el('h3', { class: 'counts-heading' }, msg('By role')) : null,
      roles ? this.roles : null,
      groups ? el('h3', { class: 'counts-heading' }, msg('Attendees by stakeholder group')) : null,
      groups ? this.groups : null);
    /** @type {import('./protocol.js').PresenceSummary | null} */
    this.summary = null;
    onLanguageChange(() => {
      this.totalWords.textContent = ` ${this.totalLabel(this.summary?.total ?? 2)}`;
      this.update(this.summary);
    });
  }

  /** @param {import('./protocol.js').PresenceSummary | null} summary */
  update(summary) {
    if (!summary) return;
    this.summary = summary;
    this.total.textContent = String(summary.total);
    this.totalWords.textContent = ` ${this.totalLabel(summary.total)}`;
    if (this.remote) {
      const remote = summary.by_role?.attendee ?? 0;
      this.remote.textContent = String(remote);
      this.remoteWords.textContent = ` ${tn(remote, 'following remotely', 'following remotely')}`;
    }
    if (this.showRoles) {
      const byRole = summary.by_role || {};
      fill(this.roles, ROLE_ORDER
        .filter((role) => (/** @type {any} */ (byRole)[role] ?? 0) > 0)
        .map((role) => countItem(roleLabel(role), /** @type {any} */ (byRole)[role], 'role-count', { role })));
      if (!this.roles.children.length) fill(this.roles, el('li', { class: 'muted' }, t('Nobody yet.')));
    }
    if (this.showGroups) fill(this.groups, groupCountItems(summary.by_group || {}));
  }
}

/**
 * One line per stakeholder group (all five, zeros included: the balance is the point), then "Not stated".
 * @param {Record<string, number>} byGroup
 */
export function groupCountItems(byGroup) {
  const extra = Object.keys(byGroup).filter((group) => !GROUP_ORDER.includes(group));
  return [...GROUP_ORDER, ...extra]
    .map((group) => countItem(groupLabel(group), byGroup[group] ?? 0, 'group-count', { group }));
}

/**
 * @param {string} label
 * @param {number} count
 * @param {string} testid
 * @param {Record<string, string>} dataset
 */
function countItem(label, count, testid, dataset) {
  return el('li', { testid, dataset: { ...dataset, count: String(count) } },
    el('span', { class: 'count-label' }, label), ' ', el('span', { class: 'count-value' }, String(count)));
}

// ---------------------------------------------------------------------------------------------------------
// Roster

/**
 * @param {import('./protocol.js').Person} a
 * @param {import('./protocol.js').Person} b
 */
function rosterOrder(a, b) {
  const rank = (/** @type {string} */ role) => {
    const index = ROLE_ORDER.indexOf(role);
    return index < 0 ? ROLE_ORDER.length - 1 : index;
  };
  return rank(a.role) - rank(b.role)
    || a.display_name.localeCompare(b.display_name, undefined, { sensitivity: 'base' });
}

/**
 * The list of people connected: staff first (by role), then attendees by name. `data-testid="roster"`; each
 * item `data-testid="person"` with `data-role` and `data-person-id`.
 */
export class Roster {
  /**
   * @param {HTMLElement} container
   * @param {{staffOnly?: boolean, label?: string}} [options]
   */
  constructor(container, { staffOnly = false, label = msg('People connected') } = {}) {
    this.staffOnly = staffOnly;
    this.list = el('ul', { class: 'roster', testid: 'roster', 'aria-label': label });
    this.empty = el('p', { class: 'muted roster-empty' }, staffOnly ? msg('No staff connected.') : msg('Nobody is connected yet.'));
    fill(container, this.list, this.empty);
  }

  /** @param {import('./protocol.js').Person[] | null} people */
  update(people) {
    const shown = (people ?? []).filter((person) => !this.staffOnly || isStaffRole(person.role)).sort(rosterOrder);
    fill(this.list, shown.map(personItem));
    this.empty.hidden = shown.length > 0;
  }
}

/** @param {import('./protocol.js').Person} person */
export function personItem(person) {
  const staff = person.role !== 'attendee';
  const details = [];
  if (person.affiliation) details.push(userText(person.affiliation, 'person-affiliation'));
  if (person.stakeholder_group) details.push(el('span', { class: 'person-group' }, groupLabel(person.stakeholder_group)));
  if (person.country) {
    details.push(el('span', { class: 'person-country', title: person.country }, countryName(person.country)));
  }
  return el('li', {
    class: `person${staff ? ' person-staff' : ''}`, testid: 'person',
    dataset: { role: person.role, personId: String(person.id) },
  },
  el('span', { class: 'person-line' },
    userText(person.display_name, 'person-name'),
    staff ? el('span', { class: `role-tag role-${person.role}` }, roleLabel(person.role)) : null,
    person.connections > 1
      ? el('span', { class: 'person-connections', title: t('Open in several tabs or devices') },
        tn(person.connections, '{count} connection', '{count} connections'))
      : null),
  details.length ? el('span', { class: 'person-details' }, details.flatMap((node, i) => (i ? [' · ', node] : [node])))
    : null);
}

// ---------------------------------------------------------------------------------------------------------
// Copying

/**
 * A labelled read-only field with a Copy button.
 * @param {string} label
 * @param {string} value
 * @param {string} id
 */
export function copyField(label, value, id) {
  const input = /** @type {HTMLInputElement} */ (el('input', {
    id, type: 'text', value, readonly: true, class: 'copy-input', spellcheck: 'false', dir: 'ltr',
  }));
  const status = el('span', { class: 'copy-status', role: 'status' });
  const button = el('button', {
    type: 'button', class: 'secondary', 'aria-describedby': id,
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(value);
        status.textContent = t('Copied.');
      } catch {
        // No clipboard access (plain http, old browser): select it for Ctrl+C / long press.
        input.focus();
        input.select();
        status.textContent = t('Selected: press Ctrl+C (⌘C) to copy.');
      }
      setTimeout(() => { status.textContent = ''; }, 4000);
    },
  }, t('Copy'));
  return el('div', { class: 'copy-field' }, el('label', { for: id }, label), input, button, status);
}

// ---------------------------------------------------------------------------------------------------------
// Asking before acting

let dialogCount = 0;

/**
 * A modal question (a native <dialog>: focus stays inside, Escape cancels, focus returns where it was).
 * Resolves with the text typed (or "" when there is no field) on confirmation, or null when cancelled.
 * @param {object} options
 * @param {string} options.title
 * @param {string} [options.text]
 * @param {string} options.confirm            label of the confirming button
 * @param {{label: string, required?: boolean, hint?: string, maxLength?: number, value?: string, rows?: number,
 *   options?: {value: string, label: string}[], validate?: (value: string) => string | null}} [options.field]
 *   a text area, or a list to choose from when `options` is given; `value` is what it starts with;
 *   `validate` returns an error message that keeps the dialog open
 * @param {(Child | Child[])} [options.body]  more content under the text (e.g. a history)
 * @param {boolean} [options.danger]          the confirming button looks destructive
 * @param {string} [options.testid]           data-testid of the dialog
 * @returns {Promise<string | null>}
 */
export function askDialog({ title, text, confirm, field, body, danger = false, testid = 'dialog' }) {
  const id = `dialog-${++dialogCount}`;
  const returnFocus = /** @type {HTMLElement | null} */ (document.activeElement);
  /** @type {HTMLTextAreaElement | HTMLSelectElement | null} */
  let input = null;
  if (field?.options) {
    input = /** @type {HTMLSelectElement} */ (el('select', {
      id: `${id}-field`, 'aria-describedby': `${id}-hint ${id}-error`, required: field.required ? true : undefined,
    }, field.options.map((option) => el('option', { value: option.value, dir: 'auto' }, option.label))));
    if (field.value !== undefined) input.value = field.value;
  } else if (field) {
    input = /** @type {HTMLTextAreaElement} */ (el('textarea', {
      id: `${id}-field`, rows: String(field.rows ?? 3), maxlength: field.maxLength === 0 ? undefined : String(field.maxLength ?? 300),
      dir: 'auto', 'aria-describedby': `${id}-hint ${id}-error`, required: field.required ? true : undefined,
    }));
    input.value = field.value ?? '';
  }
  const error = el('p', { id: `${id}-error`, class: 'error', role: 'alert' });
  error.hidden = true;
  const cancel = el('button', { type: 'button', class: 'secondary', value: 'cancel' }, t('Cancel'));
  const ok = el('button', { type: 'submit', class: danger ? 'danger' : undefined, value: 'ok' }, confirm);
  const form = /** @type {HTMLFormElement} */ (el('form', { method: 'dialog', novalidate: true },
    el('h2', { id: `${id}-title` }, title),
    text ? el('p', {}, text) : null,
    body ?? null,
    input && field ? el('div', { class: 'field' },
      el('label', { for: input.id }, field.label,
        field.required ? el('span', { class: 'required' }, ` ${t('(required)')}`) : null),
      input,
      el('p', { id: `${id}-hint`, class: 'hint' }, field.hint ?? '')) : null,
    error,
    el('p', { class: 'actions' }, ok, cancel)));
  const dialog = /** @type {HTMLDialogElement} */ (el('dialog', {
    class: 'ask-dialog', 'aria-labelledby': `${id}-title`, testid,
  }, form));
  document.body.append(dialog);
  return new Promise((resolve) => {
    let answer = /** @type {string | null} */ (null);
    cancel.addEventListener('click', () => dialog.close());
    form.addEventListener('submit', (event) => {
      const value = input ? input.value.trim() : '';
      const problem = field?.required && !value ? t('{field} is required.', { field: field.label })
        : field?.validate ? field.validate(value) : null;
      if (problem) {
        event.preventDefault();
        error.textContent = problem;
        error.hidden = false;
        input?.setAttribute('aria-invalid', 'true');
        input?.focus();
        return;
      }
      answer = value;
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (returnFocus && returnFocus.isConnected) returnFocus.focus();
      resolve(answer);
    });
    dialog.showModal();
    (input ?? cancel).focus();
  });
}
