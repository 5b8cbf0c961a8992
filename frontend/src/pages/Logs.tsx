// A container's logs: followed over .../logs/ws (batched frames) across restarts and dropped
// sockets, held in plain arrays and drawn through a window of fixed-height rows (../rows), so
// a million lines cost only the rows on screen. A frame's lines are only appended to the
// arrays; the view redraws at most ten times a second, the old lines are dropped in steps, and
// a search or a stream filter scans only the lines added since the last redraw. ANSI colours are drawn; a JSON line opens
// pretty-printed. Regex search highlights and counts matches, with next/previous. Scrolling up
// pauses autoscroll without moving the view; "Jump to live" resumes it. Filters live in the URL;
// the download applies them on the server.

import type { ComponentChildren } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { parseAnsi, type Segment, stripAnsi } from "../ansi";
import { containerPath, location, setParams } from "../router";
import { useRows } from "../rows";
import { findContainer, version } from "../store";

export const ROW = 18;
/** Lines kept in the page; older ones are dropped first. */
const MAX_LINES = 1_000_000;
/** Lines are dropped once this many more than MAX_LINES are held: a drop moves every line
 * held, so it happens about once a second at 50,000 lines/s, not at every frame. */
const DROP_STEP = 50_000;
/** Close codes after which reconnecting cannot help: the stream ended, or the request is
 * wrong (4400 bad input, 4401/4403 not allowed, 4404 no such container). */
const FINAL = (code: number) => code === 1000 || (code >= 4400 && code < 4500);

interface Buffer {
  streams: ("stdout" | "stderr")[];
  times: string[];
  /** The text without escape sequences (what search, copy and the detail see). */
  texts: string[];
  /** The ANSI-styled segments of a line that has escape sequences, else null. */
  styled: (Segment[] | null)[];
  /** How many lines were dropped from the front so far (indexes shift by that much). */
  dropped: number;
}

type Frame = { lines?: { stream: "stdout" | "stderr"; line: string }[]; end?: string };

const empty = (): Buffer => ({ streams: [], times: [], texts: [], styled: [], dropped: 0 });

