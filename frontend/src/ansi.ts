// ANSI escape sequences in log lines: SGR colours and styles become styled segments, every
// other control sequence (cursor moves, OSC titles...) is dropped. A line without ESC costs one
// indexOf.

export interface Segment {
  text: string;
  /** CSS classes (ansi-fg-1, ansi-bold...) */
  cls: string;
  /** Inline colours of 256-colour and true-colour codes. */
  style: string;
}

interface Pen {
  fg: string | null;
  bg: string | null;
  fgRgb: string | null;
  bgRgb: string | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
}

// CSI ... final byte, OSC ... BEL or ST, or a lone two-byte escape.
// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC and BEL are what it looks for
const ESCAPE = /\x1b(?:\[([0-9;:?]*)([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])/g;

const fresh = (): Pen => ({
  fg: null,
  bg: null,
  fgRgb: null,
  bgRgb: null,
  bold: false,
  dim: false,
  italic: false,
  underline: false,
});

/** The text of `line` with every escape sequence removed (what search and copy see). */
export function stripAnsi(line: string): string {
  return line.indexOf("\x1b") < 0 ? line : line.replace(ESCAPE, "");
}

/** Styled segments of `line`, or null when it has no escape sequence. */
export function parseAnsi(line: string): Segment[] | null {
  if (line.indexOf("\x1b") < 0) return null;
  const segments: Segment[] = [];
  let pen = fresh();
  let last = 0;
  ESCAPE.lastIndex = 0;
  for (let m = ESCAPE.exec(line); m; m = ESCAPE.exec(line)) {
    if (m.index > last) segments.push(segment(line.slice(last, m.index), pen));
    last = m.index + m[0].length;
    if (m[2] === "m") pen = apply(pen, m[1] ?? "");
  }
  if (last < line.length) segments.push(segment(line.slice(last), pen));
  return segments;
}

function segment(text: string, pen: Pen): Segment {
  const cls: string[] = [];
  if (pen.fg) cls.push(`ansi-fg-${pen.fg}`);
  if (pen.bg) cls.push(`ansi-bg-${pen.bg}`);
  if (pen.bold) cls.push("ansi-bold");
  if (pen.dim) cls.push("ansi-dim");
  if (pen.italic) cls.push("ansi-italic");
  if (pen.underline) cls.push("ansi-underline");
  const style = [
    pen.fgRgb ? `color:${pen.fgRgb}` : "",
    pen.bgRgb ? `background-color:${pen.bgRgb}` : "",
  ]
    .filter(Boolean)
    .join(";");
  return { text, cls: cls.join(" "), style };
}

function apply(previous: Pen, params: string): Pen {
  const pen = { ...previous };
  const codes = params === "" ? [0] : params.split(/[;:]/).map((p) => Number(p) || 0);
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i] ?? 0;
    if (code === 0) Object.assign(pen, fresh());
    else if (code === 1) pen.bold = true;
    else if (code === 2) pen.dim = true;
    else if (code === 3) pen.italic = true;
    else if (code === 4) pen.underline = true;
    else if (code === 22) pen.bold = pen.dim = false;
    else if (code === 23) pen.italic = false;
    else if (code === 24) pen.underline = false;
    else if (code >= 30 && code <= 37) [pen.fg, pen.fgRgb] = [String(code - 30), null];
    else if (code >= 90 && code <= 97) [pen.fg, pen.fgRgb] = [String(code - 90 + 8), null];
    else if (code === 39) [pen.fg, pen.fgRgb] = [null, null];
    else if (code >= 40 && code <= 47) [pen.bg, pen.bgRgb] = [String(code - 40), null];
    else if (code >= 100 && code <= 107) [pen.bg, pen.bgRgb] = [String(code - 100 + 8), null];
    else if (code === 49) [pen.bg, pen.bgRgb] = [null, null];
    else if (code === 38 || code === 48) {
      const [colour, used] = extended(codes, i + 1);
      i += used;
      if (code === 38) [pen.fg, pen.fgRgb] = [null, colour];
      else [pen.bg, pen.bgRgb] = [null, colour];
    }
  }
  return pen;
}

/** `5;n` (256 colours) or `2;r;g;b` after a 38/48: the CSS colour and the codes it used. */
function extended(codes: number[], at: number): [string | null, number] {
  if (codes[at] === 5) return [xterm256(codes[at + 1] ?? 0), 2];
  if (codes[at] === 2) {
    const [r, g, b] = [codes[at + 1] ?? 0, codes[at + 2] ?? 0, codes[at + 3] ?? 0];
    return [`rgb(${clamp(r)},${clamp(g)},${clamp(b)})`, 4];
  }
  return [null, 0];
}

const clamp = (n: number) => Math.max(0, Math.min(255, n));

const BASIC = [
  "#000000",
  "#cd3131",
  "#0dbc79",
  "#e5e510",
  "#2472c8",
  "#bc3fbc",
  "#11a8cd",
  "#e5e5e5",
  "#666666",
  "#f14c4c",
  "#23d18b",
  "#f5f543",
  "#3b8eea",
  "#d670d6",
  "#29b8db",
  "#ffffff",
];

function xterm256(n: number): string {
  const i = clamp(n);
  if (i < 16) return BASIC[i] ?? "#000000";
  if (i >= 232) {
    const v = 8 + (i - 232) * 10;
    return `rgb(${v},${v},${v})`;
  }
  const c = i - 16;
  const step = (x: number) => (x === 0 ? 0 : 55 + x * 40);
  return `rgb(${step(Math.floor(c / 36))},${step(Math.floor(c / 6) % 6)},${step(c % 6)})`;
}
