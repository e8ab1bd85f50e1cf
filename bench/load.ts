// Load shapes of the bench: calls one after another (latency), and N calls kept in flight (throughput).
// Both push each successful call's latency into a caller's array, so that windows can be pooled.
import { performance } from 'node:perf_hooks';

export type Call = () => Promise<unknown>;

export interface Window {
  calls: number;
  errors: number;
  seconds: number;
  firstError?: string;
}

export interface Percentiles {
  samples: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    samples: sorted.length,
    p50Ms: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted[sorted.length - 1] ?? NaN,
    meanMs: sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1),
  };
}

/** `calls` calls one at a time; the first failure is thrown. */
export async function serial(call: Call, calls: number, samples?: number[]): Promise<void> {
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    await call();
    samples?.push(performance.now() - start);
  }
}

/**
 * `concurrency` workers, each calling again as soon as its call returns, until `limit` is reached: a
 * number of calls in all, or a duration. Failures are counted, not thrown.
 */
export async function inFlight(
  call: Call,
  concurrency: number,
  limit: { calls: number } | { ms: number },
  samples?: number[],
): Promise<Window> {
  let started = 0;
  let calls = 0;
  let errors = 0;
  let firstError: string | undefined;
  const begin = performance.now();
  const deadline = 'ms' in limit ? begin + limit.ms : Infinity;
  const maxCalls = 'calls' in limit ? limit.calls : Infinity;
  const worker = async () => {
    while (started < maxCalls && performance.now() < deadline) {
      started++;
      const start = performance.now();
      try {
        await call();
        samples?.push(performance.now() - start);
        calls++;
      } catch (error) {
        errors++;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return {
    calls,
    errors,
    seconds: (performance.now() - begin) / 1000,
    ...(firstError === undefined ? {} : { firstError }),
  };
}
