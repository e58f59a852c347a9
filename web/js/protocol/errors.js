// @ts-check
/**
 * Errors of the protocol client: what the server refused (HTTP error bodies, refused acknowledgements,
 * `connect_error` data) and what went wrong on the way (no answer, no connection), as one ProtocolError.
 */

/**
 * An error from the server (HTTP body `{"error": {...}}`, ack `{ok: false, error}`, `connect_error` data)
 * or from this client. Codes made up by the client, never sent by the server:
 *   network        the server could not be reached
 *   timeout        no acknowledgement in time
 *   not_connected  a request was made while the socket is not connected
 *   bad_response   the server answered something this client does not understand
 */
export class ProtocolError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{status?: number, details?: any, event?: string}} [extra]
   */
  constructor(code, message, { status, details, event } = {}) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
    this.status = status;
    this.details = details;
    this.event = event;
  }

  /** The field the server named in `details.field`, if any. @returns {string | null} */
  get field() {
    return this.details && typeof this.details.field === 'string' ? this.details.field : null;
  }
}

/** Codes that mean the stored token will never work again: pages forget it. */
export const DEAD_TOKEN_CODES = Object.freeze([
  'token_missing', 'token_invalid', 'token_expired', 'token_revoked', 'token_unknown', 'wrong_session',
]);
