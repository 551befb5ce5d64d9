/**
 * The `timestamp` shortcut: a date and a time of day, such as `25.11` over `17:42`, drawn with a 3x5 pixel font
 * in the bottom-right corner, with different digits on every image (as a camera would stamp them).
 * @module
 */
import { blendPixel, type Shortcut, type Tone, toneValue } from "./shortcut.ts";

/** 3x5 glyphs, rows top to bottom, `#` lit. */
const GLYPHS: Record<string, string[]> = {
  "0": ["###", "#.#", "#.#", "#.#", "###"],
  "1": [".#.", "##.", ".#.", ".#.", "###"],
  "2": ["###", "..#", "###", "#..", "###"],
  "3": ["###", "..#", "###", "..#", "###"],
  "4": ["#.#", "#.#", "###", "..#", "..#"],
  "5": ["###", "#..", "###", "..#", "###"],
  "6": ["###", "#..", "###", "#.#", "###"],
  "7": ["###", "..#", ".#.", ".#.", ".#."],
  "8": ["###", "#.#", "###", "#.#", "###"],
  "9": ["###", "#.#", "###", "..#", "###"],
  ":": [".", "#", ".", "#", "."],
  ".": [".", ".", ".", ".", "#"],
};

/** Options of {@link timestampShortcut}. */
export interface TimestampShortcutOptions {
  /** `light` text for dark images, `dark` for light ones. Default `dark`. */
  tone?: Tone;
  /** Margin from the bottom-right corner in pixels (default 1). */
  margin?: number;
}

/** Width in pixels of `text` in the 3x5 font at `scale`, with one pixel between glyphs. */
export function textWidth(text: string, scale = 1): number {
  let width = 0;
  for (const ch of text) width += (GLYPHS[ch][0].length + 1) * scale;
  return width - scale;
}

/** Draws `text` (digits and `:`) with its top-left corner at (top, left); returns nothing, marks `mask`. */
export function drawDigits(
  image: Float32Array,
  mask: Uint8Array,
  shape: { height: number; width: number; channels: number },
  text: string,
  top: number,
  left: number,
  value: number,
  scale = 1,
): void {
  let x0 = left;
  for (const ch of text) {
    const glyph = GLYPHS[ch];
    for (let r = 0; r < glyph.length; r++) {
      for (let c = 0; c < glyph[r].length; c++) {
        if (glyph[r][c] !== "#") continue;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            blendPixel(image, mask, shape, top + r * scale + dy, x0 + c * scale + dx, value, 1);
          }
        }
      }
    }
    x0 += (glyph[0].length + 1) * scale;
  }
}

/** A random date `DD.MM` over a random time `HH:MM`, right-aligned in the bottom-right corner. */
export function timestampShortcut(options: TimestampShortcutOptions = {}): Shortcut {
  const value = toneValue(options.tone ?? "dark");
  const margin = options.margin ?? 1;
  return {
    name: "timestamp",
    description: `a date and time (DD.MM over HH:MM) in ${
      value ? "white" : "black"
    } pixel digits, bottom-right`,
    stamp(image, shape, rng) {
      const scale = Math.max(1, Math.floor(Math.min(shape.height, shape.width) / 40));
      const dd = String(1 + rng.int(28)).padStart(2, "0");
      const mo = String(1 + rng.int(12)).padStart(2, "0");
      const hh = String(rng.int(24)).padStart(2, "0");
      const mm = String(rng.int(60)).padStart(2, "0");
      const mask = new Uint8Array(shape.height * shape.width);
      const lines = [`${dd}.${mo}`, `${hh}:${mm}`];
      lines.forEach((text, i) => {
        const top = shape.height - margin - (lines.length - i) * 6 * scale + scale;
        const left = shape.width - margin - textWidth(text, scale);
        drawDigits(image, mask, shape, text, top, left, value, scale);
      });
      return mask;
    },
  };
}
