// @ts-check
/**
 * Words shown for the codes of docs/protocol.md: roles, stakeholder groups, session states, demographics.
 *
 * Page layer: the words are in the reader's language (js/i18n.js, which sets the document's language), so the
 * protocol layer never imports this module; it speaks in codes. The labels match server/domain/roles.py and
 * server/domain/participants.py.
 */

import { language, locale, onLanguageChange, ordinal as rank, t } from './i18n.js';

/**
 * A table of words by code, each looked up in the reader's language when it is read: the tables follow a change
 * of the page's language (js/i18n.js `setLanguage`) without being built again. Keys keep their order.
 * @param {Record<string, () => string>} table
 * @returns {Readonly<Record<string, string>>}
 */
function words(table) {
  const live = {};
  for (const [code, word] of Object.entries(table)) Object.defineProperty(live, code, { get: word, enumerable: true });
  return Object.freeze(live);
}

/** @type {Readonly<Record<string, string>>} */
export const ROLE_LABELS = words({
  admin: () => t('Administrator'),
  moderator: () => t('Moderator'),
  chair: () => t('Chair'),
  av: () => t('AV technician'),
  captioner: () => t('Captioner'),
  interpreter: () => t('Interpreter'),
  display: () => t('Room display'),
  attendee: () => t('Attendee'),
});

/** Roles in the order a roster lists them: staff first, attendees last. */
export const ROLE_ORDER = Object.freeze(Object.keys(ROLE_LABELS));

/** Roles that see the full roster (the server's `Role.is_staff`). */
export const STAFF_ROLES = Object.freeze(['admin', 'moderator', 'chair', 'av', 'captioner', 'interpreter']);

/** @type {Readonly<Record<string, string>>} */
export const GROUP_LABELS = words({
  government: () => t('Government'),
  private_sector: () => t('Private sector'),
  civil_society: () => t('Civil society'),
  academic_technical: () => t('Academic and technical community'),
  international_organization: () => t('International organization'),
});

/** The five stakeholder groups, in the order the WSIS process lists them. */
export const GROUP_ORDER = Object.freeze(Object.keys(GROUP_LABELS));

/** @type {Readonly<Record<string, string>>} */
export const STATE_LABELS = words({
  scheduled: () => t('Scheduled'),
  live: () => t('Live'),
  ended: () => t('Ended'),
});

/** @type {Readonly<Record<string, string>>} */
export const GENDER_LABELS = words({
  woman: () => t('Woman'),
  man: () => t('Man'),
  another: () => t('Another gender'),
});

/** @type {Readonly<Record<string, string>>} */
export const AGE_BAND_LABELS = words({
  under_25: () => t('Under 25'),
  '25_34': () => t('25 to 34'),
  '35_49': () => t('35 to 49'),
  '50_64': () => t('50 to 64'),
  '65_plus': () => t('65 or over'),
});

/**
 * ISO 3166-1 alpha-2 codes the server accepts (the pycountry list; tests/test_web_static.py checks it).
 * Names come from the browser's Intl.DisplayNames, so no name table is shipped.
 */
export const COUNTRY_CODES = Object.freeze(`
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO
JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR
MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO
RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV
TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
`.trim().split(/\s+/));

/** @param {string | null | undefined} role */
export function roleLabel(role) {
  return (role && ROLE_LABELS[role]) || role || t('Unknown role');
}

/** @param {string | null | undefined} group */
export function groupLabel(group) {
  if (!group || group === 'unspecified') return t('Not stated');
  return GROUP_LABELS[group] || group;
}

/** @param {string | null | undefined} state */
export function stateLabel(state) {
  return (state && STATE_LABELS[state]) || state || t('Unknown');
}

/** @param {string | null | undefined} role */
export function isStaffRole(role) {
  return !!role && STAFF_ROLES.includes(role);
}

/** @type {Intl.DisplayNames | null | undefined} */
let regionNames;
onLanguageChange(() => { regionNames = undefined; }); // the names, in the new language, when next asked

/**
 * The name of a country code in the reader's language ("SN" → "Senegal", "Sénégal"); the code itself when the
 * browser has no name.
 * @param {string | null | undefined} code
 */
export function countryName(code) {
  if (!code) return '';
  if (regionNames === undefined) {
    try {
      regionNames = new Intl.DisplayNames([language().code], { type: 'region', fallback: 'code' });
    } catch {
      regionNames = null; // older browsers: show the code
    }
  }
  try {
    return (regionNames && regionNames.of(code)) || code;
  } catch {
    return code;
  }
}

/** Country codes sorted by their names in the reader's language, for a select list. */
export function countriesByName() {
  return COUNTRY_CODES.map((code) => ({ code, name: countryName(code) }))
    .sort((a, b) => a.name.localeCompare(b.name, locale(), { sensitivity: 'base' }));
}

