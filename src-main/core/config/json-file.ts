// A JSON file that we read, validate and edit in place: mcp.json and the runtime state file.
// - Writes are atomic (write-file-atomic: temp file, fsync, rename), so a reader never sees a torn file.
// - The version being replaced is kept as `<file>.bak`, itself swapped in atomically.
// - Read-modify-write runs under a cross-process lock (proper-lockfile), so two writers — the app and a
//   CLI, say — never lose each other's edits. Reading takes no lock and needs no write access (issue 8.3):
//   a gateway runs from a folder it cannot write; only a write needs the folder, and one that cannot have
//   it fails at once, naming the folder, instead of retrying the lock.
// - A file we cannot parse or validate is never overwritten: the edit is refused with the parse error.
// - A UTF-8 byte-order mark (Windows editors write one) is read past and kept on write.
import { constants } from 'node:fs';
import { access, copyFile, link, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

import lockfile from 'proper-lockfile';
import writeFileAtomic from 'write-file-atomic';

import { errorMessage, GatewayError } from '../errors.js';
import { decodeJsonFile, parseJsonText } from './json-text.js';

export interface JsonFileOptions {
  /**
   * Mode for a file we create (an existing file keeps its mode). Default 0o600: the files we write (mcp.json
   * with its servers' `env`, the runtime state with tokens) may hold secrets. A folder we create is 0o700.
   */
  mode?: number;
  /** Extra validation of the new text before it is written; throw a GatewayError to refuse. */
  validate?: (text: string) => void;
}

export class JsonFile {
  constructor(
    readonly path: string,
    private readonly options: JsonFileOptions = {},
  ) {}

  /**
   * The file's text (a byte-order mark removed, UTF-16 decoded), or undefined when it does not exist. Takes
   * no lock and needs only read access.
   */
  async readText(): Promise<string | undefined> {
    return (await this.#read())?.text;
  }

  async #read(): Promise<{ text: string; bom: string } | undefined> {
    try {
      return decodeJsonFile(await readFile(this.path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new GatewayError('config-io', `Cannot read ${this.path}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  /**
   * Replaces the file with `edit(current)` atomically, under the lock. `current` is the existing text, or
   * undefined when there is none. Returning undefined from `edit` leaves the file alone.
   */
  async update(edit: (current: string | undefined) => string | undefined): Promise<void> {
    await this.#withLock(async () => {
      const read = await this.#read();
      const current = read?.text;
      if (current !== undefined) {
        try {
          parseJsonText(current, this.path);
          this.options.validate?.(current);
        } catch (error) {
          throw new GatewayError(
            'config-invalid',
            `${errorMessage(error).replace(/ Fix the file \(it was not changed\)\.$/, '')} ` +
              'Nothing was saved: fix the file by hand first, then try again.',
            { cause: error },
          );
        }
      }
      const next = edit(current);
      if (next === undefined || next === current) return;
      parseJsonText(next, this.path);
      this.options.validate?.(next);
      if (current !== undefined) await this.#backup();
      // An existing file keeps its byte-order mark (the editor that wrote it expects it back).
      await writeFileAtomic(this.path, (read?.bom ?? '') + next, { mode: await this.#mode(), fsync: true });
    });
  }

  /**
   * Creates the file with `text` unless it exists (whatever it holds). Returns whether it was created. An
   * existing file is seen without a lock, so this needs no write access when there is nothing to create.
   */
  async create(text: string): Promise<boolean> {
    if (await this.exists()) return false;
    let created = false;
    await this.#withLock(async () => {
      if (await this.exists()) return;
      parseJsonText(text, this.path);
      this.options.validate?.(text);
      await writeFileAtomic(this.path, text, { mode: this.options.mode ?? 0o600, fsync: true });
      created = true;
    });
    return created;
  }

  /** Whether the file exists (an unreadable one counts: it must not be replaced). */
  async exists(): Promise<boolean> {
    return stat(this.path).then(
      () => true,
      (error: NodeJS.ErrnoException) => error.code !== 'ENOENT',
    );
  }

  async #withLock(fn: () => Promise<void>): Promise<void> {
    const folder = dirname(this.path);
    try {
      await mkdir(folder, { recursive: true, mode: 0o700 });
      // The lock is a folder created beside the file: a folder we cannot write fails here at once, where
      // proper-lockfile would retry it like a lock held by another program.
      await access(folder, constants.W_OK);
    } catch (error) {
      throw notWritable(this.path, folder, error);
    }
    const release = await lock(this.path, folder);
    try {
      await fn();
    } finally {
      await release().catch(() => undefined); // ignore: the lock is stale-checked and expires anyway
    }
  }

  /** The file's permission bits, or undefined when it does not exist. */
  async mode(): Promise<number | undefined> {
    return stat(this.path).then(
      (s) => s.mode & 0o777,
      () => undefined,
    );
  }

  async #mode(): Promise<number> {
    return (await this.mode()) ?? this.options.mode ?? 0o600;
  }

  /** Keeps the current version as `.bak`, swapped in with a rename so the backup is never torn either. */
  async #backup(): Promise<void> {
    const bak = `${this.path}.bak`;
    const tmp = `${bak}.${process.pid}.tmp`;
    await rm(tmp, { force: true });
    try {
      await link(this.path, tmp);
    } catch {
      // Hard links are not available everywhere (FAT, some network drives): copy instead.
      await copyFile(this.path, tmp, constants.COPYFILE_FICLONE);
    }
    await rename(tmp, bak);
  }
}

/** How long a writer waits for another program's lock before giving up. */
const LOCK_WAIT_MS = 5_000;

/**
 * Takes the cross-process lock on `path`, waiting only while another program holds it (ELOCKED); any other
 * failure (a read-only folder, a full disk) is reported at once.
 */
async function lock(path: string, folder: string): Promise<() => Promise<void>> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (let delay = 10; ; delay = Math.min(200, delay * 1.5)) {
    try {
      // realpath: false lets us lock a file that does not exist yet (first run).
      return await lockfile.lock(path, { realpath: false, stale: 10_000, retries: 0 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw notWritable(path, folder, error);
      if (Date.now() > deadline) {
        throw new GatewayError(
          'config-io',
          `Cannot save ${path}: another program has been saving it for ${LOCK_WAIT_MS / 1000} s (its lock is ${path}.lock). Try again; if no other program runs, remove ${path}.lock.`,
          { cause: error },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

function notWritable(path: string, folder: string, error: unknown): GatewayError {
  const code = (error as NodeJS.ErrnoException).code;
  const why =
    code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
      ? `the folder ${folder} is read-only for this user`
      : `the folder ${folder} cannot be written (${errorMessage(error)})`;
  return new GatewayError(
    'config-io',
    `Cannot save ${path}: ${why}. Make the folder writable, or point the gateway at a file in a writable folder (--config / AGENT_CONFIG_PATH, --state / AGENT_STATE_PATH).`,
    { cause: error },
  );
}
