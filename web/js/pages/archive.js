// @ts-check
/**
 * The session archive page (/s/{id}/archive): the recording played segment by segment on one clock (each
 * segment file is placed at its wall-clock offset, so a relay that moved to another process or a restart
 * joins up), the sound of the floor or of a language channel, captions per language as WebVTT tracks, the
 * chapters (one per intervention and per question read aloud) with links to share, and the downloads.
 *
 * Who may open it is decided by the server (staff, or everyone in the session when the administrator made it
 * public); the administrator also sets that here. The token comes from the link (#token=...) or from a page
 * of the same session opened before in this browser.
 */
import { t } from '../i18n.js';
import {
  captionsUrl, chaptersUrl, following, getArchive, locate, segmentUrl, setArchiveAccess, startFrom,
} from '../protocol/archive.js';
import { ProtocolError } from '../protocol/errors.js';
import { getSession } from '../protocol/http.js';
import { groupLabel, languageLabel, typeLabel } from '../labels.js';
import { parsePath } from '../route.js';
import {
  adminTokenKey, attendeeTokenKey, loadToken, saveToken, staffTokenKey, takeTokenFromFragment,
} from '../tokens.js';
import { byId, el, errorText, fill, showError } from '../ui.js';

/** @typedef {import('../protocol/archive.js').ArchiveListing} ArchiveListing */
/** @typedef {import('../protocol/archive.js').ArchiveRecording} ArchiveRecording */
/** @typedef {import('../protocol/archive.js').ArchiveSegment} ArchiveSegment */

const route = parsePath();
const sessionId = /** @type {number | string} */ (route.sessionId);
const ARCHIVE_KEY = staffTokenKey(sessionId, 'archive');
const STAFF = ['moderator', 'chair', 'av', 'captioner', 'interpreter'];

const status = byId('status');
const error = byId('error');
const video = /** @type {HTMLVideoElement} */ (byId('player'));
const channelAudio = /** @type {HTMLAudioElement} */ (byId('channel-audio'));
const clock = byId('clock');
const recordingSelect = /** @type {HTMLSelectElement} */ (byId('recording'));
const channelSelect = /** @type {HTMLSelectElement} */ (byId('channel'));
const captionSelect = /** @type {HTMLSelectElement} */ (byId('captions'));
const accessSelect = /** @type {HTMLSelectElement} */ (byId('access'));

/** @type {ArchiveListing | null} */
let listing = null;
/** @type {ArchiveRecording | null} */
let recording = null;
/** The floor segment in the video element, and the channel segment in the audio element. */
/** @type {ArchiveSegment | null} */
let floorSegment = null;
/** @type {ArchiveSegment | null} */
let channelSegment = null;
let token = '';
/** Whether the video is muted because a language channel plays instead of the floor. */
let mutedForChannel = false;

/** The token: the link's, else one this browser holds for this session (staff, then the event's). */
async function findToken() {
  const fresh = takeTokenFromFragment();
  if (fresh) {
    saveToken(ARCHIVE_KEY, fresh);
    return fresh;
  }
  for (const key of [ARCHIVE_KEY, ...STAFF.map((role) => staffTokenKey(sessionId, role))]) {
    const found = loadToken(key);
    if (found) return found;
  }
  // An event-wide token (the administrator's, an attendee's): the event comes from the link or the session.
  let eventId = new URLSearchParams(location.search).get('event');
  if (!eventId) {
    try {
      eventId = String((await getSession(sessionId, '')).session.event_id);
    } catch {
      eventId = null;
    }
  }
  if (!eventId) return '';
  return loadToken(adminTokenKey(eventId)) || loadToken(attendeeTokenKey(eventId)) || '';
}

/** @param {unknown} err */
function explain(err) {
  if (err instanceof ProtocolError && err.code === 'archive_staff_only') {
    return t('This session\u2019s archive is for the organisers only.');
  }
  if (err instanceof ProtocolError && err.code.startsWith('token_')) {
    return t('{reason} Open the archive from a link of this session.', { reason: errorText(err) });
  }
  return errorText(err);
}

/**
 * A track's or a caption language's name: the floor, or a language.
 * @param {string} code
 */
function trackName(code) {
  return code === 'floor' ? t('Floor (as spoken in the room)') : languageLabel(code);
}

/** @param {number} bytes */
function sizeText(bytes) {
  return bytes >= 1e6 ? t('{size} MB', { size: (bytes / 1e6).toFixed(1) })
    : t('{size} kB', { size: Math.max(1, Math.round(bytes / 1e3)) });
}

