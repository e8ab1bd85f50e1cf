// Which open MCP requests each credential opened (issue 12: "a revoked token stops working at once, on every
// open session"). Every request on an MCP route that was let in by a credential is tracked here under that
// credential's id until its response closes: an SSE stream (the 2025 era's standalone GET stream and its
// POST-as-SSE answers, the 2026-07-28 era's per-request streams and subscriptions/listen) as well as a plain
// JSON call still waiting for its answer. When the credential is revoked, revoke() ends them all at once.
//
// The credential's id is what its revocation names: a relay JWT's id (TokenAuthority.idOf: `jti:…`, or
// `sha256:…` for a token without a jti), or `grant:<grant id>` for an OAuth access token (grantCredential).
// The hot path is one Map lookup and one Set insertion per request, and one deletion when it closes; a
// revocation touches only the requests of that credential, never a scan of every stream.
import type { ServerResponse } from 'node:http';

/** The credential id under which the requests let in by an OAuth access token of grant `grantId` are tracked. */
export function grantCredential(grantId: string): string {
  return `grant:${grantId}`;
}

interface Tracked {
  readonly res: ServerResponse;
  readonly controller: AbortController;
}

export class CredentialRequests {
  readonly #byCredential = new Map<string, Set<Tracked>>();

  /**
   * Tracks `res` (an MCP request's response) under `credential` until the response closes. Returns a signal
   * that aborts, with the revocation's reason, when the credential is revoked: pass it to the call so that it
   * is cancelled towards the agent (in the 2025 era a client's disconnect alone does not cancel a call).
   */
  track(credential: string, res: ServerResponse): AbortSignal {
    const tracked: Tracked = { res, controller: new AbortController() };
    let set = this.#byCredential.get(credential);
    if (!set) this.#byCredential.set(credential, (set = new Set()));
    set.add(tracked);
    res.once('close', () => {
      set.delete(tracked);
      if (set.size === 0 && this.#byCredential.get(credential) === set) this.#byCredential.delete(credential);
    });
    return tracked.controller.signal;
  }

  /**
   * Ends every request `credential` opened: their calls are aborted with `reason` (cancelled at the agent), and
   * their responses destroyed, as a client that went away would leave them (the 2026-07-28 front aborts a call
   * whose stream closes; a 2025 session forgets the stream and keeps its log, a resumption then needs a live
   * credential). Returns how many requests were ended.
   */
  revoke(credential: string, reason: string): number {
    const set = this.#byCredential.get(credential);
    if (!set) return 0;
    this.#byCredential.delete(credential);
    for (const { res, controller } of set) {
      controller.abort(reason);
      res.destroy();
    }
    return set.size;
  }

  /** Requests tracked (open responses), over every credential. */
  get size(): number {
    let count = 0;
    for (const set of this.#byCredential.values()) count += set.size;
    return count;
  }
}
