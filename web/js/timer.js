// @ts-check
/**
 * The speaking-time countdown, shared by every page that shows it. No DOM of its own: pages call it on their own
 * tick. Its words ("2 minutes 5 seconds left") come from js/i18n.js, in the reader's language.
 *
 * The server sends no per-second ticks. A `Timer` (docs/protocol.md) carries the `deadline` and the server's
 * clock when it was sent (`server_time`); the page remembers its own clock at receipt, so
 *
 *     remaining = deadline − (local now + (server_time − local time at receipt))
 *
 * stays right on a device whose clock is minutes off, and every page of the room counts down together.
 *
 * Phases (the same rule as the server): `speaking`; `ending` in the last fifth of the allowed time, at most the
 * last 30 s; `over` past the deadline.
 */

import { t, tn } from './i18n.js';

/** The longest "ending" phase, in seconds. */
export const ENDING_MAX_SECONDS = 30;

/** @typedef {'speaking' | 'ending' | 'over'} Phase */

/**
 * @typedef {object} Timer   as sent by the server (`floor.timer`, `mine.timer`, `queue.timer`)
 * @property {string} granted_at
 * @property {string} deadline
 * @property {number} allowed_seconds
 * @property {string} server_time
 * @property {number} remaining_seconds
 * @property {Phase} phase
 */

/**
 * Milliseconds since the epoch of an ISO 8601 time (the server sends microseconds; Date keeps milliseconds).
 * @param {string | null | undefined} iso
 * @returns {number}   NaN when absent or unreadable
 */
export function parseTime(iso) {
  if (!iso) return NaN;
  // "2025-05-27T10:00:00.123456Z" → keep three digits of the fraction, which every engine parses.
  const trimmed = String(iso).replace(/(\.\d{3})\d+/, '$1');
  return Date.parse(trimmed);
}

/**
 * How far the server's clock is ahead of ours (ms), from a server time received at `receivedAt` (local ms).
 * @param {string | null | undefined} serverTime
 * @param {number} receivedAt
 */
export function clockOffset(serverTime, receivedAt) {
  const server = parseTime(serverTime);
  return Number.isFinite(server) ? server - receivedAt : 0;
}

/**
 * The phase for a number of seconds left out of `allowed`.
 * @param {number} remaining
 * @param {number} allowed
 * @returns {Phase}
 */
export function phaseOf(remaining, allowed) {
  if (remaining < 0) return 'over';
  if (remaining <= Math.min(ENDING_MAX_SECONDS, 0.2 * allowed)) return 'ending';
  return 'speaking';
}

/**
 * "2:05", "0:07", "1:02:03"; whole seconds, rounded up while counting down (so 0:00 shows only at the deadline).
 * @param {number} seconds   absolute value is used
 */
export function formatDuration(seconds) {
  const total = Math.max(0, Math.round(Math.abs(seconds)));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/**
 * Words for a duration, for screen readers and labels: "2 minutes 5 seconds", "30 seconds".
 * @param {number} seconds
 */
export function durationWords(seconds) {
  const total = Math.max(0, Math.round(Math.abs(seconds)));
  const m = Math.floor(total / 60);
  const s = total % 60;
  const parts = [];
  if (m) parts.push(tn(m, '{count} minute', '{count} minutes'));
  if (s || !m) parts.push(tn(s, '{count} second', '{count} seconds'));
  return parts.join(' ');
}

/**
 * One running countdown: build it when a timer arrives (or pass the local time it arrived), then ask it as often
 * as the page repaints.
 */
export class Countdown {
  /**
   * @param {Timer} timer
   * @param {number} [receivedAt]   local Date.now() when the message carrying it arrived
   */
  constructor(timer, receivedAt = Date.now()) {
    this.timer = timer;
    this.offset = clockOffset(timer.server_time, receivedAt);
    this.deadline = parseTime(timer.deadline);
    this.allowed = Number(timer.allowed_seconds) || 0;
    if (!Number.isFinite(this.deadline)) {
      // No readable deadline: fall back on the server's own figure at the moment of receipt.
      this.deadline = receivedAt + this.offset + (Number(timer.remaining_seconds) || 0) * 1000;
    }
  }

  /** The server's clock now, as well as we can tell (ms). @param {number} [now] */
  serverNow(now = Date.now()) {
    return now + this.offset;
  }

  /** Seconds left (negative once over). @param {number} [now] */
  remaining(now = Date.now()) {
    return (this.deadline - this.serverNow(now)) / 1000;
  }

  /** @param {number} [now] @returns {Phase} */
  phase(now = Date.now()) {
    return phaseOf(this.remaining(now), this.allowed);
  }

  /**
   * Everything a page shows, at one instant.
   * @param {number} [now]
   * @returns {{remaining: number, phase: Phase, clock: string, text: string, spoken: string}}
   *   `clock` "2:05" (or "+0:12" when over), `text` "2:05 left" / "Over time by 0:12", `spoken` in words
   */
  read(now = Date.now()) {
    const remaining = this.remaining(now);
    const phase = phaseOf(remaining, this.allowed);
    // Count down in whole seconds, rounding up: "0:01" until the very deadline, then "+0:00", "+0:01"...
    const shown = remaining >= 0 ? Math.ceil(remaining) : Math.floor(-remaining);
    const clock = remaining >= 0 ? formatDuration(shown) : `+${formatDuration(shown)}`;
    const duration = formatDuration(shown);
    const text = phase === 'over' ? t('Over time by {duration}', { duration })
      : phase === 'ending' ? t('Ending: {duration} left', { duration })
        : t('{duration} left', { duration });
    const words = durationWords(shown);
    const spoken = phase === 'over' ? t('Time is up: over by {duration}', { duration: words })
      : t('{duration} left', { duration: words });
    return { remaining, phase, clock, text, spoken };
  }
}

/**
 * Seconds elapsed since an ISO time, by the server's clock (for "waiting 4 min").
 * @param {string | null | undefined} since
 * @param {number} offset   server minus local clock, ms (see clockOffset)
 * @param {number} [now]
 */
export function secondsSince(since, offset, now = Date.now()) {
  const start = parseTime(since);
  if (!Number.isFinite(start)) return 0;
  return Math.max(0, (now + offset - start) / 1000);
}
