// @ts-check
/**
 * The staff console shared by the moderator, chair, AV, captioner and interpreter pages: the floor (with the
 * speakers' queue and its controls for floor staff, read-only for the others), questions (the moderation
 * panel for the moderator, the forwarded questions for the chair), session state (with controls for the roles
 * that may change it), presence counts, the roster and, for the moderator, the audit log. Each page module
 * calls `startConsole` with what it shows.
 *
 * Expects in the page: #connection, #session-header, #notices, #console, #announcer.
 */

import { msg, renderOnLanguageChange, t, tn } from '../i18n.js';
import {
  auditActionLabel, auditFieldLabel, endReasonLabel, languageLabel, roleLabel, stateLabel, typeLabel,
} from '../labels.js';
import { SessionPage } from '../session-page.js';
import { sessionPath } from '../route.js';
import { staffTokenKey, tokenFor } from '../tokens.js';
import {
  PresenceCounts, Roster, StateControls, byId, el, errorNode, errorNotice, fill, formatTime, refusalAdvice,
  showError, throttledAnnouncer, userText,
} from '../ui.js';
import {
  BalanceView, FloorControl, InRoomForm, QueueList, RecordView, SettingsForm, SuggestionView,
} from './queue-console.js';
import { ChairQuestions, ModerationPanel } from './questions-console.js';
import { ParticipantModeration } from './moderation-console.js';
import { HelpQueue } from '../help-ui.js';

/**
 * @typedef {object} ConsoleOptions
 * @property {string} role                 the page's role: moderator, chair, av, captioner, interpreter
 * @property {boolean} [audit]             show the audit log (when the role may read it)
 * @property {boolean} [staffOnlyRoster]   list staff only; attendees appear as counts
 * @property {boolean} [large]             tablet layout: large buttons
 * @property {'manage' | 'chair' | 'view'} [floor]
 *   manage: the moderator's full queue console (queue, floor controls, in-room requests, suggestion, balance,
 *   settings, record); chair: the floor in large type with the next in line, the queue and in-room requests;
 *   view: who speaks, the countdown and the next in line, read-only
 * @property {boolean} [participants]     moderating participants: waiting room, mute, remove, ban, record
 * @property {'moderate' | 'chair'} [questions]
 *   moderate: the moderation panel (every question, approve, dismiss, merge, forward, counts, export);
 *   chair: the questions forwarded to the chair, to read aloud and mark answered
 * @property {boolean} [help]             the help desk's queue of open requests (AV technicians, moderators)
 * @property {(client: import('../protocol.js').HemicycleClient, root: HTMLElement) => unknown} [extend]
 *   adds a page's own panels (the AV desk's media) once the client exists; when what it returns has a
 *   `relabel()`, the page can change language in place
 */

