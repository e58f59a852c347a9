// @ts-check
/**
 * Questions for staff: the moderator's moderation panel (filters, sorting, approve, dismiss, star, edit, merge,
 * the relay to the chair, counts for the report, pre-moderation and the export), and the chair's list of
 * forwarded questions to read aloud, then mark answered. Everything renders from `client.moderation` (and
 * `client.questions.reading` for the question being read) and is rebuilt on each update; keyboard focus is put
 * back on the control that had it.
 *
 * Test hooks: `moderation` with `moderation-question` items (`data-question-id`, `data-state`) holding
 * `approve`, `dismiss`, `star`, `edit`, `merge`, `forward`, `read`, `answered`; `question-counts` with
 * `question-count` items (`data-name`, `data-count`); `question-filter` buttons (`data-filter`, `aria-pressed`);
 * `premoderation` (checkbox); `export-csv`, `export-json`; dialogs `dismiss-dialog`, `edit-dialog`,
 * `merge-dialog`. Chair: `chair-questions` with `chair-question` items (`data-question-id`, `data-stage`)
 * holding `read`, `answered`.
 */

import {
  GROUP_LABELS, QUESTION_COUNT_LABELS, groupLabel, questionLength, questionStateLabel, roleLabel,
} from '../labels.js';
import {
  STALE_QUESTION_CODES, addresseeNode, askerNodes, excerpt, questionErrorText, rebuildKeepingFocus, stageBadge,
} from '../question-ui.js';
import {
  announce, askDialog, el, errorNode, fill, formatTime, saveBlob, showError, userText,
} from '../ui.js';
import { t, tn } from '../i18n.js';

/** @typedef {import('../protocol.js').HemicycleClient} HemicycleClient */
/** @typedef {import('../protocol.js').StaffQuestion} StaffQuestion */

/** The state filters, in the order a moderator works through them. The first, the default, is the moderator's
 * next job: questions to approve or dismiss, and approved ones not yet forwarded to the chair. */
const FILTERS = [
  { value: 'todo', label: t('To do') },
  { value: 'pending', label: t('Pending') },
  { value: 'approved', label: t('Approved') },
  { value: 'dismissed', label: t('Dismissed') },
  { value: 'merged', label: t('Merged') },
  { value: 'withdrawn', label: t('Withdrawn') },
  { value: 'all', label: t('All') },
];

/**
 * @param {StaffQuestion} q
 * @param {string} filter
 */
function inFilter(q, filter) {
  if (filter === 'all') return true;
  if (filter === 'todo') return q.state === 'pending' || (q.state === 'approved' && (q.stage ?? 'none') === 'none');
  return q.state === filter;
}

/** The counts shown for the report, in the order of the funnel. */
const SHOWN_COUNTS = ['asked', 'pending', 'approved', 'forwarded', 'read_aloud', 'answered', 'dismissed', 'merged', 'withdrawn'];

/**
 * Show a refused action in words; when the list was behind, fetch the latest questions.
 * @param {HTMLElement} node
 * @param {HemicycleClient} client
 * @param {unknown} err
 */
function showQuestionError(node, client, err) {
  const e = /** @type {any} */ (err);
  showError(node, { code: e?.code, message: questionErrorText(e) });
  if (STALE_QUESTION_CODES.includes(e?.code)) client.refreshQuestions().catch(() => {});
}

/**
 * @param {string | null | undefined} iso
 * @param {string | undefined} timeZone
 */
function timeNode(iso, timeZone) {
  return iso ? el('time', { datetime: iso }, formatTime(iso, timeZone, { timeStyle: 'short' })) : null;
}

// ---------------------------------------------------------------------------------------------------------
// The moderator's panel

