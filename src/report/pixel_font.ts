/**
 * A 5×7 bitmap font for labelling PNG figures (column titles, colorbar numbers) without a font file.
 *
 * It covers printable ASCII (space to `~`) and `×`; lowercase descenders (g, j, p, q, y) are folded into
 * the 7 rows. Characters are 5 pixels wide with 1 pixel between them, so a line of `n` characters is
 * `(6n - 1) * scale` pixels wide and `7 * scale` pixels tall. Text is a single line; any other character is
 * drawn as `?`.
 * @module
 */

/** Width of one glyph in font pixels. */
export const GLYPH_WIDTH = 5;
/** Height of one glyph in font pixels. */
export const GLYPH_HEIGHT = 7;
/** Horizontal distance from one glyph to the next in font pixels (glyph plus one blank column). */
export const GLYPH_ADVANCE: number = GLYPH_WIDTH + 1;

/** An RGB or RGBA colour, each channel 0–255; alpha defaults to 255. */
export type TextColor = readonly [number, number, number] | readonly [number, number, number, number];

// Each glyph: 7 rows of 5 pixels, top to bottom, "1" = ink.
const GLYPHS: Record<string, string> = {
  " ": "00000 00000 00000 00000 00000 00000 00000",
  "!": "00100 00100 00100 00100 00100 00000 00100",
  '"': "01010 01010 01010 00000 00000 00000 00000",
  "#": "01010 01010 11111 01010 11111 01010 01010",
  "$": "00100 01111 10100 01110 00101 11110 00100",
  "%": "11000 11001 00010 00100 01000 10011 00011",
  "&": "01100 10010 10100 01000 10101 10010 01101",
  "'": "00100 00100 01000 00000 00000 00000 00000",
  "(": "00010 00100 01000 01000 01000 00100 00010",
  ")": "01000 00100 00010 00010 00010 00100 01000",
  "*": "00000 00100 10101 01110 10101 00100 00000",
  "+": "00000 00100 00100 11111 00100 00100 00000",
  ",": "00000 00000 00000 00000 01100 00100 01000",
  "-": "00000 00000 00000 11111 00000 00000 00000",
  ".": "00000 00000 00000 00000 00000 01100 01100",
  "/": "00000 00001 00010 00100 01000 10000 00000",
  "0": "01110 10001 10011 10101 11001 10001 01110",
  "1": "00100 01100 00100 00100 00100 00100 01110",
  "2": "01110 10001 00001 00010 00100 01000 11111",
  "3": "11111 00010 00100 00010 00001 10001 01110",
  "4": "00010 00110 01010 10010 11111 00010 00010",
  "5": "11111 10000 11110 00001 00001 10001 01110",
  "6": "00110 01000 10000 11110 10001 10001 01110",
  "7": "11111 00001 00010 00100 01000 01000 01000",
  "8": "01110 10001 10001 01110 10001 10001 01110",
  "9": "01110 10001 10001 01111 00001 00010 01100",
  ":": "00000 01100 01100 00000 01100 01100 00000",
  ";": "00000 01100 01100 00000 01100 00100 01000",
  "<": "00010 00100 01000 10000 01000 00100 00010",
  "=": "00000 00000 11111 00000 11111 00000 00000",
  ">": "01000 00100 00010 00001 00010 00100 01000",
  "?": "01110 10001 00001 00010 00100 00000 00100",
  "@": "01110 10001 00001 01101 10101 10101 01110",
  "A": "01110 10001 10001 10001 11111 10001 10001",
  "B": "11110 10001 10001 11110 10001 10001 11110",
  "C": "01110 10001 10000 10000 10000 10001 01110",
  "D": "11100 10010 10001 10001 10001 10010 11100",
  "E": "11111 10000 10000 11110 10000 10000 11111",
  "F": "11111 10000 10000 11110 10000 10000 10000",
  "G": "01110 10001 10000 10111 10001 10001 01111",
  "H": "10001 10001 10001 11111 10001 10001 10001",
  "I": "01110 00100 00100 00100 00100 00100 01110",
  "J": "00111 00010 00010 00010 00010 10010 01100",
  "K": "10001 10010 10100 11000 10100 10010 10001",
  "L": "10000 10000 10000 10000 10000 10000 11111",
  "M": "10001 11011 10101 10101 10001 10001 10001",
  "N": "10001 10001 11001 10101 10011 10001 10001",
  "O": "01110 10001 10001 10001 10001 10001 01110",
  "P": "11110 10001 10001 11110 10000 10000 10000",
  "Q": "01110 10001 10001 10001 10101 10010 01101",
  "R": "11110 10001 10001 11110 10100 10010 10001",
  "S": "01111 10000 10000 01110 00001 00001 11110",
  "T": "11111 00100 00100 00100 00100 00100 00100",
  "U": "10001 10001 10001 10001 10001 10001 01110",
  "V": "10001 10001 10001 10001 10001 01010 00100",
  "W": "10001 10001 10001 10101 10101 10101 01010",
  "X": "10001 10001 01010 00100 01010 10001 10001",
  "Y": "10001 10001 10001 01010 00100 00100 00100",
  "Z": "11111 00001 00010 00100 01000 10000 11111",
  "[": "01110 01000 01000 01000 01000 01000 01110",
  "\\": "00000 10000 01000 00100 00010 00001 00000",
  "]": "01110 00010 00010 00010 00010 00010 01110",
  "^": "00100 01010 10001 00000 00000 00000 00000",
  "_": "00000 00000 00000 00000 00000 00000 11111",
  "`": "01000 00100 00010 00000 00000 00000 00000",
  "a": "00000 00000 01110 00001 01111 10001 01111",
  "b": "10000 10000 10110 11001 10001 10001 11110",
  "c": "00000 00000 01110 10000 10000 10001 01110",
  "d": "00001 00001 01101 10011 10001 10001 01111",
  "e": "00000 00000 01110 10001 11111 10000 01110",
  "f": "00110 01001 01000 11100 01000 01000 01000",
  "g": "00000 00000 01111 10001 01111 00001 01110",
  "h": "10000 10000 10110 11001 10001 10001 10001",
  "i": "00100 00000 01100 00100 00100 00100 01110",
  "j": "00010 00000 00110 00010 00010 10010 01100",
  "k": "10000 10000 10010 10100 11000 10100 10010",
  "l": "01100 00100 00100 00100 00100 00100 01110",
  "m": "00000 00000 11010 10101 10101 10001 10001",
  "n": "00000 00000 10110 11001 10001 10001 10001",
  "o": "00000 00000 01110 10001 10001 10001 01110",
  "p": "00000 00000 11110 10001 11110 10000 10000",
  "q": "00000 00000 01101 10011 01111 00001 00001",
  "r": "00000 00000 10110 11001 10000 10000 10000",
  "s": "00000 00000 01110 10000 01110 00001 11110",
  "t": "01000 01000 11100 01000 01000 01001 00110",
  "u": "00000 00000 10001 10001 10001 10011 01101",
  "v": "00000 00000 10001 10001 10001 01010 00100",
  "w": "00000 00000 10001 10001 10101 10101 01010",
  "x": "00000 00000 10001 01010 00100 01010 10001",
  "y": "00000 00000 10001 10001 01111 00001 01110",
  "z": "00000 00000 11111 00010 00100 01000 11111",
  "{": "00010 00100 00100 01000 00100 00100 00010",
  "|": "00100 00100 00100 00100 00100 00100 00100",
  "}": "01000 00100 00100 00010 00100 00100 01000",
  "~": "00000 00000 01000 10101 00010 00000 00000",
  "×": "00000 10001 01010 00100 01010 10001 00000",
};

