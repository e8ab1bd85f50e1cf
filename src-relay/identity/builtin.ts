// The built-in identity provider, for self-hosting without an identity service and for tests: a sign-in page
// served by the relay at /manage/oauth/login and the users of USERS_FILE (password hashes, ./password.ts).
// The file is read at every sign-in, so users can be added or removed without a restart.
import { readFile } from 'node:fs/promises';

import type { RelayLogger } from '../relay-log.js';
import { escapeHtml, expiredPage, htmlPage } from './page.js';
import { MAX_PASSWORD_LENGTH, parseUsers, verifyPassword } from './password.js';
import type {
  BrowserRequest,
  BrowserResult,
  HtmlPage,
  IdentityProvider,
  LoginSessions,
  LoginSessionView,
} from './provider.js';

const LOGIN_PATH = '/manage/oauth/login';
/** Wrong passwords one login session may try before it ends (each also costs an scrypt hash). */
export const MAX_ATTEMPTS = 5;

export class BuiltinProvider implements IdentityProvider {
  readonly name = 'builtin';

  constructor(private readonly options: Readonly<{ usersFile: string; log: RelayLogger }>) {}

  async init(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.options.usersFile, 'utf8');
    } catch (error) {
      throw new Error(
        `USERS_FILE ${this.options.usersFile} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      );
    }
    const { users, problems } = parseUsers(text);
    if (problems.length)
      throw new Error(problems.map((p) => `USERS_FILE ${this.options.usersFile} ${p}`).join('\n'));
    if (users.size === 0)
      this.options.log.warn(`USERS_FILE ${this.options.usersFile} lists no users: nobody can sign in`);
  }

  begin(session: LoginSessionView, base: URL): Promise<{ authUrl: string }> {
    const url = new URL(LOGIN_PATH.slice(1), base);
    url.searchParams.set('session_id', session.id);
    return Promise.resolve({ authUrl: url.href });
  }

  async browser(request: BrowserRequest, sessions: LoginSessions): Promise<BrowserResult | undefined> {
    if (request.path !== LOGIN_PATH) return undefined;
    if (request.method === 'GET') {
      const session = await sessions.get(request.query.get('session_id') ?? '');
      return { kind: 'page', page: session ? this.#form(session, request.base, 200) : expiredPage() };
    }
    if (request.method !== 'POST') return undefined;
    const form = await request.form();
    const session = await sessions.get(form.get('session_id') ?? '');
    if (!session) return { kind: 'page', page: expiredPage() };
    if (form.get('action') === 'cancel') {
      return {
        kind: 'failed',
        session: session.id,
        error: 'access_denied',
        description: 'the user cancelled the sign-in',
      };
    }
    const email = (form.get('email') ?? '').trim().toLowerCase();
    const password = form.get('password') ?? '';
    if (email && password && password.length <= MAX_PASSWORD_LENGTH && (await this.#check(email, password)))
      return { kind: 'signed-in', session: session.id, email };

    const failures = Number(session.data.get('failures') ?? '0') + 1;
    session.data.set('failures', String(failures));
    this.options.log.info(`built-in sign-in: wrong e-mail or password (attempt ${failures})`);
    if (failures >= MAX_ATTEMPTS) {
      return {
        kind: 'failed',
        session: session.id,
        error: 'access_denied',
        description: `${MAX_ATTEMPTS} wrong e-mails or passwords; start the sign-in again`,
      };
    }
    return {
      kind: 'page',
      page: this.#form(session, request.base, 401, email, 'Wrong e-mail or password.'),
    };
  }

  async #check(email: string, password: string): Promise<boolean> {
    let text: string;
    try {
      text = await readFile(this.options.usersFile, 'utf8');
    } catch (error) {
      this.options.log.error(`USERS_FILE ${this.options.usersFile} cannot be read:`, error);
      return false;
    }
    const { users, problems } = parseUsers(text);
    for (const problem of problems) this.options.log.warn(`USERS_FILE ${this.options.usersFile} ${problem}`);
    return verifyPassword(users.get(email), password);
  }

  #form(session: LoginSessionView, base: URL, status: number, email = '', error?: string): HtmlPage {
    // The path under the relay's base (PUBLIC_BASE_URL may have a path): the page posts back to itself.
    const action = new URL(LOGIN_PATH.slice(1), base).pathname;
    const body =
      `<h1>Sign in to the relay</h1>` +
      (error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : '') +
      `<form method="post" action="${escapeHtml(action)}">` +
      `<input type="hidden" name="session_id" value="${escapeHtml(session.id)}">` +
      `<label for="email">E-mail</label>` +
      `<input id="email" name="email" type="email" autocomplete="username" required autofocus value="${escapeHtml(email)}">` +
      `<label for="password">Password</label>` +
      `<input id="password" name="password" type="password" autocomplete="current-password" required>` +
      `<div class="buttons">` +
      `<button type="submit" name="action" value="signin">Sign in</button>` +
      `<button type="submit" name="action" value="cancel" class="secondary" formnovalidate>Cancel</button>` +
      `</div></form>`;
    return htmlPage(status, 'Sign in', body, [session.redirectUri.origin]);
  }
}