export class ModerationPanel {
  /**
   * @param {HTMLElement} container
   * @param {HemicycleClient} client
   */
  constructor(container, client) {
    this.client = client;
    this.filter = 'todo';
    /** @type {Set<string>} actions under way, as "action:id" */
    this.busy = new Set();
    /** @type {Set<number> | null} questions already seen, to announce new ones (null until the first view) */
    this.known = null;

    // Counts for the report.
    this.counts = el('ul', { class: 'question-counts', testid: 'question-counts', 'aria-label': t('Questions in this session') });

    // Pre-moderation and export.
    this.premoderation = /** @type {HTMLInputElement} */ (el('input', {
      id: 'premoderation', type: 'checkbox', testid: 'premoderation', 'aria-describedby': 'premoderation-hint',
    }));
    this.settingsStatus = el('p', { class: 'muted', role: 'status' });
    this.settingsError = errorNode();
    const exportButton = (/** @type {'csv' | 'json'} */ format, /** @type {string} */ label) =>
      /** @type {HTMLButtonElement} */ (el('button', {
        type: 'button', class: 'secondary', testid: `export-${format}`, onclick: () => this.#export(format),
      }, label));
    this.exportCsv = exportButton('csv', t('Download CSV'));
    this.exportJson = exportButton('json', t('Download JSON'));
    this.exportStatus = el('p', { class: 'muted', role: 'status' });
    this.exportError = errorNode();

    // Filters and sorting.
    this.filterButtons = FILTERS.map(({ value, label }) => /** @type {HTMLButtonElement} */ (el('button', {
      type: 'button', class: 'filter-button', testid: 'question-filter', dataset: { filter: value },
      'aria-pressed': String(value === this.filter), onclick: () => this.#setFilter(value),
    }, label, ' ', el('span', { class: 'filter-count' }, ''))));
    this.group = /** @type {HTMLSelectElement} */ (el('select', { id: 'moderation-group', class: 'select-short' },
      el('option', { value: '' }, t('Every stakeholder group')),
      Object.entries(GROUP_LABELS).map(([value, label]) => el('option', { value }, label)),
      el('option', { value: 'unspecified' }, t('Not stated'))));
    this.sort = /** @type {HTMLSelectElement} */ (el('select', { id: 'moderation-sort', class: 'select-short' },
      el('option', { value: 'oldest' }, t('Oldest first')),
      el('option', { value: 'newest' }, t('Newest first')),
      el('option', { value: 'votes' }, t('Most votes'))));
    this.group.addEventListener('change', () => this.update());
    this.sort.addEventListener('change', () => this.update());

    this.summary = el('p', { class: 'muted moderation-summary', role: 'status' });
    this.list = el('ol', {
      class: 'question-list moderation-list', testid: 'moderation', 'aria-label': t('Questions to moderate'), tabindex: '-1',
    });
    this.empty = el('p', { class: 'muted' });
    this.error = errorNode();
    this.status = el('p', { class: 'muted', role: 'status' });

    fill(container,
      el('div', { class: 'moderation-head' },
        this.counts,
        el('div', { class: 'moderation-settings' },
          el('div', { class: 'field field-check' },
            this.premoderation,
            el('label', { for: 'premoderation' }, t('Review questions before everyone sees them (pre-moderation)')),
            el('p', { id: 'premoderation-hint', class: 'hint' },
              t('Off: questions are shown to everyone as soon as they are sent; you can still dismiss them.'))),
          this.settingsError, this.settingsStatus,
          el('p', { class: 'actions export-actions' },
            el('span', { class: 'export-label' }, t('Export for the report:')), this.exportCsv, this.exportJson),
          this.exportError, this.exportStatus)),
      el('div', { class: 'moderation-filters' },
        el('div', { class: 'filter-buttons', role: 'group', 'aria-label': t('Show questions that are') }, this.filterButtons),
        el('p', { class: 'sort-field' }, el('label', { for: 'moderation-group' }, t('Stakeholder group')), ' ', this.group),
        el('p', { class: 'sort-field' }, el('label', { for: 'moderation-sort' }, t('Sort by')), ' ', this.sort)),
      this.summary,
      this.error,
      this.list, this.empty,
      this.status);

    this.premoderation.addEventListener('change', () => this.#setPremoderation(this.premoderation.checked));
    this.settingsBusy = false;
    /** @type {{value: boolean, version: number} | null} a change made, until a newer view shows it */
    this.chosenPremoderation = null;
  }

  /** @param {string} value */
  #setFilter(value) {
    this.filter = value;
    this.update();
  }

