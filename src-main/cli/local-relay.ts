// Moved to src-relay/local-endpoint.ts (the Electron shell may not import the CLI). This re-export only keeps
// src-main/control/control-api.test.ts compiling until its import is pointed there; then delete this file.
export { localRelayFactory } from '../../src-relay/local-endpoint.js';