// ---------------------------------------------------------------------------------------------------------
// The speakers' queue

/** Types of intervention (`Type` in docs/protocol.md), in the order the form offers them. */
/** @type {Readonly<Record<string, string>>} */
export const TYPE_LABELS = words({
  statement: () => t('Statement'),
  question: () => t('Question to the panel'),
  right_of_reply: () => t('Right of reply'),
  point_of_order: () => t('Point of order'),
});

/** The six UN languages, by their names in the reader's language and their own (endonyms). */
/** @type {Readonly<Record<string, {name: () => string, native: string}>>} */
export const LANGUAGE_NAMES = Object.freeze({
  ar: { name: () => t('Arabic'), native: 'العربية' },
  zh: { name: () => t('Chinese'), native: '中文' },
  en: { name: () => t('English'), native: 'English' },
  fr: { name: () => t('French'), native: 'Français' },
  ru: { name: () => t('Russian'), native: 'Русский' },
  es: { name: () => t('Spanish'), native: 'Español' },
});

/** How a turn ended (`end_reason`). */
/** @type {Readonly<Record<string, string>>} */
export const END_REASON_LABELS = words({
  finished: () => t('Finished'),
  revoked: () => t('Revoked'),
  time_up: () => t('Time up'),
  disconnected: () => t('Disconnected'),
  replaced: () => t('Next speaker called'),
});

/** Dimensions of `queue.balance`, in the order the moderator reads them. */
/** @type {Readonly<Record<string, string>>} */
export const BALANCE_DIMENSIONS = words({
  stakeholder_group: () => t('Stakeholder group'),
  gender: () => t('Gender'),
  youth: () => t('Youth (under 25)'),
  region: () => t('Region'),
});

/** UN M49 regions used by the balance figures. */
/** @type {Readonly<Record<string, string>>} */
export const REGION_LABELS = words({
  africa: () => t('Africa'),
  americas: () => t('Americas'),
  asia: () => t('Asia'),
  europe: () => t('Europe'),
  oceania: () => t('Oceania'),
});

/** @type {Readonly<Record<string, string>>} */
export const YOUTH_LABELS = words({
  youth: () => t('Under 25'),
  not_youth: () => t('25 or over'),
});

/** @param {string | null | undefined} type */
export function typeLabel(type) {
  return (type && TYPE_LABELS[type]) || type || '';
}

/**
 * "French (Français)" ("Français" alone for a French reader); the code itself for a language this table does not
 * know.
 * @param {string | null | undefined} code
 * @param {{native?: boolean}} [options]  add the language's own name when it differs
 */
export function languageLabel(code, { native = false } = {}) {
  if (!code) return '';
  const known = LANGUAGE_NAMES[code];
  if (!known) return code;
  const name = known.name();
  return native && known.native !== name ? `${name} (${known.native})` : name;
}

/** @param {string | null | undefined} reason */
export function endReasonLabel(reason) {
  return (reason && END_REASON_LABELS[reason]) || reason || '';
}

/**
 * The word for one value of a balance dimension ("civil_society" → "Civil society", "unspecified" → "Not stated").
 * @param {string} dimension   stakeholder_group, gender, youth, region
 * @param {string} value
 */
export function balanceValueLabel(dimension, value) {
  if (value === 'unspecified') return t('Not stated');
  /** @type {Record<string, Readonly<Record<string, string>>>} */
  const tables = { stakeholder_group: GROUP_LABELS, gender: GENDER_LABELS, youth: YOUTH_LABELS, region: REGION_LABELS };
  return tables[dimension]?.[value] ?? value;
}

/** The values a balance dimension always lists (others the server sends are added after them). */
/** @type {Readonly<Record<string, readonly string[]>>} */
export const BALANCE_VALUES = Object.freeze({
  stakeholder_group: GROUP_ORDER,
  gender: Object.freeze(['woman', 'man', 'another']),
  youth: Object.freeze(['youth', 'not_youth']),
  region: Object.freeze(Object.keys(REGION_LABELS)),
});

/**
 * A rank in the reader's language: 1 → "1st", 2 → "2nd", 11 → "11th", 23 → "23rd" in English (js/i18n.js).
 * @param {number} n
 */
export function ordinal(n) {
  return rank(n);
}

/**
 * The ISO code for what someone typed in a country field: a code ("ke" → "KE") or a name from the list
 * ("Kenya" → "KE"). Anything else comes back trimmed, as typed, for the server to judge.
 * @param {string} typed
 */
export function countryCodeFor(typed) {
  const text = typed.trim();
  if (/^[a-z]{2}$/i.test(text)) return text.toUpperCase();
  const match = countriesByName().find(({ name }) => name.localeCompare(text, locale(), { sensitivity: 'base' }) === 0);
  return match ? match.code : text;
}

