// A container's logs: followed over .../logs/ws (batched frames), held in plain arrays and
// drawn through a virtualizer (@tanstack/virtual-core), so a million lines cost only the rows
// on screen. Regex search highlights and counts matches, with next/previous. Scrolling up
// pauses autoscroll without moving the view; "Jump to live" resumes it. Filters live in the URL.

import {
  elementScroll,
  observeElementOffset,
  observeElementRect,
  Virtualizer,
} from "@tanstack/virtual-core";
import type { ComponentChildren } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { containerPath, location, setParams } from "../router";
import { findContainer, version } from "../store";

const ROW = 18;
/** Lines kept in the page; older ones are dropped first. */
const MAX_LINES = 1_000_000;

interface Buffer {
  streams: ("stdout" | "stderr")[];
  times: string[];
  texts: string[];
}

type Frame = { lines: { stream: "stdout" | "stderr"; line: string }[] };

function useLogStream(node: string, id: string | undefined) {
  const buffer = useRef<Buffer>({ streams: [], times: [], texts: [] });
  const [count, setCount] = useState(0);
  const [status, setStatus] = useState("connecting");
  useEffect(() => {
    if (!id) return;
    buffer.current = { streams: [], times: [], texts: [] };
    setCount(0);
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const path = `/api/v1/nodes/${encodeURIComponent(node)}/containers/${encodeURIComponent(id)}/logs/ws`;
    const ws = new WebSocket(
      `${scheme}://${window.location.host}${path}?follow=true&timestamps=true&tail=all`,
    );
    let frame = 0;
    ws.onopen = () => setStatus("following");
    ws.onmessage = (event: MessageEvent<string>) => {
      const b = buffer.current;
      for (const { stream, line } of (JSON.parse(event.data) as Frame).lines) {
        const space = line.indexOf(" ");
        b.streams.push(stream);
        b.times.push(space > 0 ? line.slice(0, space) : "");
        b.texts.push(space > 0 ? line.slice(space + 1) : line);
      }
      const over = b.texts.length - MAX_LINES;
      if (over > 0) {
        b.streams.splice(0, over);
        b.times.splice(0, over);
        b.texts.splice(0, over);
      }
      // At most ten redraws a second, however fast lines come (the backlog arrives at once).
      if (!frame) {
        frame = window.setTimeout(() => {
          frame = 0;
          setCount(buffer.current.texts.length);
        }, 100);
      }
    };
    ws.onclose = (event) =>
      setStatus(event.code === 1000 ? "ended" : `closed${event.reason ? `: ${event.reason}` : ""}`);
    return () => {
      window.clearTimeout(frame);
      ws.close();
    };
  }, [node, id]);
  return { buffer: buffer.current, count, status };
}

function compile(query: string): RegExp | null {
  if (!query) return null;
  try {
    return new RegExp(query, "g");
  } catch {
    return null;
  }
}

function highlight(text: string, re: RegExp | null): ComponentChildren {
  if (!re) return text;
  const parts: ComponentChildren[] = [];
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[0] === "") {
      re.lastIndex++;
      continue;
    }
    parts.push(text.slice(last, m.index), <mark key={m.index}>{m[0]}</mark>);
    last = m.index + m[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

function useVirtualizer(scroller: { current: HTMLDivElement | null }, count: number) {
  const [, rerender] = useState(0);
  const virtualizer = useMemo(
    () =>
      new Virtualizer<HTMLDivElement, Element>({
        count,
        getScrollElement: () => scroller.current,
        estimateSize: () => ROW,
        scrollToFn: elementScroll,
        observeElementRect,
        observeElementOffset,
        overscan: 20,
        onChange: () => rerender((n) => n + 1),
      }),
    [scroller],
  );
  virtualizer.setOptions({ ...virtualizer.options, count });
  useEffect(() => virtualizer._didMount(), [virtualizer]);
  useEffect(() => virtualizer._willUpdate());
  return virtualizer;
}

export function Logs() {
  version.value;
  const params = location.value.searchParams;
  const node = params.get("node") ?? "";
  const ref = params.get("container") ?? "";
  const query = params.get("q") ?? "";
  const only = params.get("stream");
  const showTimes = params.get("timestamps") === "true";
  const c = findContainer(node, ref);
  const { buffer, count, status } = useLogStream(node, c?.id);
  const scroller = useRef<HTMLDivElement>(null);
  const [follow, setFollow] = useState(true);
  const lastTop = useRef(0);
  const [current, setCurrent] = useState(0);
  const re = useMemo(() => compile(query), [query]);

  // The lines shown (indexes into the buffer; null: all of them) and the matches among them.
  const view = useMemo(() => {
    const matches: number[] = [];
    const test = re ? new RegExp(re.source) : null;
    if (!only) {
      if (test)
        for (let i = 0; i < count; i++) if (test.test(buffer.texts[i] ?? "")) matches.push(i);
      return { shown: null, length: count, matches };
    }
    const shown: number[] = [];
    for (let i = 0; i < count; i++) {
      if (buffer.streams[i] !== only) continue;
      if (test?.test(buffer.texts[i] ?? "")) matches.push(shown.length);
      shown.push(i);
    }
    return { shown, length: shown.length, matches };
  }, [buffer, count, only, re]);

  const virtualizer = useVirtualizer(scroller, view.length);
  useEffect(() => {
    if (follow && view.length) virtualizer.scrollToIndex(view.length - 1, { align: "end" });
  }, [follow, view.length, virtualizer]);

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
        {!follow && (
          <button type="button" onClick={() => setFollow(true)}>
            Jump to live
          </button>
        )}
      </div>
      <div class="log-view" ref={scroller} onScroll={onScroll} data-testid="log-view">
        <div style={{ height: `${virtualizer.getTotalSize()}px`, position: "relative" }}>
          {virtualizer.getVirtualItems().map((item) => {
            const i = view.shown ? (view.shown[item.index] ?? 0) : item.index;
            return (
              <div
                key={item.index}
                class={`log-line ${buffer.streams[i] === "stderr" ? "stderr" : ""}`}
                data-testid="log-line"
                style={{ transform: `translateY(${item.start}px)` }}
              >
                {showTimes && <span class="log-time">{buffer.times[i]} </span>}
                {highlight(buffer.texts[i] ?? "", re)}
              </div>
            );
          })}
        </div>
      </div>
    </main>
  );
}
