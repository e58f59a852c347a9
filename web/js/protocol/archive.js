// @ts-check
/**
 * The session archive's HTTP routes (docs/protocol.md, "The session archive") and its timeline: where a time
 * of the recording falls in its segment files.
 *
 * Protocol layer: no DOM access.
 */

import { httpJSON, seg } from './http.js';

/**
 * @typedef {object} ArchiveSegment
 * @property {number} id
 * @property {string} track         "floor" or a language code
 * @property {number} offset        seconds from the recording's start to the file's time 0
 * @property {number | null} duration
 * @property {boolean} complete
 * @property {string} container
 * @property {string[]} codecs
 * @property {number} bytes
 */

/**
 * @typedef {object} ArchiveChapter
 * @property {string} id            "c1", "c2"...
 * @property {'intervention' | 'question'} kind
 * @property {number} start
 * @property {number} end
 * @property {number} duration_seconds
 * @property {string} title
 * @property {string} [speaker]
 * @property {string | null} [affiliation]
 * @property {string | null} [stakeholder_group]
 * @property {string | null} [type]
 * @property {string | null} [language]
 * @property {string} [text]
 * @property {string | null} [asker]
 */

/**
 * @typedef {object} ArchiveRecording
 * @property {number} id
 * @property {string} state
 * @property {string} started_at
 * @property {string | null} stopped_at
 * @property {number} duration_seconds
 * @property {Record<string, ArchiveSegment[]>} tracks
 * @property {string[]} captions
 * @property {ArchiveChapter[]} chapters
 */

/**
 * @typedef {object} ArchiveListing
 * @property {import('../protocol-types.js').Session} session
 * @property {'staff' | 'public'} access
 * @property {boolean} can_manage
 * @property {string} media_key
 * @property {ArchiveRecording[]} recordings
 */

/**
 * @param {number | string} sessionId
 * @param {string} token
 * @returns {Promise<ArchiveListing>}
 */
export function getArchive(sessionId, token) {
  return /** @type {any} */ (httpJSON(`/api/sessions/${seg(sessionId)}/archive`, { token }));
}

/**
 * Staff-only or public (the event's administrators).
 * @param {number | string} sessionId
 * @param {'staff' | 'public'} access
 * @param {string} token
 * @returns {Promise<{session_id: number, access: string, previous: string}>}
 */
export function setArchiveAccess(sessionId, access, token) {
  return /** @type {any} */ (
    httpJSON(`/api/sessions/${seg(sessionId)}/archive/access`, { method: 'POST', body: { access }, token })
  );
}

/**
 * @param {number | string} sessionId
 * @param {number} recordingId
 * @param {string} key   the listing's media key
 */
function base(sessionId, recordingId, key) {
  return { path: `/api/sessions/${seg(sessionId)}/recordings/${seg(recordingId)}`, key: encodeURIComponent(key) };
}

/**
 * A segment file's address for a media element (or a download).
 * @param {number | string} sessionId @param {number} recordingId @param {number} segmentId @param {string} key
 * @param {boolean} [download]
 */
export function segmentUrl(sessionId, recordingId, segmentId, key, download = false) {
  const { path, key: k } = base(sessionId, recordingId, key);
  return `${path}/segments/${seg(segmentId)}?key=${k}${download ? '&download=1' : ''}`;
}

/**
 * One language's captions as WebVTT; `from` (seconds) times them from that point of the recording, where a
 * segment file starts, so that a <track> follows its segment's own clock.
 * @param {number | string} sessionId @param {number} recordingId @param {string} language @param {string} key
 * @param {{from?: number, download?: boolean}} [options]
 */
export function captionsUrl(sessionId, recordingId, language, key, { from = 0, download = false } = {}) {
  const { path, key: k } = base(sessionId, recordingId, key);
  return `${path}/captions?language=${encodeURIComponent(language)}&key=${k}`
    + `${from ? `&from=${from}` : ''}${download ? '&download=1' : ''}`;
}

/**
 * @param {number | string} sessionId @param {number} recordingId @param {'vtt' | 'json'} format
 * @param {string} key
 */
export function chaptersUrl(sessionId, recordingId, format, key) {
  const { path, key: k } = base(sessionId, recordingId, key);
  return `${path}/chapters?format=${format}&key=${k}&download=1`;
}

/**
 * The segment that plays at `time` (seconds from the recording's start): the last one starting at or before
 * it, or the first one after it when `time` falls in a gap before any. Null for a track with no segment.
 * @param {ArchiveSegment[]} segments   in time order
 * @param {number} time
 * @returns {{segment: ArchiveSegment, local: number} | null}
 */
export function locate(segments, time) {
  if (!segments.length) return null;
  let found = segments[0];
  for (const item of segments) {
    if (item.offset <= time + 1e-6) found = item;
  }
  const local = Math.max(0, time - found.offset);
  return { segment: found, local };
}

/**
 * The segment after `current` on the same track, if any.
 * @param {ArchiveSegment[]} segments @param {ArchiveSegment} current
 */
export function following(segments, current) {
  const index = segments.findIndex((s) => s.id === current.id);
  return index >= 0 && index + 1 < segments.length ? segments[index + 1] : null;
}

/**
 * Where a shared link points: `?chapter=c3` or `#t=12.5` (seconds), resolved against the chapters.
 * @param {string} search @param {string} hash @param {ArchiveChapter[]} chapters
 * @returns {number | null}
 */
export function startFrom(search, hash, chapters) {
  const wanted = new URLSearchParams(search).get('chapter');
  if (wanted) {
    const chapter = chapters.find((c) => c.id === wanted);
    if (chapter) return chapter.start;
  }
  const t = new URLSearchParams(hash.replace(/^#/, '')).get('t');
  if (t !== null && /^\d+(\.\d+)?$/.test(t)) return Number(t);
  return null;
}