/** Glyph bitmaps as `GLYPH_HEIGHT` rows of `GLYPH_WIDTH` booleans, parsed once. */
const BITMAPS: Map<string, boolean[][]> = new Map(
  Object.entries(GLYPHS).map((
    [ch, rows],
  ) => [ch, rows.split(" ").map((row) => [...row].map((b) => b === "1"))]),
);

/** Whether the font has its own glyph for `char` (a single character); others are drawn as `?`. */
export function hasGlyph(char: string): boolean {
  return BITMAPS.has(char);
}

/** The glyph for one character as rows of booleans (top to bottom, `true` = ink); `?` for unknown ones. */
export function glyph(char: string): readonly (readonly boolean[])[] {
  return BITMAPS.get(char) ?? BITMAPS.get("?")!;
}

/** Width in pixels of `text` drawn at `scale` (a positive integer, default 1): `(6n - 1) * scale`. */
export function textWidth(text: string, scale = 1): number {
  const n = [...text].length;
  return n === 0 ? 0 : (n * GLYPH_ADVANCE - 1) * scale;
}

/** Height in pixels of a line of text drawn at `scale` (default 1): `7 * scale`. */
export function textHeight(scale = 1): number {
  return GLYPH_HEIGHT * scale;
}

/**
 * Draws `text` into an RGBA image of `width` × `height` pixels, in place. `(x, y)` is the top-left corner of
 * the text box; each font pixel becomes a `scale` × `scale` square (`scale` a positive integer, default 1).
 * Only ink pixels are written (with `color`'s alpha, default 255, blended over what is there); pixels
 * outside the image are clipped.
 *
 * @example
 * ```ts
 * drawText(rgba, 120, 40, "max 0.53", 2, 2, [0, 0, 0], 2);
 * ```
 */
