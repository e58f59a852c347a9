// @ts-check
/**
 * The speakers' queue for floor staff (moderator and chair): the floor with its controls, the ordered queue
 * with per-request actions, in-room requests, speaking-time settings, the balance and its suggestion, and the
 * record of interventions. Everything renders from `client.queue` and `client.floor`. A request's item is
 * rebuilt only when something it shows changed, and the others stay where they are in the page: focus and a
 * screen reader's place are not disturbed by a hand raised elsewhere; when the item that had focus is
 * rebuilt, focus is put back on the same control.
 *
 * Test hooks: `queue` (the list) with `queue-entry` items (`data-entry-id`) holding `grant`, `move-up`,
 * `move-down`, `move-top`, `remove`; `lower-all`; `end-turn`, `revoke-turn`, `add-time`, `remove-time`,
 * `grant-next`; `add-in-room` (form); `queue-settings` (form); `suggestion` (with `grant-suggestion`);
 * `balance`; `record` with `record-entry` rows.
 */

import { msg, t, tn } from '../i18n.js';
import { FloorView, entryDetails, entryTags, queueErrorText } from '../floor-ui.js';
import {
  AGE_BAND_LABELS, BALANCE_DIMENSIONS, BALANCE_VALUES, GENDER_LABELS, GROUP_LABELS, TYPE_LABELS,
  balanceValueLabel, countriesByName, countryCodeFor, endReasonLabel, languageLabel, typeLabel,
} from '../labels.js';
import { clockOffset, formatDuration, secondsSince } from '../timer.js';
import { statementControl } from './booth-statements.js';
import {
  announce, arrange, askDialog, el, errorNode, fill, formatTime, showError, userText,
} from '../ui.js';

/** @typedef {import('../protocol.js').HemicycleClient} HemicycleClient */
/** @typedef {import('../protocol.js').StaffEntry} StaffEntry */

/**
 * Show a refused action in words; a stale entry also fetches the latest queue, since the list was behind.
 * @param {HTMLElement} node
 * @param {HemicycleClient} client
 * @param {unknown} err
 */
function showQueueError(node, client, err) {
  const e = /** @type {any} */ (err);
  showError(node, { code: e?.code, message: queueErrorText(e) });
  if (e?.code === 'stale_entry') client.refreshQueue().catch(() => {});
}

/**
 * Minutes and seconds inputs read as a number of seconds; null when both are empty.
 * @param {HTMLInputElement} minutes
 * @param {HTMLInputElement} seconds
 * @returns {number | null}
 */
function readSeconds(minutes, seconds) {
  if (minutes.value.trim() === '' && seconds.value.trim() === '') return null;
  const m = Number(minutes.value || 0);
  const s = Number(seconds.value || 0);
  if (!Number.isFinite(m) || !Number.isFinite(s) || m < 0 || s < 0) return NaN;
  return Math.round(m * 60 + s);
}

/**
 * A "minutes : seconds" pair of inputs.
 * @param {string} id
 * @param {string} legend
 * @param {string} hint
 */
function durationFields(id, legend, hint) {
  const minutes = /** @type {HTMLInputElement} */ (el('input', {
    id: `${id}-minutes`, type: 'number', min: '0', max: '60', step: '1', inputmode: 'numeric', class: 'input-short',
  }));
  const seconds = /** @type {HTMLInputElement} */ (el('input', {
    id: `${id}-seconds`, type: 'number', min: '0', max: '59', step: '5', inputmode: 'numeric', class: 'input-short',
  }));
  const hintNode = el('p', { id: `${id}-hint`, class: 'hint' }, hint);
  minutes.setAttribute('aria-describedby', hintNode.id);
  seconds.setAttribute('aria-describedby', hintNode.id);
  const node = el('fieldset', { class: 'duration-fields' },
    el('legend', {}, legend),
    el('span', { class: 'duration-inputs' },
      el('span', { class: 'duration-pair' }, el('label', { for: minutes.id }, t('Minutes')), minutes),
      el('span', { class: 'duration-pair' }, el('label', { for: seconds.id }, t('Seconds')), seconds)),
    hintNode);
  return { node, minutes, seconds, hint: hintNode };
}

// ---------------------------------------------------------------------------------------------------------
// The floor, with its controls

