// @ts-check
/**
 * Live polls on the pages (issue 24). Page layer.
 *
 * - `PollResults`: a poll's results, the total beside each stakeholder group and region (a group too small
 *   shows "fewer than N", no figures); counts only, never who answered what.
 * - `PollsConsole`: the moderator's section: prepare a poll (edit or delete it while a draft), open, close,
 *   show or hide its results, and every poll's live results.
 * - `AttendeePolls`: the attendee's panel: each open poll's form (answer, change the answer until it closes),
 *   and the results while the moderator shows them.
 * - `DisplayPolls`: the room display: the results the moderator shows, in large type.
 *
 * Poll texts are shown as the moderator typed them (isolated for bidirectional text); every other word goes
 * through t(). Each view re-renders from the client's state, so a change of language re-renders in place.
 *
 * Test hooks: `polls` (each component), `poll` (a poll, `data-poll-id`, `data-state`), `poll-results`,
 * `poll-form`, `poll-answer`, `poll-action` (`data-action`), `poll-status`, `poll-word`.
 */

import { t, tn } from './i18n.js';
import { balanceValueLabel } from './labels.js';
import { POLL_MAX_OPTIONS, POLL_QUESTION_MAX_CHARS, POLL_TEXT_MAX_CHARS } from './protocol/polls.js';
import { announce, el, errorNode, fill, showError, userText } from './ui.js';

/** @typedef {import('./protocol.js').HemicycleClient} HemicycleClient */
/** @typedef {import('./protocol-types.js').PollWithResults} Poll */
/** @typedef {import('./protocol-types.js').PollResultsView} Results */
/** @typedef {import('./protocol-types.js').Tally} Tally */

/** @param {string} kind */
export function pollKindLabel(kind) {
  return {
    single: t('Single choice'), multiple: t('Multiple choice'), rating: t('Rating 1–5'), text: t('Short text'),
  }[kind] ?? kind;
}

/** @param {string} state */
export function pollStateLabel(state) {
  return { draft: t('Draft'), open: t('Open'), closed: t('Closed') }[state] ?? state;
}

/**
 * What a row of a choice or rating poll is called.
 * @param {Poll} poll @param {number} index
 */
function answerLabel(poll, index) {
  return poll.kind === 'rating' ? String(index + 1) : userText(poll.options[index] ?? '');
}

/**
 * A poll's results: a table of counts (choice, rating) or a word list (text), total first, then each group and
 * region. `breakdown` false shows the total only.
 * @param {Poll} poll
 * @param {Results} results
 * @param {{breakdown?: boolean}} [options]
 */
export function PollResults(poll, results, { breakdown = true } = {}) {
  const total = results.total;
  const groups = breakdown ? [
    ...results.by_group.map((g) => ({ ...g, label: balanceValueLabel('stakeholder_group', g.name) })),
    ...results.by_region.map((g) => ({ ...g, label: balanceValueLabel('region', g.name) })),
  ] : [];
  const fewer = t('fewer than {count}', { count: results.min_group });
  const summary = el('p', { class: 'muted' }, tn(total.respondents, '{count} answer', '{count} answers'),
    total.average === null ? null : [' · ', t('Average {value}', { value: total.average })]);
  if (poll.kind === 'text') {
    const words = total.words.length
      ? el('ul', { class: 'poll-words' }, total.words.map((w) => el('li', { testid: 'poll-word' },
        userText(w.word), ' ', el('span', { class: 'count' }, String(w.count)))))
      : el('p', {}, t('No answers.'));
    const byGroup = groups.length ? el('table', { class: 'poll-groups' },
      el('caption', {}, t('By stakeholder group and region')),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, t('Group')), el('th', { scope: 'col' }, t('Answers')),
        el('th', { scope: 'col' }, t('Most given')))),
      el('tbody', {}, groups.map((g) => el('tr', {}, el('th', { scope: 'row' }, g.label),
        g.tally ? [el('td', {}, String(g.tally.respondents)),
          el('td', {}, g.tally.words.map((w, i) => [i ? ', ' : '', userText(w.word), ` (${w.count})`]))]
          : el('td', { colspan: '2', class: 'suppressed' }, fewer))))) : null;
    return el('div', { class: 'poll-results', testid: 'poll-results' }, summary, words, byGroup);
  }
  const rows = total.counts.map((n, index) => el('tr', {},
    el('th', { scope: 'row' }, answerLabel(poll, index)),
    el('td', {}, String(n), ' ', bar(n, total.respondents)),
    groups.map((g) => g.tally ? el('td', {}, String(g.tally.counts[index] ?? 0))
      : el('td', { class: 'suppressed' }, fewer))));
  return el('div', { class: 'poll-results', testid: 'poll-results' }, summary,
    el('table', { class: 'poll-table' },
      el('caption', { class: 'visually-hidden' }, t('Results')),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, t('Answer')), el('th', { scope: 'col' }, t('All')),
        groups.map((g) => el('th', { scope: 'col' }, g.label)))),
      el('tbody', {}, rows)));
}