/** @param {number} seconds */
function clockText(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

function floorTrack() {
  return recording?.tracks.floor ?? [];
}

function channelTrack() {
  const code = channelSelect.value;
  return code && code !== 'floor' ? recording?.tracks[code] ?? [] : [];
}

/** Seconds from the recording's start: where the video element is on the recording's clock. */
function now() {
  return (floorSegment?.offset ?? 0) + (video.currentTime || 0);
}

/**
 * Wait until a media element can be sought (its metadata is loaded).
 * @param {HTMLMediaElement} media
 */
function ready(media) {
  if (media.readyState >= 1) return Promise.resolve();
  return new Promise((resolve) => media.addEventListener('loadedmetadata', () => resolve(undefined), { once: true }));
}

/** Captions as <track> elements of the floor segment, timed from where that segment starts. */
function setTracks() {
  for (const old of video.querySelectorAll('track')) old.remove();
  if (!recording || !listing || !floorSegment) return;
  for (const language of recording.captions) {
    const track = /** @type {HTMLTrackElement} */ (el('track', {
      kind: 'captions',
      srclang: language === 'floor' ? 'und' : language,
      label: trackName(language),
      src: captionsUrl(sessionId, recording.id, language, listing.media_key, { from: floorSegment.offset }),
      dataset: { language },
    }));
    video.append(track);
  }
  showCaptions();
}

function showCaptions() {
  for (const track of /** @type {NodeListOf<HTMLTrackElement>} */ (video.querySelectorAll('track'))) {
    track.track.mode = track.dataset.language === captionSelect.value ? 'showing' : 'disabled';
  }
}

/**
 * Put the recording at `time` (seconds from its start): the floor segment that holds it in the video element
 * at the right place, and the chosen channel's in the audio element.
 * @param {number} time
 * @param {boolean} [play]
 */
async function seek(time, play = !video.paused) {
  if (!recording || !listing) return;
  const floor = locate(floorTrack(), time);
  if (floor) {
    if (floorSegment?.id !== floor.segment.id) {
      floorSegment = floor.segment;
      video.src = segmentUrl(sessionId, recording.id, floor.segment.id, listing.media_key);
      setTracks();
    }
    await ready(video);
    video.currentTime = floor.local;
    video.dataset.segment = String(floor.segment.id);
  }
  await syncChannel(time);
  clock.textContent = clockText(time);
  byId('archive').dataset.time = String(time);
  if (play) await video.play().catch(() => undefined);
}

/** @param {number} time */
async function syncChannel(time) {
  const place = locate(channelTrack(), time);
  // The floor's sound gives way to the channel's; the reader's own mute is left as it is.
  if (place && !mutedForChannel) {
    mutedForChannel = true;
    video.muted = true;
  } else if (!place && mutedForChannel) {
    mutedForChannel = false;
    video.muted = false;
  }
  if (!place || !recording || !listing) {
    channelAudio.pause();
    channelAudio.removeAttribute('src');
    channelSegment = null;
    return;
  }
  if (channelSegment?.id !== place.segment.id) {
    channelSegment = place.segment;
    channelAudio.src = segmentUrl(sessionId, recording.id, place.segment.id, listing.media_key);
  }
  await ready(channelAudio);
  if (Math.abs(channelAudio.currentTime - place.local) > 0.25) channelAudio.currentTime = place.local;
  if (!video.paused) await channelAudio.play().catch(() => undefined);
}

function showRecording() {
  if (!listing) return;
  recording = listing.recordings.find((r) => String(r.id) === recordingSelect.value) ?? listing.recordings[0];
  floorSegment = null;
  channelSegment = null;
  const tracks = Object.keys(recording.tracks);
  fill(channelSelect, ...tracks.map((code) => el('option', { value: code }, trackName(code))));
  fill(captionSelect, el('option', { value: '' }, t('No captions')),
    ...recording.captions.map((code) => el('option', { value: code }, trackName(code))));
  renderChapters();
  renderDownloads();
  const start = startFrom(location.search, location.hash, recording.chapters);
  seek(start ?? 0, false);
}

function renderChapters() {
  if (!recording) return;
  const list = byId('chapters');
  if (!recording.chapters.length) {
    fill(list, el('li', { class: 'muted' }, t('No intervention or question read aloud during this recording.')));
    return;
  }
  fill(list, ...recording.chapters.map((chapter) => {
    const href = `${location.pathname}?chapter=${encodeURIComponent(chapter.id)}`;
    const go = (/** @type {Event} */ event) => {
      event.preventDefault();
      history.replaceState(history.state, '', href);
      seek(chapter.start, true);
    };
    const facts = chapter.kind === 'question'
      ? [t('Question read aloud'), chapter.asker ? String(chapter.asker) : null]
      : [chapter.stakeholder_group ? groupLabel(chapter.stakeholder_group) : null,
        chapter.type ? typeLabel(chapter.type) : null,
        chapter.language ? languageLabel(chapter.language) : null];
    return el('li', { class: 'archive-chapter', testid: 'chapter', dataset: { chapter: chapter.id } },
      el('button', { type: 'button', class: 'link-button', testid: 'chapter-play', onclick: go },
        el('span', { class: 'chapter-time' }, clockText(chapter.start)), ' ',
        el('span', { dir: 'auto' }, chapter.title)),
      el('span', { class: 'muted' }, ' ', [...facts.filter(Boolean),
        t('{seconds} s', { seconds: Math.round(chapter.duration_seconds) })].join(' · ')), ' ',
      el('a', { href, testid: 'chapter-link', onclick: go,
        'aria-label': t('Link to this chapter: {title}', { title: chapter.title }) }, t('Link')));
  }));
}

function renderDownloads() {
  if (!recording || !listing) return;
  const key = listing.media_key;
  const rec = recording;
  /** @param {string} href @param {string} label @param {string} testid */
  const item = (href, label, testid) => el('li', {}, el('a', { href, testid, download: '' }, label));
  const files = Object.entries(rec.tracks).flatMap(([code, segments]) => segments.map((segment, index) =>
    item(segmentUrl(sessionId, rec.id, segment.id, key, true),
      t('{track}, part {part} ({size})', { track: trackName(code), part: index + 1, size: sizeText(segment.bytes) }),
      `download-segment-${segment.id}`)));
  const captions = rec.captions.map((code) => item(captionsUrl(sessionId, rec.id, code, key, { download: true }),
    t('Captions, {language} (WebVTT)', { language: trackName(code) }), `download-captions-${code}`));
  fill(byId('downloads'), ...files, ...captions,
    item(chaptersUrl(sessionId, rec.id, 'vtt', key), t('Chapters (WebVTT)'), 'download-chapters-vtt'),
    item(chaptersUrl(sessionId, rec.id, 'json', key), t('Chapters (JSON)'), 'download-chapters-json'));
}

async function load() {
  token = await findToken();
  if (!token) {
    status.textContent = '';
    showError(error, { code: 'token_missing', message: t('This page was opened without a link.') });
    return;
  }
  try {
    listing = await getArchive(sessionId, token);
  } catch (err) {
    status.textContent = '';
    showError(error, { code: err instanceof ProtocolError ? err.code : 'error', message: explain(err) });
    return;
  }
  byId('archive-title').textContent = t('Archive: {title}', { title: listing.session.title });
  document.title = t('{title} — Hemicycle', { title: listing.session.title });
  if (listing.can_manage) {
    accessSelect.value = listing.access;
    byId('access-box').hidden = false;
  }
  if (!listing.recordings.length) {
    status.textContent = t('This session has no recording.');
    return;
  }
  fill(recordingSelect, ...listing.recordings.map((r, index) => el('option', { value: String(r.id) },
    t('Recording {n}, {duration}', { n: index + 1, duration: clockText(r.duration_seconds) }))));
  byId('recording-choice').hidden = listing.recordings.length < 2;
  const wanted = new URLSearchParams(location.search).get('recording');
  if (wanted && listing.recordings.some((r) => String(r.id) === wanted)) recordingSelect.value = wanted;
  status.textContent = '';
  byId('archive').hidden = false;
  showRecording();
}

// A segment that ends hands over to the next one on the same track: the recording plays on.
video.addEventListener('ended', () => {
  const next = floorSegment ? following(floorTrack(), floorSegment) : null;
  if (next) seek(next.offset, true);
});
video.addEventListener('timeupdate', () => {
  const time = now();
  clock.textContent = clockText(time);
  byId('archive').dataset.time = String(time);
  if (channelSegment || channelTrack().length) syncChannel(time);
});
video.addEventListener('pause', () => channelAudio.pause());
video.addEventListener('play', () => syncChannel(now()));
recordingSelect.addEventListener('change', showRecording);
channelSelect.addEventListener('change', () => syncChannel(now()));
captionSelect.addEventListener('change', showCaptions);
accessSelect.addEventListener('change', async () => {
  const box = byId('access-error');
  showError(box, null);
  try {
    await setArchiveAccess(sessionId, /** @type {'staff' | 'public'} */ (accessSelect.value), token);
    status.textContent = accessSelect.value === 'public'
      ? t('Everyone in the session may now open this archive.')
      : t('Only the organisers may now open this archive.');
  } catch (err) {
    showError(box, err);
    if (listing) accessSelect.value = listing.access;
  }
});
load();
