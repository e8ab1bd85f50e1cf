// Types of scripts/conformance.mjs for the TypeScript that imports it (e2e/support/conformance.ts).
export declare const CONFORMANCE_PACKAGES: Record<string, string>;
export declare const CONFORMANCE_DIR: string;
export declare function ensureConformance(): { node: string; cli: string };