export class FloorControl {
  /**
   * @param {HTMLElement} container
   * @param {HemicycleClient} client
   * @param {{large?: boolean, next?: number, manage?: boolean}} [options]
   *   manage: End / Revoke / time buttons and "Give the floor to next" (needs queue.manage)
   */
  constructor(container, client, { large = false, next = 0, manage = true } = {}) {
    this.client = client;
    this.manage = manage;
    this.view = new FloorView({ large, next });
    this.view.node.setAttribute('tabindex', '-1');
    this.info = el('p', { class: 'muted floor-info' });
    const button = (/** @type {string} */ testid, /** @type {import('../i18n.js').Message} */ label, /** @type {string} */ cls,
      /** @type {() => Promise<unknown>} */ run, /** @type {import('../i18n.js').Message} */ title) =>
      /** @type {HTMLButtonElement} */ (el('button', {
        type: 'button', class: `${cls}${large ? ' large' : ''}`, testid, title, onclick: () => this.#run(run),
      }, label));
    const speaking = () => this.client.queue?.speaking ?? this.client.floor?.speaking ?? null;
    this.end = button('end-turn', msg('End turn'), '', async () => {
      const entry = speaking();
      if (entry) await this.client.endFloor(entry.id);
    }, msg('End this turn: it is recorded as finished'));
    this.revoke = button('revoke-turn', msg('Revoke'), 'danger', async () => {
      const entry = speaking();
      if (entry) await this.client.endFloor(entry.id, { revoke: true });
    }, msg('Take the floor back: the turn is recorded as revoked'));
    this.addTime = button('add-time', msg('+1 min'), 'secondary', async () => {
      const entry = speaking();
      if (entry) await this.client.floorTime(entry.id, { addSeconds: 60 });
    }, msg('Give the speaker one more minute'));
    this.removeTime = button('remove-time', msg('−30 s'), 'secondary', async () => {
      const entry = speaking();
      if (entry) await this.client.floorTime(entry.id, { addSeconds: -30 });
    }, msg('Take 30 seconds off the speaking time'));
    // Their names are what they show ("+1 min"), as speech input users say it; the title says more.
    this.nextName = el('span', { class: 'grant-next-name', dir: 'auto' });
    this.grantNext = /** @type {HTMLButtonElement} */ (el('button', {
      type: 'button', class: `grant-next${large ? ' large' : ''}`, testid: 'grant-next',
      onclick: () => this.#run(async () => {
        const next = this.client.queue?.queue[0];
        if (next) await this.client.grantFloor(next.id);
      }),
    }, msg('Give the floor to next:'), ' ', this.nextName));
    this.controls = el('div', { class: 'floor-controls', role: 'group', 'aria-label': msg('Current turn') },
      this.end, this.revoke, this.addTime, this.removeTime);
    this.error = errorNode();
    this.busy = false;
    // The turn's details and controls sit under the countdown; "Give the floor to next" with the next in line.
    this.view.speaker.append(this.info, ...(manage ? [this.controls] : []));
    const grantNextLine = el('p', { class: 'actions' }, this.grantNext);
    if (manage && next) this.view.nextBlock.append(grantNextLine);
    fill(container, this.view.node, manage && !next ? grantNextLine : null, this.error);
  }

  /** @param {() => Promise<unknown>} run */
  async #run(run) {
    if (this.busy) return;
    const buttons = /** @type {HTMLButtonElement[]} */ ([this.end, this.revoke, this.addTime, this.removeTime, this.grantNext]);
    const pressed = buttons.find((button) => button === document.activeElement) ?? null;
    this.busy = true;
    showError(this.error, null);
    this.update();
    try {
      await run();
    } catch (err) {
      showQueueError(this.error, this.client, err);
    } finally {
      this.busy = false;
      this.update();
      // Buttons are disabled while the request runs and may be hidden after it (the turn ended): give focus
      // back to the one pressed, or to "Give the floor to next".
      if (pressed) {
        const usable = (/** @type {HTMLButtonElement} */ b) => !b.disabled && !!b.offsetParent;
        (usable(pressed) ? pressed : buttons.find(usable))?.focus();
      }
    }
  }

  update() {
    const client = this.client;
    this.view.update(client.floor, client.floorReceivedAt);
    const staff = client.queue?.speaking ?? null;
    const speaking = client.floor?.speaking ?? staff;
    if (staff && speaking && staff.id === speaking.id) {
      const tz = client.event?.timezone;
      const limit = staff.limit_seconds ?? client.queue?.settings.default_speaking_seconds ?? 0;
      const extra = staff.allowed_seconds - limit;
      const allowed = formatDuration(staff.allowed_seconds);
      this.info.textContent = [
        !extra ? t('Allowed {allowed}', { allowed })
          : extra > 0 ? t('Allowed {allowed} (+{extra} added)', { allowed, extra: formatDuration(extra) })
            : t('Allowed {allowed} (−{extra} taken off)', { allowed, extra: formatDuration(extra) }),
        staff.granted_at
          ? t('given the floor at {time}', { time: formatTime(staff.granted_at, tz, { timeStyle: 'medium' }) }) : '',
      ].filter(Boolean).join(' · ');
    } else {
      this.info.textContent = '';
    }
    this.info.hidden = !this.info.textContent;
    const connected = client.connection === 'connected';
    const off = this.busy || !connected || !speaking;
    for (const button of [this.end, this.revoke, this.addTime, this.removeTime]) {
      /** @type {HTMLButtonElement} */ (button).disabled = off;
    }
    const focusInControls = this.controls.contains(document.activeElement);
    this.controls.hidden = !speaking;
    const next = client.queue?.queue[0] ?? null;
    this.nextName.textContent = next ? next.display_name : '';
    this.grantNext.hidden = !next;
    this.grantNext.disabled = this.busy || !connected || client.session?.state !== 'live';
    this.grantNext.title = client.session?.state !== 'live' ? t('The session must be live to give the floor') : '';
    if (focusInControls && !speaking) {
      // The turn ended under the keyboard user's hands: keep them in this panel.
      if (!this.grantNext.hidden && !this.grantNext.disabled) this.grantNext.focus();
      else this.view.node.focus();
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The queue

// How long an update waits for a pointer pressed on the list to be released, at most.
const PRESS_LIMIT_MS = 5000;

/** @type {{action: string, testid: string, label: string, icon: string, cls: string}[]} */
const ENTRY_ACTIONS = [
  { action: 'grant', testid: 'grant', label: t('Give the floor'), icon: '', cls: '' },
  { action: 'up', testid: 'move-up', label: t('Up'), icon: '↑ ', cls: 'secondary' },
  { action: 'down', testid: 'move-down', label: t('Down'), icon: '↓ ', cls: 'secondary' },
  { action: 'top', testid: 'move-top', label: t('Top'), icon: '⤒ ', cls: 'secondary' },
  { action: 'remove', testid: 'remove', label: t('Remove'), icon: '', cls: 'secondary danger-text' },
];

export class QueueList {
  /**
   * @param {HTMLElement} container
   * @param {HemicycleClient} client
   * @param {{large?: boolean}} [options]
   */
  constructor(container, client, { large = false } = {}) {
    this.client = client;
    this.large = large;
    this.turn = durationFields('grant-time', t('Time for the next turn (optional)'), '');
    this.list = el('ol', {
      class: 'queue-list', testid: 'queue', 'aria-label': t('Speakers\u2019 queue, in order'), tabindex: '-1',
      'aria-describedby': 'queue-keys',
    });
    this.empty = el('p', { class: 'muted queue-empty' }, t('Nobody is waiting for the floor.'));
    this.summary = el('p', { class: 'queue-summary' });
    this.lowerAll = /** @type {HTMLButtonElement} */ (el('button', {
      type: 'button', class: 'secondary danger-text', testid: 'lower-all', onclick: () => this.#lowerAll(),
    }, t('Lower all hands')));
    this.error = errorNode();
    this.status = el('p', { class: 'muted', role: 'status' });
    fill(container,
      el('div', { class: 'queue-head' }, this.summary, this.lowerAll),
      this.turn.node,
      this.error,
      this.list, this.empty,
      el('p', { id: 'queue-keys', class: 'hint' },
        t('Keyboard: Alt+↑ and Alt+↓ move the request that has focus. You can also drag a request to its new place.')),
      this.status);
    /** @type {Set<number>} requests with an action under way */
    this.busy = new Set();
    /** @type {{id: number, from: number} | null} a request being moved, and its place before: its new place
     * is announced by the update that shows it, which may come before or after the server's answer */
    this.moved = null;
    /** @type {number | null} the request being dragged: the list is not rebuilt under the pointer meanwhile */
    this.dragged = null;
    /** a pointer pressed on the list (a click or a drag on its way): no rebuild until it is released, or a
     * click would land on a button no longer there and a drag would never start */
    this.pressed = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} gives up waiting for a release that never came */
    this.pressedLimit = undefined;
    /** an update that came meanwhile, made once the pointer is released or the drag ends */
    this.updateOwed = false;
    /** @type {Set<number> | null} requests already seen, to announce new ones */
    this.known = null;
    /** @type {Map<number, {shown: string, node: HTMLElement}>} each request's item, and what it shows */
    this.items = new Map();
    this.list.addEventListener('keydown', (event) => this.#onKey(event));
    this.list.addEventListener('pointerdown', () => {
      this.pressed = true;
      clearTimeout(this.pressedLimit);
      this.pressedLimit = setTimeout(() => this.#released(), PRESS_LIMIT_MS);
    });
    // After the click that follows the release (same task), or once a drag has taken over (then `dragged`).
    for (const type of ['pointerup', 'pointercancel']) {
      document.addEventListener(type, () => { if (this.pressed) setTimeout(() => this.#released(), 0); });
    }
    client.on('statements', () => this.update());
    // Waiting times move on by themselves.
    setInterval(() => this.#tickWaits(), 15_000);
  }

  /** The offset of the server's clock, from the last queue received. */
  #offset() {
    return clockOffset(this.client.queue?.server_time, this.client.queueReceivedAt);
  }

  /** The pointer let go of the list: an update that waited for it is made now. */
  #released() {
    clearTimeout(this.pressedLimit);
    this.pressed = false;
    if (this.updateOwed) this.update();
  }

  update() {
    if (this.dragged !== null || this.pressed) {
      // A roster or queue update while a request is pressed or dragged would take it and its drop targets
      // out of the page, and the click or the drop would be lost: it waits for the pointer.
      this.updateOwed = true;
      return;
    }
    this.updateOwed = false;
    const client = this.client;
    const queue = client.queue;
    const entries = queue?.queue ?? [];
    const defaultSeconds = queue?.settings.default_speaking_seconds;
    this.turn.hint.textContent = defaultSeconds
      ? t('Applies to the next “Give the floor”. Leave empty for the default, {duration}.', { duration: formatDuration(defaultSeconds) })
      : t('Applies to the next “Give the floor”. Leave empty for the default.');

    // Remember the focused control, to give focus back after the rebuild.
    const active = /** @type {HTMLElement | null} */ (document.activeElement);
    const activeItem = active && this.list.contains(active) ? active.closest('[data-entry-id]') : null;
    const focusKey = activeItem ? {
      id: /** @type {HTMLElement} */ (activeItem).dataset.entryId,
      action: active?.dataset.action ?? null,
      index: [...this.list.children].indexOf(/** @type {Element} */ (activeItem)),
    } : null;

    const suggested = queue?.suggestion?.entry_id ?? null;
    const connected = client.connection === 'connected';
    const live = client.session?.state === 'live';
    // Who is connected right now (staff receive the people list): a remote request whose holder is not is
    // marked, so the floor is not given to someone who cannot answer. Their place is kept meanwhile.
    const present = client.people ? new Set(client.people.map((person) => person.id)) : null;
    const items = entries.map((entry, index) => {
      const flags = {
        suggested: entry.id === suggested, connected, live,
        away: present !== null && !entry.in_room && entry.participant_id !== null
          && !present.has(entry.participant_id),
      };
      // Everything the item shows or its handlers hold (its place; whether it is last, for "Move down"):
      // while it is the same, the item is kept.
      const shown = JSON.stringify([entry, index, index === entries.length - 1, flags, this.busy.has(entry.id),
        this.client.statements.has(entry.id), this.large]);
      const kept = this.items.get(entry.id);
      return { id: entry.id, shown, node: kept?.shown === shown ? kept.node : this.#item(entry, index, entries.length, flags) };
    });
    this.items = new Map(items.map(({ id, shown, node }) => [id, { shown, node }]));
    arrange(this.list, items.map(({ node }) => node));
    this.#tickWaits();
    this.empty.hidden = entries.length > 0;
    this.summary.textContent = entries.length
      ? tn(entries.length, '{count} request waiting, {inRoom} in the room.', '{count} requests waiting, {inRoom} in the room.',
        { inRoom: entries.filter((e) => e.in_room).length })
      : '';
    this.lowerAll.disabled = !entries.length || !connected;

    if (focusKey) this.#restoreFocus(focusKey);
    // New hands, said once (the first update after connecting only sets the baseline).
    if (this.known) {
      const added = entries.filter((e) => !this.known?.has(e.id));
      if (added.length === 1) {
        announce(t('{name} asked for the floor ({type}).', {
          name: added[0].display_name, type: typeLabel(added[0].type).toLocaleLowerCase(),
        }));
      } else if (added.length > 1) announce(tn(added.length, '{count} new request for the floor.', '{count} new requests for the floor.'));
    }
    this.known = new Set(entries.map((e) => e.id));
    if (this.moved !== null) {
      const index = entries.findIndex((e) => e.id === this.moved?.id);
      if (index >= 0 && index !== this.moved.from) {
        announce(t('{name} is now {place} of {length}.', {
          name: entries[index].display_name, place: index + 1, length: entries.length,
        }));
      }
      if (index !== this.moved.from) this.moved = null;
    }
  }

  /**
   * @param {{id: string | undefined, action: string | null, index: number}} key
   */
  #restoreFocus(key) {
    const item = /** @type {HTMLElement | null} */ (
      [...this.list.children].find((node) => /** @type {HTMLElement} */ (node).dataset.entryId === key.id) ?? null);
    if (item) {
      const same = key.action ? /** @type {HTMLButtonElement | null} */ (item.querySelector(`[data-action="${key.action}"]`)) : null;
      const target = same && !same.disabled ? same
        : /** @type {HTMLButtonElement | null} */ ([...item.querySelectorAll('button')].find((b) => !b.disabled) ?? null);
      (target ?? item).focus();
      return;
    }
    // The request left the list (granted, removed): the one now in its place, or the list itself.
    const neighbour = /** @type {HTMLElement | undefined} */ (this.list.children[Math.min(key.index, this.list.children.length - 1)]);
    const button = neighbour?.querySelector('button');
    if (button) button.focus();
    else this.list.focus();
  }

  /**
   * @param {StaffEntry} entry
   * @param {number} index
   * @param {number} count
   * @param {{suggested: boolean, connected: boolean, live: boolean, away: boolean}} flags
   */
  #item(entry, index, count, { suggested, connected, live, away }) {
    const nameId = `queue-entry-name-${entry.id}`;
    const busy = this.busy.has(entry.id);
    const buttons = ENTRY_ACTIONS.map(({ action, testid, label, icon, cls }) => {
      const disabled = busy || !connected
        || (action === 'grant' && !live)
        || ((action === 'up' || action === 'top') && index === 0)
        || (action === 'down' && index === count - 1);
      return el('button', {
        type: 'button', class: `${cls}${this.large ? ' large' : ''}`.trim() || undefined, testid,
        dataset: { action }, disabled,
        title: action === 'grant' && !live ? t('The session must be live to give the floor') : undefined,
        onclick: () => this.#act(entry, action),
      },
      icon ? el('span', { 'aria-hidden': 'true' }, icon) : null,
      label,
      el('span', { class: 'visually-hidden' }, `: ${entry.display_name}`));
    });
    const waited = el('span', { class: 'queue-waited', dataset: { since: entry.requested_at } },
      waitedText(entry.requested_at, this.#offset()));
    const item = el('li', {
      class: `queue-entry${suggested ? ' queue-entry-suggested' : ''}${entry.in_room ? ' queue-entry-in-room' : ''}`,
      testid: 'queue-entry', dataset: { entryId: String(entry.id), type: entry.type, ...(away ? { away: 'true' } : {}) },
      draggable: 'true', tabindex: '-1', 'aria-labelledby': nameId, 'aria-busy': busy ? 'true' : undefined,
    },
    el('span', { class: 'queue-place', 'aria-hidden': 'true' }, String(index + 1)),
    el('div', { class: 'queue-who' },
      el('p', { class: 'queue-name-line' },
        el('span', { class: 'visually-hidden' }, `${index + 1}. `),
        userText(entry.display_name, 'queue-name'),
        ' ', entryTags(entry),
        suggested ? el('span', { class: 'tag tag-suggested' }, t('Suggested')) : null,
        away ? el('span', { class: 'tag tag-away', testid: 'entry-away' }, t('Not connected')) : null),
      el('p', { class: 'queue-details' }, entryDetails(entry)),
      el('p', { class: 'queue-meta' }, waited),
      // Statements in advance (issue 21): floor staff attach one for the speaker (js/pages/booth-statements.js).
      el('p', { class: 'queue-statement' }, statementControl(this.client, entry.id, {
        label: this.client.statements.has(entry.id) ? t('Replace the statement') : t('Attach a statement'),
        name: entry.display_name,
      }))),
    el('div', { class: 'queue-actions', role: 'group', 'aria-label': t('Actions for {name}', { name: entry.display_name }) },
      buttons));
    // The accessible name of the item: its place and the person's name (the visually hidden "1. " + name).
    item.querySelector('.queue-name-line')?.setAttribute('id', nameId);
    item.addEventListener('dragstart', (event) => {
      this.dragged = entry.id;
      event.dataTransfer?.setData('text/plain', String(entry.id));
      if (event.dataTransfer) event.dataTransfer.effectAllowed = 'move';
      item.classList.add('dragging');
    });
    item.addEventListener('dragend', () => {
      this.dragged = null;
      item.classList.remove('dragging');
      if (this.updateOwed) this.update();
    });
    item.addEventListener('dragover', (event) => {
      if (this.dragged === null || this.dragged === entry.id) return;
      event.preventDefault();
      item.classList.add('drop-target');
    });
    item.addEventListener('dragleave', () => item.classList.remove('drop-target'));
    item.addEventListener('drop', (event) => {
      event.preventDefault();
      item.classList.remove('drop-target');
      const dragged = this.dragged;
      if (dragged === null || dragged === entry.id) return;
      const from = this.client.queue?.queue.find((e) => e.id === dragged);
      if (from) this.#move(from, index);
    });
    return item;
  }

  /**
   * Put focus on one action of one request, if it is still listed.
   * @param {number} entryId
   * @param {string} action
   */
  #focusAction(entryId, action) {
    const button = /** @type {HTMLButtonElement | null} */ (
      this.list.querySelector(`[data-entry-id="${entryId}"] [data-action="${action}"]`));
    if (button && !button.disabled) button.focus();
  }

  #tickWaits() {
    const offset = this.#offset();
    for (const node of this.list.querySelectorAll('.queue-waited')) {
      const text = waitedText(/** @type {HTMLElement} */ (node).dataset.since, offset);
      if (node.textContent !== text) node.textContent = text;
    }
  }

  /** @param {KeyboardEvent} event */
  #onKey(event) {
    if (!event.altKey || (event.key !== 'ArrowUp' && event.key !== 'ArrowDown')) return;
    const item = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (event.target).closest('[data-entry-id]'));
    const entry = this.client.queue?.queue.find((e) => String(e.id) === item?.dataset.entryId);
    if (!entry) return;
    event.preventDefault();
    this.#act(entry, event.key === 'ArrowUp' ? 'up' : 'down');
  }

  /**
   * @param {StaffEntry} entry
   * @param {'up' | 'down' | 'top' | 'bottom' | number} to
   */
  #move(entry, to) {
    const from = this.client.queue?.queue.findIndex((e) => e.id === entry.id) ?? -1;
    this.moved = { id: entry.id, from };
    return this.#request(entry, async () => {
      let position = entry.position;
      try {
        ({ position } = await this.client.moveEntry(entry.id, to));
      } finally {
        // Refused, or already in that place (its rank unchanged): there is no new place to announce.
        if (position === entry.position && this.moved?.id === entry.id) this.moved = null;
      }
    });
  }

  /**
   * @param {StaffEntry} entry
   * @param {string} action
   */
  async #act(entry, action) {
    if (this.busy.has(entry.id)) return;
    if (action === 'up' || action === 'down' || action === 'top') {
      await this.#move(entry, action);
    } else if (action === 'grant') {
      const seconds = readSeconds(this.turn.minutes, this.turn.seconds);
      if (seconds !== null && !(seconds >= 15 && seconds <= 3600)) {
        showError(this.error, { code: 'invalid_input', message: t('The time for the next turn must be from 0:15 to 60:00.') });
        this.turn.minutes.focus();
        return;
      }
      await this.#request(entry, async () => {
        await this.client.grantFloor(entry.id, { limitSeconds: seconds });
        this.turn.minutes.value = '';
        this.turn.seconds.value = '';
      });
    } else if (action === 'remove') {
      const reason = await askDialog({
        title: t('Remove {name} from the queue?', { name: entry.display_name }),
        text: t('The request is taken off the list; the reason is kept in the record and the audit log.'),
        field: { label: t('Reason'), required: true, maxLength: 300, hint: t('For example: off topic, already spoke, asked to withdraw.') },
        confirm: t('Remove'), danger: true, testid: 'remove-dialog',
      });
      this.#focusAction(entry.id, 'remove'); // the list may have been rebuilt while the dialog was open
      if (reason === null) return;
      await this.#request(entry, async () => {
        await this.client.removeEntry(entry.id, reason);
        this.status.textContent = t('{name} was removed from the queue.', { name: entry.display_name });
      });
    }
  }

  /**
   * @param {StaffEntry} entry
   * @param {() => Promise<void>} run
   */
  async #request(entry, run) {
    this.busy.add(entry.id);
    showError(this.error, null);
    this.status.textContent = '';
    try {
      await run();
    } catch (err) {
      showQueueError(this.error, this.client, err);
    } finally {
      this.busy.delete(entry.id);
      // The broadcast that follows rebuilds the list; rebuild now too, to re-enable the buttons on errors.
      this.update();
    }
  }

  async #lowerAll() {
    const count = this.client.queue?.queue.length ?? 0;
    if (!count) return;
    const reason = await askDialog({
      title: t('Lower all hands?'),
      text: tn(count, 'This takes {count} request off the list, in the room and remote. The person speaking keeps the floor.',
        'This takes {count} requests off the list, in the room and remote. The person speaking keeps the floor.'),
      field: { label: t('Reason (optional)'), maxLength: 300, hint: t('For example: the list of speakers is closed.') },
      confirm: t('Lower all hands'), danger: true, testid: 'lower-all-dialog',
    });
    if (reason === null) return;
    showError(this.error, null);
    try {
      const { lowered } = await this.client.lowerAllHands(reason || undefined);
      this.status.textContent = tn(lowered, '{count} hand lowered.', '{count} hands lowered.');
      announce(this.status.textContent);
    } catch (err) {
      showQueueError(this.error, this.client, err);
    }
  }
}