/** @param {number} n @param {number} of */
function bar(n, of) {
  const fillNode = el('span', { class: 'poll-bar-fill' });
  // CSSOM, not a style attribute: allowed by the pages' Content-Security-Policy.
  fillNode.style.setProperty('--share', String(of ? n / of : 0));
  return el('span', { class: 'poll-bar', 'aria-hidden': 'true' }, fillNode);
}

// ---------------------------------------------------------------------------------------------------------
// The moderator's section

export class PollsConsole {
  /**
   * @param {HTMLElement} container
   * @param {HemicycleClient} client
   */
  constructor(container, client) {
    this.client = client;
    /** @type {number | null} the draft being edited */
    this.editing = null;
    this.kind = /** @type {HTMLSelectElement} */ (el('select', { id: 'poll-kind', onchange: () => this.#kindChanged() }));
    this.question = /** @type {HTMLTextAreaElement} */ (el('textarea', {
      id: 'poll-question', rows: '2', maxlength: String(POLL_QUESTION_MAX_CHARS), dir: 'auto', required: true,
    }));
    this.options = /** @type {HTMLTextAreaElement} */ (el('textarea', {
      id: 'poll-options', rows: '4', dir: 'auto', 'aria-describedby': 'poll-options-hint',
    }));
    this.optionsHint = el('p', { id: 'poll-options-hint', class: 'hint' });
    this.optionsField = el('div', { class: 'field' }, el('label', { for: 'poll-options' }), this.options, this.optionsHint);
    this.submit = el('button', { type: 'submit', testid: 'poll-save' });
    this.cancel = el('button', { type: 'button', class: 'secondary', onclick: () => this.#reset() });
    this.formError = errorNode();
    this.status = el('p', { class: 'muted', role: 'status', testid: 'poll-status' });
    this.form = /** @type {HTMLFormElement} */ (el('form', { class: 'poll-form', testid: 'poll-form', novalidate: true },
      el('div', { class: 'field' }, el('label', { for: 'poll-kind' }), this.kind),
      el('div', { class: 'field' }, el('label', { for: 'poll-question' }), this.question),
      this.optionsField, this.formError, el('p', { class: 'actions' }, this.submit, this.cancel)));
    this.form.addEventListener('submit', (event) => { event.preventDefault(); this.#save(); });
    this.list = el('ol', { class: 'poll-list', testid: 'polls' });
    this.listError = errorNode();
    fill(container, this.form, this.status, this.listError, this.list);
    client.on('polls', () => this.update());
    this.render();
  }

  /** Words that depend on the language, then the list. */
  render() {
    const chosen = this.kind.value || 'single';
    fill(this.kind, ['single', 'multiple', 'rating', 'text'].map((k) => el('option', { value: k }, pollKindLabel(k))));
    this.kind.value = chosen;
    const labels = this.form.querySelectorAll('label');
    fill(labels[0], t('Kind of poll'));
    fill(labels[1], t('Question'));
    fill(labels[2], t('Options, one per line'));
    fill(this.optionsHint, t('From 2 to {count} options.', { count: POLL_MAX_OPTIONS }));
    fill(this.submit, this.editing === null ? t('Prepare poll') : t('Save changes'));
    fill(this.cancel, t('Cancel'));
    this.cancel.hidden = this.editing === null;
    this.#kindChanged();
    this.update();
  }

  #kindChanged() {
    this.optionsField.hidden = this.kind.value === 'rating' || this.kind.value === 'text';
  }

  #reset() {
    this.editing = null;
    this.form.reset();
    this.kind.value = 'single';
    this.render();
  }

  async #save() {
    const kind = this.kind.value;
    const options = this.optionsField.hidden ? []
      : this.options.value.split('\n').map((line) => line.trim()).filter(Boolean);
    const poll = { kind, question: this.question.value.trim(), options };
    try {
      if (this.editing === null) await this.client.createPoll(poll);
      else await this.client.editPoll(this.editing, poll);
      fill(this.formError);
      fill(this.status, this.editing === null ? t('Poll prepared.') : t('Poll saved.'));
      this.#reset();
    } catch (error) {
      showError(this.formError, error);
    }
  }

  /**
   * @param {Poll} poll
   */
  #edit(poll) {
    this.editing = poll.id;
    this.kind.value = poll.kind;
    this.question.value = poll.question;
    this.options.value = poll.options.join('\n');
    this.render();
    this.question.focus();
  }

  /**
   * @param {() => Promise<unknown>} action @param {string} done
   */
  async #act(action, done) {
    try {
      await action();
      fill(this.listError);
      fill(this.status, done);
    } catch (error) {
      showError(this.listError, error);
    }
  }

  update() {
    const polls = this.client.staffPolls ?? [];
    if (!polls.length) {
      fill(this.list, el('li', { class: 'muted' }, t('No polls yet.')));
      return;
    }
    const c = this.client;
    fill(this.list, polls.map((poll) => {
      /** @param {string} action @param {string} label @param {() => Promise<unknown>} run @param {string} done */
      const button = (action, label, run, done) => el('button', {
        type: 'button', class: action === 'delete' ? 'secondary danger-text' : 'secondary', testid: 'poll-action',
        dataset: { action }, onclick: () => this.#act(run, done),
      }, label);
      const actions = poll.state === 'draft' ? [
        button('open', t('Open poll'), () => c.openPoll(poll.id), t('Poll opened.')),
        el('button', { type: 'button', class: 'secondary', testid: 'poll-action', dataset: { action: 'edit' },
          onclick: () => this.#edit(poll) }, t('Edit')),
        button('delete', t('Delete'), () => c.deletePoll(poll.id), t('Poll deleted.')),
      ] : [
        poll.state === 'open' ? button('close', t('Close poll'), () => c.closePoll(poll.id), t('Poll closed.')) : null,
        poll.results_shown
          ? button('hide', t('Hide results'), () => c.showPollResults(poll.id, false), t('Results hidden.'))
          : button('show', t('Show results'), () => c.showPollResults(poll.id, true), t('Results shown.')),
      ];
      return el('li', { class: 'poll', testid: 'poll', dataset: { pollId: String(poll.id), state: poll.state } },
        el('h3', {}, userText(poll.question)),
        el('p', { class: 'muted' }, pollKindLabel(poll.kind), ' · ', pollStateLabel(poll.state),
          poll.results_shown ? [' · ', t('Results shown')] : null),
        poll.kind === 'single' || poll.kind === 'multiple'
          ? el('ul', { class: 'poll-options' }, poll.options.map((o) => el('li', {}, userText(o)))) : null,
        poll.state !== 'draft' && poll.results ? PollResults(poll, poll.results) : null,
        el('p', { class: 'actions' }, actions));
    }));
  }
}

// ---------------------------------------------------------------------------------------------------------
// The attendee's panel

export class AttendeePolls {
  /**
   * @param {HTMLElement} container
   * @param {HemicycleClient} client
   * @param {HTMLElement} [section]  hidden while there is no poll to show (the container by default)
   */
  constructor(container, client, section = container) {
    this.client = client;
    this.section = section;
    this.list = el('div', { class: 'poll-list', testid: 'polls' });
    fill(container, this.list);
    section.hidden = true;
    /** @type {Set<number> | null} polls seen open, to announce a newly opened one (null before the first list) */
    this.seen = null;
    /** @type {Map<number, HTMLElement>} a poll's form, kept while the poll stays open (what is being typed) */
    this.forms = new Map();
    /**
     * Each poll's section, kept from one update to the next with what each of its parts was made from: a part
     * is made again only when that changes, and nothing else moves. A list put back together on every update
     * took a focused field out of the page (typing stopped) and could swallow a click landing meanwhile.
     * @type {Map<number, {node: HTMLElement, parts: ({key: string, node: HTMLElement | null})[]}>}
     */
    this.views = new Map();
    client.on('polls', () => this.update());
  }

  /** Everything made again (another language). */
  render() {
    this.forms.clear();
    this.views.clear();
    fill(this.list);
    this.update();
  }

  update() {
    const polls = this.client.polls;
    this.section.hidden = polls.length === 0;
    const open = polls.filter((p) => p.state === 'open');
    if (this.seen) {
      for (const poll of open) if (!this.seen.has(poll.id)) announce(t('A poll is open: {question}', { question: poll.question }));
    }
    this.seen = new Set(open.map((p) => p.id));
    for (const id of [...this.forms.keys()]) {
      if (!polls.some((p) => p.id === id && p.state === 'open')) this.forms.delete(id);
    }
    const shown = [...polls].reverse();
    const ids = new Set(shown.map((p) => p.id));
    for (const [id, view] of this.views) {
      if (!ids.has(id)) {
        view.node.remove();
        this.views.delete(id);
      }
    }
    // Newest first; a section is moved only when it is out of place (a new poll goes in above the others).
    /** @type {ChildNode | null} */
    let at = this.list.firstChild;
    for (const poll of shown) {
      const node = this.#view(poll);
      if (node === at) at = at.nextSibling;
      else this.list.insertBefore(node, at);
    }
  }

  /**
   * A poll's section, its parts brought up to date.
   * @param {Poll} poll
   */
  #view(poll) {
    let view = this.views.get(poll.id);
    if (!view) {
      view = {
        node: el('section', { class: 'poll', testid: 'poll', 'aria-labelledby': `poll-${poll.id}-question` }),
        parts: [],
      };
      this.views.set(poll.id, view);
    }
    view.node.dataset.pollId = String(poll.id);
    view.node.dataset.state = poll.state;
    const mine = this.client.answerTo(poll.id);
    /** @type {[string, () => HTMLElement | null][]} each part: what it shows, and how it is made */
    const parts = [
      [poll.question, () => el('h3', { id: `poll-${poll.id}-question` }, userText(poll.question))],
      [`${poll.kind} ${poll.state}`,
        () => el('p', { class: 'muted' }, pollKindLabel(poll.kind), ' · ', pollStateLabel(poll.state))],
      // An open poll's form is the same node while the poll stays open: it keeps what is typed and its status.
      poll.state === 'open' ? ['form', () => this.#form(poll)] : [JSON.stringify(mine ?? null), () => this.#mine(poll)],
      [JSON.stringify(poll.results ?? null), () => (poll.results ? PollResults(poll, poll.results) : null)],
    ];
    parts.forEach(([key, make], index) => {
      const part = view.parts[index];
      if (part && part.key === key) return;
      const node = make();
      if (part?.node) {
        if (node) part.node.replaceWith(node);
        else part.node.remove();
      } else if (node) {
        const after = view.parts.slice(index + 1).find((p) => p?.node)?.node ?? null;
        view.node.insertBefore(node, after);
      }
      view.parts[index] = { key, node };
    });
    return view.node;
  }

  /** @param {Poll} poll */
  #mine(poll) {
    const mine = this.client.answerTo(poll.id);
    if (!mine) return null;
    return el('p', { testid: 'poll-answer' }, t('Your answer: {answer}', { answer: describe(poll, mine) }));
  }

  /** @param {Poll} poll */
  #form(poll) {
    const kept = this.forms.get(poll.id);
    if (kept) return kept;
    const mine = this.client.answerTo(poll.id);
    const name = `poll-${poll.id}-answer`;
    const status = el('p', { class: 'muted', role: 'status' },
      mine ? t('Your answer: {answer}', { answer: describe(poll, mine) }) : '');
    const error = errorNode();
    /** @type {HTMLElement} */
    let inputs;
    if (poll.kind === 'text') {
      inputs = el('div', { class: 'field' }, el('label', { for: name }, t('A few words')),
        el('input', { id: name, name, type: 'text', dir: 'auto', maxlength: String(POLL_TEXT_MAX_CHARS),
          value: mine?.text ?? '', autocomplete: 'off' }));
    } else {
      const type = poll.kind === 'multiple' ? 'checkbox' : 'radio';
      const count = poll.kind === 'rating' ? 5 : poll.options.length;
      inputs = el('fieldset', {}, el('legend', { class: 'visually-hidden' }, userText(poll.question)),
        Array.from({ length: count }, (_, index) => {
          const value = poll.kind === 'rating' ? index + 1 : index;
          const chosen = mine ? mine.choices.includes(value) : false;
          return el('label', { class: 'poll-choice' },
            el('input', { type, name, value: String(value), checked: chosen }), ' ', answerLabel(poll, index));
        }));
    }
    const form = /** @type {HTMLFormElement} */ (el('form', { class: 'poll-form', testid: 'poll-form', novalidate: true },
      inputs, error, el('p', { class: 'actions' },
        el('button', { type: 'submit' }, mine ? t('Change answer') : t('Send answer'))), status));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      /** @type {{choices?: number[], rating?: number, text?: string}} */
      const answer = poll.kind === 'text' ? { text: String(data.get(name) ?? '') }
        : poll.kind === 'rating' ? { rating: Number(data.get(name)) }
          : { choices: data.getAll(name).map(Number) };
      try {
        const stored = await this.client.answerPoll(poll.id, answer);
        fill(error);
        fill(status, t('Answer saved.'), ' ', t('Your answer: {answer}', { answer: describe(poll, stored) }));
      } catch (failure) {
        showError(error, failure);
      }
    });
    this.forms.set(poll.id, form);
    return form;
  }
}

