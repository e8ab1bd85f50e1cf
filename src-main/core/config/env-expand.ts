// `${VAR}` and `${VAR:-default}` in mcp.json, as Claude Code, Cursor and Gemini CLI expand them: a token
// stays in the environment and the file says only where to find it. Expanded in `command`, `args`, `env`,
// `url` and `headers`, before the entry is validated (a URL may be built from a variable).

/** `${NAME}` or `${NAME:-default}`; NAME as a POSIX shell variable name. */
const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** The fields of a server entry whose strings are expanded. */
export const EXPANDED_FIELDS = ['command', 'args', 'env', 'url', 'headers'] as const;

export interface ExpansionProblem {
  /** JSON path inside the entry, e.g. `["headers", "Authorization"]`. */
  path: (string | number)[];
  /** The variable that is not set. */
  variable: string;
}

/** Replaces every reference in `text`; unset variables without a default are collected in `missing`. */
export function expandString(
  text: string,
  env: Readonly<Record<string, string | undefined>>,
  missing: string[],
): string {
  return text.replace(REFERENCE, (whole, name: string, fallback: string | undefined) => {
    const value = env[name];
    // Shell rules: `:-` also replaces an empty value; a plain reference to an empty variable is empty.
    if (value !== undefined && (value !== '' || fallback === undefined)) return value;
    if (fallback !== undefined) return fallback;
    missing.push(name);
    return whole;
  });
}

/**
 * A copy of a raw mcp.json entry with `${VAR}` references expanded in {@link EXPANDED_FIELDS}, plus the
 * references that could not be (a variable that is not set, without a `:-default`). Values of other
 * shapes are left for validation to report.
 */
export function expandEntry(
  raw: unknown,
  env: Readonly<Record<string, string | undefined>>,
): { entry: unknown; problems: ExpansionProblem[] } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { entry: raw, problems: [] };
  const entry: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  const problems: ExpansionProblem[] = [];
  const expand = (value: string, path: (string | number)[]): string => {
    const missing: string[] = [];
    const out = expandString(value, env, missing);
    for (const variable of missing) problems.push({ path, variable });
    return out;
  };
  for (const field of EXPANDED_FIELDS) {
    const value = entry[field];
    if (typeof value === 'string') entry[field] = expand(value, [field]);
    else if (Array.isArray(value)) {
      entry[field] = value.map((item: unknown, i) =>
        typeof item === 'string' ? expand(item, [field, i]) : item,
      );
    } else if (value !== null && typeof value === 'object') {
      entry[field] = Object.fromEntries(
        Object.entries(value as Record<string, unknown>).map(([key, item]) => [
          key,
          typeof item === 'string' ? expand(item, [field, key]) : item,
        ]),
      );
    }
  }
  return { entry, problems };
}

/** Whether `text` is only references (`${A}`, `${B:-x}` …) and nothing written literally. */
export function isOnlyReferences(text: string): boolean {
  return text.replace(REFERENCE, '').trim() === '' && new RegExp(REFERENCE.source).test(text);
}
