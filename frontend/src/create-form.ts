// The create form's logic, apart from its page: the form's state, the API body built from it
// (and where each body entry came from, to put the API's 422 messages back next to their
// inputs), the equivalent `docker run` line, and the parsers of what is typed or pasted.

import type { CreateBody, MountIn, PortIn, Protocol, RestartPolicy, Typed } from "./api-create";

export interface Pair {
  key: string;
  value: string;
}

export interface PortRow {
  host_ip: string;
  host_port: string;
  container_port: string;
  protocol: Protocol;
}

export type MountRow = MountIn;

export interface Form {
  image: string;
  name: string;
  cmd: string;
  entrypoint: string;
  env: Pair[];
  ports: PortRow[];
  mounts: MountRow[];
  labels: Pair[];
  restart_policy: RestartPolicy;
  restart_max_retries: string;
  cpus: string;
  memory: string;
  network: string;
  working_dir: string;
  user: string;
  hostname: string;
  tty: boolean;
  start: boolean;
}

export const EMPTY_FORM: Form = {
  image: "",
  name: "",
  cmd: "",
  entrypoint: "",
  env: [],
  ports: [],
  mounts: [],
  labels: [],
  restart_policy: "no",
  restart_max_retries: "",
  cpus: "",
  memory: "",
  network: "",
  working_dir: "",
  user: "",
  hostname: "",
  tty: false,
  start: true,
};

/** The body, which form row each body port and mount came from, and what could not be read. */
export interface Built {
  body: CreateBody;
  rows: { ports: number[]; mounts: number[] };
  /** Form path → message, for input the page itself cannot turn into a body (a bad quote). */
  problems: Record<string, string>;
}

/** A number as typed; anything else is sent as written so that the API names the field. */
function typed(text: string): Typed | undefined {
  const t = text.trim();
  if (t === "") return undefined;
  return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t;
}

function pairs(rows: Pair[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { key, value } of rows) if (key !== "" || value !== "") out[key.trim()] = value;
  return out;
}

function ports(form: Form, rows: number[]): PortIn[] {
  const out: PortIn[] = [];
  form.ports.forEach((p, i) => {
    if (!p.container_port.trim() && !p.host_port.trim() && !p.host_ip.trim()) return;
    const port: PortIn = {
      container_port: typed(p.container_port) ?? "",
      protocol: p.protocol,
      host_ip: p.host_ip.trim(),
    };
    const host = typed(p.host_port);
    if (host !== undefined) port.host_port = host;
    out.push(port);
    rows.push(i);
  });
  return out;
}

function mounts(form: Form, rows: number[]): MountIn[] {
  const out: MountIn[] = [];
  form.mounts.forEach((m, i) => {
    if (!m.source.trim() && !m.target.trim()) return;
    out.push({ ...m, source: m.source.trim(), target: m.target.trim() });
    rows.push(i);
  });
  return out;
}

function text(
  body: CreateBody,
  key: "name" | "network" | "working_dir" | "user" | "hostname" | "memory",
  value: string,
): void {
  const t = value.trim();
  if (t) body[key] = t;
}

export function build(form: Form): Built {
  const rows = { ports: [] as number[], mounts: [] as number[] };
  const problems: Record<string, string> = {};
  const body: CreateBody = {
    image: form.image.trim(),
    env: pairs(form.env),
    ports: ports(form, rows.ports),
    mounts: mounts(form, rows.mounts),
    labels: pairs(form.labels),
    restart_policy: form.restart_policy,
    tty: form.tty,
    start: form.start,
  };
  for (const key of ["cmd", "entrypoint"] as const) {
    const args = splitArgs(form[key]);
    if (typeof args === "string") problems[key] = args;
    else if (args.length > 0) body[key] = args;
  }
  for (const key of ["name", "network", "working_dir", "user", "hostname", "memory"] as const) {
    text(body, key, form[key]);
  }
  const cpus = typed(form.cpus);
  if (cpus !== undefined) body.cpus = cpus;
  const retries = typed(form.restart_max_retries);
  if (retries !== undefined && form.restart_policy === "on-failure") {
    body.restart_max_retries = retries;
  }
  return { body, rows, problems };
}

/**
 * Split a command line into arguments as a POSIX shell would (quotes and backslashes; no
 * expansion). A string is the reason it cannot be split (an unclosed quote).
 */
export function splitArgs(line: string): string[] | string {
  const args: string[] = [];
  let word = "";
  let inWord = false; // an empty quoted word ('') is an argument too
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line.charAt(i);
    const next = line.charAt(i + 1);
    if (quote === "'") {
      if (ch === "'") quote = null;
      else word += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = null;
      else if (ch === "\\" && next !== "" && '"\\$`'.includes(next)) {
        word += next;
        i++;
      } else word += ch;
    } else if (/\s/.test(ch)) {
      if (inWord) args.push(word);
      word = "";
      inWord = false;
    } else {
      inWord = true;
      if (ch === "'" || ch === '"') quote = ch;
      else if (ch === "\\" && next !== "") {
        word += next;
        i++;
      } else word += ch;
    }
  }
  if (quote) return `unclosed ${quote === "'" ? "single" : "double"} quote`;
  if (inWord) args.push(word);
  return args;
}