  update() {
    const client = this.client;
    const view = client.moderation;
    const connected = client.connection === 'connected';
    if (view && this.chosenPremoderation && view.version > this.chosenPremoderation.version) this.chosenPremoderation = null;
    // Until the broadcast that follows a change arrives, show what was chosen, not the older view.
    if (!this.settingsBusy && view) this.premoderation.checked = this.chosenPremoderation?.value ?? view.premoderated;
    this.premoderation.disabled = this.settingsBusy || !connected;
    if (!view) return;

    const counts = /** @type {Record<string, number>} */ (/** @type {unknown} */ (view.counts));
    fill(this.counts, SHOWN_COUNTS.map((name) => el('li', {
      testid: 'question-count', class: `question-count question-count-${name}`,
      dataset: { name, count: String(counts[name] ?? 0) },
    }, el('span', { class: 'count-value' }, String(counts[name] ?? 0)), ' ',
    el('span', { class: 'count-label' }, QUESTION_COUNT_LABELS[name] ?? name))));

    const all = view.questions;
    const byState = (/** @type {string} */ state) => all.filter((q) => inFilter(q, state)).length;
    for (const button of this.filterButtons) {
      const value = button.dataset.filter ?? 'all';
      button.setAttribute('aria-pressed', String(value === this.filter));
      const count = button.querySelector('.filter-count');
      if (count) count.textContent = `(${byState(value)})`;
    }

    const group = this.group.value;
    const shown = all
      .filter((q) => inFilter(q, this.filter))
      .filter((q) => !group || (q.asker.stakeholder_group ?? 'unspecified') === group);
    const sort = this.sort.value;
    shown.sort(sort === 'votes' ? (a, b) => b.votes - a.votes || a.created_at.localeCompare(b.created_at) || a.id - b.id
      : sort === 'newest' ? (a, b) => b.created_at.localeCompare(a.created_at) || b.id - a.id
        : (a, b) => a.created_at.localeCompare(b.created_at) || a.id - b.id);
    const readingId = client.questions?.reading?.id ?? null;
    /** Targets a question may be merged into: other pending or approved questions. */
    const open = all.filter((q) => q.state === 'pending' || q.state === 'approved');
    rebuildKeepingFocus(this.list, () => fill(this.list, shown.map((q) => this.#item(q, {
      connected, reading: q.id === readingId, canMerge: open.length > 1,
    }))));
    const filterLabel = FILTERS.find((f) => f.value === this.filter)?.label.toLocaleLowerCase() ?? '';
    const showing = tn(all.length, 'Showing {shown} of {count} question', 'Showing {shown} of {count} questions',
      { shown: shown.length });
    this.summary.textContent = `${showing}${this.filter === 'all' ? '' : ` (${filterLabel})`}${group ? `, ${groupLabel(group)}` : ''}.`;
    this.empty.textContent = all.length ? t('No question matches these filters.') : t('No question has been asked yet.');
    this.empty.hidden = shown.length > 0;

    // New questions, said once (the first view only sets the baseline).
    if (this.known) {
      const added = all.filter((q) => !this.known?.has(q.id));
      if (added.length === 1) {
        const q = added[0];
        const values = { name: q.asker.display_name, question: excerpt(q.text, 80) };
        announce(q.state === 'pending' ? t('New question to review from {name}: “{question}”.', values)
          : t('New question from {name}: “{question}”.', values));
      } else if (added.length > 1) {
        announce(tn(added.length, '{count} new question.', '{count} new questions.'));
      }
    }
    this.known = new Set(all.map((q) => q.id));
  }

  /**
   * @param {StaffQuestion} q
   * @param {{connected: boolean, reading: boolean, canMerge: boolean}} flags
   */
  #item(q, { connected, reading, canMerge }) {
    const tz = this.client.event?.timezone;
    const textId = `moderation-text-${q.id}`;
    const open = q.state === 'pending' || q.state === 'approved';
    const approved = q.state === 'approved';
    /**
     * @param {string} action
     * @param {string} label
     * @param {string} cls
     * @param {boolean} show
     * @param {Record<string, string>} [extra]
     */
    const button = (action, label, cls, show, extra = {}) => (show ? el('button', {
      type: 'button', class: cls || undefined, testid: action, dataset: { action },
      disabled: !connected || this.busy.has(`${action}:${q.id}`), 'aria-describedby': textId,
      onclick: () => this.#act(q, action), ...extra,
    }, label) : null);
    const edits = q.edits ?? [];
    const item = el('li', {
      class: ['question', 'moderation-question', `question-state-${q.state}`, reading ? 'question-reading' : '',
        q.starred ? 'question-starred' : ''].filter(Boolean).join(' '),
      testid: 'moderation-question', dataset: { questionId: String(q.id), state: q.state, stage: q.stage }, tabindex: '-1',
    },
    el('div', { class: 'question-votes' },
      el('span', { class: 'vote-number', dataset: { count: String(q.votes) } }, String(q.votes)),
      el('span', { class: 'vote-word' }, tn(q.votes, 'vote', 'votes'))),
    el('div', { class: 'question-body' },
      el('p', { class: 'question-tags' },
        el('span', { class: 'question-number' }, `#${q.id}`),
        el('span', { class: `tag tag-state tag-state-${q.state}` }, questionStateLabel(q.state)),
        approved ? stageBadge(q.stage, { reading }) : null,
        q.starred ? el('span', { class: 'tag tag-starred' }, `★ ${t('Starred')}`) : null,
        // Votes from registrations younger than the question: not in the public count (see docs/protocol.md).
        q.late_votes ? el('span', { class: 'tag tag-late-votes', testid: 'late-votes', dataset: { count: String(q.late_votes) },
          title: t('Votes from people who registered after this question was asked: kept apart, not in the public count') },
        tn(q.late_votes, '+{count} late vote', '+{count} late votes')) : null,
        q.anonymous ? el('span', { class: 'tag tag-anonymous', title: t('Other participants and the room display see “Anonymous”') },
          t('Anonymous to others')) : null),
      el('p', { id: textId, class: 'question-text', dir: 'auto' }, q.text),
      addresseeNode(q),
      el('p', { class: 'question-asker' }, askerNodes(q, { reveal: true })),
      el('p', { class: 'question-meta' },
        `${t('Asked')} `, timeNode(q.created_at, tz),
        q.approved_at ? [` · ${t('approved')} `, timeNode(q.approved_at, tz)] : null,
        q.forwarded_at ? [` · ${t('forwarded')} `, timeNode(q.forwarded_at, tz)] : null,
        q.read_at ? [` · ${t('read aloud')} `, timeNode(q.read_at, tz)] : null,
        q.answered_at ? [` · ${t('answered')} `, timeNode(q.answered_at, tz)] : null),
      q.state === 'dismissed' ? el('p', { class: 'question-reason' }, t('Dismissed'),
        q.dismiss_reason ? [': ', userText(q.dismiss_reason, 'dismiss-reason')] : null) : null,
      q.merged_into ? el('p', { class: 'question-merge' }, t('Merged into #{id}.', { id: q.merged_into })) : null,
      q.merged_from?.length ? el('p', { class: 'question-merge' },
        t('Includes {list} (merged duplicates; their votes count here).', {
          list: q.merged_from.map((id) => `#${id}`).join(', '),
        })) : null,
      edits.length ? editHistory(edits, tz) : null,
      el('div', { class: 'actions question-actions', role: 'group', 'aria-label': t('Actions for question {id}', { id: q.id }) },
        button('approve', t('Approve'), '', q.state === 'pending'),
        button('forward', t('Forward to chair'), '', approved && q.stage === 'none'),
        button('read', t('Read aloud'), '', approved && q.stage === 'forwarded'),
        button('answered', t('Answered'), '', approved && q.stage === 'read'),
        button('star', q.starred ? `★ ${t('Starred')}` : `☆ ${t('Star')}`, 'secondary', q.state !== 'merged' && q.state !== 'withdrawn',
          { 'aria-pressed': String(q.starred) }),
        button('edit', t('Edit'), 'secondary', q.state !== 'merged' && q.state !== 'withdrawn'),
        button('merge', t('Merge into…'), 'secondary', open && canMerge),
        button('dismiss', t('Dismiss'), 'secondary danger-text', open))));
    return item;
  }

  /**
   * @param {StaffQuestion} q
   * @param {string} action
   */
  async #act(q, action) {
    const client = this.client;
    const key = `${action}:${q.id}`;
    if (this.busy.has(key)) return;
    if (action === 'approve') {
      await this.#request(key, () => client.moderateQuestion(q.id, 'approve'), t('Question #{id} approved.', { id: q.id }));
    } else if (action === 'star') {
      await this.#request(key, () => client.moderateQuestion(q.id, q.starred ? 'unstar' : 'star'),
        q.starred ? t('Question #{id} unstarred.', { id: q.id }) : t('Question #{id} starred.', { id: q.id }));
    } else if (action === 'forward' || action === 'read' || action === 'answered') {
      const stage = action === 'forward' ? 'forwarded' : action;
      const said = {
        forwarded: t('Question #{id} forwarded to the chair.', { id: q.id }),
        read: t('Question #{id} marked as being read aloud.', { id: q.id }),
        answered: t('Question #{id} marked answered.', { id: q.id }),
      }[stage];
      await this.#request(key, () => client.relayQuestion(q.id, /** @type {any} */ (stage)), said);
    } else if (action === 'dismiss') {
      const reason = await askDialog({
        title: t('Dismiss question #{id}?', { id: q.id }),
        text: t('“{question}” — the asker sees the reason; nobody else sees the question.', { question: excerpt(q.text, 160) }),
        field: { label: t('Reason'), required: true, maxLength: 300, hint: t('For example: off topic, already answered, not a question.') },
        confirm: t('Dismiss'), danger: true, testid: 'dismiss-dialog',
      });
      this.#focusAction(q.id, 'dismiss');
      if (reason === null) return;
      await this.#request(key, () => client.moderateQuestion(q.id, 'dismiss', reason), t('Question #{id} dismissed.', { id: q.id }));
    } else if (action === 'edit') {
      const max = client.moderation?.max_chars ?? 500;
      const tz = client.event?.timezone;
      const text = await askDialog({
        title: t('Edit question #{id}', { id: q.id }),
        text: t('Fix a typo or a mistake; keep the asker\u2019s meaning. Every edit is kept and the asker sees the new text.'),
        body: q.edits?.length ? editHistory(q.edits, tz, { open: true }) : null,
        field: {
          label: t('Text'), required: true, value: q.text, maxLength: 0, rows: 5, hint: t('At most {max} characters.', { max }),
          validate: (value) => (questionLength(value) > max
            ? t('The question is {used} characters long: at most {max}.', { used: questionLength(value), max }) : null),
        },
        confirm: t('Save'), testid: 'edit-dialog',
      });
      this.#focusAction(q.id, 'edit');
      if (text === null || text === q.text) return;
      await this.#request(key, () => client.editQuestion(q.id, text), t('Question #{id} edited.', { id: q.id }));
    } else if (action === 'merge') {
      const targets = (client.moderation?.questions ?? [])
        .filter((other) => other.id !== q.id && (other.state === 'pending' || other.state === 'approved'))
        .sort((a, b) => b.votes - a.votes || a.id - b.id);
      if (!targets.length) return;
      const into = await askDialog({
        title: t('Merge question #{id} into another', { id: q.id }),
        text: t('“{question}” is folded into the question you choose: its votes and its asker\u2019s interest move there, and it is no longer listed on its own.',
          { question: excerpt(q.text, 160) }),
        field: {
          label: t('Merge into'), required: true,
          options: targets.map((other) => ({
            value: String(other.id),
            label: `#${other.id} (${questionStateLabel(other.state).toLocaleLowerCase()}, ${tn(other.votes, '{count} vote', '{count} votes')}): ${excerpt(other.text, 90)}`,
          })),
          hint: t('The question that stays; usually the clearest or the most voted.'),
        },
        confirm: t('Merge'), testid: 'merge-dialog',
      });
      this.#focusAction(q.id, 'merge');
      if (into === null) return;
      await this.#request(key, () => client.mergeQuestion(q.id, Number(into)),
        t('Question #{id} merged into #{into}.', { id: q.id, into }));
    }
  }

  /**
   * @param {number} id
   * @param {string} action
   */
  #focusAction(id, action) {
    const button = /** @type {HTMLButtonElement | null} */ (
      this.list.querySelector(`[data-question-id="${id}"] [data-action="${action}"]`));
    if (button && !button.disabled) button.focus();
  }

  /**
   * @param {string} key
   * @param {() => Promise<unknown>} run
   * @param {string} done   said when it worked
   */
  async #request(key, run, done) {
    this.busy.add(key);
    showError(this.error, null);
    this.status.textContent = '';
    this.update();
    try {
      await run();
      this.status.textContent = done;
    } catch (err) {
      showQuestionError(this.error, this.client, err);
    } finally {
      this.busy.delete(key);
      this.update();
    }
  }

  /** @param {boolean} premoderated */
  async #setPremoderation(premoderated) {
    this.settingsBusy = true;
    showError(this.settingsError, null);
    this.settingsStatus.textContent = '';
    this.update();
    const version = this.client.moderation?.version ?? 0;
    try {
      await this.client.questionSettings({ premoderated });
      this.chosenPremoderation = { value: premoderated, version };
      this.settingsStatus.textContent = premoderated
        ? t('Pre-moderation is on: new questions wait for approval.')
        : t('Pre-moderation is off: new questions are shown to everyone at once.');
      announce(this.settingsStatus.textContent);
    } catch (err) {
      this.premoderation.checked = !premoderated;
      showQuestionError(this.settingsError, this.client, err);
    } finally {
      this.settingsBusy = false;
      this.update();
    }
  }

  /**
   * Fetch the export with the Bearer token and save it as a file through a Blob URL (no token in any URL).
   * @param {'csv' | 'json'} format
   */
  async #export(format) {
    const button = format === 'csv' ? this.exportCsv : this.exportJson;
    showError(this.exportError, null);
    this.exportStatus.textContent = t('Preparing the file…');
    button.disabled = true;
    try {
      const { blob, filename } = await this.client.exportQuestions(format);
      saveBlob(blob, filename);
      this.exportStatus.textContent = t('Downloaded {file}.', { file: filename });
    } catch (err) {
      this.exportStatus.textContent = '';
      showError(this.exportError, err);
    } finally {
      button.disabled = false;
    }
  }
}

