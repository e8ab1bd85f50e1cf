// Secrets never reach a log line, an error or the renderer (DESIGN.md, Security). Everything the log hub
// records passes through one Redactor: JWT-shaped strings and bearer credentials are caught by shape, and
// values we know are secret (the agent token, env values with secret-looking names) by value.

export const REDACTED = '«redacted»';

/** Env names whose values are treated as secrets: *TOKEN*, *KEY*, *SECRET*, *PASSWORD* (and kin). */
export const SECRET_NAME = /TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL/i;

const JWT = /\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*/g;
const BEARER = /\b(Bearer\s+)[\w.~+/=-]{8,}/gi;
// Shorter values would redact ordinary words ("on", "true") from every line.
const MIN_SECRET_LENGTH = 4;

export class Redactor {
  readonly #secrets = new Set<string>();
  #ordered: string[] = [];

  /** Registers a value to be replaced wherever it appears. */
  addSecret(value: string | undefined | null): void {
    if (!value || value.length < MIN_SECRET_LENGTH || this.#secrets.has(value)) return;
    this.#secrets.add(value);
    // Longest first, so a secret that contains another is replaced whole.
    this.#ordered = [...this.#secrets].sort((a, b) => b.length - a.length);
  }

  /** Registers the values of every entry whose name looks secret. */
  addSecretEnv(env: Readonly<Record<string, string | undefined>>): void {
    for (const [name, value] of Object.entries(env)) if (SECRET_NAME.test(name)) this.addSecret(value);
  }

  redact(text: string): string {
    let out = text;
    for (const secret of this.#ordered) if (out.includes(secret)) out = out.replaceAll(secret, REDACTED);
    return out.replace(JWT, REDACTED).replace(BEARER, `$1${REDACTED}`);
  }
}