/** One argument for a POSIX shell: as is when nothing in it is special, else single-quoted. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

function portSpec(p: PortIn): string {
  const proto = p.protocol === "tcp" ? "" : `/${p.protocol}`;
  const container = `${p.container_port}${proto}`;
  const ip = p.host_ip.includes(":") ? `[${p.host_ip}]` : p.host_ip;
  if (ip) return `${ip}:${p.host_port ?? ""}:${container}`;
  return p.host_port !== undefined ? `${p.host_port}:${container}` : container;
}

/**
 * The `docker run` (or, without start, `docker create`) line that asks the engine for what the
 * body asks. Docker's `--entrypoint` takes one word: the rest of the entrypoint goes before
 * the command, which is how the engine joins them anyway.
 */
export function dockerRun(body: CreateBody): string {
  const args = body.start ? ["run", "-d"] : ["create"];
  const add = (flag: string, value: string | number | undefined) => {
    if (value !== undefined && value !== "") args.push(flag, String(value));
  };
  add("--name", body.name);
  for (const [k, v] of Object.entries(body.env)) add("-e", `${k}=${v}`);
  for (const p of body.ports) add("-p", portSpec(p));
  for (const m of body.mounts) add("-v", `${m.source}:${m.target}${m.read_only ? ":ro" : ""}`);
  for (const [k, v] of Object.entries(body.labels)) add("--label", `${k}=${v}`);
  if (body.restart_policy !== "no") {
    const retries = body.restart_max_retries ? `:${body.restart_max_retries}` : "";
    add("--restart", `${body.restart_policy}${retries}`);
  }
  add("--cpus", body.cpus);
  add("--memory", body.memory);
  add("--network", body.network);
  add("--workdir", body.working_dir);
  add("--user", body.user);
  add("--hostname", body.hostname);
  if (body.tty) args.push("-t");
  const [first, ...rest] = body.entrypoint ?? [];
  if (first !== undefined) args.push("--entrypoint", first);
  args.push(body.image || "IMAGE", ...rest, ...(body.cmd ?? []));
  return ["docker", ...args.map(shellQuote)].join(" ");
}

export interface DotEnv {
  pairs: Pair[];
  /** Line numbers (from 1) that are neither blank, a comment nor KEY=VALUE. */
  bad: number[];
}

function unquote(value: string): string {
  if (value.length >= 2 && value.startsWith("'") && value.endsWith("'")) {
    return value.slice(1, -1);
  }
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    return value
      .slice(1, -1)
      .replace(/\\([nt"\\])/g, (_, c: string) => (c === "n" ? "\n" : c === "t" ? "\t" : c));
  }
  return value.replace(/\s+#.*$/, "");
}

/** A `.env` file: `KEY=VALUE` lines (`export` allowed, values may be quoted), `#` comments. */
export function parseDotEnv(textIn: string): DotEnv {
  const out: DotEnv = { pairs: [], bad: [] };
  textIn.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim().replace(/^export\s+/, "");
    if (!line || line.startsWith("#")) return;
    const eq = line.indexOf("=");
    const key = line.slice(0, eq).trim();
    if (eq <= 0 || /\s/.test(key)) {
      out.bad.push(i + 1);
      return;
    }
    out.pairs.push({ key, value: unquote(line.slice(eq + 1).trim()) });
  });
  return out;
}

/** `into` with `more` merged in: a key already there takes the new value. */
export function mergePairs(into: Pair[], more: Pair[]): Pair[] {
  const out = into.filter((p) => p.key !== "" || p.value !== "");
  for (const pair of more) {
    const at = out.findIndex((p) => p.key === pair.key);
    if (at >= 0) out[at] = pair;
    else out.push(pair);
  }
  return out;
}

const TOP_FIELDS = [
  "image",
  "name",
  "cmd",
  "entrypoint",
  "env",
  "ports",
  "mounts",
  "labels",
  "restart_policy",
  "restart_max_retries",
  "cpus",
  "memory",
  "network",
  "working_dir",
  "user",
  "hostname",
  "tty",
  "start",
] as const; // prettier-ignore
const PORT_FIELDS = ["host_ip", "host_port", "container_port", "protocol"];
const MOUNT_FIELDS = ["type", "source", "target", "read_only"];

/** Every place of the form a message can go to (form paths: `ports.<form row>.host_port`). */
export function slotsOf(form: Form): Set<string> {
  const slots = new Set<string>(TOP_FIELDS);
  form.ports.forEach((_, i) => {
    slots.add(`ports.${i}`);
    for (const f of PORT_FIELDS) slots.add(`ports.${i}.${f}`);
  });
  form.mounts.forEach((_, i) => {
    slots.add(`mounts.${i}`);
    for (const f of MOUNT_FIELDS) slots.add(`mounts.${i}.${f}`);
  });
  return slots;
}

/**
 * Where the API's field path (`ports.0.host_port`, in body terms) goes in the form: the body's
 * list index becomes the form row it came from, then the nearest enclosing place the form has
 * (`env.KEY` → `env`). `null`: nowhere in the form.
 */
export function placeOf(path: string, built: Built, slots: Set<string>): string | null {
  const parts = path.split(".");
  const list = parts[0] === "ports" || parts[0] === "mounts" ? built.rows[parts[0]] : null;
  if (list && parts[1] !== undefined) {
    const row = list[Number(parts[1])];
    if (row !== undefined) parts[1] = String(row);
  }
  for (let n = parts.length; n > 0; n--) {
    const candidate = parts.slice(0, n).join(".");
    if (slots.has(candidate)) return candidate;
  }
  return null;
}
