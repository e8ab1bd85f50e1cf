// Who holds each subject this relay has handed out. A subject is bound to the first holder that got it — an
// anonymous /manage/jwt/issue caller ("jwt") or a signed-in identity ("oauth:<e-mail>") — and is never
// handed to another one, so that one user cannot take over another's agent id. In memory: per relay
// instance, forgotten on restart (like the existing remote's state, COMPAT.md "Known weaknesses").

/** What /manage/jwt/issue and /manage/oauth accept as a subject (it becomes a URL path segment). */
export const SUBJECT_PATTERN = /^[A-Za-z0-9._@-]{1,128}$/;
export const SUBJECT_RULE = 'letters, digits, ".", "_", "@" and "-" only (at most 128)';

export class SubjectRegistry {
  readonly #owners = new Map<string, string>();

  /** The holder of `subject`, or undefined while nobody has it. */
  owner(subject: string): string | undefined {
    return this.#owners.get(subject);
  }

  has(subject: string): boolean {
    return this.#owners.has(subject);
  }

  /** Binds `subject` to `owner` unless it is bound already; true when `owner` now holds it. */
  claim(subject: string, owner: string): boolean {
    const current = this.#owners.get(subject);
    if (current === undefined) this.#owners.set(subject, owner);
    return (current ?? owner) === owner;
  }
}

/** The owner name of a signed-in identity. */
export const identityOwner = (email: string): string => `oauth:${email.toLowerCase()}`;
