// @ts-check
/**
 * The interface's words in the reader's language. Page layer: it sets the document's `lang` and `dir`.
 *
 * Messages are identified by their English text, as gettext does: `t('Raise hand')`. Each other language has a
 * catalogue, `/static/i18n/{code}.json`:
 *
 *     {"language": "fr", "name": "Français", "dir": "ltr",
 *      "messages": {"Raise hand": "Lever la main",
 *                   "{count} people": {"one": "{count} personne", "other": "{count} personnes"}}}
 *
 * A plural entry holds one text per category of `Intl.PluralRules` for that language (Russian needs one, few,
 * many and other; Arabic zero, one, two, few, many and other). A message missing from a catalogue, or a
 * catalogue that cannot be loaded, falls back to English: a page is never left without words.
 *
 * The catalogue is loaded before any page module runs (top-level await), so `t()` is synchronous everywhere.
 * The choice is remembered in localStorage; without one, the browser's preferred languages decide.
 *
 * Changing the language in place (`setLanguage`): the page is not reloaded, so a feed that plays keeps playing.
 * What the HTML file says is translated again (`data-i18n`); words built by script follow in one of two ways:
 * a node that always says the same message is built with `msg('Stop')` (js/ui.js's `el` keeps it in step), and
 * words computed from the page's state are computed again by the page's own render functions, which it
 * registers with `renderOnLanguageChange`. A page that registers none is reloaded in the new language instead.
 */

/** @typedef {{code: string, name: string, dir: 'ltr' | 'rtl', tag?: string}} Language */

/**
 * The six official languages of the United Nations, each named in itself. `tag` is the BCP 47 tag written in
 * `lang` attributes where it says more than the code: the UN writes Chinese in simplified characters, and
 * browsers pick fonts by it.
 */
export const LANGUAGES = /** @type {readonly Language[]} */ ([
  { code: 'en', name: 'English', dir: 'ltr' },
  { code: 'fr', name: 'Français', dir: 'ltr' },
  { code: 'es', name: 'Español', dir: 'ltr' },
  { code: 'ar', name: 'العربية', dir: 'rtl' },
  { code: 'zh', name: '中文', dir: 'ltr', tag: 'zh-Hans' },
  { code: 'ru', name: 'Русский', dir: 'ltr' },
]);

export const STORAGE_KEY = 'hemicycle.language';
const SOURCE = 'en';

/** @typedef {string | Partial<Record<Intl.LDMLPluralRule, string>>} Entry */

let current = /** @type {Language} */ (LANGUAGES[0]);
/** @type {Record<string, Entry>} */
let messages = {};
let plurals = new Intl.PluralRules(SOURCE);

/** @param {string | null | undefined} code @returns {Language | undefined} */
function known(code) {
  if (!code) return undefined;
  const base = code.toLowerCase().split(/[-_]/)[0];
  return LANGUAGES.find((language) => language.code === base);
}

/** The language to use: the one chosen on this browser, else the first the browser prefers that we have. */
export function preferredLanguage() {
  let stored = null;
  try {
    stored = localStorage.getItem(STORAGE_KEY);
  } catch {
    // Storage refused (privacy settings): fall through to the browser's languages.
  }
  const candidates = [stored, ...(navigator.languages ?? []), navigator.language];
  for (const candidate of candidates) {
    const language = known(candidate);
    if (language) return language;
  }
  return current;
}

/**
 * Load a language's catalogue and apply its direction to the document. English needs no catalogue.
 * @param {Language} language
 */
async function load(language) {
  current = language;
  plurals = new Intl.PluralRules(language.code);
  messages = {};
  if (language.code !== SOURCE) {
    try {
      const response = await fetch(`/static/i18n/${language.code}.json`, { credentials: 'same-origin' });
      if (response.ok) {
        const catalogue = await response.json();
        if (catalogue && typeof catalogue.messages === 'object') messages = catalogue.messages;
      }
    } catch {
      // Offline or refused: English words, in the chosen direction.
    }
  }
  document.documentElement.lang = language.tag ?? language.code;
  document.documentElement.dir = language.dir;
}

