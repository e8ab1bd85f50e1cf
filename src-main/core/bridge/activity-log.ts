// The recent remote calls, for the window's Activity view: what remote clients did with the local servers.
// A bounded ring of records written by the Dispatcher as each call ends. Arguments and results are never
// kept (they may hold anything); only the method, the tool's name, timing and the outcome.
import { EventEmitter } from 'node:events';

/** One remote call as the Activity view shows it. */
export interface CallRecord {
  /** Increasing per process. */
  readonly seq: number;
  /** Epoch ms when the call arrived. */
  readonly time: number;
  readonly server: string;
  /** The relay's label of the client session the call came from (absent: sessionless, or an older relay). */
  readonly session?: string;
  /** The JSON-RPC method, e.g. `tools/call`. */
  readonly method: string;
  /** The tool (`tools/call`), prompt (`prompts/get`) or resource URI (`resources/read`) named, if any. */
  readonly target?: string;
  readonly durationMs: number;
  readonly outcome: 'ok' | 'error';
  /** The error's message (from the server or the gateway) when the outcome is `error`. */
  readonly error?: string;
}

/** How many calls the ring keeps. */
export const ACTIVITY_CAPACITY = 500;

export class ActivityLog extends EventEmitter<{ call: [CallRecord] }> {
  /** A ring: `#next` is where the next record goes once it is full (a shift per call showed in profiles). */
  readonly #ring: CallRecord[] = [];
  #next = 0;
  #seq = 0;

  constructor(private readonly capacity = ACTIVITY_CAPACITY) {
    super();
  }

  /** Stores a finished call (dropping the oldest past capacity) and emits `call`. */
  add(record: Omit<CallRecord, 'seq'>): void {
    const full: CallRecord = { ...record, seq: ++this.#seq };
    if (this.#ring.length < this.capacity) this.#ring.push(full);
    else if (this.capacity > 0) {
      this.#ring[this.#next] = full;
      this.#next = (this.#next + 1) % this.capacity;
    }
    this.emit('call', full);
  }

  /** The kept calls, oldest first. */
  recent(): CallRecord[] {
    return [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
  }
}
