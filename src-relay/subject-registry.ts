// Who holds each subject this relay has handed out. A subject is bound to the first holder that got it — an
// anonymous /manage/jwt/issue caller ("jwt") or a signed-in identity ("oauth:<e-mail>") — and is never
// handed to another one, so that one user cannot take over another's agent id. Two stores: in memory (one relay,
// forgotten on restart, as the existing remote) and in Redis (./redis-state.ts: shared by every relay on it and
// kept across restarts; a claim is one SET NX, so two relays cannot both hand out a subject).

/** What /manage/jwt/issue and /manage/oauth accept as a subject (it becomes a URL path segment). */
export const SUBJECT_PATTERN = /^[A-Za-z0-9._@-]{1,128}$/;
export const SUBJECT_RULE = 'letters, digits, ".", "_", "@" and "-" only (at most 128)';

/** The holders of subjects. Rejects only when the shared store (Redis) cannot be reached. */
export interface SubjectRegistry {
  /** The holder of `subject`, or undefined while nobody has it. */
  owner(subject: string): Promise<string | undefined>;
  /**
   * Binds `subject` to `owner` unless it is bound already (atomically); true when `owner` now holds it. With
   * `onlyIfFree`, true only when this call bound it (for owners that stand for anyone, such as "jwt").
   */
  claim(subject: string, owner: string, onlyIfFree?: boolean): Promise<boolean>;
}

/** The subject registry of a relay alone: in memory, forgotten on restart. */
export class MemorySubjectRegistry implements SubjectRegistry {
  readonly #owners = new Map<string, string>();

  owner(subject: string): Promise<string | undefined> {
    return Promise.resolve(this.#owners.get(subject));
  }

  claim(subject: string, owner: string, onlyIfFree = false): Promise<boolean> {
    const current = this.#owners.get(subject);
    if (current === undefined) this.#owners.set(subject, owner);
    return Promise.resolve(onlyIfFree ? current === undefined : (current ?? owner) === owner);
  }
}

/** The owner name of a signed-in identity. */
export const identityOwner = (email: string): string => `oauth:${email.toLowerCase()}`;
