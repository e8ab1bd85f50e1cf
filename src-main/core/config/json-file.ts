// A JSON file that we read, validate and edit in place: mcp.json and the runtime state file.
// - Writes are atomic (write-file-atomic: temp file, fsync, rename), so a reader never sees a torn file.
// - The version being replaced is kept as `<file>.bak`, itself swapped in atomically.
// - Read-modify-write runs under a cross-process lock (proper-lockfile), so two writers — the app and a
//   CLI, say — never lose each other's edits.
// - A file we cannot parse or validate is never overwritten: the edit is refused with the parse error.
import { constants } from 'node:fs';
import { copyFile, link, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

import lockfile from 'proper-lockfile';
import writeFileAtomic from 'write-file-atomic';

import { errorMessage, GatewayError } from '../errors.js';
import { parseJsonText } from './json-text.js';

export interface JsonFileOptions {
  /** Mode for a file we create (an existing file keeps its mode). 0o600 for files that hold secrets. */
  mode?: number;
  /** Extra validation of the new text before it is written; throw a GatewayError to refuse. */
  validate?: (text: string) => void;
}

export class JsonFile {
  constructor(
    readonly path: string,
    private readonly options: JsonFileOptions = {},
  ) {}

  /** The file's text, or undefined when it does not exist. */
  async readText(): Promise<string | undefined> {
    try {
      return await readFile(this.path, 'utf8');
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
      const current = await this.readText();
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
      await writeFileAtomic(this.path, next, { mode: await this.#mode(), fsync: true });
    });
  }

  /** Creates the file with `text` unless it exists (whatever it holds). Returns whether it was created. */
  async create(text: string): Promise<boolean> {
    let created = false;
    await this.#withLock(async () => {
      if ((await this.readText()) !== undefined) return;
      parseJsonText(text, this.path);
      this.options.validate?.(text);
      await writeFileAtomic(this.path, text, { mode: this.options.mode ?? 0o644, fsync: true });
      created = true;
    });
    return created;
  }

  async #withLock(fn: () => Promise<void>): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    let release: (() => Promise<void>) | undefined;
    try {
      // realpath: false lets us lock a file that does not exist yet (first run).
      release = await lockfile.lock(this.path, {
        realpath: false,
        stale: 10_000,
        retries: { retries: 50, factor: 1.3, minTimeout: 10, maxTimeout: 200 },
      });
    } catch (error) {
      throw new GatewayError(
        'config-io',
        `Cannot lock ${this.path} for writing (${errorMessage(error)}). Another program may be saving it; try again.`,
        { cause: error },
      );
    }
    try {
      await fn();
    } finally {
      await release().catch(() => undefined); // ignore: the lock is stale-checked and expires anyway
    }
  }

  async #mode(): Promise<number> {
    try {
      return (await stat(this.path)).mode & 0o777;
    } catch {
      return this.options.mode ?? 0o644;
    }
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