/** @param {string} text @param {Record<string, string | number> | undefined} params */
function fillIn(text, params) {
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/**
 * Whether the reader's catalogue has this message (English needs none).
 * @param {string} message
 */
export function translated(message) {
  return current.code === SOURCE || (message in messages && messages[message] !== '');
}

/**
 * The message in the reader's language, with `{name}` placeholders filled in.
 * @param {string} message  the English text
 * @param {Record<string, string | number>} [params]
 */
export function t(message, params) {
  const entry = messages[message];
  const text = typeof entry === 'string' && entry !== '' ? entry : message;
  return fillIn(text, params);
}

/**
 * A message that depends on a count: `tn(n, '{count} person', '{count} people')`. The catalogue's entry is
 * keyed by the English plural (the second form) and holds one text per plural category.
 * @param {number} count
 * @param {string} one    English, for 1
 * @param {string} other  English, for every other count (the message id)
 * @param {Record<string, string | number>} [params]  `count` is filled in unless given here
 */
export function tn(count, one, other, params) {
  const values = { count: formatNumber(count), ...params };
  const entry = messages[other];
  if (entry && typeof entry === 'object') {
    const text = entry[plurals.select(count)] ?? entry.other;
    if (text) return fillIn(text, values);
  }
  return fillIn(count === 1 ? one : other, values);
}

/** The reader's language. */
export function language() {
  return current;
}

/**
 * The locale for Intl formatting of dates and numbers. English pages keep British conventions (24-hour clock,
 * day before month), as the UN in Geneva writes them.
 */
export function locale() {
  return current.code === SOURCE ? 'en-GB' : current.code;
}

/** A number written the reader's way. @param {number} value */
export function formatNumber(value) {
  return new Intl.NumberFormat(locale()).format(value);
}

/**
 * A rank written the reader's way: 1st, 2nd (English), 1er, 2e (French), 1.º (Spanish), 1-й (Russian), 第1 (Chinese).
 * Ordinals follow rules of their own (not the cardinal plural categories), so they are written here rather than
 * in the catalogues.
 * @param {number} n
 */
export function ordinal(n) {
  switch (current.code) {
    case 'fr':
      return n === 1 ? '1er' : `${n}e`;
    case 'es':
      return `${n}.º`;
    case 'ru':
      return `${n}-й`;
    case 'zh':
      return `第${n}`;
    case 'ar':
      return formatNumber(n);
    default: {
      const tens = n % 100;
      if (tens >= 11 && tens <= 13) return `${n}th`;
      return `${n}${({ 1: 'st', 2: 'nd', 3: 'rd' })[n % 10] ?? 'th'}`;
    }
  }
}

/**
 * The message of a text written in HTML: runs of white space (line breaks and indentation) count as one space,
 * as they do on screen. tests/test_i18n.py extracts the messages of the HTML files the same way.
 * @param {string | null | undefined} text
 */
function collapse(text) {
  return (text ?? '').replace(/\s+/g, ' ').trim();
}

/** @type {WeakMap<Element, string>} the words translateStatic last wrote into each element */
const staticWords = new WeakMap();
/** @type {WeakMap<Element, Record<string, string>>} and into its attributes */
const staticAttributes = new WeakMap();

/**
 * Translate what the HTML file itself says: elements marked `data-i18n` have their text replaced (they hold
 * text only: a label with a badge in it marks each piece), and `data-i18n-attrs="aria-label title"` names
 * attributes to translate. Each element keeps its English source, so translating twice is harmless; after a change
 * of language, an element whose words a script has replaced since is left to that script.
 * @param {ParentNode} [root]
 */
export function translateStatic(root = document) {
  for (const node of root.querySelectorAll('[data-i18n]')) {
    const source = node.getAttribute('data-i18n') || collapse(node.textContent);
    node.setAttribute('data-i18n', source);
    if (!source) continue;
    // Again after a change of language: only what still says the HTML's words (a script may have replaced them,
    // as with the connection line, and says its own words again).
    const written = staticWords.get(node);
    if (written !== undefined && node.textContent !== written) continue;
    node.textContent = t(source);
    staticWords.set(node, node.textContent);
    // A message the catalogue lacks stays English: say so, so that screen readers read it as English.
    if (!translated(source)) node.setAttribute('lang', SOURCE);
    else if (node.getAttribute('lang') === SOURCE) node.removeAttribute('lang');
  }
  for (const node of root.querySelectorAll('[data-i18n-attrs]')) {
    for (const attribute of (node.getAttribute('data-i18n-attrs') || '').split(/\s+/)) {
      if (!attribute) continue;
      const source = node.getAttribute(`data-i18n-${attribute}`) ?? node.getAttribute(attribute);
      if (source === null) continue;
      const written = staticAttributes.get(node) ?? {};
      if (attribute in written && node.getAttribute(attribute) !== written[attribute]) continue;
      node.setAttribute(`data-i18n-${attribute}`, source);
      node.setAttribute(attribute, t(source));
      staticAttributes.set(node, { ...written, [attribute]: t(source) });
    }
  }
}

/**
 * A message that stays in the reader's language: `el()` (js/ui.js) shows it as a text node, or an attribute's
 * value, that is translated again when the language changes. Anywhere else it reads as its text (`String(m)`).
 */
export class Message {
  /** @param {string} message @param {Record<string, string | number>} [params] */
  constructor(message, params) {
    this.message = message;
    this.params = params;
  }

  toString() {
    return t(this.message, this.params);
  }
}

/**
 * A message that follows the page's language (see `Message`).
 * @param {string} message  the English text
 * @param {Record<string, string | number>} [params]
 */
export function msg(message, params) {
  return new Message(message, params);
}

/** @typedef {{node: WeakRef<Node>, message: Message, written: string, attribute?: string}} LiveWords */
/** @type {Set<LiveWords>} nodes and attributes that say a Message; held weakly, forgotten once collected */
const live = new Set();

/**
 * A text node that says `message` in the reader's language, now and after a change of language.
 * @param {Message} message
 * @returns {Text}
 */
export function liveText(message) {
  const written = String(message);
  const node = document.createTextNode(written);
  remember({ node: new WeakRef(node), message, written });
  return node;
}

let sinceSweep = 0;

/**
 * Keep a node's words in step; now and then forget the nodes the browser has collected (a view rebuilt on every
 * update makes new ones).
 * @param {LiveWords} entry
 */
function remember(entry) {
  live.add(entry);
  if (++sinceSweep < 1000) return;
  sinceSweep = 0;
  for (const old of live) if (!old.node.deref()) live.delete(old);
}

/**
 * Set an attribute (aria-label, title...) to a message, kept in the reader's language.
 * @param {Element} node @param {string} attribute @param {Message} message
 */
export function liveAttribute(node, attribute, message) {
  const written = String(message);
  node.setAttribute(attribute, written);
  for (const entry of live) {
    // One message per attribute: setting it again replaces the earlier one.
    if (entry.attribute === attribute && entry.node.deref() === node) live.delete(entry);
  }
  remember({ node: new WeakRef(node), message, written, attribute });
}

/** @type {Array<() => void>} modules' caches of words (labels, formats), refreshed first */
const languageListeners = [];
/** @type {Array<() => void>} the page's render functions, run after the caches are fresh */
const renderers = [];

/**
 * Run `listener` after each change of language, before the page renders again (a module's cached words).
 * @param {() => void} listener
 */
export function onLanguageChange(listener) {
  languageListeners.push(listener);
}

/**
 * The page's words that depend on its state are computed again by `render` after a change of language; a page
 * that registers one switches language in place (its feeds keep playing) rather than reloading.
 * @param {() => void} render
 */
export function renderOnLanguageChange(render) {
  renderers.push(render);
}

/**
 * Switch the page to another language without reloading it: the catalogue, the document's `lang` and `dir`, the
 * HTML's words, every `Message` shown, then the page's own render functions. Remembered on this browser, and
 * in the address (`?lang=`) so that a reload or a shared link keeps it.
 * @param {string} code
 */
export async function setLanguage(code) {
  const language = known(code);
  if (!language) return;
  try {
    localStorage.setItem(STORAGE_KEY, language.code);
  } catch {
    // Not remembered: this page still switches.
  }
  const url = new URL(window.location.href);
  url.searchParams.set('lang', language.code);
  history.replaceState(history.state, '', url.toString());
  await load(language);
  translateStatic();
  for (const entry of [...live]) {
    const node = entry.node.deref();
    const now = !node ? null : entry.attribute ? /** @type {Element} */ (node).getAttribute(entry.attribute)
      : node.textContent;
    if (!node || now !== entry.written) {
      // Collected, or a script has written something else there since: its words are that script's.
      live.delete(entry);
      continue;
    }
    entry.written = String(entry.message);
    if (entry.attribute) /** @type {Element} */ (node).setAttribute(entry.attribute, entry.written);
    else node.textContent = entry.written;
  }
  for (const listener of languageListeners) listener();
  for (const render of renderers) render();
  for (const picker of document.querySelectorAll('[data-testid="language-picker"]')) {
    /** @type {HTMLSelectElement} */ (picker).value = language.code;
  }
  document.dispatchEvent(new CustomEvent('hemicycle:language', { detail: { language } }));
}

/**
 * A language picker: the six languages, each in its own name. Choosing one remembers it on this browser and
 * switches the page to it in place (`setLanguage`); a page with no render function to run again is reloaded in
 * it instead (the connection resumes with the same link).
 * @returns {HTMLElement}
 */
export function languagePicker() {
  const wrapper = document.createElement('label');
  wrapper.className = 'language-picker';
  const caption = document.createElement('span');
  caption.className = 'visually-hidden';
  caption.append(liveText(msg('Language')));
  const select = document.createElement('select');
  select.setAttribute('data-testid', 'language-picker');
  for (const option of LANGUAGES) {
    const item = document.createElement('option');
    item.value = option.code;
    item.lang = option.tag ?? option.code;
    item.dir = option.dir;
    item.textContent = option.name;
    item.selected = option.code === current.code;
    select.append(item);
  }
  select.addEventListener('change', () => {
    if (renderers.length) {
      setLanguage(select.value);
      return;
    }
    try {
      localStorage.setItem(STORAGE_KEY, select.value);
    } catch {
      // Cannot remember: the choice still applies to this page load below.
    }
    const url = new URL(window.location.href);
    url.searchParams.set('lang', select.value);
    window.location.replace(url.toString());
  });
  wrapper.append(caption, select);
  return wrapper;
}

// `?lang=fr` in the address wins (a link sent to French speakers), and is remembered like a choice.
const asked = known(new URLSearchParams(window.location.search).get('lang'));
if (asked) {
  try {
    localStorage.setItem(STORAGE_KEY, asked.code);
  } catch {
    // Not remembered; still used for this page.
  }
}
await load(asked ?? preferredLanguage());
translateStatic();
// Every page's top bar (the room display's footer) has a place for the picker.
for (const slot of document.querySelectorAll('[data-language-picker]')) slot.replaceChildren(languagePicker());
