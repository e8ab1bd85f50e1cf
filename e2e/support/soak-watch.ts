// What the soak files (e2e/soak*.test.ts) share: a watch on this process for unhandled rejections and uncaught
// exceptions, and memory read after a full garbage collection.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Starts collecting every unhandled rejection and uncaught exception of this process into the returned list;
 * `stop()` ends the watch. A soak asserts the list is empty.
 */
export function watchUnhandled(): { errors: unknown[]; stop(): void } {
  const errors: unknown[] = [];
  const onError = (error: unknown) => errors.push(error);
  process.on('unhandledRejection', onError);
  process.on('uncaughtException', onError);
  return {
    errors,
    stop() {
      process.off('unhandledRejection', onError);
      process.off('uncaughtException', onError);
    },
  };
}

const gc = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/**
 * Bytes this process holds after two full collections: `heap` is the V8 heap plus memory outside it (buffers,
 * sockets' data), `rss` the resident set.
 */
export function memory(): { heap: number; rss: number } {
  gc();
  gc();
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed + usage.external + usage.arrayBuffers, rss: usage.rss };
}

/** Rounds to two decimals, for figures. */
export const round2 = (value: number): number => Math.round(value * 100) / 100;