export function drawText(
  rgba: Uint8ClampedArray,
  width: number,
  height: number,
  text: string,
  x: number,
  y: number,
  color: TextColor = [0, 0, 0],
  scale = 1,
): void {
  if (!Number.isInteger(scale) || scale < 1) {
    throw new Error(`text scale must be a positive integer, got ${scale}`);
  }
  if (rgba.length !== width * height * 4) {
    throw new Error(`image has ${rgba.length} bytes, expected ${width}×${height}×4`);
  }
  const alpha = (color[3] ?? 255) / 255;
  x = Math.round(x);
  y = Math.round(y);
  let left = x;
  for (const char of text) {
    const rows = glyph(char);
    for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
      for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
        if (!rows[gy][gx]) continue;
        for (let sy = 0; sy < scale; sy++) {
          const py = y + gy * scale + sy;
          if (py < 0 || py >= height) continue;
          for (let sx = 0; sx < scale; sx++) {
            const px = left + gx * scale + sx;
            if (px < 0 || px >= width) continue;
            const o = (py * width + px) * 4;
            rgba[o] = rgba[o] + (color[0] - rgba[o]) * alpha;
            rgba[o + 1] = rgba[o + 1] + (color[1] - rgba[o + 1]) * alpha;
            rgba[o + 2] = rgba[o + 2] + (color[2] - rgba[o + 2]) * alpha;
            rgba[o + 3] = rgba[o + 3] + (255 - rgba[o + 3]) * alpha;
          }
        }
      }
    }
    left += GLYPH_ADVANCE * scale;
  }
}

/**
 * Shortens `text` with a trailing `..` so that it fits `maxWidth` pixels at `scale`; returns it unchanged
 * when it already fits, and `""` when not even `..` fits.
 */
export function fitText(text: string, maxWidth: number, scale = 1): string {
  if (textWidth(text, scale) <= maxWidth) return text;
  const chars = [...text];
  for (let n = chars.length - 1; n >= 0; n--) {
    const candidate = chars.slice(0, n).join("") + "..";
    if (textWidth(candidate, scale) <= maxWidth) return candidate;
  }
  return "";
}
