// @ts-check
/**
 * The room display (projector or confidence monitor): who has the floor (name, affiliation, stakeholder
 * group), the countdown in big type, the next two in line; the question being read aloud (its text, and who
 * asked unless anonymous); then, smaller, the session and how many people follow remotely, by stakeholder
 * group; the results of a poll while the moderator shows them; the caption line (the last two lines of the floor's captions, or of the language in `?captions=fr`);
 * with `?sign=1` (or `?sign=bottom-left`, `top-right`, `top-left`), the sign-language interpreter in a corner
 * while the sign channel is on air (issue 21), set once in the display's link by the AV technician, like
 * `?captions=`.
 * Large type, dark background, no controls (F toggles full screen).
 */

import { CaptionView } from '../caption-ui.js';
import { t, tn } from '../i18n.js';
import { FloorView } from '../floor-ui.js';
import { GROUP_ORDER, groupLabel } from '../labels.js';
import { DisplayPolls } from '../poll-ui.js';
import { ReadingView } from '../question-ui.js';
import { SessionPage } from '../session-page.js';
import { staffTokenKey, tokenFor } from '../tokens.js';
import { byId, el, errorNotice, fill, refusalAdvice } from '../ui.js';
import { MediaClient } from '../media.js';
import { SignTile } from '../sign-tile.js';

const page = new SessionPage({ pageName: t('Room display'), role: 'display' });
const board = byId('board');
const remoteTotal = byId('remote-total');
const remoteWords = byId('remote-words');
const allTotal = byId('presence-total');
const groups = byId('groups');
// Nobody at a room display uses a screen reader: no announcements.
const floorView = new FloorView({ large: true, next: 2, announce: false, idleText: t('Waiting for the next speaker') });
fill(byId('floor-board'), floorView.node);
const reading = new ReadingView({ large: true, label: t('Question being read aloud') });
const readingBoard = byId('reading-board');
fill(readingBoard, reading.node);
readingBoard.hidden = true;
const captionLanguage = new URLSearchParams(window.location.search).get('captions');
const captions = new CaptionView({ lines: 2, large: true, choose: false, language: captionLanguage || 'floor' });
fill(byId('caption-board'), captions.node);
const SIGN_CORNERS = ['bottom-right', 'bottom-left', 'top-right', 'top-left'];
const signOption = new URLSearchParams(window.location.search).get('sign') ?? 'off';
const signCorner = signOption === '1' || signOption === 'on' ? 'bottom-right'
  : SIGN_CORNERS.includes(signOption) ? signOption : null;

start();

async function start() {
  const tokenKey = page.sessionId === null ? null : staffTokenKey(page.sessionId, 'display');
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
  const client = page.connect({ token, tokenKey });
  if (signCorner) {
    // The sign-language interpreter in a corner, while on air.
    const media = new MediaClient(client);
    const sign = new SignTile(() => media, { corner: signCorner });
    document.body.append(sign.node);
    client.on('welcome', () => { client.refreshOnAir().catch(() => {}); });
    client.on('media:channels', ({ onAir }) => sign.follow(true, onAir));
  }
  // Live polls (issue 24): the results the moderator shows.
  new DisplayPolls(byId('poll-board'), client);
  const renderFloor = () => floorView.update(client.floor, client.floorReceivedAt);
  const renderReading = () => {
    reading.update(client.questions?.reading ?? null);
    readingBoard.hidden = reading.node.hidden; // no empty row in the board's grid
  };
  client.on('welcome', () => {
    board.hidden = false;
    render(client.presence);
    renderFloor();
    renderReading();
    captions.reset(client);
  });
  client.on('caption', ({ caption }) => captions.add(caption));
  client.on('presence', render);
  client.on('floor', renderFloor);
  client.on('questions:public', renderReading);
  client.on('connection', ({ state }) => {
    if (state === 'refused') board.hidden = true;
    // Nobody stands by a room display to press Reconnect: when the server ends the connection, try again.
    if (state === 'closed') setTimeout(() => { if (client.connection === 'closed') client.connect(); }, 5000);
  });
  await publicView;
}

/** @param {import('../protocol.js').PresenceSummary | null} summary */
function render(summary) {
  if (!summary) return;
  const remote = summary.by_role?.attendee ?? 0;
  remoteTotal.textContent = String(remote);
  remoteWords.textContent = tn(remote, 'person following remotely', 'people following remotely');
  allTotal.textContent = String(summary.total);
  const byGroup = summary.by_group || {};
  const largest = Math.max(1, ...Object.values(byGroup));
  const extra = Object.keys(byGroup).filter((group) => !GROUP_ORDER.includes(group));
  fill(groups, [...GROUP_ORDER, ...extra].map((group) => {
    const count = byGroup[group] ?? 0;
    const bar = el('span', { class: 'bar', 'aria-hidden': 'true' });
    // CSSOM, not a style attribute: allowed by the page's Content-Security-Policy.
    bar.style.setProperty('--share', String(count / largest));
    return el('li', { testid: 'group-count', dataset: { group, count: String(count) } },
      el('span', { class: 'group-name' }, groupLabel(group)),
      el('span', { class: 'group-value' }, String(count)),
      bar);
  }));
}

// One screen, whatever it shows: a projector cannot scroll. The type is multiplied by --fit (see the style
// sheet), lowered here until the page no longer reaches past the viewport. A binary search: each try is one
// layout, and ten of them settle the scale within a thousandth. Any change to what is shown (a new speaker, a
// question read, a caption line, the countdown's words, the page's language) or to the screen fits it again.
const root = document.documentElement;
let fitQueued = false;

function overflows() {
  return root.scrollHeight > window.innerHeight || root.scrollWidth > window.innerWidth;
}

function fitNow() {
  fitQueued = false;
  root.style.setProperty('--fit', '1');
  if (overflows()) {
    let low = 0.25;
    let high = 1;
    for (let i = 0; i < 10; i += 1) {
      const middle = (low + high) / 2;
      root.style.setProperty('--fit', String(middle));
      if (overflows()) high = middle;
      else low = middle;
    }
    root.style.setProperty('--fit', String(low));
  }
  root.dataset.fit = 'done'; // for the tests, which measure once the page has fitted itself
}

function fit() {
  if (fitQueued) return;
  fitQueued = true;
  root.dataset.fit = 'pending';
  requestAnimationFrame(fitNow);
}

new MutationObserver(fit).observe(document.body, {
  childList: true, subtree: true, characterData: true, attributes: true,
  attributeFilter: ['hidden', 'data-phase', 'data-length'],
});
window.addEventListener('resize', fit);
document.fonts?.ready.then(fit);
fit();

// Full screen on demand: a room display is usually set up once with a keyboard, then left alone.
document.addEventListener('keydown', (event) => {
  if (event.key !== 'f' && event.key !== 'F') return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (document.fullscreenElement) document.exitFullscreen?.();
  else document.documentElement.requestFullscreen?.().catch(() => {});
});
