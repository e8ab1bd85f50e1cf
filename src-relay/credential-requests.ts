// Which open MCP requests each credential opened (issue 12: "a revoked token stops working at once, on every
// open session"). Every request on an MCP route that was let in by a credential is tracked here under that
// credential's id until its response closes: an SSE stream (the 2025 era's standalone GET stream and its
// POST-as-SSE answers, the 2026-07-28 era's per-request streams and subscriptions/listen) as well as a plain
// JSON call still waiting for its answer. When the credential is revoked, revoke() ends them all at once; when
// it expires, expire() (called every keep-alive interval) does the same, so that an expired token keeps no
// stream open either.
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

/**
 * One tracked request. `onRevoke`, set by whoever runs its call, cancels that call towards the agent when the
 * credential is revoked or expires; `ended` then says why.
 */
export interface TrackedRequest {
  onRevoke?: (reason: string) => void;
  ended?: string;
}

interface Tracked extends TrackedRequest {
  readonly res: ServerResponse;
}

/** The credential that let a request in: what its revocation names, and when it expires (epoch ms). */
export interface Credential {
  id: string;
  /** Undefined for a credential without expiry (a legacy token without exp). */
  expiresAt?: number;
}

export class CredentialRequests {
  readonly #byCredential = new Map<string, Set<Tracked>>();
  /** Expiry (epoch ms) of each credential with tracked requests, where it has one. */
  readonly #expiresAt = new Map<string, number>();

  /**
   * Tracks `res` (an MCP request's response) under `credential` until the response closes. Returns the
   * request's entry: set its `onRevoke` to cancel the call towards the agent when the credential ends (in the
   * 2025 era a client's disconnect alone does not cancel a call). A plain callback rather than an AbortSignal:
   * making a signal costs ~5 µs in Node 20, a quarter of the relay's whole CPU per call.
   */
  track({ id, expiresAt }: Credential, res: ServerResponse): TrackedRequest {
    const tracked: Tracked = { res };
    let set = this.#byCredential.get(id);
    if (!set) {
      this.#byCredential.set(id, (set = new Set()));
      if (expiresAt !== undefined) this.#expiresAt.set(id, expiresAt);
    }
    set.add(tracked);
    res.once('close', () => {
      set.delete(tracked);
      if (set.size === 0 && this.#byCredential.get(id) === set) {
        this.#byCredential.delete(id);
        this.#expiresAt.delete(id);
      }
    });
    return tracked;
  }

  /**
   * Ends every request `credential` opened: their calls are cancelled at the agent with `reason` (onRevoke),
   * and their responses destroyed, as a client that went away would leave them (the 2026-07-28 front aborts a call
   * whose stream closes; a 2025 session forgets the stream and keeps its log, a resumption then needs a live
   * credential). Returns how many requests were ended.
   */
  revoke(credential: string, reason: string): number {
    const set = this.#byCredential.get(credential);
    if (!set) return 0;
    this.#byCredential.delete(credential);
    this.#expiresAt.delete(credential);
    for (const tracked of set) {
      tracked.ended = reason;
      tracked.onRevoke?.(reason);
      tracked.res.destroy();
    }
    return set.size;
  }

  /**
   * Ends the requests of every credential expired at `now` (epoch ms), as revoke does: one pass over the
   * credentials that have requests open, not over the requests. Returns how many requests were ended.
   */
  expire(now: number): number {
    let ended = 0;
    for (const [id, expiresAt] of this.#expiresAt)
      if (expiresAt <= now) ended += this.revoke(id, 'the client token expired');
    return ended;
  }

  /** Requests tracked (open responses), over every credential. */
  get size(): number {
    let count = 0;
    for (const set of this.#byCredential.values()) count += set.size;
    return count;
  }
}
