// The desktop app's TokenStore: the tokens encrypted with Electron's safeStorage (macOS Keychain, Windows
// DPAPI, the Secret Service or KWallet on Linux) in one file of the app's data folder. Where Linux offers
// only safeStorage's `basic_text` backend (no keyring: a hard-coded key, no protection), the tokens stay in
// the runtime state file (mode 0600) as the CLI keeps them, and the app says so.
//
// Sharing a sign-in with the CLI: when the keychain file holds nothing, load() reads the state file, so a
// `mcpassistant-gateway login` made before is used by the app (and moved into the keychain on its next save).
import { readFile, rm } from 'node:fs/promises';

import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';

import { StateFileTokenStore, type StoredTokens, type TokenStore } from '../core/auth/token-store.js';
import { JsonFile } from '../core/config/json-file.js';
import { editJsonText } from '../core/config/json-text.js';
import type { Logger } from '../core/logging/log-hub.js';
import type { SafeStoragePort } from './electron-ports.js';

const Stored = z.object({
  token: z.string().min(1),
  subject: z.string().optional(),
  refreshToken: z.string().optional(),
  refreshExpiresAt: z.string().optional(),
  email: z.string().optional(),
  authMode: z.string().optional(),
  relay: z.string().optional(),
});

/** Keeps the tokens encrypted by safeStorage in `path` (mode 0600; the content is ciphertext anyway). */
export class KeychainTokenStore implements TokenStore {
  constructor(
    readonly path: string,
    private readonly safeStorage: SafeStoragePort,
    /** The CLI's store: read when the keychain file is absent, and cleared when the keychain takes over. */
    private readonly stateFile: StateFileTokenStore,
    private readonly log: Logger,
  ) {}

  async load(): Promise<StoredTokens | undefined> {
    let encrypted: Buffer;
    try {
      encrypted = await readFile(this.path);
    } catch {
      return this.stateFile.load();
    }
    try {
      const parsed = Stored.safeParse(JSON.parse(this.safeStorage.decryptString(encrypted)));
      if (parsed.success) return parsed.data;
      this.log.warn(`${this.path} does not hold tokens in the expected shape; sign in again`);
    } catch {
      // Encrypted by another user, machine or keyring: unreadable here; a sign-in replaces it.
      this.log.warn(`${this.path} cannot be decrypted with this computer's keychain; sign in again`);
    }
    return undefined;
  }

  async save(tokens: StoredTokens): Promise<void> {
    const plain = JSON.stringify(Stored.parse(tokens));
    await writeFileAtomic(this.path, this.safeStorage.encryptString(plain), { mode: 0o600 });
    // The same sign-in must not linger in plain text beside the keychain's copy; which relay and subject it
    // is for are no secret, and the settings read them from the state file.
    await this.stateFile.clear();
    await new JsonFile(this.stateFile.path, { mode: 0o600 }).update((current) => {
      let text = current ?? '{}\n';
      if (tokens.relay) text = editJsonText(text, ['remote_server_base_url'], tokens.relay);
      if (tokens.subject) text = editJsonText(text, ['subject'], tokens.subject);
      return text;
    });
  }

  async clear(): Promise<void> {
    await rm(this.path, { force: true });
    await this.stateFile.clear();
  }
}

export interface DesktopTokenStore {
  store: TokenStore;
  /** `keychain` (safeStorage) or `state-file` (the 0600 file, where the OS has no keyring). */
  backend: 'keychain' | 'state-file';
  /** For the window and the log when the tokens are not in a keychain, else undefined. */
  notice?: string;
}

/** Chooses the backend (after `ready`: safeStorage is usable only then). */
export function desktopTokenStore(options: {
  platform: NodeJS.Platform;
  safeStorage: SafeStoragePort;
  /** The keychain file, in the app's data folder. */
  keychainPath: string;
  statePath: string;
  log: Logger;
}): DesktopTokenStore {
  const stateFile = new StateFileTokenStore(options.statePath, options.log);
  const backend =
    options.platform === 'linux' ? options.safeStorage.getSelectedStorageBackend?.() : undefined;
  if (!options.safeStorage.isEncryptionAvailable() || backend === 'basic_text' || backend === 'unknown') {
    const notice =
      `No keyring is available on this desktop (safeStorage backend: ${backend ?? 'none'}), so the tokens are ` +
      `kept in ${options.statePath} (mode 600), as the CLI keeps them. Install and unlock a Secret Service ` +
      `keyring (GNOME Keyring, KWallet) to keep them encrypted.`;
    options.log.warn(notice);
    return { store: stateFile, backend: 'state-file', notice };
  }
  return {
    store: new KeychainTokenStore(options.keychainPath, options.safeStorage, stateFile, options.log),
    backend: 'keychain',
  };
}
