// One remote call's cancellation, without an AbortSignal unless something asks for one (issue 11): making an
// AbortSignal per call (Node's EventTarget set-up, and its collection) cost 4 µs of CPU on a quiet machine and up
// to 18 µs on a busy one, measured in-process around ManagedServer.request at 64 calls in flight, as much as the
// rest of that call's path to a stdio server.
import type { CallSignal } from '../servers/legacy-calls.js';

/**
 * An abortable call: `abort(reason)` once (later calls do nothing); `aborted` and `reason` as an AbortSignal's;
 * listeners added with `addEventListener('abort', …)` run at the abort, in order. `signal` is a real AbortSignal
 * that follows it, made at the first read (aborted at once if the call already is).
 */
export class CallAbort implements CallSignal {
  aborted = false;
  reason: unknown = undefined;
  #controller: AbortController | undefined;
  #listeners: (() => void)[] = [];

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.aborted) this.#controller.abort(this.reason);
    }
    return this.#controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.#controller?.abort(reason);
    for (const listener of this.#listeners.splice(0)) listener();
  }

  /** Runs `listener` at the abort; as with an AbortSignal, never if the call is already aborted. */
  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.aborted) this.#listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const index = this.#listeners.indexOf(listener);
    if (index >= 0) this.#listeners.splice(index, 1);
  }
}