/** @param {ConsoleOptions} options */
export async function startConsole({
  role, audit = false, staffOnlyRoster = false, large = false, floor = 'view', questions, extend,
  participants = false, help = false,
}) {
  const page = new SessionPage({ pageName: () => roleLabel(role), role });
  const root = byId('console');
  const tokenKey = page.sessionId === null ? null : staffTokenKey(page.sessionId, role);
  const token = tokenKey === null ? null : tokenFor(tokenKey);
  const publicView = page.loadPublic(token); // a non-public session is shown only with the token
  if (page.sessionId === null || tokenKey === null) return;
  if (!token) {
    await publicView;
    const advice = refusalAdvice('token_missing');
    page.banner.update('refused');
    page.showNotice(errorNotice('token_missing', advice.title, advice.text));
    return;
  }

  // Sections, built once and updated in place.
  const stateSection = section('state', msg('Session state'));
  const presenceSection = section('presence', msg('Who is here'));
  const rosterSection = section('roster', staffOnlyRoster ? msg('Staff present') : msg('Roster'));
  const auditSection = audit ? section('audit', msg('Audit log')) : null;
  const floorSection = section('floor', msg('The floor'));
  const manage = floor !== 'view';
  const queueSection = manage ? section('queue', msg('Speakers\u2019 queue')) : null;
  const suggestionSection = manage ? section('suggestion', msg('Suggested next')) : null;
  const inRoomSection = manage ? section('in-room', msg('Add an in-room request')) : null;
  const full = floor === 'manage';
  const balanceSection = full ? section('balance', msg('Balance')) : null;
  const settingsSection = full ? section('settings', msg('Speaking time')) : null;
  const recordSection = full ? section('record', msg('Record of interventions')) : null;
  const moderationSection = questions === 'moderate' ? section('questions', msg('Questions')) : null;
  const chairQuestionsSection = questions === 'chair' ? section('chair-questions', msg('Questions for the chair')) : null;
  const waitingSection = participants ? section('waiting-room', msg('Waiting room')) : null;
  const waitingLink = el('a', { href: '#waiting-room-panel', testid: 'waiting-link' }, msg('Waiting room and participants'));
  const participantsSection = participants ? section('participants', msg('Participants')) : null;
  const moderationRecordSection = participants ? section('moderation-record', msg('Moderation record')) : null;
  const panels = el('div', { class: 'console-panels' },
    manage ? null : floorSection.node, stateSection.node, presenceSection.node, rosterSection.node,
    auditSection?.node ?? null);
  fill(root,
    moderationSection ? el('nav', { class: 'console-nav', 'aria-label': msg('Parts of this page') },
      el('a', { href: '#floor-panel' }, msg('The floor and the queue')), ' ',
      el('a', { href: '#questions-panel' }, msg('Questions')),
      participants ? [' ', waitingLink] : null) : null,
    manage ? el('div', { class: `queue-area queue-area-${floor}` },
      el('div', { class: 'queue-main' }, floorSection.node, chairQuestionsSection?.node, queueSection?.node,
        recordSection?.node),
      el('div', { class: 'queue-side' }, suggestionSection?.node, inRoomSection?.node, settingsSection?.node),
      moderationSection?.node, // full width, before the balance figures
      balanceSection?.node)
      : moderationSection?.node,
    participants ? el('div', { class: 'moderation-area' }, waitingSection?.node, participantsSection?.node,
      moderationRecordSection?.node) : null,
    panels);
  // The help desk (issue 24): its own panel, first, so that a request is seen at once.
  const helpSection = help ? section('help', msg('Help requests')) : null;
  if (helpSection) {
    helpSection.node.hidden = true;
    root.prepend(helpSection.node);
  }

  const announcePresence = throttledAnnouncer();
  const client = page.connect({ token, tokenKey });
  const helpQueue = helpSection ? new HelpQueue(helpSection.body, () => client) : null;
  if (helpSection && helpQueue) {
    client.on('welcome', () => { helpSection.node.hidden = !client.can('help.answer'); });
    client.on('help', () => helpQueue.update());
  }
  const extra = extend?.(client, root);

  const floorControl = new FloorControl(floorSection.body, client, {
    large: large || !manage, next: floor === 'manage' ? 0 : 2, manage,
  });
  const queueList = queueSection ? new QueueList(queueSection.body, client, { large }) : null;
  const suggestion = suggestionSection ? new SuggestionView(suggestionSection.body, client, { large }) : null;
  const inRoom = inRoomSection ? new InRoomForm(inRoomSection.body, client) : null;
  const balance = balanceSection ? new BalanceView(balanceSection.body, client) : null;
  const settings = settingsSection ? new SettingsForm(settingsSection.body, client) : null;
  const record = recordSection ? new RecordView(recordSection.body, client) : null;
  const renderQueue = () => {
    const allowed = client.can('queue.manage');
    for (const node of [queueSection, suggestionSection, inRoomSection, settingsSection]) {
      if (node) node.node.hidden = !allowed;
    }
    floorControl.update();
    queueList?.update();
    suggestion?.update();
    balance?.update();
    settings?.update();
    record?.update();
  };

  const controls = new StateControls(stateSection.body, (target) => client.setState(target), { large });
  const stateHint = el('p', { class: 'muted' });
  stateSection.body.append(stateHint);
  const counts = new PresenceCounts(presenceSection.body, { roles: true, groups: true });
  const roster = new Roster(rosterSection.body, {
    staffOnly: staffOnlyRoster, label: staffOnlyRoster ? msg('Staff present') : msg('People connected'),
  });
  const auditLog = auditSection
    ? new AuditLog(auditSection.body, () => client.audit(), sessionPath(page.sessionId, 'report'),
      () => client.event?.timezone)
    : null;
  const moderation = moderationSection ? new ModerationPanel(moderationSection.body, client) : null;
  const chairQuestions = chairQuestionsSection ? new ChairQuestions(chairQuestionsSection.body, client, { large }) : null;
  const participantModeration = waitingSection && participantsSection && moderationRecordSection
    ? new ParticipantModeration({
      waiting: waitingSection.body, people: participantsSection.body, record: moderationRecordSection.body,
    }, client) : null;
  const renderParticipants = () => {
    for (const node of [waitingSection, participantsSection, moderationRecordSection]) {
      if (node) node.node.hidden = !client.can('participants.moderate');
    }
    participantModeration?.update();
    const waiting = (client.moderationState?.waiting ?? []).filter((p) => p.state === 'waiting').length;
    waitingLink.textContent = waiting ? t('Waiting room ({count} waiting) and participants', { count: waiting })
      : t('Waiting room and participants');
  };
  client.on('moderation', () => {
    renderParticipants();
    if (auditLog && client.can('audit.view')) auditLog.loadSoon();
  });
  // Queue removals and question dismissals belong to the moderation record too: re-read it, at most once a second.
  const refreshRecord = () => { if (client.can('participants.moderate')) participantModeration?.refreshSoon(); };
  client.on('queue', refreshRecord);
  client.on('questions', refreshRecord);
  const renderQuestions = () => {
    if (moderationSection) moderationSection.node.hidden = !client.can('question.moderate');
    if (chairQuestionsSection) chairQuestionsSection.node.hidden = !client.can('question.relay');
    moderation?.update();
    chairQuestions?.update();
  };

  const renderControls = () => {
    const allowed = client.can('session.set_state');
    controls.update(client.session?.state ?? null, { enabled: allowed && client.connection === 'connected' });
    stateHint.textContent = client.connection === 'connected' && !allowed
      ? t('Your role may not change the session state.') : '';
  };

  client.on('connection', ({ state }) => {
    renderControls();
    renderParticipants();
    if (client.queue) renderQueue();
    if (client.moderation) renderQuestions();
    if (state === 'refused') root.hidden = true; // stale figures would mislead; the notice says why
  });
  client.on('welcome', () => {
    root.hidden = false;
    renderControls();
    counts.update(client.presence);
    roster.update(client.people);
    inRoom?.fillLanguages(client.session?.languages ?? []);
    renderQueue();
    renderQuestions();
    renderParticipants();
    if (auditLog && auditSection) {
      auditSection.node.hidden = !client.can('audit.view');
      if (client.can('audit.view')) auditLog.load();
    }
  });
  client.on('session:state', () => {
    renderControls();
    renderQueue();
    renderQuestions();
    if (auditLog && client.can('audit.view')) auditLog.loadSoon();
  });
  client.on('presence', (summary) => {
    counts.update(summary);
    announcePresence(tn(summary.total, '{count} person connected.', '{count} people connected.'));
  });
  client.on('presence:people', () => {
    roster.update(client.people);
    queueList?.update(); // who in the queue is connected
    renderParticipants();
  });
  client.on('floor', () => floorControl.update());
  client.on('queue', () => {
    renderQueue();
    if (auditLog && client.can('audit.view')) auditLog.loadSoon();
  });
  client.on('questions', () => {
    renderQuestions();
    if (auditLog && client.can('audit.view')) auditLog.loadSoon();
  });
  // The question being read aloud is named in the public view.
  client.on('questions:public', () => renderQuestions());
  client.on('error', (error) => {
    // Errors answering our own requests are shown next to the control that made them.
    if (!error.handledByRequest) showError(controls.error, error);
  });
  // A change of language in place, where every part shown can say its words again: the floor as seen (not the
  // queue's controls), state, presence and roster, and the page's own panels when they can (the AV desk's
  // media, which keep playing). The other consoles reload in the new language.
  const followsLanguage = !manage && !questions && !participants && !audit
    && (!extra || typeof /** @type {any} */ (extra).relabel === 'function');
  if (followsLanguage) {
    renderOnLanguageChange(() => {
      renderControls();
      floorControl.update();
      roster.update(client.people);
      helpQueue?.update();
      /** @type {any} */ (extra)?.relabel();
    });
  }
  await publicView;
}

