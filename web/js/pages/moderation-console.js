// @ts-check
/**
 * Moderating participants, on the moderator's console: the waiting room (admit one, admit all, the waiting
 * room on or off, "always admit" rules), the people in the session (mute, remove, ban with a reason), removed
 * and banned people (unban), and the moderation record, live, with its export. Page layer: renders from the
 * HemicycleClient's `moderationState` and `people`; every decision goes to the server, which checks it.
 */

import { GROUP_LABELS, GROUP_ORDER, countryName, groupLabel, roleLabel } from '../labels.js';
import {
  askDialog, announce, el, errorNode, fill, formatTime, plural, saveBlob, showError, userText,
} from '../ui.js';

/** @typedef {import('../protocol.js').HemicycleClient} HemicycleClient */
/** @typedef {import('../protocol.js').Admission} Admission */
/** @typedef {import('../protocol.js').ModerationState} ModerationState */

const ACTION_LABELS = /** @type {Record<string, string>} */ ({
  'participant.admit': 'Admitted',
  'participant.admit_all': 'Admitted everyone waiting',
  'participant.remove': 'Removed',
  'participant.ban': 'Banned',
  'participant.unban': 'Unbanned',
  'participant.mute': 'Microphone or camera',
  'moderation.settings': 'Waiting room settings',
  'queue.remove': 'Hand taken down',
  'queue.lower_all': 'All hands lowered',
  'question.dismiss': 'Question dismissed',
});