/**
 * "Waiting 4 min", "Waiting less than a minute".
 * @param {string | undefined} since
 * @param {number} offset
 */
function waitedText(since, offset) {
  const seconds = secondsSince(since, offset);
  if (seconds < 60) return t('Waiting less than a minute');
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return t('Waiting {minutes} min', { minutes });
  return t('Waiting {hours} h {minutes} min', { hours: Math.floor(minutes / 60), minutes: String(minutes % 60).padStart(2, '0') });
}

// ---------------------------------------------------------------------------------------------------------
// In-room requests

let inRoomCount = 0;

export class InRoomForm {
  /**
   * @param {HTMLElement} container
   * @param {HemicycleClient} client
   */
  constructor(container, client) {
    this.client = client;
    const id = `in-room-${++inRoomCount}`;
    const input = (/** @type {string} */ name, /** @type {Record<string, any>} */ props = {}) =>
      /** @type {HTMLInputElement} */ (el('input', { id: `${id}-${name}`, name, type: 'text', dir: 'auto', ...props }));
    const select = (/** @type {string} */ name, /** @type {Record<string, string>} */ labels, /** @type {string | null} */ empty) =>
      /** @type {HTMLSelectElement} */ (el('select', { id: `${id}-${name}`, name },
        empty !== null ? el('option', { value: '' }, empty) : null,
        Object.entries(labels).map(([value, label]) => el('option', { value }, label))));
    const field = (/** @type {HTMLElement} */ control, /** @type {string} */ label, /** @type {boolean} */ required = false) =>
      el('div', { class: 'field' },
        el('label', { for: control.id }, label, required ? el('span', { class: 'required' }, ` ${t('(required)')}`) : null),
        control);

    this.name = input('display_name', { required: true, maxlength: '120', autocomplete: 'off' });
    this.affiliation = input('affiliation', { maxlength: '200', autocomplete: 'off' });
    this.group = select('stakeholder_group', GROUP_LABELS, t('Choose a stakeholder group'));
    this.group.required = true;
    const listId = `${id}-countries`;
    this.country = input('country', { list: listId, autocomplete: 'off', spellcheck: 'false', dir: 'ltr' });
    this.type = select('type', TYPE_LABELS, null);
    this.language = /** @type {HTMLSelectElement} */ (el('select', { id: `${id}-language`, name: 'language' }));
    this.consent = /** @type {HTMLInputElement} */ (el('input', {
      id: `${id}-consent`, type: 'checkbox', 'aria-controls': `${id}-demographics`,
    }));
    this.gender = select('gender', GENDER_LABELS, t('Not given'));
    this.ageBand = select('age_band', AGE_BAND_LABELS, t('Not given'));
    this.demographics = el('fieldset', { id: `${id}-demographics`, class: 'demographics' },
      el('legend', {}, t('Gender and age band (with the person\u2019s consent)')),
      field(this.gender, t('Gender')), field(this.ageBand, t('Age band')));
    this.error = errorNode();
    this.status = el('p', { class: 'muted', role: 'status' });
    this.submit = /** @type {HTMLButtonElement} */ (el('button', { type: 'submit' }, t('Add to the queue')));
    this.form = /** @type {HTMLFormElement} */ (el('form', { class: 'in-room-form', testid: 'add-in-room', novalidate: true },
      el('p', { class: 'hint' }, t('Someone in the room asks for the floor: add them to the same queue as remote hands.')),
      field(this.name, t('Name'), true),
      field(this.affiliation, t('Affiliation')),
      field(this.group, t('Stakeholder group'), true),
      el('div', { class: 'field' },
        el('label', { for: this.country.id }, t('Country')),
        this.country,
        el('datalist', { id: listId }, countriesByName().map(({ code, name }) => el('option', { value: code, label: name }))),
        el('p', { class: 'hint' }, t('Optional: a name or a two-letter code (KE, FR…).'))),
      field(this.type, t('Type of intervention')),
      field(this.language, t('Language')),
      el('div', { class: 'field field-check' },
        this.consent,
        el('label', { for: this.consent.id }, t('The person agrees to give their gender and age band')),
        el('p', { class: 'hint' }, t('Used only for the balance figures; never shown to participants.'))),
      this.demographics,
      this.error,
      el('p', { class: 'actions' }, this.submit),
      this.status));
    fill(container, this.form);
    this.consent.addEventListener('change', () => this.#syncConsent());
    this.#syncConsent();
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#add();
    });
  }

  #syncConsent() {
    this.demographics.hidden = !this.consent.checked;
    this.consent.setAttribute('aria-expanded', String(this.consent.checked));
    if (!this.consent.checked) {
      this.gender.value = '';
      this.ageBand.value = '';
    }
  }

  /** @param {string[]} languages */
  fillLanguages(languages) {
    const current = this.language.value;
    fill(this.language, languages.map((code) => el('option', { value: code, lang: code }, languageLabel(code, { native: true }))));
    this.language.value = languages.includes(current) ? current : languages.includes('en') ? 'en' : (languages[0] ?? '');
  }

  async #add() {
    showError(this.error, null);
    this.status.textContent = '';
    for (const control of [this.name, this.group, this.country, this.gender, this.ageBand, this.language, this.type, this.affiliation]) {
      control.removeAttribute('aria-invalid');
    }
    const name = this.name.value.trim();
    if (!name || !this.group.value) {
      const missing = !name ? this.name : this.group;
      missing.setAttribute('aria-invalid', 'true');
      showError(this.error, { code: 'invalid_input', message: !name ? t('Enter the person\u2019s name.') : t('Choose a stakeholder group.') });
      missing.focus();
      return;
    }
    /** @type {import('../protocol.js').InRoomRequest} */
    const body = {
      display_name: name,
      affiliation: this.affiliation.value.trim(),
      stakeholder_group: /** @type {any} */ (this.group.value),
      type: /** @type {any} */ (this.type.value),
      language: this.language.value,
    };
    const country = countryCodeFor(this.country.value);
    if (country) body.country = country;
    if (this.consent.checked) {
      body.consent_demographics = true;
      if (this.gender.value) body.gender = /** @type {any} */ (this.gender.value);
      if (this.ageBand.value) body.age_band = this.ageBand.value;
    }
    this.submit.disabled = true;
    try {
      const { entry } = await this.client.addInRoom(body);
      this.status.textContent = t('{name} was added to the queue.', { name: entry.display_name });
      announce(this.status.textContent);
      const language = this.language.value;
      this.form.reset();
      this.language.value = language;
      this.#syncConsent();
      this.name.focus();
    } catch (err) {
      const e = /** @type {any} */ (err);
      const controls = /** @type {Record<string, HTMLElement>} */ ({
        display_name: this.name, affiliation: this.affiliation, stakeholder_group: this.group, country: this.country,
        gender: this.gender, age_band: this.ageBand, consent_demographics: this.consent, type: this.type,
        language: this.language,
      });
      const control = e?.field ? controls[e.field] : null;
      showError(this.error, { code: e?.code, message: queueErrorText(e) });
      if (control) {
        control.setAttribute('aria-invalid', 'true');
        control.focus();
      }
    } finally {
      this.submit.disabled = false;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Speaking-time settings

export class SettingsForm {
  /**
   * @param {HTMLElement} container
   * @param {HemicycleClient} client
   */
  constructor(container, client) {
    this.client = client;
    this.dirty = false;
    this.time = durationFields('default-time', t('Default speaking time'), t('From 0:15 to 60:00; applies to turns given from now on.'));
    this.autoEnd = /** @type {HTMLInputElement} */ (el('input', { id: 'auto-end', type: 'checkbox', 'aria-controls': 'auto-end-grace-field' }));
    this.grace = /** @type {HTMLInputElement} */ (el('input', {
      id: 'auto-end-grace', type: 'number', min: '0', max: '600', step: '5', inputmode: 'numeric', class: 'input-short',
      'aria-describedby': 'auto-end-grace-hint',
    }));
    this.graceField = el('div', { id: 'auto-end-grace-field', class: 'field' },
      el('label', { for: 'auto-end-grace' }, t('Grace after the time is up (seconds)')),
      this.grace,
      el('p', { id: 'auto-end-grace-hint', class: 'hint' }, t('The turn ends by itself this long after the countdown reaches zero.')));
    this.error = errorNode();
    this.status = el('p', { class: 'muted', role: 'status' });
    this.save = /** @type {HTMLButtonElement} */ (el('button', { type: 'submit' }, t('Save settings')));
    this.form = /** @type {HTMLFormElement} */ (el('form', { class: 'settings-form', testid: 'queue-settings', novalidate: true },
      this.time.node,
      el('div', { class: 'field field-check' },
        this.autoEnd, el('label', { for: 'auto-end' }, t('End turns automatically when the time is up'))),
      this.graceField,
      this.error,
      el('p', { class: 'actions' }, this.save),
      this.status));
    fill(container, this.form);
    this.form.addEventListener('input', () => {
      this.dirty = true;
      this.status.textContent = t('Not saved yet.');
      this.#syncGrace();
    });
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#save();
    });
  }

  #syncGrace() {
    this.graceField.hidden = !this.autoEnd.checked;
    this.autoEnd.setAttribute('aria-expanded', String(this.autoEnd.checked));
  }

  update() {
    const settings = this.client.queue?.settings;
    this.save.disabled = this.client.connection !== 'connected';
    if (!settings || this.dirty) return; // never overwrite what someone is typing
    this.time.minutes.value = String(Math.floor(settings.default_speaking_seconds / 60));
    this.time.seconds.value = String(settings.default_speaking_seconds % 60);
    this.autoEnd.checked = settings.auto_end_grace_seconds !== null;
    this.grace.value = String(settings.auto_end_grace_seconds ?? 10);
    this.#syncGrace();
  }

  async #save() {
    showError(this.error, null);
    const seconds = readSeconds(this.time.minutes, this.time.seconds);
    if (seconds === null || !(seconds >= 15 && seconds <= 3600)) {
      showError(this.error, { code: 'invalid_input', message: t('The default speaking time must be from 0:15 to 60:00.') });
      this.time.minutes.focus();
      return;
    }
    const grace = Number(this.grace.value);
    if (this.autoEnd.checked && (this.grace.value.trim() === '' || !Number.isInteger(grace) || grace < 0 || grace > 600)) {
      showError(this.error, { code: 'invalid_input', message: t('The grace must be a whole number of seconds from 0 to 600.') });
      this.grace.focus();
      return;
    }
    this.save.disabled = true;
    try {
      await this.client.queueSettings(this.autoEnd.checked
        ? { defaultSpeakingSeconds: seconds, autoEnd: true, autoEndGraceSeconds: grace }
        : { defaultSpeakingSeconds: seconds, autoEnd: false });
      this.dirty = false;
      this.status.textContent = t('Saved.');
      this.update();
    } catch (err) {
      showQueueError(this.error, this.client, err);
    } finally {
      this.save.disabled = this.client.connection !== 'connected';
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Suggestion and balance

/**
 * {dimension: "stakeholder_group", value: "civil_society"} → "Civil society (stakeholder group)".
 * @param {{dimension: string, value: string}} improvement
 */
function improvementText({ dimension, value }) {
  if (dimension === 'type' && value === 'point_of_order') return t('Point of order');
  const label = BALANCE_DIMENSIONS[dimension];
  return label ? `${balanceValueLabel(dimension, value)} (${label.toLocaleLowerCase()})` : `${dimension}: ${value}`;
}

export class SuggestionView {
  /**
   * @param {HTMLElement} container
   * @param {HemicycleClient} client
   * @param {{large?: boolean}} [options]
   */
  constructor(container, client, { large = false } = {}) {
    this.client = client;
    this.name = el('strong', { class: 'suggestion-name', dir: 'auto' });
    this.improves = el('p', { class: 'suggestion-improves' });
    this.grant = /** @type {HTMLButtonElement} */ (el('button', {
      type: 'button', testid: 'grant-suggestion', class: large ? 'large' : undefined, onclick: () => this.#grant(),
    }, t('Give the floor'), el('span', { class: 'visually-hidden' }, ` ${t('to the suggested person')}`)));
    this.body = el('div', { class: 'suggestion-body' },
      el('p', {}, `${t('Suggested next:')} `, this.name), this.improves, el('p', { class: 'actions' }, this.grant));
    this.none = el('p', { class: 'muted' }, t('No suggestion: nobody is waiting.'));
    this.error = errorNode();
    this.node = el('div', { class: 'suggestion', testid: 'suggestion' }, this.body, this.none, this.error,
      el('p', { class: 'hint' }, t('Who would bring the interventions closest to balance by stakeholder group, gender, youth and region; first come, first served when nothing is known. The chair decides.')));
    fill(container, this.node);
  }

  update() {
    const suggestion = this.client.queue?.suggestion ?? null;
    this.body.hidden = !suggestion;
    this.none.hidden = !!suggestion;
    this.node.dataset.entryId = suggestion ? String(suggestion.entry_id) : '';
    if (!suggestion) return;
    this.name.textContent = suggestion.display_name;
    const improves = suggestion.improves.map(improvementText);
    this.improves.textContent = improves.length ? t('Improves: {list}.', { list: improves.join(', ') })
      : t('Next in order; no balance to improve.');
    this.grant.disabled = this.client.connection !== 'connected' || this.client.session?.state !== 'live';
  }

  async #grant() {
    const suggestion = this.client.queue?.suggestion;
    if (!suggestion) return;
    showError(this.error, null);
    this.grant.disabled = true;
    try {
      await this.client.grantFloor(suggestion.entry_id);
    } catch (err) {
      showQueueError(this.error, this.client, err);
    } finally {
      this.update();
    }
  }
}

