// Where the agent keeps its tokens. The CLI's store is the runtime state file (compat keys jwt_token,
// refresh_token, subject, auth_profile), mode 0600, checked and repaired on every load; the desktop app
// will plug in the OS keychain behind the same interface.
import { chmod, rm, stat } from 'node:fs/promises';

import { JsonFile } from '../config/json-file.js';
import { editJsonText } from '../config/json-text.js';
import { readState } from '../config/settings.js';
import type { Logger } from '../logging/log-hub.js';

export interface StoredTokens {
  token: string;
  subject?: string;
  refreshToken?: string;
  /** ISO time. */
  refreshExpiresAt?: string;
  email?: string;
  authMode?: string;
  /** The relay these tokens are for. */
  relay?: string;
}

export interface TokenStore {
  load(): Promise<StoredTokens | undefined>;
  save(tokens: StoredTokens): Promise<void>;
  clear(): Promise<void>;
}

/**
 * What a sign-in writes and signing out removes: the tokens, and what belonged to them. A subject left behind
 * would be announced with the next sign-in's token, which the relay refuses ("subject mismatch", issue 8).
 */
const KEYS = [
  'jwt_token',
  'refresh_token',
  'refresh_expires_at',
  'auth_profile',
  'subject',
  'published_endpoints',
] as const;

export class StateFileTokenStore implements TokenStore {
  constructor(
    readonly path: string,
    private readonly log?: Logger,
  ) {}

  async load(): Promise<StoredTokens | undefined> {
    await this.#repairMode();
    const state = await readState(this.path);
    const token = state['jwt_token'];
    if (typeof token !== 'string' || !token) return undefined;
    const profile = (state['auth_profile'] ?? {}) as Record<string, unknown>;
    const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
    return {
      token,
      subject: text(state['subject']),
      refreshToken: text(state['refresh_token']),
      refreshExpiresAt: text(state['refresh_expires_at']),
      email: text(profile['email']),
      authMode: text(profile['auth_mode']),
      relay: text(state['remote_server_base_url']),
    };
  }

  async save(tokens: StoredTokens): Promise<void> {
    await new JsonFile(this.path, { mode: 0o600 }).update((current) => {
      let text = current ?? '{}\n';
      const set = (key: string, value: unknown) => (text = editJsonText(text, [key], value));
      set('jwt_token', tokens.token);
      set('refresh_token', tokens.refreshToken);
      set('refresh_expires_at', tokens.refreshExpiresAt);
      if (tokens.subject) set('subject', tokens.subject);
      if (tokens.relay) set('remote_server_base_url', tokens.relay);
      set(
        'auth_profile',
        tokens.email || tokens.authMode ? { email: tokens.email, auth_mode: tokens.authMode } : undefined,
      );
      return text;
    });
    await this.#repairMode();
  }

  async clear(): Promise<void> {
    await new JsonFile(this.path, { mode: 0o600 }).update((current) => {
      if (current === undefined) return undefined;
      let text = current;
      for (const key of KEYS) text = editJsonText(text, [key], undefined);
      return text;
    });
    // The backup of the previous version still holds the tokens: signing out leaves none on this computer.
    await rm(`${this.path}.bak`, { force: true });
  }

  /** A token file readable by others is made private again, and the repair is logged. */
  async #repairMode(): Promise<void> {
    if (process.platform === 'win32') return;
    try {
      const mode = (await stat(this.path)).mode & 0o777;
      if (mode & 0o077) {
        await chmod(this.path, 0o600);
        this.log?.warn(`${this.path} was readable by others (mode ${mode.toString(8)}); set it to 600`);
      }
    } catch {
      // ignore: no file yet; it is created with mode 0600
    }
  }
}
