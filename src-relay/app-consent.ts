// Consent answered from the app (issue 12): while the owner of a subject looks at the relay's consent page,
// the relay also asks the owner's agent (a `consent_request` frame, only to an agent that announced the
// `consent` feature), whose app shows a notification. Whichever answers first wins: the page's own buttons,
// or the app's `consent_answer`. The browser learns the app's answer by reloading the page every few seconds
// (a meta refresh: the relay's pages run no script); on the reload the relay finishes the authorization as if
// the owner had clicked there. When the app does not answer within the timeout, the page stops reloading and
// stays usable: the owner is at the browser, having just signed in there, and answers on the page.
// With several relays (REDIS_URL) the records live in Redis (./redis-state.ts appConsents), so the page's next
// reload may reach any relay, and the owner's agent may be connected to another relay than the page: the request
// and the closing frame reach it through the cluster bus (./relay-cluster.ts), and its answer lands in the shared
// record, where a compare-and-set makes the first answer win across relays.
import { randomBytes } from 'node:crypto';

import type { ConsentAnswerFrame, ConsentRequestFrame, RelayFrame } from '../src-shared/wire.js';
import type { RelayLogger } from './relay-log.js';

/** How the relay reaches a subject's agent for consent: its announced features and a frame sender. */
export interface ConsentAgent {
  readonly subject: string;
  readonly features: ReadonlySet<string>;
  send(frame: RelayFrame): void;
  /**
   * Which connection this is, the same on every relay (`<node id>:<connected at>`), so that an answer or a
   * check from another relay can tell the asked connection from a later one. Default: this object's identity
   * (one relay).
   */
  readonly key?: string;
}

/** Where an app consent stands, as the consent page reads it. */
export type AppConsentState =
  /** Asked; the app has not answered yet. */
  | 'waiting'
  | 'allowed'
  | 'denied'
  /** The app did not answer in time, or its agent went away: the page's buttons decide. */
  | 'timed-out';

/** One app consent, as stored (JSON-safe). */
export interface AppConsentRecord {
  consentId: string;
  subject: string;
  /** The asked agent connection's key (ConsentAgent.key). */
  agent: string;
  state: AppConsentState;
  /** Epoch ms after which a `waiting` record counts as timed out (whichever relay reads it). */
  deadline: number;
}

/** Where app consents live: this process (MemoryAppConsentStore) or Redis. Rejects only when Redis is away. */
export interface AppConsentStore {
  /** Stores the record of interaction `uid` for `keepMs` unless one exists; resolves the record that stands. */
  add(uid: string, record: AppConsentRecord, keepMs: number): Promise<AppConsentRecord>;
  get(uid: string): Promise<AppConsentRecord | undefined>;
  /** The interaction id of a consent request id. */
  uidOf(consentId: string): Promise<string | undefined>;
  /** Atomically: a `waiting` record becomes `state`. Resolves the state that stands (undefined: unknown). */
  end(uid: string, state: Exclude<AppConsentState, 'waiting'>): Promise<AppConsentState | undefined>;
  forget(uid: string): Promise<void>;
  /** Forgets what is long over (a no-op where the store expires entries itself). */
  prune(now: number): void;
}

/** A relay alone: the records in this process. */
export class MemoryAppConsentStore implements AppConsentStore {
  readonly #records = new Map<string, { record: AppConsentRecord; forgetAt: number }>();
  readonly #byConsentId = new Map<string, string>();

  add(uid: string, record: AppConsentRecord, keepMs: number): Promise<AppConsentRecord> {
    const known = this.#records.get(uid);
    if (known) return Promise.resolve({ ...known.record });
    this.#records.set(uid, { record: { ...record }, forgetAt: Date.now() + keepMs });
    this.#byConsentId.set(record.consentId, uid);
    return Promise.resolve({ ...record });
  }

  get(uid: string): Promise<AppConsentRecord | undefined> {
    const known = this.#records.get(uid);
    return Promise.resolve(known && { ...known.record });
  }

