// @ts-check
/**
 * Words shown for the codes of docs/protocol.md: roles, stakeholder groups, session states, demographics.
 *
 * Protocol layer: no DOM access. The labels match server/domain/roles.py and server/domain/participants.py.
 */

/** @type {Readonly<Record<string, string>>} */
export const ROLE_LABELS = Object.freeze({
  admin: 'Administrator',
  moderator: 'Moderator',
  chair: 'Chair',
  av: 'AV technician',
  captioner: 'Captioner',
  interpreter: 'Interpreter',
  display: 'Room display',
  attendee: 'Attendee',
});

/** Roles in the order a roster lists them: staff first, attendees last. */
export const ROLE_ORDER = Object.freeze(Object.keys(ROLE_LABELS));

/** Roles that see the full roster (the server's `Role.is_staff`). */
export const STAFF_ROLES = Object.freeze(['admin', 'moderator', 'chair', 'av', 'captioner', 'interpreter']);

/** @type {Readonly<Record<string, string>>} */
export const GROUP_LABELS = Object.freeze({
  government: 'Government',
  private_sector: 'Private sector',
  civil_society: 'Civil society',
  academic_technical: 'Academic and technical community',
  international_organization: 'International organization',
});

/** The five stakeholder groups, in the order the WSIS process lists them. */
export const GROUP_ORDER = Object.freeze(Object.keys(GROUP_LABELS));

/** @type {Readonly<Record<string, string>>} */
export const STATE_LABELS = Object.freeze({
  scheduled: 'Scheduled',
  live: 'Live',
  ended: 'Ended',
});

/** @type {Readonly<Record<string, string>>} */
export const GENDER_LABELS = Object.freeze({
  woman: 'Woman',
  man: 'Man',
  another: 'Another gender',
});

