// @ts-check
/**
 * Moderating participants, on the moderator's console: the waiting room (admit one, admit all, the waiting
 * room on or off, "always admit" rules), the people in the session (mute, remove, ban with a reason), removed
 * and banned people (unban), and the moderation record, live, with its export. Page layer: renders from the
 * HemicycleClient's `moderationState` and `people`; every decision goes to the server, which checks it.
 */

import { t, tn } from '../i18n.js';
import { GROUP_LABELS, GROUP_ORDER, countryName, groupLabel, roleLabel } from '../labels.js';
import {
  askDialog, announce, el, errorNode, fill, formatTime, saveBlob, showError, userText,
} from '../ui.js';

/** @typedef {import('../protocol.js').HemicycleClient} HemicycleClient */
/** @typedef {import('../protocol.js').Admission} Admission */
/** @typedef {import('../protocol.js').ModerationState} ModerationState */

const ACTION_LABELS = /** @type {Record<string, string>} */ ({
  'participant.admit': t('Admitted'),
  'participant.admit_all': t('Admitted everyone waiting'),
  'participant.remove': t('Removed'),
  'participant.ban': t('Banned'),
  'participant.unban': t('Unbanned'),
  'participant.mute': t('Microphone or camera'),
  'moderation.settings': t('Waiting room settings'),
  'queue.remove': t('Hand taken down'),
  'queue.lower_all': t('All hands lowered'),
  'question.dismiss': t('Question dismissed'),
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
    this.waitingList = el('ul', { class: 'waiting-list', testid: 'waiting-list', 'aria-label': t('People waiting') });
    this.waitingEmpty = el('p', { class: 'muted' }, t('Nobody is waiting.'));
    this.admitAllButton = el('button', { type: 'button', testid: 'admit-all', onclick: () => this.#admitAll() }, t('Admit all'));
    this.rulesForm = this.#rulesForm();
    this.waitingError = errorNode();
    this.waitingStatus = el('p', { class: 'muted', role: 'status' });
    fill(waiting,
      el('p', { class: 'field-inline' }, this.toggle, ' ',
        el('label', { for: 'waiting-room-on' }, t('Waiting room: new attendees wait until a moderator lets them in'))),
      el('p', { class: 'actions' }, this.admitAllButton),
      this.waitingError, this.waitingStatus, this.waitingList, this.waitingEmpty,
      el('details', { class: 'admit-rules' }, el('summary', {}, t('Always admit…')), this.rulesForm));

    // --- people in the session, removed and banned ---
    this.peopleList = el('ul', { class: 'moderated-people', testid: 'moderated-people', 'aria-label': t('Attendees connected') });
    this.peopleEmpty = el('p', { class: 'muted' }, t('No attendee is connected.'));
    this.removedList = el('ul', { class: 'removed-list', testid: 'removed-list', 'aria-label': t('Removed from this session') });
    this.bansList = el('ul', { class: 'bans-list', testid: 'bans-list', 'aria-label': t('Banned from the event') });
    this.peopleError = errorNode();
    this.peopleStatus = el('p', { class: 'muted', role: 'status' });
    fill(people, this.peopleError, this.peopleStatus, this.peopleList, this.peopleEmpty,
      el('h3', {}, t('Removed from this session')), this.removedList,
      el('h3', {}, t('Banned from the event')), this.bansList);

    // --- the record ---
    this.recordBody = el('tbody');
    this.recordEmpty = el('p', { class: 'muted' }, t('No moderation action yet.'));
    this.exportError = errorNode();
    this.exportStatus = el('p', { class: 'muted', role: 'status' });
    fill(record,
      el('p', { class: 'actions' },
        el('button', { type: 'button', class: 'secondary', onclick: () => this.#export('csv') }, t('Export CSV')), ' ',
        el('button', { type: 'button', class: 'secondary', onclick: () => this.#export('json') }, t('Export JSON'))),
      this.exportError, this.exportStatus,
      el('div', { class: 'table-wrap' },
        el('table', { class: 'audit', testid: 'moderation-record' },
          el('caption', { class: 'visually-hidden' }, t('Moderation record, newest first')),
          el('thead', {}, el('tr', {},
            el('th', { scope: 'col' }, t('Time')), el('th', { scope: 'col' }, t('Who')), el('th', { scope: 'col' }, t('Action')),
            el('th', { scope: 'col' }, t('Whom')), el('th', { scope: 'col' }, t('Why')))),
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
      : el('li', { class: 'muted' }, t('Nobody.')));
    const bans = state?.bans ?? [];
    fill(this.bansList, bans.length ? bans.map((ban) => el('li', { testid: 'banned-person', dataset: { personId: String(ban.participant.id) } },
      userText(ban.participant.display_name, 'person-name'), ' — ', userText(ban.reason, 'ban-reason'), ' ',
      this.#button(`unban:${ban.participant.id}`, t('Unban'), 'unban', () => this.#unban(ban.participant.id, ban.participant.display_name))))
      : el('li', { class: 'muted' }, t('Nobody.')));

    const tz = this.client.event?.timezone;
    const audit = state?.audit ?? [];
    fill(this.recordBody, audit.map((entry) => el('tr', { testid: 'moderation-action', dataset: { action: entry.action } },
      el('td', {}, el('time', { datetime: entry.at }, formatTime(entry.at, tz, { timeStyle: 'medium' }))),
      el('td', {}, entry.actor?.name ? [userText(entry.actor.name), ` (${roleLabel(entry.actor.role)})`]
        : el('span', { class: 'muted' }, entry.details?.rule ? t('Rule: {rule}', { rule: String(entry.details.rule) }) : t('System'))),
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
        banned.match === 'browser' ? t('Possibly banned (same browser as a banned person)')
          : t('Possibly banned (same network address as a banned person)')));
    }
    if (person.flags?.removed_before) flags.push(el('span', { class: 'flag' }, t('Removed earlier')));
    if (person.state === 'left') flags.push(el('span', { class: 'flag flag-muted' }, t('Left the waiting room')));
    const since = person.waiting_since ? formatTime(person.waiting_since, this.client.event?.timezone, { timeStyle: 'short' }) : '';
    return el('li', { class: 'waiting-person', testid: 'waiting-person', dataset: { personId: String(person.id), state: person.state } },
      el('span', { class: 'person-line' }, userText(person.display_name, 'person-name'),
        since ? ` · ${t('since {time}', { time: since })}` : ''),
      el('span', { class: 'person-details' }, describePerson(person)),
      flags.length ? el('span', { class: 'flags' }, flags) : null,
      el('span', { class: 'actions' },
        this.#button(`admit:${person.id}`, t('Admit'), 'admit', () => this.#admit(person)), ' ',
        this.#button(`remove:${person.id}`, t('Turn away'), 'turn-away', () => this.#remove(person.id, person.display_name, person.version)), ' ',
        this.#button(`ban:${person.id}`, t('Ban'), 'ban', () => this.#ban(person.id, person.display_name))));
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
        this.#button(`audio:${person.id}`, audio ? t('Unmute microphone') : t('Mute microphone'), 'mute-audio',
          () => this.#mute(person.id, person.display_name, { audio: !audio })), ' ',
        this.#button(`video:${person.id}`, video ? t('Allow camera') : t('Stop camera'), 'mute-video',
          () => this.#mute(person.id, person.display_name, { video: !video })), ' ',
        this.#button(`remove:${person.id}`, t('Remove'), 'remove', () => this.#remove(person.id, person.display_name)), ' ',
        this.#button(`ban:${person.id}`, t('Ban'), 'ban', () => this.#ban(person.id, person.display_name))));
  }

  /** @param {Admission} person */
  #removedItem(person) {
    const banned = (this.client.moderationState?.bans ?? []).some((b) => b.participant.id === person.id);
    return el('li', { testid: 'removed-person', dataset: { personId: String(person.id) } },
      userText(person.display_name, 'person-name'), person.reason ? [' — ', userText(person.reason, 'removal-reason')] : null,
      banned ? null : [' ', this.#button(`ban:${person.id}`, t('Ban'), 'ban', () => this.#ban(person.id, person.display_name))]);
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
    el('fieldset', {}, el('legend', {}, t('Stakeholder groups that go straight in')),
      this.groupBoxes.map((box) => el('p', { class: 'field-inline' }, box, ' ',
        el('label', { for: box.id }, GROUP_LABELS[/** @type {keyof typeof GROUP_LABELS} */ (box.value)] ?? box.value)))),
    el('div', { class: 'field' }, el('label', { for: 'admit-affiliations' }, t('Affiliations that go straight in')),
      this.affiliations,
      el('p', { id: 'admit-affiliations-hint', class: 'hint' }, t('One per line; capitals and extra spaces do not matter.'))),
    this.rulesError,
    el('p', { class: 'actions' }, el('button', { type: 'submit' }, t('Save rules'))));
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
    // The control used is disabled while its request runs, which drops keyboard focus to <body>: it is given
    // back once the request is over, when nothing else took it meanwhile.
    const focused = document.activeElement;
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
      const lost = !document.activeElement || document.activeElement === document.body;
      if (lost && focused instanceof HTMLElement && focused.isConnected && focused !== document.body) focused.focus();
    }
  }

  /** @param {Admission} person */
  async #admit(person) {
    await this.#request(`admit:${person.id}`, () => this.client.admitParticipant(person.id, person.version),
      t('{name} admitted.', { name: person.display_name }), this.waitingError, this.waitingStatus);
  }

  async #admitAll() {
    const waiting = (this.client.moderationState?.waiting ?? []).filter((p) => p.state === 'waiting');
    const flagged = waiting.filter((p) => p.flags?.possibly_banned);
    let includeFlagged = false;
    if (flagged.length) {
      const answer = await askDialog({
        title: t('Admit everyone waiting?'),
        text: tn(flagged.length, '{count} person is flagged as possibly banned. Admit them too?',
          '{count} people are flagged as possibly banned. Admit them too?'),
        field: { label: t('Flagged people'), options: [
          { value: 'no', label: t('No: admit the others, I will look at them one by one') },
          { value: 'yes', label: t('Yes: admit them too') }] },
        confirm: t('Admit'), testid: 'admit-all-dialog',
      });
      if (answer === null) return;
      includeFlagged = answer === 'yes';
    }
    await this.#request('admit-all', async () => {
      const { admitted } = await this.client.admitAll({ includeFlagged });
      this.waitingStatus.textContent = tn(admitted.length, '{count} person admitted.', '{count} people admitted.');
    }, t('Everyone waiting was admitted.'), this.waitingError, this.waitingStatus);
  }

  /** @param {boolean} on */
  async #setWaitingRoom(on) {
    await this.#request('settings', () => this.client.moderationSettings({ waitingRoom: on }),
      on ? t('Waiting room on: new attendees wait to be admitted.') : t('Waiting room off: attendees come straight in.'),
      this.waitingError, this.waitingStatus);
  }

  async #saveRules() {
    const rules = {
      stakeholder_groups: (this.groupBoxes ?? []).filter((box) => box.checked).map((box) => box.value),
      affiliations: (this.affiliations?.value ?? '').split('\n').map((line) => line.trim()).filter(Boolean),
    };
    await this.#request('rules', async () => {
      const { admitted } = await this.client.moderationSettings({ rules });
      if (admitted.length) {
        announce(tn(admitted.length, '{count} person admitted by the new rules.', '{count} people admitted by the new rules.'));
      }
    }, t('Rules saved.'), this.rulesError ?? this.waitingError, this.waitingStatus);
  }

  /**
   * @param {number} id
   * @param {string} name
   * @param {number} [version]
   */
  async #remove(id, name, version) {
    const reason = await askDialog({
      title: t('Remove {name} from this session?', { name }),
      text: t('They are disconnected at once; their raised hand is taken down, their questions stay. If they come back, they wait until a moderator lets them in.'),
      field: { label: t('Reason'), required: true, maxLength: 300, hint: t('Kept in the moderation record and shown to them.') },
      confirm: t('Remove'), danger: true, testid: 'remove-dialog',
    });
    if (reason === null) return;
    await this.#request(`remove:${id}`, () => this.client.removeParticipant(id, reason, { version }),
      t('{name} removed.', { name }), this.peopleError, this.peopleStatus);
  }

  /**
   * @param {number} id
   * @param {string} name
   */
  async #ban(id, name) {
    const reason = await askDialog({
      title: t('Ban {name} from the whole event?', { name }),
      text: t('Their link stops working in every session. A new registration from the same browser or network waits, flagged, for a moderator.'),
      field: { label: t('Reason'), required: true, maxLength: 300, hint: t('Kept in the moderation record and shown to them.') },
      confirm: t('Ban'), danger: true, testid: 'ban-dialog',
    });
    if (reason === null) return;
    await this.#request(`ban:${id}`, () => this.client.banParticipant(id, reason), t('{name} banned.', { name }),
      this.peopleError, this.peopleStatus);
  }

  /**
   * @param {number} id
   * @param {string} name
   */
  async #unban(id, name) {
    const reason = await askDialog({
      title: t('Lift the ban on {name}?', { name }),
      text: t('Their link works again; they come back through the waiting room.'),
      field: { label: t('Reason'), maxLength: 300 },
      confirm: t('Unban'), testid: 'unban-dialog',
    });
    if (reason === null) return;
    await this.#request(`unban:${id}`, () => this.client.unbanParticipant(id, reason), t('{name} unbanned.', { name }),
      this.peopleError, this.peopleStatus);
  }

  /**
   * @param {number} id
   * @param {string} name
   * @param {{audio?: boolean, video?: boolean}} change
   */
  async #mute(id, name, change) {
    const microphone = change.audio !== undefined;
    const muting = change.audio ?? change.video;
    const said = microphone
      ? (muting ? t('{name}: microphone muted.', { name }) : t('{name}: microphone allowed again.', { name }))
      : (muting ? t('{name}: camera muted.', { name }) : t('{name}: camera allowed again.', { name }));
    await this.#request(`${microphone ? 'audio' : 'video'}:${id}`,
      () => this.client.muteParticipant(id, change), said, this.peopleError, this.peopleStatus);
  }

  /** @param {'csv' | 'json'} format */
  async #export(format) {
    showError(this.exportError, null);
    this.exportStatus.textContent = t('Preparing the file…');
    try {
      const { blob, filename } = await this.client.exportModeration(format);
      saveBlob(blob, filename);
      this.exportStatus.textContent = t('Downloaded {file}.', { file: filename });
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
  const microphone = details.audio ? t('microphone muted') : t('microphone on');
  const camera = details.video ? t('camera stopped') : t('camera allowed');
  return `: ${microphone}, ${camera}`;
}

/** @param {Record<string, unknown>} details */
function countText(details) {
  if (details && typeof details.count === 'number') return tn(details.count, '{count} person', '{count} people');
  if (details && typeof details.name === 'string') return userText(details.name);
  return '';
}