/**
 * The edits of a question, oldest first, in a disclosure.
 * @param {import('../protocol.js').QuestionEditRecord[]} edits
 * @param {string | undefined} timeZone
 * @param {{open?: boolean}} [options]
 */
function editHistory(edits, timeZone, { open = false } = {}) {
  const details = el('details', { class: 'edit-history', testid: 'edit-history' },
    el('summary', {}, tn(edits.length, 'Edit history ({count} edit)', 'Edit history ({count} edits)')),
    el('ol', {}, edits.map((edit) => el('li', {},
      el('p', { class: 'muted' }, timeNode(edit.at, timeZone),
        ` ${t('by the {role}', { role: roleLabel(edit.by?.role).toLocaleLowerCase() })}`),
      el('p', { class: 'edit-before' }, el('span', { class: 'edit-label' }, `${t('Before:')} `), userText(edit.before)),
      el('p', { class: 'edit-after' }, el('span', { class: 'edit-label' }, `${t('After:')} `), userText(edit.after))))));
  if (open) /** @type {HTMLDetailsElement} */ (details).open = true;
  return details;
}

// ---------------------------------------------------------------------------------------------------------
// The chair's list

export class ChairQuestions {
  /**
   * @param {HTMLElement} container
   * @param {HemicycleClient} client
   * @param {{large?: boolean}} [options]
   */
  constructor(container, client, { large = true } = {}) {
    this.client = client;
    this.large = large;
    /** @type {Set<string>} */
    this.busy = new Set();
    /** @type {Set<number> | null} */
    this.known = null;
    this.list = el('ol', {
      class: 'question-list chair-list', testid: 'chair-questions', 'aria-label': t('Questions forwarded to the chair'), tabindex: '-1',
    });
    this.empty = el('p', { class: 'muted' }, t('No question has been forwarded yet. The moderator sends questions here.'));
    this.answered = el('p', { class: 'muted chair-answered' });
    this.error = errorNode();
    this.status = el('p', { class: 'muted', role: 'status' });
    fill(container,
      el('p', { class: 'hint' }, t('Read a question aloud, then mark it answered. Names of anonymous askers are never shown here.')),
      this.error, this.list, this.empty, this.answered, this.status);
  }