export class BalanceView {
  /** @param {HTMLElement} container @param {HemicycleClient} client */
  constructor(container, client) {
    this.client = client;
    this.node = el('div', { class: 'balance', testid: 'balance' });
    fill(container, this.node,
      el('p', { class: 'hint' }, t('Gender and age band count only for people who gave them with consent.')));
  }

  update() {
    const balance = this.client.queue?.balance;
    if (!balance) return;
    const targets = this.client.queue?.settings.targets ?? {};
    fill(this.node, Object.entries(BALANCE_DIMENSIONS).map(([dimension, title]) => {
      const counts = /** @type {any} */ (balance)[dimension];
      if (!counts) return null;
      const seen = new Set([...Object.keys(counts.queue), ...Object.keys(counts.interventions), ...Object.keys(counts.speaking_seconds)]);
      const known = BALANCE_VALUES[dimension] ?? [];
      const values = [...known, ...[...seen].filter((v) => !known.includes(v) && v !== 'unspecified').sort(),
        ...(seen.has('unspecified') ? ['unspecified'] : [])];
      const total = Object.values(/** @type {Record<string, number>} */ (counts.interventions)).reduce((a, b) => a + b, 0);
      return el('table', { class: 'balance-table', dataset: { dimension } },
        el('caption', {}, title),
        el('thead', {}, el('tr', {},
          el('th', { scope: 'col' }, el('span', { class: 'visually-hidden' }, title)),
          el('th', { scope: 'col', class: 'num' }, t('Waiting')),
          el('th', { scope: 'col', class: 'num' }, t('Turns')),
          el('th', { scope: 'col', class: 'num' }, t('Time spoken')),
          el('th', { scope: 'col', class: 'num', title: t('The session\u2019s wished-for share of turns') }, t('Target')),
          el('th', { scope: 'col' }, el('span', { class: 'visually-hidden' }, t('Share of turns'))))),
        el('tbody', {}, values.map((value) => {
          const turns = counts.interventions[value] ?? 0;
          const bar = el('span', { class: 'bar', 'aria-hidden': 'true' });
          bar.style.setProperty('--share', String(total ? turns / total : 0));
          return el('tr', { dataset: { value } },
            el('th', { scope: 'row' }, balanceValueLabel(dimension, value)),
            el('td', { class: 'num' }, String(counts.queue[value] ?? 0)),
            el('td', { class: 'num' }, String(turns)),
            el('td', { class: 'num' }, formatDuration(counts.speaking_seconds[value] ?? 0)),
            el('td', { class: 'num muted' }, typeof targets[dimension]?.[value] === 'number'
              ? `${Math.round(targets[dimension][value] * 100)}%` : '—'),
            el('td', { class: 'bar-cell' }, bar, el('span', { class: 'visually-hidden' },
              total ? t('{percent}% of turns', { percent: Math.round(turns / total * 100) }) : t('no turns yet'))));
        })));
    }));
  }
}

