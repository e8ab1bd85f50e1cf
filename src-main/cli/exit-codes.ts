// Documented in the README ("Exit codes"). Scripts and service managers rely on these staying put.
import type { ErrorCode } from '../core/errors.js';

export const EXIT = {
  ok: 0,
  /** A server failed (`tools`), or an unexpected error. */
  failure: 1,
  /** Unknown command or flag, or a bad argument. */
  usage: 2,
  /** mcp.json, the state file or a setting is invalid or unreadable. */
  config: 3,
  /** `run`: the relay wants a sign-in and none could be had (no terminal to ask, or the user quit). */
  notSignedIn: 4,
} as const;

export function exitCodeFor(code: ErrorCode): number {
  if (code === 'usage') return EXIT.usage;
  return code === 'server-failed' || code === 'auth-failed' ? EXIT.failure : EXIT.config;
}