  uidOf(consentId: string): Promise<string | undefined> {
    return Promise.resolve(this.#byConsentId.get(consentId));
  }

  end(uid: string, state: Exclude<AppConsentState, 'waiting'>): Promise<AppConsentState | undefined> {
    const record = this.#records.get(uid)?.record;
    if (record?.state === 'waiting') record.state = state;
    return Promise.resolve(record?.state);
  }

  forget(uid: string): Promise<void> {
    const known = this.#records.get(uid);
    this.#records.delete(uid);
    if (known) this.#byConsentId.delete(known.record.consentId);
    return Promise.resolve();
  }

  prune(now: number): void {
    for (const [uid, { forgetAt }] of this.#records) if (forgetAt <= now) void this.forget(uid);
  }
}

/** What the consent page asks the app about (the fields of ConsentRequestFrame). */
export type ConsentQuestion = Pick<
  ConsentRequestFrame,
  'subject' | 'client_id' | 'client_name' | 'client_uri' | 'redirect_host' | 'servers'
>;

export interface AppConsentOptions {
  /**
   * The connected agent of a subject, if any: on this relay, or (several relays) on another one, reached through
   * the cluster bus.
   */
  agentOf(subject: string): ConsentAgent | undefined | Promise<ConsentAgent | undefined>;
  /** Where the records live; default in this process. */
  store?: AppConsentStore;
  /** How long the page waits for the app, in ms. Default 120 000. */
  timeoutMs?: number;
  /** How long a record is kept at all, in ms (the authorization request's lifetime). Default 600 000. */
  keepMs?: number;
  log: RelayLogger;
}

const localKeys = new WeakMap<ConsentAgent, string>();
let localCount = 0;
/** A connection's key: its own, else one for this object (this process). */
function keyOf(agent: ConsentAgent): string {
  if (agent.key) return agent.key;
  let key = localKeys.get(agent);
  if (!key) localKeys.set(agent, (key = `local:${++localCount}`));
  return key;
}

/**
 * The app consents in flight, keyed by the authorization request's interaction id, in the store (this process,
 * or Redis shared by every relay).
 */
export class AppConsent {
  readonly #store: AppConsentStore;
  readonly #timeoutMs: number;
  /** The timeouts this relay set (it asked), by interaction id. */
  readonly #timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly options: AppConsentOptions) {
    this.#timeoutMs = options.timeoutMs ?? 120_000;
    this.#store = options.store ?? new MemoryAppConsentStore();
  }

  /** The page's reload interval, in seconds, while the app is asked. */
  static readonly RELOAD_SECONDS = 2;

  /**
   * Where the app consent of interaction `uid` stands: asks the subject's agent the first time (when it is
   * connected and announced `consent`), and says undefined when there is no app to ask.
   */
  async ask(uid: string, question: ConsentQuestion): Promise<AppConsentState | undefined> {
    const known = await this.#store.get(uid);
    if (known) {
      if (known.state !== 'waiting') return known.state;
      if (known.deadline <= Date.now()) return this.#end(uid, known, 'timed-out', true);
      // The app's agent went away (or was superseded) while asked: it can no longer answer.
      const current = await this.options.agentOf(known.subject);
      if (!current || keyOf(current) !== known.agent) return this.#end(uid, known, 'timed-out', false);
      return 'waiting';
    }
    const agent = await this.options.agentOf(question.subject);
    if (!agent?.features.has('consent')) return undefined;
    const record: AppConsentRecord = {
      consentId: randomBytes(16).toString('base64url'),
      subject: question.subject,
      agent: keyOf(agent),
      state: 'waiting',
      deadline: Date.now() + this.#timeoutMs,
    };
    const stands = await this.#store.add(uid, record, this.options.keepMs ?? 600_000);
    // Another relay asked first (two reloads at once): its request stands.
    if (stands.consentId !== record.consentId) return stands.state;
    this.#timers.set(
      uid,
      setTimeout(() => {
        this.#timers.delete(uid);
        this.options.log.info(`the app of "${record.subject}" did not answer a consent request in time`);
        this.#end(uid, record, 'timed-out', true).catch((error: Error) =>
          this.options.log.warn(`consent request: ${error.message}`),
        );
      }, this.#timeoutMs).unref(),
    );
    agent.send({
      type: 'consent_request',
      consent_id: record.consentId,
      ...question,
      timeout_ms: this.#timeoutMs,
    });
    return 'waiting';
  }

  /**
   * The app's answer, from the agent connection `from` (on this relay). Ignored (logged) when the request is
   * unknown, not that connection's, or already answered: the first answer wins, on every relay.
   */
  async answered(from: ConsentAgent, frame: ConsentAnswerFrame): Promise<void> {
    const uid = await this.#store.uidOf(frame.consent_id);
    const asked = uid === undefined ? undefined : await this.#store.get(uid);
    if (!uid || !asked || asked.subject !== from.subject || asked.agent !== keyOf(from)) {
      this.options.log.debug(`agent ${from.subject}: ignoring an answer to an unknown consent request`);
      return;
    }
    const state = frame.allow ? 'allowed' : 'denied';
    const stands = await this.#store.end(uid, state);
    if (stands !== state) {
      this.options.log.debug(`agent ${from.subject}: ignoring a late consent answer (${stands})`);
      return;
    }
    this.#clearTimer(uid);
    this.options.log.info(
      `the app of "${asked.subject}" ${frame.allow ? 'allowed' : 'denied'} a client's access (consent request)`,
    );
  }

  /**
   * The page's own buttons answered interaction `uid`: the app stops showing it. Resolves the answer that
   * stands: the app's when it answered first, else `outcome`.
   */
  async settle(uid: string, outcome: 'allowed' | 'denied'): Promise<'allowed' | 'denied'> {
    const asked = await this.#store.get(uid);
    if (!asked) return outcome;
    if (asked.state === 'allowed' || asked.state === 'denied') return asked.state;
    const stands = await this.#end(uid, asked, outcome, true);
    return stands === 'allowed' || stands === 'denied' ? stands : outcome;
  }

  /** Forgets interaction `uid` (its authorization finished). */
  async forget(uid: string): Promise<void> {
    this.#clearTimer(uid);
    await this.#store.forget(uid);
  }

  /** Forgets what is long over; the relay calls it every minute. */
  tick(now = Date.now()): void {
    this.#store.prune(now);
  }

  /** Stops every timer (the relay is closing). */
  close(): void {
    for (const uid of [...this.#timers.keys()]) this.#clearTimer(uid);
  }

  #clearTimer(uid: string): void {
    clearTimeout(this.#timers.get(uid));
    this.#timers.delete(uid);
  }

  /** Ends a waiting record (first answer wins); tells the asked app when this call ended it. */
  async #end(
    uid: string,
    asked: AppConsentRecord,
    state: Exclude<AppConsentState, 'waiting'>,
    tellApp: boolean,
  ): Promise<AppConsentState | undefined> {
    const stands = await this.#store.end(uid, state);
    if (stands !== state) return stands;
    this.#clearTimer(uid);
    // The app stops showing a request it can no longer answer (a gone agent hears nothing).
    if (tellApp) {
      const agent = await this.options.agentOf(asked.subject);
      if (agent && keyOf(agent) === asked.agent)
        agent.send({ type: 'consent_closed', consent_id: asked.consentId, outcome: state });
    }
    return stands;
  }
}