/** An engine timestamp as a key that sorts by time (the engine trims trailing zeros). */
function stampKey(time: string): string {
  // Most stamps have all nine digits ("2026-12-02T06:00:00.123456789Z"): no regex for them.
  if (time.length === 30 && time.charCodeAt(19) === 46 && time.charCodeAt(29) === 90) return time;
  const m = /^(.*?T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/.exec(time);
  return m ? `${m[1]}.${(m[2] ?? "").padEnd(9, "0")}${m[3]}` : time;
}

/** Unix seconds for `since`, a millisecond before `time`: the server's float may round up. */
function sinceOf(time: string): string {
  const m = /^(.*?T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/.exec(time);
  const whole = Date.parse(m ? `${m[1]}${m[3]}` : time) / 1000;
  const fraction = m?.[2] ? Number(`0.${m[2]}`) : 0;
  return Math.max(0, whole + fraction - 0.001).toFixed(6);
}

/** Follows the container's output across restarts; when the socket drops (the node's link,
 * the coordinator), reconnects from the last line's time and drops what it already holds, so
 * no line is lost or shown twice. */
function useLogStream(node: string, id: string | undefined, since: string, until: string) {
  const buffer = useRef<Buffer>(empty());
  const [count, setCount] = useState(0);
  const [status, setStatus] = useState("connecting");
  useEffect(() => {
    if (!id) return;
    buffer.current = empty();
    setCount(0);
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const path = `/api/v1/nodes/${encodeURIComponent(node)}/containers/${encodeURIComponent(id)}/logs/ws`;
    let ws: WebSocket | null = null;
    let frame = 0;
    let retry = 0;
    let attempt = 0;
    let gone = false;
    // The newest time held, and the lines held at exactly that time (stream + text).
    let lastTime = "";
    let lastKey = "";
    let atLast: string[] = [];

    const redraw = () => {
      // At most ten redraws a second, however fast lines come (the backlog arrives at once).
      if (!frame) {
        frame = window.setTimeout(() => {
          frame = 0;
          const b = buffer.current;
          const over = b.texts.length - MAX_LINES;
          if (over >= DROP_STEP) {
            b.streams.splice(0, over);
            b.times.splice(0, over);
            b.texts.splice(0, over);
            b.styled.splice(0, over);
            b.dropped += over;
          }
          setCount(b.texts.length);
        }, 100);
      }
    };

    const open = () => {
      const from = lastTime
        ? `since=${sinceOf(lastTime)}`
        : `tail=all${since ? `&since=${encodeURIComponent(since)}` : ""}`;
      const to = until ? `&until=${encodeURIComponent(until)}` : "";
      const socket = new WebSocket(
        `${scheme}://${window.location.host}${path}?follow_restarts=true&timestamps=true&${from}${to}`,
      );
      ws = socket;
      // After a reconnect, what comes before or at the last time held may be held already.
      let catchingUp = lastTime !== "";
      const seen = [...atLast];
      socket.onopen = () => {
        attempt = 0;
        setStatus("following");
      };
      socket.onmessage = (event: MessageEvent<string>) => {
        const message = JSON.parse(event.data) as Frame;
        if (message.end) setStatus(`ended (${message.end})`);
        const b = buffer.current;
        for (const { stream, line } of message.lines ?? []) {
          const space = line.indexOf(" ");
          const time = space > 0 ? line.slice(0, space) : "";
          const text = space > 0 ? line.slice(space + 1) : line;
          const key = stampKey(time);
          if (catchingUp) {
            if (key < lastKey) continue;
            const held = key === lastKey ? seen.indexOf(stream + text) : -1;
            if (held >= 0) {
              seen.splice(held, 1);
              continue;
            }
            catchingUp = false;
          }
          if (key !== lastKey) {
            lastKey = key;
            atLast = [];
          }
          lastTime = time;
          atLast.push(stream + text);
          b.streams.push(stream);
          b.times.push(time);
          b.texts.push(stripAnsi(text));
          b.styled.push(parseAnsi(text));
        }
        redraw();
      };
      socket.onclose = (event) => {
        if (gone) return;
        if (FINAL(event.code)) {
          setStatus((now) =>
            now.startsWith("ended")
              ? now
              : event.code === 1000
                ? "ended"
                : `closed${event.reason ? `: ${event.reason}` : ""}`,
          );
          return;
        }
        setStatus(`reconnecting${event.reason ? ` (${event.reason})` : ""}`);
        retry = window.setTimeout(open, Math.min(10_000, 500 * 2 ** attempt++));
      };
    };
    open();
    return () => {
      gone = true;
      window.clearTimeout(frame);
      window.clearTimeout(retry);
      ws?.close();
    };
  }, [node, id, since, until]);
  return { buffer: buffer.current, count, status };
}

export function compile(query: string): RegExp | null {
  if (!query) return null;
  try {
    return new RegExp(query, "g");
  } catch {
    return null;
  }
}

/** The [start, end) ranges of `re`'s matches in `text`. */
function matches(text: string, re: RegExp): [number, number][] {
  const found: [number, number][] = [];
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[0] === "") {
      re.lastIndex++;
      continue;
    }
    found.push([m.index, m.index + m[0].length]);
  }
  return found;
}

/** A line: its ANSI segments (or its plain text), with the search's matches marked. */
export function render(
  text: string,
  styled: Segment[] | null,
  re: RegExp | null,
): ComponentChildren {
  const segments = styled ?? [{ text, cls: "", style: "" }];
  const marks = re ? matches(text, re) : [];
  if (!styled && !marks.length) return text;
  const out: ComponentChildren[] = [];
  let at = 0;
  for (const seg of segments) {
    const end = at + seg.text.length;
    // Cut the segment where a match starts or ends.
    const cuts = new Set([at, end]);
    for (const [a, b] of marks) {
      if (a > at && a < end) cuts.add(a);
      if (b > at && b < end) cuts.add(b);
    }
    const points = [...cuts].sort((x, y) => x - y);
    for (let k = 0; k + 1 < points.length; k++) {
      const [a, b] = [points[k] ?? 0, points[k + 1] ?? 0];
      const piece = seg.text.slice(a - at, b - at);
      const marked = marks.some(([x, y]) => x <= a && b <= y);
      const inner =
        seg.cls || seg.style ? (
          <span class={seg.cls} style={seg.style}>
            {piece}
          </span>
        ) : (
          piece
        );
      out.push(marked ? <mark key={a}>{inner}</mark> : inner);
    }
    at = end;
  }
  return out;
}

/** A JSON object or array line, pretty-printed; null for anything else. */
function prettyJson(text: string): string | null {
  const t = text.trim();
  if (!(t.startsWith("{") || t.startsWith("["))) return null;
  try {
    return JSON.stringify(JSON.parse(t), null, 2);
  } catch {
    return null;
  }
}

/** The lines a view shows (`shown`, indexes into the buffer; null: all of them) and the
 * matches of its search among them (indexes into what is shown). */
interface View {
  shown: number[] | null;
  length: number;
  matches: number[];
}