  update() {
    const client = this.client;
    const view = client.moderation;
    if (!view) return;
    const connected = client.connection === 'connected';
    const readingId = client.questions?.reading?.id ?? null;
    const approved = view.questions.filter((q) => q.state === 'approved');
    // The one being read first, then others still being read, then forwarded ones in the order they came.
    const rank = (/** @type {StaffQuestion} */ q) => (q.id === readingId ? 0 : q.stage === 'read' ? 1 : 2);
    const shown = approved.filter((q) => q.stage === 'forwarded' || q.stage === 'read')
      .sort((a, b) => rank(a) - rank(b) || (a.forwarded_at ?? '').localeCompare(b.forwarded_at ?? '') || a.id - b.id);
    rebuildKeepingFocus(this.list, () => fill(this.list, shown.map((q) => this.#item(q, {
      connected, reading: q.id === readingId,
    }))));
    this.empty.hidden = shown.length > 0;
    const answered = approved.filter((q) => q.stage === 'answered').length;
    this.answered.textContent = answered
      ? tn(answered, '{count} question answered so far.', '{count} questions answered so far.') : '';
    this.answered.hidden = !answered;

    if (this.known) {
      const added = shown.filter((q) => !this.known?.has(q.id) && q.stage === 'forwarded');
      if (added.length === 1) announce(t('A question was forwarded to you: “{question}”.', { question: excerpt(added[0].text, 100) }));
      else if (added.length > 1) announce(tn(added.length, '{count} question was forwarded to you.', '{count} questions were forwarded to you.'));
    }
    this.known = new Set(shown.map((q) => q.id));
  }

  /**
   * @param {StaffQuestion} q
   * @param {{connected: boolean, reading: boolean}} flags
   */
  #item(q, { connected, reading }) {
    const textId = `chair-text-${q.id}`;
    const large = this.large ? ' large' : '';
    const action = q.stage === 'forwarded' ? 'read' : 'answered';
    const button = el('button', {
      type: 'button', class: large.trim() || undefined, testid: action,
      dataset: { action }, disabled: !connected || this.busy.has(`${action}:${q.id}`), 'aria-describedby': textId,
      onclick: () => this.#relay(q, action),
    }, action === 'read' ? t('Read aloud') : t('Answered'));
    return el('li', {
      class: `question chair-question${reading ? ' question-reading' : ''}`, testid: 'chair-question',
      dataset: { questionId: String(q.id), stage: q.stage }, tabindex: '-1',
    },
    el('div', { class: 'question-votes' },
      el('span', { class: 'vote-number' }, String(q.votes)),
      el('span', { class: 'vote-word' }, tn(q.votes, 'vote', 'votes'))),
    el('div', { class: 'question-body' },
      el('p', { class: 'question-tags' },
        stageBadge(q.stage, { reading }),
        q.starred ? el('span', { class: 'tag tag-starred' }, `★ ${t('Starred')}`) : null),
      el('p', { id: textId, class: 'question-text', dir: 'auto' }, q.text),
      addresseeNode(q),
      // The chair reads aloud: an anonymous asker's name is not shown here, so it cannot be read out.
      el('p', { class: 'question-asker' }, `${t('Asked by')} `, askerNodes(q, { reveal: false, country: false })),
      el('p', { class: 'actions question-actions' }, button)));
  }

  /**
   * @param {StaffQuestion} q
   * @param {'read' | 'answered'} stage
   */
  async #relay(q, stage) {
    const key = `${stage}:${q.id}`;
    if (this.busy.has(key)) return;
    this.busy.add(key);
    showError(this.error, null);
    this.status.textContent = '';
    this.update();
    try {
      await this.client.relayQuestion(q.id, stage);
      this.status.textContent = stage === 'read' ? t('Shown on the room display while you read it.') : t('Marked answered.');
    } catch (err) {
      showQuestionError(this.error, this.client, err);
    } finally {
      this.busy.delete(key);
      this.update();
    }
  }
}