/**
 * An answer in words.
 * @param {Poll} poll @param {import('./protocol-types.js').MyAnswer} answer
 */
function describe(poll, answer) {
  if (poll.kind === 'text') return answer.text ?? '';
  if (poll.kind === 'rating') return String(answer.choices[0] ?? '');
  return answer.choices.map((c) => poll.options[c] ?? '').join(', ');
}

// ---------------------------------------------------------------------------------------------------------
// The room display

export class DisplayPolls {
  /**
   * @param {HTMLElement} container
   * @param {HemicycleClient} client
   */
  constructor(container, client) {
    this.client = client;
    this.container = container;
    client.on('polls', () => this.update());
    this.update();
  }

  update() {
    // The last poll whose results the moderator shows.
    const shown = this.client.polls.filter((p) => p.results).slice(-1);
    this.container.hidden = shown.length === 0;
    fill(this.container, shown.map((poll) => el('section', {
      class: 'poll poll-large', testid: 'poll', dataset: { pollId: String(poll.id), state: poll.state },
      'aria-labelledby': `poll-${poll.id}-shown`,
    }, el('h2', { id: `poll-${poll.id}-shown` }, userText(poll.question)),
    poll.results ? PollResults(poll, poll.results, { breakdown: poll.kind !== 'text' }) : null)));
  }
}
