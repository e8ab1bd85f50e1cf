// The consent requests the relay sends while the owner looks at its consent page (issue 12, `consent_request`
// frames): an MCP client asks for servers of this agent's subject, and the app may answer for the owner. The
// gateway keeps the open ones here; fronts list them (`consent:list`), are told when they change (the
// `consent` event) and answer (`consent:answer`). A request leaves the list when it is answered here, when the
// relay closes it (answered on the page, timed out), when its time is up, or when the link to the relay ends.
import { EventEmitter } from 'node:events';

import { type ConsentRequestFrame, printable } from '../../../src-shared/wire.js';

/** One open consent request, as fronts show it (no secret in it: the client's claims and where it answers). */
export interface PendingConsent {
  /** The relay's consent id: what `answer` names. */
  id: string;
  subject: string;
  clientId: string;
  /** The client's own name for itself, when it gave one. */
  clientName?: string;
  clientUri?: string;
  /** The host the client's redirect_uri sends the answer to. */
  redirectHost: string;
  servers: string[];
  /** Epoch ms: when it arrived, and when the relay stops waiting for this answer. */
  requestedAt: number;
  expiresAt: number;
}

interface Open {
  consent: PendingConsent;
  reply: (allow: boolean) => boolean;
  timer: NodeJS.Timeout;
}

/** The outcome of `answer`. */
export type ConsentAnswerResult = { ok: true } | { ok: false; reason: 'unknown' | 'disconnected' };

export class ConsentRequests extends EventEmitter<{
  /** The open requests changed: the whole list, oldest first. */
  changed: [PendingConsent[]];
  /** A new request arrived (fronts notify the user). */
  requested: [PendingConsent];
}> {
  readonly #open = new Map<string, Open>();

  /** The open requests, oldest first. */
  list(): PendingConsent[] {
    return [...this.#open.values()].map((o) => ({ ...o.consent, servers: [...o.consent.servers] }));
  }

  /**
   * A relay's request: kept until answered, closed or timed out. `reply` sends the answer on the link it came
   * from and returns false when that link is gone.
   */
  add(frame: ConsentRequestFrame, reply: (allow: boolean) => boolean, now = Date.now()): void {
    this.#drop(frame.consent_id);
    const consent: PendingConsent = {
      id: frame.consent_id,
      subject: frame.subject,
      // What the client says of itself is shown and logged: no control characters (see printable).
      clientId: printable(frame.client_id),
      ...(frame.client_name ? { clientName: printable(frame.client_name) } : {}),
      ...(frame.client_uri ? { clientUri: printable(frame.client_uri) } : {}),
      redirectHost: printable(frame.redirect_host),
      servers: [...frame.servers],
      requestedAt: now,
      expiresAt: now + frame.timeout_ms,
    };
    const timer = setTimeout(() => this.close(consent.id), frame.timeout_ms).unref();
    this.#open.set(consent.id, { consent, reply, timer });
    this.emit('requested', { ...consent });
    this.#changed();
  }

  /** Answers request `id` for the owner; it leaves the list either way. */
  answer(id: string, allow: boolean): ConsentAnswerResult {
    const open = this.#open.get(id);
    if (!open) return { ok: false, reason: 'unknown' };
    this.close(id);
    return open.reply(allow) ? { ok: true } : { ok: false, reason: 'disconnected' };
  }

  /** Request `id` is over (the relay closed it, or its time is up). */
  close(id: string): void {
    if (this.#drop(id)) this.#changed();
  }

  /** The link it came on ended: no request can be answered any more. */
  clear(): void {
    if (!this.#open.size) return;
    for (const id of [...this.#open.keys()]) this.#drop(id);
    this.#changed();
  }

  #drop(id: string): boolean {
    const open = this.#open.get(id);
    if (!open) return false;
    clearTimeout(open.timer);
    this.#open.delete(id);
    return true;
  }

  #changed(): void {
    this.emit('changed', this.list());
  }
}
