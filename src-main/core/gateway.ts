// The composition root of the core: settings, mcp.json (created on first run, watched), the log hub and the
// server manager. The CLI and the Electron app each build one Gateway and attach their front-end.
import { readFileSync } from 'node:fs';

import { type ConfigWatcher, watchFile } from './config/config-watcher.js';
import { McpConfigFile } from './config/mcp-config.js';
import { type ResolvedSettings, resolveSettings, type SettingsInputs } from './config/settings.js';
import { errorMessage } from './errors.js';
import type { Logger, LogHub } from './logging/log-hub.js';
import type { BackoffOptions } from './servers/managed-server.js';
import { ServerManager } from './servers/server-manager.js';

const pkg = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url.replace('/dist/', '/')), 'utf8'),
) as {
  name: string;
  version: string;
};
export const PRODUCT = { name: pkg.name, version: pkg.version } as const;

export interface GatewayOptions extends SettingsInputs {
  logs: LogHub;
  backoff?: BackoffOptions;
  startTimeoutMs?: number;
  /** Reload mcp.json when it changes. Default true. */
  watch?: boolean;
}

export class Gateway {
  readonly servers: ServerManager;
  readonly configFile: McpConfigFile;
  readonly #log: Logger;
  #watcher: ConfigWatcher | undefined;
  #reloading: Promise<void> = Promise.resolve();

  private constructor(
    readonly settings: ResolvedSettings,
    private readonly options: GatewayOptions,
  ) {
    this.#log = options.logs.logger('gateway');
    this.configFile = new McpConfigFile(settings.paths.config.path);
    options.logs.redactor.addSecret(settings.values.agentJwt);
    const refresh = settings.state['refresh_token'];
    if (typeof refresh === 'string') options.logs.redactor.addSecret(refresh);
    this.servers = new ServerManager({
      log: options.logs.logger('server'),
      redactor: options.logs.redactor,
      clientInfo: { name: PRODUCT.name, version: PRODUCT.version },
      autoStart: settings.values.startMcpServers,
      backoff: options.backoff,
      startTimeoutMs: options.startTimeoutMs,
    });
  }

  /** Resolves settings and paths. Throws GatewayError for an invalid setting or state file. */
  static async create(options: GatewayOptions): Promise<Gateway> {
    return new Gateway(await resolveSettings(options), options);
  }

  /**
   * Creates mcp.json on first run, loads it and starts its servers, then watches it. Throws GatewayError
   * when mcp.json is unusable as a whole (the file is left as it was).
   */
  async start(): Promise<void> {
    const path = this.configFile.path;
    if (await this.configFile.createDefault(this.options.cwd)) {
      this.#log.info(
        `Created ${path} with a "filesystem" server for ${this.options.cwd}; edit it to add your servers.`,
      );
    }
    const config = await this.configFile.load();
    this.#log.info(`Loaded ${config.servers.size} server(s) from ${path}`);
    if (!this.settings.values.startMcpServers)
      this.#log.info('START_MCP_SERVERS is false: not starting servers');
    await this.servers.apply(config);
    if (this.options.watch !== false) this.#watcher = await watchFile(path, () => void this.reload());
  }

  /** Re-reads mcp.json and applies it. An invalid file is reported and the running servers are kept. */
  reload(): Promise<void> {
    this.#reloading = this.#reloading.then(async () => {
      try {
        const config = await this.configFile.load();
        this.#log.info(`${config.path} changed; applying`);
        await this.servers.apply(config);
      } catch (error) {
        this.#log.error(`${errorMessage(error)} Keeping the servers that are running.`);
      }
    });
    return this.#reloading;
  }

  async close(): Promise<void> {
    await this.#watcher?.close();
    this.#watcher = undefined;
    await this.#reloading;
    await this.servers.close();
  }
}