/** @type {Readonly<Record<string, string>>} */
export const AGE_BAND_LABELS = Object.freeze({
  under_25: 'Under 25',
  '25_34': '25 to 34',
  '35_49': '35 to 49',
  '50_64': '50 to 64',
  '65_plus': '65 or over',
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
  return (role && ROLE_LABELS[role]) || role || 'Unknown role';
}

/** @param {string | null | undefined} group */
export function groupLabel(group) {
  if (!group || group === 'unspecified') return 'Not stated';
  return GROUP_LABELS[group] || group;
}

/** @param {string | null | undefined} state */
export function stateLabel(state) {
  return (state && STATE_LABELS[state]) || state || 'Unknown';
}

/** @param {string | null | undefined} role */
export function isStaffRole(role) {
  return !!role && STAFF_ROLES.includes(role);
}

/** @type {Intl.DisplayNames | null | undefined} */
let regionNames;

/**
 * The English name of a country code ("SN" → "Senegal"); the code itself when the browser has no name.
 * @param {string | null | undefined} code
 */
export function countryName(code) {
  if (!code) return '';
  if (regionNames === undefined) {
    try {
      regionNames = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'code' });
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

/** Country codes sorted by their English names, for a select list. */
export function countriesByName() {
  return COUNTRY_CODES.map((code) => ({ code, name: countryName(code) }))
    .sort((a, b) => a.name.localeCompare(b.name, 'en', { sensitivity: 'base' }));
}

// ---------------------------------------------------------------------------------------------------------
// The speakers' queue

/** Types of intervention (`Type` in docs/protocol.md), in the order the form offers them. */
/** @type {Readonly<Record<string, string>>} */
export const TYPE_LABELS = Object.freeze({
  statement: 'Statement',
  question: 'Question to the panel',
  right_of_reply: 'Right of reply',
  point_of_order: 'Point of order',
});

/** The six UN languages, by their English names and their own (endonyms). */
/** @type {Readonly<Record<string, {name: string, native: string}>>} */
export const LANGUAGE_NAMES = Object.freeze({
  ar: { name: 'Arabic', native: 'العربية' },
  zh: { name: 'Chinese', native: '中文' },
  en: { name: 'English', native: 'English' },
  fr: { name: 'French', native: 'Français' },
  ru: { name: 'Russian', native: 'Русский' },
  es: { name: 'Spanish', native: 'Español' },
});

/** How a turn ended (`end_reason`). */
/** @type {Readonly<Record<string, string>>} */
export const END_REASON_LABELS = Object.freeze({
  finished: 'Finished',
  revoked: 'Revoked',
  time_up: 'Time up',
  disconnected: 'Disconnected',
  replaced: 'Next speaker called',
});

/** Dimensions of `queue.balance`, in the order the moderator reads them. */
/** @type {Readonly<Record<string, string>>} */
export const BALANCE_DIMENSIONS = Object.freeze({
  stakeholder_group: 'Stakeholder group',
  gender: 'Gender',
  youth: 'Youth (under 25)',
  region: 'Region',
});

/** UN M49 regions used by the balance figures. */
/** @type {Readonly<Record<string, string>>} */
export const REGION_LABELS = Object.freeze({
  africa: 'Africa',
  americas: 'Americas',
  asia: 'Asia',
  europe: 'Europe',
  oceania: 'Oceania',
});

/** @type {Readonly<Record<string, string>>} */
export const YOUTH_LABELS = Object.freeze({
  youth: 'Under 25',
  not_youth: '25 or over',
});

/** @param {string | null | undefined} type */
export function typeLabel(type) {
  return (type && TYPE_LABELS[type]) || type || '';
}

/**
 * "French (Français)"; the code itself for a language this table does not know.
 * @param {string | null | undefined} code
 * @param {{native?: boolean}} [options]  add the language's own name when it differs
 */
export function languageLabel(code, { native = false } = {}) {
  if (!code) return '';
  const known = LANGUAGE_NAMES[code];
  if (!known) return code;
  return native && known.native !== known.name ? `${known.name} (${known.native})` : known.name;
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
  if (value === 'unspecified') return 'Not stated';
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
 * English ordinal: 1 → "1st", 2 → "2nd", 11 → "11th", 23 → "23rd".
 * @param {number} n
 */
export function ordinal(n) {
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return `${n}th`;
  return `${n}${({ 1: 'st', 2: 'nd', 3: 'rd' })[n % 10] ?? 'th'}`;
}

/**
 * The ISO code for what someone typed in a country field: a code ("ke" → "KE") or a name from the list
 * ("Kenya" → "KE"). Anything else comes back trimmed, as typed, for the server to judge.
 * @param {string} typed
 */
export function countryCodeFor(typed) {
  const text = typed.trim();
  if (/^[a-z]{2}$/i.test(text)) return text.toUpperCase();
  const match = countriesByName().find(({ name }) => name.localeCompare(text, 'en', { sensitivity: 'base' }) === 0);
  return match ? match.code : text;
}

// ---------------------------------------------------------------------------------------------------------
// Questions

/** States of a question, as its asker and the moderators read them. */
/** @type {Readonly<Record<string, string>>} */
export const QUESTION_STATE_LABELS = Object.freeze({
  pending: 'Pending',
  approved: 'Approved',
  dismissed: 'Dismissed',
  merged: 'Merged',
  withdrawn: 'Withdrawn',
});

/** Where an approved question is on its way to the room (`stage`; "none" has no badge). */
/** @type {Readonly<Record<string, string>>} */
export const QUESTION_STAGE_LABELS = Object.freeze({
  forwarded: 'Forwarded to the chair',
  read: 'Read aloud',
  answered: 'Answered',
});

/** The counts of `Moderation.counts`, in the order of the session report's funnel. */
/** @type {Readonly<Record<string, string>>} */
export const QUESTION_COUNT_LABELS = Object.freeze({
  asked: 'Asked',
  pending: 'Pending',
  approved: 'Approved',
  dismissed: 'Dismissed',
  merged: 'Merged',
  withdrawn: 'Withdrawn',
  forwarded: 'Forwarded',
  read_aloud: 'Read aloud',
  answered: 'Answered',
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