/** What the last scan found, carried on to the next redraw, which scans only the new lines. */
interface Scan {
  buffer: Buffer | null;
  re: RegExp | null;
  only: string | null;
  dropped: number;
  /** Buffer lines scanned so far. */
  upTo: number;
  shown: number[];
  matches: number[];
}

const noScan = (): Scan => ({
  buffer: null,
  re: null,
  only: null,
  dropped: 0,
  upTo: 0,
  shown: [],
  matches: [],
});

/** The view of the first `count` lines, scanning only those `scan` has not seen (all of them
 * when the search or the filter changed). Dropped lines leave the view by an index shift. */
function scanView(
  scan: Scan,
  buffer: Buffer,
  count: number,
  re: RegExp | null,
  only: string | null,
): View {
  if (
    scan.buffer !== buffer ||
    scan.re !== re ||
    scan.only !== only ||
    count < scan.upTo - (buffer.dropped - scan.dropped)
  ) {
    Object.assign(scan, noScan(), { buffer, re, only, dropped: buffer.dropped });
  }
  const gone = buffer.dropped - scan.dropped;
  if (gone > 0) {
    // Lines [0, gone) of the last scan are gone; the rest moved down by `gone`.
    scan.dropped = buffer.dropped;
    scan.upTo = Math.max(0, scan.upTo - gone);
    if (only) {
      let cut = 0;
      while (cut < scan.shown.length && (scan.shown[cut] ?? 0) < gone) cut++;
      scan.shown = scan.shown.slice(cut).map((i) => i - gone);
      scan.matches = scan.matches.filter((m) => m >= cut).map((m) => m - cut);
    } else {
      scan.matches = scan.matches.filter((m) => m >= gone).map((m) => m - gone);
    }
  }
  const test = re ? new RegExp(re.source) : null;
  const { texts, streams } = buffer;
  const { shown, matches } = scan;
  for (let i = scan.upTo; i < count; i++) {
    if (only) {
      if (streams[i] !== only) continue;
      if (test?.test(texts[i] ?? "")) matches.push(shown.length);
      shown.push(i);
    } else if (test?.test(texts[i] ?? "")) matches.push(i);
  }
  scan.upTo = Math.max(scan.upTo, count);
  return { shown: only ? shown : null, length: only ? shown.length : count, matches };
}

