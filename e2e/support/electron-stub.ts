// `electron` for Vitest: what electron-store finds outside Electron (no app, no ipcMain), so that it takes
// the absolute `cwd` it is given. vitest.config.ts aliases `electron` here for modules it inlines.
export default {};
