// Password hashes for the built-in provider's USERS_FILE, one user a line:
//
//   email:scrypt:<N>:<r>:<p>:<salt base64>:<hash base64>
//
// `mcpassistant-relay hash-password` prints everything after "email:". scrypt (RFC 7914) from node:crypto;
// the cost parameters travel with each hash so they can be raised later without breaking old lines.
import { randomBytes, scrypt as scryptCallback, type ScryptOptions, timingSafeEqual } from 'node:crypto';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** 64 MiB and ~0.1–0.2 s per hash on this class of machine (OWASP lists N=2^16, r=8, p=2 as equivalent). */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 16, r: 8, p: 1 };
/** Passwords are cut off nowhere, but refused past this, so that one request cannot ask for a huge hash. */
export const MAX_PASSWORD_LENGTH = 1024;

const KEY_LENGTH = 32;

export interface UserRecord {
  email: string;
  params: ScryptParams;
  salt: Buffer;
  hash: Buffer;
}

function scrypt(password: string, salt: Buffer, length: number, params: ScryptParams): Promise<Buffer> {
  // Node refuses (approximately) 128·N·r bytes over maxmem (32 MiB by default): allow what the line asks.
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) =>
    scryptCallback(password.normalize('NFC'), salt, length, options, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

/** The hash part of a USERS_FILE line: `scrypt:N:r:p:salt:hash`. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, KEY_LENGTH, params);
  return `scrypt:${params.N}:${params.r}:${params.p}:${salt.toString('base64')}:${hash.toString('base64')}`;
}

/** Parses a hash part (`scrypt:N:r:p:salt:hash`); throws an Error that says what is wrong. */
export function parseHash(text: string): Omit<UserRecord, 'email'> {
  const parts = text.split(':');
  if (parts.length !== 6 || parts[0] !== 'scrypt')
    throw new Error('expected scrypt:<N>:<r>:<p>:<salt base64>:<hash base64>');
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  // Bounds keep a typo from asking for gigabytes; N must be a power of two above 1 (scrypt's rule).
  if (!Number.isInteger(N) || N < 2 || N > 2 ** 20 || (N & (N - 1)) !== 0)
    throw new Error('N must be a power of two from 2 to 2^20');
  if (!Number.isInteger(r) || r < 1 || r > 32) throw new Error('r must be a whole number from 1 to 32');
  if (!Number.isInteger(p) || p < 1 || p > 16) throw new Error('p must be a whole number from 1 to 16');
  const base64 = /^[A-Za-z0-9+/]+={0,2}$/;
  if (!base64.test(parts[4]!) || !base64.test(parts[5]!)) throw new Error('salt and hash must be base64');
  const salt = Buffer.from(parts[4]!, 'base64');
  const hash = Buffer.from(parts[5]!, 'base64');
  if (salt.length < 8) throw new Error('the salt must be at least 8 bytes');
  if (hash.length < 16 || hash.length > 128) throw new Error('the hash must be 16 to 128 bytes');
  return { params: { N, r, p }, salt, hash };
}

/**
 * Parses a USERS_FILE. Blank lines and lines starting with # are skipped. Returns the users and a
 * problem per bad line ("line 3: …"), never the line itself (it holds a hash).
 */
export function parseUsers(text: string): { users: Map<string, UserRecord>; problems: string[] } {
  const users = new Map<string, UserRecord>();
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const email = line.slice(0, Math.max(colon, 0)).trim().toLowerCase();
    if (colon < 0 || !/^[^\s@:]+@[^\s@:]+$/.test(email)) {
      problems.push(`line ${index + 1}: expected email:scrypt:<N>:<r>:<p>:<salt>:<hash>`);
      return;
    }
    try {
      const record = parseHash(line.slice(colon + 1));
      if (users.has(email)) problems.push(`line ${index + 1}: ${email} is listed twice (the first wins)`);
      else users.set(email, { email, ...record });
    } catch (error) {
      problems.push(`line ${index + 1} (${email}): ${(error as Error).message}`);
    }
  });
  return { users, problems };
}

// A fixed record checked against when the e-mail is unknown, so that an unknown user costs as much time as
// a wrong password and the answer's timing does not tell which e-mails exist.
const DUMMY: Omit<UserRecord, 'email'> = {
  params: DEFAULT_SCRYPT,
  salt: Buffer.alloc(16, 7),
  hash: Buffer.alloc(KEY_LENGTH, 0),
};

/** Whether `password` matches `user` (compared in constant time); false for an unknown user, as slowly. */
export async function verifyPassword(user: UserRecord | undefined, password: string): Promise<boolean> {
  const record = user ?? DUMMY;
  const derived = await scrypt(password, record.salt, record.hash.length, record.params);
  return timingSafeEqual(derived, record.hash) && user !== undefined;
}