export function Logs() {
  version.value;
  const params = location.value.searchParams;
  const node = params.get("node") ?? "";
  const ref = params.get("container") ?? "";
  const query = params.get("q") ?? "";
  const only = params.get("stream");
  const showTimes = params.get("timestamps") === "true";
  // A time window (the event timeline's "logs around" link), and the moment to show in it.
  const since = params.get("since") ?? "";
  const until = params.get("until") ?? "";
  const at = params.get("at") ?? "";
  const c = findContainer(node, ref);
  const { buffer, count, status } = useLogStream(node, c?.id, since, until);
  const scroller = useRef<HTMLDivElement>(null);
  const [follow, setFollow] = useState(true);
  const lastTop = useRef(0);
  const [current, setCurrent] = useState(0);
  const [selected, setSelected] = useState<number | null>(null);
  const re = useMemo(() => compile(query), [query]);

  // The lines shown and the matches among them, scanning only the lines new since last time.
  const scan = useRef<Scan>(noScan());
  const view = useMemo(
    () => scanView(scan.current, buffer, count, re, only),
    [buffer, count, buffer.dropped, only, re],
  );

  const virtualizer = useRows(scroller, view.length, ROW);
  // With `at`, the first line at or after that moment (an index into the lines shown).
  const atRow = useMemo(() => {
    if (!at) return -1;
    const key = stampKey(at);
    const times = view.shown ? view.shown.map((i) => buffer.times[i] ?? "") : buffer.times;
    return times.findIndex((t, n) => n < view.length && stampKey(t) >= key);
  }, [at, buffer, view]);
  const shownAt = useRef(false);
  useEffect(() => {
    if (atRow >= 0 && !shownAt.current) {
      shownAt.current = true;
      setFollow(false);
      virtualizer.scrollToIndex(atRow, { align: "center" });
    }
  }, [atRow, virtualizer]);
  useEffect(() => {
    if (follow && view.length && !(at && !shownAt.current))
      virtualizer.scrollToIndex(view.length - 1, { align: "end" });
  }, [follow, view.length, virtualizer, at]);

  // Only the reader scrolls up (following scrolls down): that pauses; reaching the end resumes.
  function onScroll() {
    const el = scroller.current;
    if (!el) return;
    const up = el.scrollTop < lastTop.current - 1;
    lastTop.current = el.scrollTop;
    if (up && follow) setFollow(false);
    else if (!follow && el.scrollTop + el.clientHeight >= el.scrollHeight - 1) setFollow(true);
  }

  function jump(step: number) {
    if (!view.matches.length) return;
    const next = (current + step + view.matches.length) % view.matches.length;
    setCurrent(next);
    setFollow(false);
    virtualizer.scrollToIndex(view.matches[next] ?? 0, { align: "center" });
  }

  return (
    <main class="logs-page">
      <header class="page-head">
        <h1>
          Logs of <a href={containerPath(node, c?.id ?? ref)}>{c?.name ?? ref}</a>
        </h1>
        <span class="muted" data-testid="logs-status">
          {status} · {count} lines
        </span>
      </header>
      <div class="toolbar">
        <input
          type="search"
          aria-label="Search the logs (regular expression)"
          placeholder="Search (regex)"
          value={query}
          onInput={(e) => {
            setCurrent(0);
            setParams({ q: (e.currentTarget as HTMLInputElement).value });
          }}
        />
        <output data-testid="match-count">
          {re ? `${view.matches.length ? current + 1 : 0} / ${view.matches.length} matches` : ""}
        </output>
        <button type="button" onClick={() => jump(-1)} disabled={!view.matches.length}>
          Previous
        </button>
        <button type="button" onClick={() => jump(1)} disabled={!view.matches.length}>
          Next
        </button>
        <label>
          Stream{" "}
          <select
            value={only ?? ""}
            onChange={(e) => setParams({ stream: (e.currentTarget as HTMLSelectElement).value })}
          >
            <option value="">both</option>
            <option value="stdout">stdout</option>
            <option value="stderr">stderr</option>
          </select>
        </label>
        <label>
          <input
            type="checkbox"
            checked={showTimes}
            onChange={(e) =>
              setParams({
                timestamps: (e.currentTarget as HTMLInputElement).checked ? "true" : null,
              })
            }
          />{" "}
          Timestamps
        </label>
        {c && (
          <a
            class="button"
            href={downloadHref(node, c.id, only, showTimes, re ? query : "")}
            download
          >
            Download
          </a>
        )}
        {!follow && (
          <button type="button" onClick={() => setFollow(true)}>
            Jump to live
          </button>
        )}
      </div>
      {selected !== null && selected < count && (
        <section class="log-detail" aria-label="Selected line">
          <header>
            <span class="muted">
              {buffer.times[selected]} · {buffer.streams[selected]}
            </span>
            <button type="button" onClick={() => setSelected(null)}>
              Close
            </button>
          </header>
          <pre data-testid="log-detail">
            {prettyJson(buffer.texts[selected] ?? "") ?? buffer.texts[selected]}
          </pre>
        </section>
      )}
      <div class="log-view" ref={scroller} onScroll={onScroll} data-testid="log-view">
        <div style={{ height: `${virtualizer.getTotalSize()}px`, position: "relative" }}>
          {virtualizer.getVirtualItems().map((item) => {
            const i = view.shown ? (view.shown[item.index] ?? 0) : item.index;
            const here = item.index === atRow ? " log-at" : "";
            return (
              // biome-ignore lint/a11y/useSemanticElements: a virtualized row, not a form control
              <div
                key={item.index}
                class={`log-line ${buffer.streams[i] === "stderr" ? "stderr" : ""}${here}`}
                data-testid="log-line"
                data-at={here ? "true" : undefined}
                role="button"
                tabIndex={0}
                title="Show this line (JSON pretty-printed)"
                style={{ transform: `translateY(${item.start}px)` }}
                onClick={() => !window.getSelection()?.toString() && setSelected(i)}
                onKeyDown={(e) => e.key === "Enter" && setSelected(i)}
              >
                {showTimes && <span class="log-time">{buffer.times[i]} </span>}
                {render(buffer.texts[i] ?? "", buffer.styled[i] ?? null, re)}
              </div>
            );
          })}
        </div>
      </div>
    </main>
  );
}

/** The server-side download of this log, with the page's filters. */
function downloadHref(
  node: string,
  id: string,
  only: string | null,
  timestamps: boolean,
  match: string,
): string {
  const q = new URLSearchParams();
  if (only === "stdout") q.set("stderr", "false");
  if (only === "stderr") q.set("stdout", "false");
  if (timestamps) q.set("timestamps", "true");
  if (match) q.set("match", match);
  const path = `/api/v1/nodes/${encodeURIComponent(node)}/containers/${encodeURIComponent(id)}`;
  return `${path}/logs/download${q.size ? `?${q}` : ""}`;
}