/**
 * @param {string} id
 * @param {import('../i18n.js').Message} title
 */
function section(id, title) {
  const headingId = `${id}-heading`;
  const body = el('div', { class: 'panel-body' });
  const node = el('section', { class: `panel panel-${id}`, id: `${id}-panel`, 'aria-labelledby': headingId },
    el('h2', { id: headingId }, title), body);
  return { node, body };
}

/**
 * The session's audit log, newest first (GET /api/sessions/{id}/audit).
 */
class AuditLog {
  /**
   * @param {HTMLElement} container
   * @param {() => Promise<{entries: import('../protocol.js').AuditEntry[]}>} fetchEntries
   * @param {string} reportHref   the session record's page (interventions, balance, questions, attendance)
   * @param {() => string | undefined} timeZone   the event's: the log's times read like the rest of the console
   */
  constructor(container, fetchEntries, reportHref, timeZone) {
    this.fetchEntries = fetchEntries;
    this.timeZone = timeZone;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    this.body = el('tbody');
    this.status = el('p', { class: 'muted', role: 'status' });
    this.error = errorNode();
    this.refresh = el('button', { type: 'button', class: 'secondary', onclick: () => this.load() }, t('Refresh'));
    fill(container,
      el('p', { class: 'actions' }, this.refresh, ' ',
        el('a', { href: reportHref, target: '_blank', rel: 'noopener', testid: 'report-link' },
          t('Session record and balance report'))),
      this.error,
      el('div', { class: 'table-wrap' },
        el('table', { class: 'audit', testid: 'audit-log' },
          el('caption', { class: 'visually-hidden' }, t('Audit log, newest first')),
          el('thead', {}, el('tr', {},
            el('th', { scope: 'col' }, t('Time')), el('th', { scope: 'col' }, t('Who')),
            el('th', { scope: 'col' }, t('Action')), el('th', { scope: 'col' }, t('Details')))),
          this.body)),
      this.status);
  }

