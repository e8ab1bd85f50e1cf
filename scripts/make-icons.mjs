#!/usr/bin/env node
// Draws the tray and app icons into resources/ (committed; run again after changing a shape):
//   node scripts/make-icons.mjs
// One glyph per link state, so the state reads without colour: disconnected = empty ring, connecting =
// open ring, connected = full disc, needs-login = ring with "!", error = disc with a cross cut out.
// - macOS: black-on-transparent Template images (16 px and 32 px as @2x); macOS tints them for the menu bar.
// - Linux: a "light" variant (dark strokes, for light panels) and a "dark" one (light strokes), 32 px,
//   with the state's colour inside.
// - Windows: one .ico per state holding 16, 24 and 32 px PNGs.
// - The app icon: 512 px PNG (Linux, macOS) and a 256 px .ico (Windows).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import pngjs from 'pngjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'resources');
const STATES = ['disconnected', 'connecting', 'connected', 'needs-login', 'error'];
const COLOURS = {
  disconnected: [140, 140, 140],
  connecting: [230, 160, 20],
  connected: [40, 170, 80],
  'needs-login': [40, 120, 220],
  error: [210, 50, 50],
};

/** Coverage (0–1) of the glyph of `state` at the unit-square point (x, y), and whether it is the inner fill. */
function glyph(state, x, y) {
  const dx = x - 0.5;
  const dy = y - 0.5;
  const r = Math.hypot(dx, dy);
  const ring = r <= 0.44 && r >= 0.3;
  const disc = r <= 0.44;
  switch (state) {
    case 'disconnected':
      return ring ? 'stroke' : null;
    case 'connecting': {
      const angle = Math.atan2(dy, dx);
      return ring && !(angle > -Math.PI / 2 && angle < 0) ? 'stroke' : null;
    }
    case 'connected':
      return disc ? (r >= 0.3 ? 'stroke' : 'fill') : null;
    case 'needs-login': {
      const bar = Math.abs(dx) <= 0.055 && dy >= -0.2 && dy <= 0.06;
      const dot = Math.hypot(dx, dy - 0.15) <= 0.055;
      return ring ? 'stroke' : bar || dot ? 'fill' : null;
    }
    case 'error': {
      const cut = (Math.abs(dx - dy) < 0.09 || Math.abs(dx + dy) < 0.09) && r < 0.3;
      return disc && !cut ? (r >= 0.3 ? 'stroke' : 'fill') : null;
    }
    default:
      throw new Error(state);
  }
}

/** A PNG of `size` px; `paint(part)` gives the RGB of a part. Edges are anti-aliased by 4×4 supersampling. */
function draw(state, size, paint) {
  const png = new pngjs.PNG({ width: size, height: size });
  const n = 4;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      const sum = [0, 0, 0];
      let hits = 0;
      for (let sy = 0; sy < n; sy++) {
        for (let sx = 0; sx < n; sx++) {
          const part = glyph(state, (px + (sx + 0.5) / n) / size, (py + (sy + 0.5) / n) / size);
          if (!part) continue;
          const rgb = paint(part);
          for (let i = 0; i < 3; i++) sum[i] += rgb[i];
          hits++;
        }
      }
      const at = (py * size + px) * 4;
      for (let i = 0; i < 3; i++) png.data[at + i] = hits ? Math.round(sum[i] / hits) : 0;
      png.data[at + 3] = Math.round((255 * hits) / (n * n));
    }
  }
  return pngjs.PNG.sync.write(png);
}

/** An .ico holding PNG images (Windows Vista and later read PNG entries). */
function ico(images) {
  const header = Buffer.alloc(6 + 16 * images.length);
  header.writeUInt16LE(0, 0);
  header.writeUInt16LE(1, 2);
  header.writeUInt16LE(images.length, 4);
  let offset = header.length;
  images.forEach(({ size, data }, i) => {
    const entry = 6 + 16 * i;
    header.writeUInt8(size >= 256 ? 0 : size, entry);
    header.writeUInt8(size >= 256 ? 0 : size, entry + 1);
    header.writeUInt16LE(1, entry + 4);
    header.writeUInt16LE(32, entry + 6);
    header.writeUInt32LE(data.length, entry + 8);
    header.writeUInt32LE(offset, entry + 12);
    offset += data.length;
  });
  return Buffer.concat([header, ...images.map((image) => image.data)]);
}

function write(path, data) {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), data);
}

for (const state of STATES) {
  const black = () => [0, 0, 0];
  write(`tray/mac/${state}Template.png`, draw(state, 16, black));
  write(`tray/mac/${state}Template@2x.png`, draw(state, 32, black));
  const colour = COLOURS[state];
  for (const [theme, stroke] of [
    ['light', [40, 40, 40]],
    ['dark', [235, 235, 235]],
  ]) {
    write(
      `tray/linux/${state}-${theme}.png`,
      draw(state, 32, (part) => (part === 'fill' ? colour : stroke)),
    );
  }
  const windows = (part) => (part === 'fill' ? colour : [90, 90, 90]);
  write(
    `tray/win/${state}.ico`,
    ico([16, 24, 32].map((size) => ({ size, data: draw(state, size, windows) }))),
  );
}
const app = (part) => (part === 'fill' ? COLOURS.connected : [30, 60, 90]);
write('app/icon.png', draw('connected', 512, app));
write('app/icon.ico', ico([{ size: 256, data: draw('connected', 256, app) }]));
console.log(`Icons written to ${root}`);