// ---------------------------------------------------------------------------------------------------------
// Questions

/** States of a question, as its asker and the moderators read them. */
/** @type {Readonly<Record<string, string>>} */
export const QUESTION_STATE_LABELS = words({
  pending: () => t('Pending'),
  approved: () => t('Approved'),
  dismissed: () => t('Dismissed'),
  merged: () => t('Merged'),
  withdrawn: () => t('Withdrawn'),
});

/** Where an approved question is on its way to the room (`stage`; "none" has no badge). */
/** @type {Readonly<Record<string, string>>} */
export const QUESTION_STAGE_LABELS = words({
  forwarded: () => t('Forwarded to the chair'),
  read: () => t('Read aloud'),
  answered: () => t('Answered'),
});

/** The counts of `StaffQuestions.counts`, in the order of the session report's funnel. */
/** @type {Readonly<Record<string, string>>} */
export const QUESTION_COUNT_LABELS = words({
  asked: () => t('Asked'),
  pending: () => t('Pending'),
  approved: () => t('Approved'),
  dismissed: () => t('Dismissed'),
  merged: () => t('Merged'),
  withdrawn: () => t('Withdrawn'),
  forwarded: () => t('Forwarded'),
  read_aloud: () => t('Read aloud'),
  answered: () => t('Answered'),
});

/** @param {string | null | undefined} state */
export function questionStateLabel(state) {
  return (state && QUESTION_STATE_LABELS[state]) || state || '';
}

/** @param {string | null | undefined} stage */
export function questionStageLabel(stage) {
  return (stage && QUESTION_STAGE_LABELS[stage]) || '';
}

/**
 * Characters as the server counts them (code points after NFC, once line breaks and runs of white space fold into one
 * space), so the counter matches the limit the server applies.
 * @param {string} text
 */
export function questionLength(text) {
  return [...text.normalize('NFC').replace(/\s+/g, ' ').trim()].length;
}

/** What the audit log's action codes mean (server: the `action` of each audit entry). */
/** @type {Readonly<Record<string, string>>} */
export const AUDIT_ACTION_LABELS = words({
  'session.set_state': () => t('Session state changed'),
  'grant.create': () => t('Link issued'),
  'grant.revoke': () => t('Link revoked'),
  'floor.grant': () => t('Floor given'),
  'floor.end': () => t('Turn ended'),
  'floor.revoke': () => t('Floor taken back'),
  'floor.set_time': () => t('Speaking time changed'),
  'queue.add_in_room': () => t('Person in the room added to the list'),
  'queue.lower_all': () => t('All hands lowered'),
  'queue.move': () => t('Place in line changed'),
  'queue.remove': () => t('Request removed'),
  'queue.settings': () => t('List of speakers settings changed'),
  'participant.admit': () => t('Admitted'),
  'participant.admit_all': () => t('Everyone waiting admitted'),
  'participant.remove': () => t('Removed from the session'),
  'participant.ban': () => t('Banned from the event'),
  'participant.unban': () => t('Ban lifted'),
  'participant.mute': () => t('Muted or unmuted'),
  'moderation.settings': () => t('Admission settings changed'),
  'question.edit': () => t('Question edited'),
  'question.approve': () => t('Question approved'),
  'question.dismiss': () => t('Question dismissed'),
  'question.star': () => t('Question starred'),
  'question.unstar': () => t('Question unstarred'),
  'question.merge': () => t('Questions merged'),
  'question.forwarded': () => t('Question forwarded to the chair'),
  'question.read': () => t('Question read aloud'),
  'question.answered': () => t('Question answered'),
  'questions.settings': () => t('Question settings changed'),
  'archive.set_access': () => t('Archive access changed'),
  'recording.expired': () => t('Recording removed after its retention period'),
});

/** @param {string} action */
export function auditActionLabel(action) {
  return AUDIT_ACTION_LABELS[action] || action;
}

/** The words for the audit details' keys; a key not listed is shown as it is. */
/** @type {Readonly<Record<string, string>>} */
export const AUDIT_FIELD_LABELS = words({
  name: () => t('Name'),
  reason: () => t('Reason'),
  role: () => t('Role'),
  rule: () => t('Rule'),
  count: () => t('Count'),
  audio: () => t('Microphone'),
  video: () => t('Camera'),
  limit_seconds: () => t('Time allowed (seconds)'),
  add_seconds: () => t('Time added (seconds)'),
  extra_seconds: () => t('Extra time (seconds)'),
  language: () => t('Language'),
  type: () => t('Type'),
  before: () => t('Before'),
  after: () => t('After'),
  into: () => t('Into'),
  flags: () => t('Flags'),
});

/** @param {string} key */
export function auditFieldLabel(key) {
  return AUDIT_FIELD_LABELS[key] || key;
}