export class ParticipantModeration {
  /**
   * @param {{waiting: HTMLElement, people: HTMLElement, record: HTMLElement}} containers
   * @param {HemicycleClient} client
   */
  constructor({ waiting, people, record }, client) {
    this.client = client;
    /** @type {Set<string>} */
    this.busy = new Set();
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.refreshTimer = null;

    // --- the waiting room ---
    this.toggle = /** @type {HTMLInputElement} */ (el('input', {
      type: 'checkbox', id: 'waiting-room-on', testid: 'waiting-room-toggle',
      onchange: () => this.#setWaitingRoom(this.toggle.checked),
    }));
    this.waitingList = el('ul', { class: 'waiting-list', testid: 'waiting-list', 'aria-label': 'People waiting' });
    this.waitingEmpty = el('p', { class: 'muted' }, 'Nobody is waiting.');
    this.admitAllButton = el('button', { type: 'button', testid: 'admit-all', onclick: () => this.#admitAll() }, 'Admit all');
    this.rulesForm = this.#rulesForm();
    this.waitingError = errorNode();
    this.waitingStatus = el('p', { class: 'muted', role: 'status' });
    fill(waiting,
      el('p', { class: 'field-inline' }, this.toggle, ' ',
        el('label', { for: 'waiting-room-on' }, 'Waiting room: new attendees wait until a moderator lets them in')),
      el('p', { class: 'actions' }, this.admitAllButton),
      this.waitingError, this.waitingStatus, this.waitingList, this.waitingEmpty,
      el('details', { class: 'admit-rules' }, el('summary', {}, 'Always admit…'), this.rulesForm));

    // --- people in the session, removed and banned ---
    this.peopleList = el('ul', { class: 'moderated-people', testid: 'moderated-people', 'aria-label': 'Attendees connected' });
    this.peopleEmpty = el('p', { class: 'muted' }, 'No attendee is connected.');
    this.removedList = el('ul', { class: 'removed-list', testid: 'removed-list', 'aria-label': 'Removed from this session' });
    this.bansList = el('ul', { class: 'bans-list', testid: 'bans-list', 'aria-label': 'Banned from the event' });
    this.peopleError = errorNode();
    this.peopleStatus = el('p', { class: 'muted', role: 'status' });
    fill(people, this.peopleError, this.peopleStatus, this.peopleList, this.peopleEmpty,
      el('h3', {}, 'Removed from this session'), this.removedList,
      el('h3', {}, 'Banned from the event'), this.bansList);

    // --- the record ---
    this.recordBody = el('tbody');
    this.recordEmpty = el('p', { class: 'muted' }, 'No moderation action yet.');
    this.exportError = errorNode();
    this.exportStatus = el('p', { class: 'muted', role: 'status' });
    fill(record,
      el('p', { class: 'actions' },
        el('button', { type: 'button', class: 'secondary', onclick: () => this.#export('csv') }, 'Export CSV'), ' ',
        el('button', { type: 'button', class: 'secondary', onclick: () => this.#export('json') }, 'Export JSON')),
      this.exportError, this.exportStatus,
      el('div', { class: 'table-wrap' },
        el('table', { class: 'audit', testid: 'moderation-record' },
          el('caption', { class: 'visually-hidden' }, 'Moderation record, newest first'),
          el('thead', {}, el('tr', {},
            el('th', { scope: 'col' }, 'Time'), el('th', { scope: 'col' }, 'Who'), el('th', { scope: 'col' }, 'Action'),
            el('th', { scope: 'col' }, 'Whom'), el('th', { scope: 'col' }, 'Why'))),
          this.recordBody)),
      this.recordEmpty);
  }

  /** Ask the server for the moderation state again, soon: several calls within a second make one request. */
  refreshSoon() {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      if (this.client.connection === 'connected') this.client.refreshModeration().catch(() => {});
    }, 1000);
  }

  /** Re-render from the client's state (after `moderation`, `presence:people` or a connection change). */
  update() {
    const state = this.client.moderationState;
    const connected = this.client.connection === 'connected';
    this.toggle.checked = !!state?.waiting_room;
    this.toggle.disabled = !state || !connected || this.busy.has('settings');
    const waiting = state?.waiting ?? [];
    /** @type {HTMLButtonElement} */ (this.admitAllButton).disabled = !connected || !waiting.some((p) => p.state === 'waiting');
    fill(this.waitingList, waiting.map((person) => this.#waitingItem(person)));
    this.waitingEmpty.hidden = waiting.length > 0;
    this.#syncRules(state);

    const muted = new Map((state?.muted ?? []).map((p) => [p.id, p.muted]));
    const attendees = (this.client.people ?? []).filter((p) => p.role === 'attendee')
      .sort((a, b) => a.display_name.localeCompare(b.display_name));
    fill(this.peopleList, attendees.map((person) => this.#personItem(person, muted.get(person.id))));
    this.peopleEmpty.hidden = attendees.length > 0;
    const removed = state?.removed ?? [];
    fill(this.removedList, removed.length ? removed.map((person) => this.#removedItem(person))
      : el('li', { class: 'muted' }, 'Nobody.'));
    const bans = state?.bans ?? [];
    fill(this.bansList, bans.length ? bans.map((ban) => el('li', { testid: 'banned-person', dataset: { personId: String(ban.participant.id) } },
      userText(ban.participant.display_name, 'person-name'), ' — ', userText(ban.reason, 'ban-reason'), ' ',
      this.#button(`unban:${ban.participant.id}`, 'Unban', 'unban', () => this.#unban(ban.participant.id, ban.participant.display_name))))
      : el('li', { class: 'muted' }, 'Nobody.'));

    const tz = this.client.event?.timezone;
    const audit = state?.audit ?? [];
    fill(this.recordBody, audit.map((entry) => el('tr', { testid: 'moderation-action', dataset: { action: entry.action } },
      el('td', {}, el('time', { datetime: entry.at }, formatTime(entry.at, tz, { timeStyle: 'medium' }))),
      el('td', {}, entry.actor?.name ? [userText(entry.actor.name), ` (${roleLabel(entry.actor.role)})`]
        : el('span', { class: 'muted' }, entry.details?.rule ? `Rule: ${String(entry.details.rule)}` : 'System')),
      el('td', {}, ACTION_LABELS[entry.action] ?? entry.action, muteText(entry.details)),
      el('td', {}, entry.whom?.name ? userText(entry.whom.name) : countText(entry.details)),
      el('td', {}, userText(entry.reason)))));
    this.recordEmpty.hidden = audit.length > 0;
    // A table of headings alone says nothing: it shows once there is a row.
    const table = this.recordBody.closest('.table-wrap');
    if (table instanceof HTMLElement) table.hidden = audit.length === 0;
  }

  // --- rendering ---------------------------------------------------------------------------------------

  /** @param {Admission} person */
  #waitingItem(person) {
    const flags = [];
    const banned = person.flags?.possibly_banned;
    if (banned) {
      flags.push(el('span', { class: 'flag flag-danger', testid: 'flag-possibly-banned' },
        `Possibly banned (same ${banned.match === 'browser' ? 'browser' : 'network address'} as a banned person)`));
    }
    if (person.flags?.removed_before) flags.push(el('span', { class: 'flag' }, 'Removed earlier'));
    if (person.state === 'left') flags.push(el('span', { class: 'flag flag-muted' }, 'Left the waiting room'));
    const since = person.waiting_since ? formatTime(person.waiting_since, this.client.event?.timezone, { timeStyle: 'short' }) : '';
    return el('li', { class: 'waiting-person', testid: 'waiting-person', dataset: { personId: String(person.id), state: person.state } },
      el('span', { class: 'person-line' }, userText(person.display_name, 'person-name'), since ? ` · since ${since}` : ''),
      el('span', { class: 'person-details' }, describePerson(person)),
      flags.length ? el('span', { class: 'flags' }, flags) : null,
      el('span', { class: 'actions' },
        this.#button(`admit:${person.id}`, 'Admit', 'admit', () => this.#admit(person)), ' ',
        this.#button(`remove:${person.id}`, 'Turn away', 'turn-away', () => this.#remove(person.id, person.display_name, person.version)), ' ',
        this.#button(`ban:${person.id}`, 'Ban', 'ban', () => this.#ban(person.id, person.display_name))));
  }

  /**
   * @param {import('../protocol.js').Person} person
   * @param {{audio: boolean, video: boolean} | undefined} muted
   */
  #personItem(person, muted) {
    const audio = !!muted?.audio;
    const video = !!muted?.video;
    return el('li', { class: 'moderated-person', testid: 'moderated-person', dataset: { personId: String(person.id) } },
      el('span', { class: 'person-line' }, userText(person.display_name, 'person-name')),
      el('span', { class: 'person-details' }, describePerson(person)),
      el('span', { class: 'actions' },
        this.#button(`audio:${person.id}`, audio ? 'Unmute microphone' : 'Mute microphone', 'mute-audio',
          () => this.#mute(person.id, person.display_name, { audio: !audio })), ' ',
        this.#button(`video:${person.id}`, video ? 'Allow camera' : 'Stop camera', 'mute-video',
          () => this.#mute(person.id, person.display_name, { video: !video })), ' ',
        this.#button(`remove:${person.id}`, 'Remove', 'remove', () => this.#remove(person.id, person.display_name)), ' ',
        this.#button(`ban:${person.id}`, 'Ban', 'ban', () => this.#ban(person.id, person.display_name))));
  }

  /** @param {Admission} person */
  #removedItem(person) {
    const banned = (this.client.moderationState?.bans ?? []).some((b) => b.participant.id === person.id);
    return el('li', { testid: 'removed-person', dataset: { personId: String(person.id) } },
      userText(person.display_name, 'person-name'), person.reason ? [' — ', userText(person.reason, 'removal-reason')] : null,
      banned ? null : [' ', this.#button(`ban:${person.id}`, 'Ban', 'ban', () => this.#ban(person.id, person.display_name))]);
  }

  /**
   * @param {string} key
   * @param {string} label
   * @param {string} testid
   * @param {() => void} onclick
   */
  #button(key, label, testid, onclick) {
    const danger = testid === 'ban' || testid === 'remove' || testid === 'turn-away';
    return el('button', {
      type: 'button', class: danger ? 'danger small' : 'secondary small', testid, onclick,
      disabled: this.busy.has(key) || this.client.connection !== 'connected',
    }, label);
  }

  #rulesForm() {
    this.groupBoxes = GROUP_ORDER.map((group) => /** @type {HTMLInputElement} */ (el('input', {
      type: 'checkbox', id: `admit-group-${group}`, value: group,
    })));
    this.affiliations = /** @type {HTMLTextAreaElement} */ (el('textarea', {
      id: 'admit-affiliations', rows: '3', dir: 'auto', 'aria-describedby': 'admit-affiliations-hint',
    }));
    this.rulesError = errorNode();
    return el('form', { class: 'rules-form', testid: 'admit-rules', onsubmit: (/** @type {Event} */ event) => {
      event.preventDefault();
      this.#saveRules();
    } },
    el('fieldset', {}, el('legend', {}, 'Stakeholder groups that go straight in'),
      this.groupBoxes.map((box) => el('p', { class: 'field-inline' }, box, ' ',
        el('label', { for: box.id }, GROUP_LABELS[/** @type {keyof typeof GROUP_LABELS} */ (box.value)] ?? box.value)))),
    el('div', { class: 'field' }, el('label', { for: 'admit-affiliations' }, 'Affiliations that go straight in'),
      this.affiliations,
      el('p', { id: 'admit-affiliations-hint', class: 'hint' }, 'One per line; capitals and extra spaces do not matter.')),
    this.rulesError,
    el('p', { class: 'actions' }, el('button', { type: 'submit' }, 'Save rules')));
  }

  /** @param {ModerationState | null} state */
  #syncRules(state) {
    // Only when the person is not editing them: a broadcast must not wipe what they are typing.
    if (!state || this.rulesForm.contains(document.activeElement)) return;
    const groups = new Set(state.rules?.stakeholder_groups ?? []);
    for (const box of this.groupBoxes ?? []) box.checked = groups.has(box.value);
    if (this.affiliations) this.affiliations.value = (state.rules?.affiliations ?? []).join('\n');
  }

  // --- actions -----------------------------------------------------------------------------------------

  /**
   * @param {string} key
   * @param {() => Promise<unknown>} run
   * @param {string} done
   * @param {HTMLElement} errorNodeFor
   * @param {HTMLElement} statusNode
   */
  async #request(key, run, done, errorNodeFor, statusNode) {
    this.busy.add(key);
    showError(errorNodeFor, null);
    statusNode.textContent = '';
    this.update();
    try {
      await run();
      statusNode.textContent = done;
      announce(done);
    } catch (err) {
      showError(errorNodeFor, err);
      const code = /** @type {any} */ (err).code;
      // Someone else acted meanwhile: show what is true now.
      if (['stale_participant', 'already_admitted', 'not_waiting', 'already_removed', 'already_banned', 'not_banned']
        .includes(code)) {
        this.client.refreshModeration().catch(() => {});
      }
    } finally {
      this.busy.delete(key);
      this.update();
    }
  }

  /** @param {Admission} person */
  async #admit(person) {
    await this.#request(`admit:${person.id}`, () => this.client.admitParticipant(person.id, person.version),
      `${person.display_name} admitted.`, this.waitingError, this.waitingStatus);
  }

  async #admitAll() {
    const waiting = (this.client.moderationState?.waiting ?? []).filter((p) => p.state === 'waiting');
    const flagged = waiting.filter((p) => p.flags?.possibly_banned);
    let includeFlagged = false;
    if (flagged.length) {
      const answer = await askDialog({
        title: 'Admit everyone waiting?',
        text: `${plural(flagged.length, 'person is', 'people are')} flagged as possibly banned. Admit them too?`,
        field: { label: 'Flagged people', options: [
          { value: 'no', label: 'No: admit the others, I will look at them one by one' },
          { value: 'yes', label: 'Yes: admit them too' }] },
        confirm: 'Admit', testid: 'admit-all-dialog',
      });
      if (answer === null) return;
      includeFlagged = answer === 'yes';
    }
    await this.#request('admit-all', async () => {
      const { admitted } = await this.client.admitAll({ includeFlagged });
      this.waitingStatus.textContent = `${plural(admitted.length, 'person', 'people')} admitted.`;
    }, 'Everyone waiting was admitted.', this.waitingError, this.waitingStatus);
  }

  /** @param {boolean} on */
  async #setWaitingRoom(on) {
    await this.#request('settings', () => this.client.moderationSettings({ waitingRoom: on }),
      on ? 'Waiting room on: new attendees wait to be admitted.' : 'Waiting room off: attendees come straight in.',
      this.waitingError, this.waitingStatus);
  }

  async #saveRules() {
    const rules = {
      stakeholder_groups: (this.groupBoxes ?? []).filter((box) => box.checked).map((box) => box.value),
      affiliations: (this.affiliations?.value ?? '').split('\n').map((line) => line.trim()).filter(Boolean),
    };
    await this.#request('rules', async () => {
      const { admitted } = await this.client.moderationSettings({ rules });
      if (admitted.length) announce(`${plural(admitted.length, 'person', 'people')} admitted by the new rules.`);
    }, 'Rules saved.', this.rulesError ?? this.waitingError, this.waitingStatus);
  }

  /**
   * @param {number} id
   * @param {string} name
   * @param {number} [version]
   */
  async #remove(id, name, version) {
    const reason = await askDialog({
      title: `Remove ${name} from this session?`,
      text: 'They are disconnected at once; their raised hand is taken down, their questions stay. If they come back, they wait until a moderator lets them in.',
      field: { label: 'Reason', required: true, maxLength: 300, hint: 'Kept in the moderation record and shown to them.' },
      confirm: 'Remove', danger: true, testid: 'remove-dialog',
    });
    if (reason === null) return;
    await this.#request(`remove:${id}`, () => this.client.removeParticipant(id, reason, { version }),
      `${name} removed.`, this.peopleError, this.peopleStatus);
  }

  /**
   * @param {number} id
   * @param {string} name
   */
  async #ban(id, name) {
    const reason = await askDialog({
      title: `Ban ${name} from the whole event?`,
      text: 'Their link stops working in every session. A new registration from the same browser or network waits, flagged, for a moderator.',
      field: { label: 'Reason', required: true, maxLength: 300, hint: 'Kept in the moderation record and shown to them.' },
      confirm: 'Ban', danger: true, testid: 'ban-dialog',
    });
    if (reason === null) return;
    await this.#request(`ban:${id}`, () => this.client.banParticipant(id, reason), `${name} banned.`,
      this.peopleError, this.peopleStatus);
  }

  /**
   * @param {number} id
   * @param {string} name
   */
  async #unban(id, name) {
    const reason = await askDialog({
      title: `Lift the ban on ${name}?`,
      text: 'Their link works again; they come back through the waiting room.',
      field: { label: 'Reason', maxLength: 300 },
      confirm: 'Unban', testid: 'unban-dialog',
    });
    if (reason === null) return;
    await this.#request(`unban:${id}`, () => this.client.unbanParticipant(id, reason), `${name} unbanned.`,
      this.peopleError, this.peopleStatus);
  }

  /**
   * @param {number} id
   * @param {string} name
   * @param {{audio?: boolean, video?: boolean}} change
   */
  async #mute(id, name, change) {
    const what = change.audio !== undefined ? 'microphone' : 'camera';
    const muting = change.audio ?? change.video;
    await this.#request(`${change.audio !== undefined ? 'audio' : 'video'}:${id}`,
      () => this.client.muteParticipant(id, change),
      `${name}: ${what} ${muting ? 'muted' : 'allowed again'}.`, this.peopleError, this.peopleStatus);
  }

  /** @param {'csv' | 'json'} format */
  async #export(format) {
    showError(this.exportError, null);
    this.exportStatus.textContent = 'Preparing the file…';
    try {
      const { blob, filename } = await this.client.exportModeration(format);
      saveBlob(blob, filename);
      this.exportStatus.textContent = `Downloaded ${filename}.`;
    } catch (err) {
      this.exportStatus.textContent = '';
      showError(this.exportError, err);
    }
  }
}

/** @param {{affiliation?: string, stakeholder_group?: string | null, country?: string | null}} person */
function describePerson(person) {
  const parts = [];
  if (person.affiliation) parts.push(userText(person.affiliation, 'person-affiliation'));
  if (person.stakeholder_group) parts.push(groupLabel(person.stakeholder_group));
  if (person.country) parts.push(countryName(person.country));
  return parts.flatMap((part, i) => (i ? [' · ', part] : [part]));
}

/** @param {Record<string, unknown>} details */
function muteText(details) {
  if (!details || typeof details.audio !== 'boolean') return '';
  return `: microphone ${details.audio ? 'muted' : 'on'}, camera ${details.video ? 'stopped' : 'allowed'}`;
}

/** @param {Record<string, unknown>} details */
function countText(details) {
  if (details && typeof details.count === 'number') return plural(details.count, 'person', 'people');
  if (details && typeof details.name === 'string') return userText(details.name);
  return '';
}
