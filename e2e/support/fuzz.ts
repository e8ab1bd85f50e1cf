// Seeded fuzzing for the soak (e2e/soak.test.ts): a small PRNG, so that a failing run can be replayed from its
// seed, and mutators that turn a valid message into the kinds of broken ones a peer can send — fields dropped,
// retyped or set to hostile values, JSON truncated or garbled, deep nesting, prototype keys, long strings.

export type Json = null | boolean | number | string | Json[] | JsonObject;
export type JsonObject = { [key: string]: Json };

/** mulberry32: a 32-bit seeded PRNG; `next()` is uniform in [0, 1). */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** Values that break code which trusts a field's type. */
function hostileValue(rng: Rng): Json {
  switch (rng.int(14)) {
    case 0:
      return null;
    case 1:
      return rng.int(2) === 0;
    case 2:
      return rng.pick([0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.5, Number.MAX_SAFE_INTEGER]);
    case 3:
      return '';
    case 4:
      return 'x'.repeat(rng.pick([1, 100, 10_000, 200_000]));
    case 5:
      return rng.pick([
        '__proto__',
        'constructor',
        'toString',
        'hasOwnProperty',
        '../../etc/passwd',
        '\u0000',
      ]);
    case 6:
      return [];
    case 7:
      return {};
    case 8:
      // An own "__proto__" key, as JSON.parse makes it (an object literal would set the prototype instead).
      return JSON.parse('{"__proto__": {"polluted": true}}') as Json;
    case 9:
      return rng.pick(['invoke', 'result', 'register', 'cancel', 'notification', 'server_request']);
    case 10:
      return rng.pick(['tools/call', 'initialize', 'server/discover', 'subscriptions/listen', 'ping']);
    case 11:
      return [null, 1, 'a', {}];
    case 12:
      return '\ud800\udfff\ufffe😀';
    default:
      return { jsonrpc: '2.0', id: rng.int(5), method: 'tools/call', params: { name: 'echo' } };
  }
}

function deepNest(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** A structurally mutated copy of `value`: some keys dropped, retyped or added, at any depth. */
export function mutate(rng: Rng, value: Json, depth = 0): Json {
  if (value === null || typeof value !== 'object' || depth > 6) {
    return rng.chance(0.3) ? hostileValue(rng) : value;
  }
  if (Array.isArray(value)) {
    const out = value.map((item) => (rng.chance(0.3) ? mutate(rng, item, depth + 1) : item));
    if (rng.chance(0.1)) out.push(hostileValue(rng));
    return out;
  }
  const out: Record<string, Json> = {};
  for (const [key, item] of Object.entries(value)) {
    const roll = rng.next();
    if (roll < 0.1) continue; // dropped
    if (roll < 0.3) out[key] = hostileValue(rng);
    else if (roll < 0.5) out[key] = mutate(rng, item, depth + 1);
    else out[key] = item;
  }
  if (rng.chance(0.15))
    out[rng.pick(['extra', '__proto__', 'constructor', 'id', 'type', 'params'])] = hostileValue(rng);
  return out;
}

/**
 * A text frame or body made from `valid`: usually its JSON after `mutate`, sometimes text that is not JSON at
 * all (truncated, garbage, deeply nested, a bare value, a batch).
 */
export function fuzzText(rng: Rng, valid: Json): string {
  const roll = rng.next();
  if (roll < 0.6) return JSON.stringify(mutate(rng, valid));
  if (roll < 0.68) {
    const text = JSON.stringify(valid);
    return text.slice(0, rng.int(text.length));
  }
  if (roll < 0.74)
    return rng.pick(['', ' ', 'null', '[]', '{}', '"just a string"', '42', 'true', '\u0000\u0001']);
  if (roll < 0.8) return deepNest(rng.pick([100, 2_000, 20_000]));
  if (roll < 0.86) return JSON.stringify([valid, mutate(rng, valid)]);
  if (roll < 0.92)
    return Buffer.from(Array.from({ length: rng.int(300) }, () => rng.int(256))).toString('latin1');
  return JSON.stringify(valid).replace(/[:,]/, rng.pick(['', ';', '::', ',,']));
}