// ---------------------------------------------------------------------------------------------------------
// The record of interventions

export class RecordView {
  /** @param {HTMLElement} container @param {HemicycleClient} client */
  constructor(container, client) {
    this.client = client;
    this.body = el('tbody');
    this.empty = el('p', { class: 'muted' }, t('Nobody has had the floor yet.'));
    this.table = el('table', { class: 'record', testid: 'record' },
      el('caption', { class: 'visually-hidden' }, t('Interventions, in the order they were given the floor')),
      el('thead', {}, el('tr', {},
        ['#', t('Who'), t('Type'), t('Language'), t('Given the floor'), t('Spoke'), t('Over time'), t('How it ended')]
          .map((label) => el('th', { scope: 'col' }, label)))),
      this.body);
    fill(container, el('div', { class: 'table-wrap' }, this.table), this.empty);
  }

  update() {
    const record = this.client.queue?.record ?? [];
    const tz = this.client.event?.timezone;
    fill(this.body, record.map((entry, index) => el('tr', {
      testid: 'record-entry', dataset: { entryId: String(entry.id), endReason: entry.end_reason ?? '' },
    },
    el('td', { class: 'num' }, String(index + 1)),
    el('td', {}, userText(entry.display_name, 'record-name'),
      entry.affiliation ? userText(entry.affiliation, 'record-affiliation') : null,
      entry.in_room ? el('span', { class: 'tag tag-in-room' }, t('In the room')) : null),
    el('td', {}, typeLabel(entry.type)),
    el('td', {}, languageLabel(entry.language)),
    el('td', {}, entry.granted_at ? el('time', { datetime: entry.granted_at }, formatTime(entry.granted_at, tz, { timeStyle: 'medium' })) : ''),
    el('td', { class: 'num' }, t('{spoken} of {allowed}', {
      spoken: formatDuration(entry.spoken_seconds), allowed: formatDuration(entry.allowed_seconds),
    })),
    el('td', { class: `num${entry.overrun_seconds >= 1 ? ' overrun' : ''}` },
      entry.overrun_seconds >= 1 ? `+${formatDuration(entry.overrun_seconds)}` : '—'),
    el('td', {}, endReasonLabel(entry.end_reason)))));
    this.table.hidden = !record.length;
    this.empty.hidden = record.length > 0;
  }
}