  /** Reload shortly: several state changes in a row make one request. */
  loadSoon() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.timer = null; this.load(); }, 300);
  }

  async load() {
    /** @type {HTMLButtonElement} */ (this.refresh).disabled = true;
    this.status.textContent = t('Loading…');
    try {
      const { entries } = await this.fetchEntries();
      showError(this.error, null);
      fill(this.body, entries.map((entry) => el('tr', { testid: 'audit-entry', dataset: { action: entry.action } },
        el('td', {}, el('time', { datetime: entry.at }, formatTime(entry.at, this.timeZone(), { timeStyle: 'medium' }))),
        el('td', {}, actorCell(entry.actor)),
        el('td', {}, auditActionLabel(entry.action)),
        el('td', {}, userText(describe(entry.action, entry.target, entry.details))))));
      this.status.textContent = entries.length ? '' : t('Nothing recorded yet.');
    } catch (err) {
      this.status.textContent = '';
      showError(this.error, err);
    } finally {
      /** @type {HTMLButtonElement} */ (this.refresh).disabled = false;
    }
  }
}

/**
 * Who did it: a person and their role, or the system (seeding, imports, expiry) when there is no person.
 * @param {import('../protocol.js').Actor | null | undefined} actor
 */
function actorCell(actor) {
  if (!actor || !actor.name) return el('span', { class: 'muted' }, t('System'));
  return el('span', {}, userText(actor.name), ` (${roleLabel(actor.role)})`);
}

/** The kinds of audit targets ("participant:12"), in words. */
const TARGET_KINDS = Object.freeze({
  participant: t('Participant'),
  intervention: t('Request'),
  session: t('Session'),
  grant: t('Link'),
  question: t('Question'),
});

/**
 * A short text for an entry's target and details, in the reader's language: known codes become words (the
 * action's, the target's kind, the fields' names and the values that are codes); anything else is shown as is,
 * so nothing recorded is hidden.
 * @param {string} action
 * @param {unknown} target
 * @param {unknown} details
 */
function describe(action, target, details) {
  const parts = [];
  if (typeof target === 'string' && /^[a-z_]+:\S+$/.test(target)) {
    const [kind, id] = target.split(':');
    parts.push(`${TARGET_KINDS[/** @type {keyof typeof TARGET_KINDS} */ (kind)] ?? kind} ${id}`);
  } else if (target !== null && target !== undefined && target !== '') {
    parts.push(flat(target));
  }
  const d = /** @type {Record<string, unknown>} */ (details);
  if (d && typeof d === 'object' && Object.keys(d).length === 2 && 'from' in d && 'to' in d) {
    const word = action === 'session.set_state' ? (/** @type {unknown} */ v) => stateLabel(String(v)) : flat;
    parts.push(`${word(d.from)} → ${word(d.to)}`); // state changes read best as a move
  } else if (d && typeof d === 'object' && !Array.isArray(d)) {
    const fields = Object.entries(d).filter(([, value]) => value !== null && value !== undefined && value !== '')
      .map(([key, value]) => t('{field}: {value}', { field: auditFieldLabel(key), value: fieldValue(action, key, value) }));
    if (fields.length) parts.push(fields.join(', '));
  } else if (details !== null && details !== undefined) {
    parts.push(flat(details));
  }
  return parts.join(' — ');
}

/**
 * One detail's value in words, where it is a code.
 * @param {string} action
 * @param {string} key
 * @param {unknown} value
 */
function fieldValue(action, key, value) {
  if (key === 'audio' || key === 'video') return value ? t('muted') : t('not muted');
  if (typeof value === 'boolean') return value ? t('yes') : t('no');
  if (key === 'role') return roleLabel(String(value));
  if (key === 'type') return typeLabel(String(value));
  if (key === 'language') return languageLabel(String(value));
  if (key === 'reason' && (action === 'floor.end' || action === 'floor.revoke')) return endReasonLabel(String(value));
  return flat(value);
}

/** @param {unknown} value @returns {string} */
function flat(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'boolean') return value ? t('yes') : t('no');
  if (typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return value.map(flat).join(', ');
  // A field with no value reads "none" rather than "limit_seconds: ," in the log.
  return Object.entries(value)
    .map(([key, item]) => t('{field}: {value}', {
      field: auditFieldLabel(key), value: item === null || item === undefined ? t('none') : flat(item),
    }))
    .join(', ');
}
