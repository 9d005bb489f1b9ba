// The one error type of the library: a protocol error code (`bad_request`, `not_found`, …, from an `error` frame or an
// HTTP error body) or one of the library's own codes (`timeout`, `not_connected`, `connection_lost`, `closed`, …).

export class ClientError extends Error {
  /**
   * @param {string} code the protocol's error code, or the library's own
   * @param {string} message
   * @param {{retryAfterMs?: number, status?: number, frame?: object, cause?: unknown}} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'ClientError';
    this.code = code;
    if (extra.retryAfterMs !== undefined) this.retryAfterMs = extra.retryAfterMs;
    if (extra.status !== undefined) this.status = extra.status;
    if (extra.frame !== undefined) this.frame = extra.frame;
  }

  /** The error of an `error` frame: `code`, `message` and, for `rate_limited`, `retryAfterMs`. */
  static fromFrame(frame) {
    const extra = { frame };
    if (typeof frame.retry_after_ms === 'number') extra.retryAfterMs = frame.retry_after_ms;
    return new ClientError(String(frame.code ?? 'unknown'), String(frame.message ?? frame.code ?? 'error'), extra);
  }
}
