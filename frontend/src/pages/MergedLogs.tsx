// Merged logs: several containers, on any nodes, as one stream ordered by the engines'
// timestamps (/api/v1/logs/ws merges and reorders them). Each line is tagged with its container
// and node in a colour that stays the same for that container. The containers are in the URL
// (`/logs/merged?container=NODE/REF&container=...`), chosen on the Containers page.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { parseAnsi, type Segment, stripAnsi } from "../ansi";
import { containerPath, location, setParams } from "../router";
import { useRows } from "../rows";
import { findContainer, version } from "../store";
import { compile, ROW, render } from "./Logs";

const MAX_LINES = 1_000_000;

interface Line {
  node: string;
  container: string;
  stream: "stdout" | "stderr";
  line: string;
  time: string;
}

type Frame = {
  lines?: (Line | { ended: { node: string; container: string; reason: string } })[];
};

interface Buffer {
  sources: number[];
  streams: ("stdout" | "stderr")[];
  times: string[];
  texts: string[];
  styled: (Segment[] | null)[];
}

/** A hue from the container's name: the same container always gets the same colour. */
export function hueOf(name: string): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return h % 360;
}

function useMergedStream(sources: string[]) {
  const buffer = useRef<Buffer>({ sources: [], streams: [], times: [], texts: [], styled: [] });
  const [count, setCount] = useState(0);
  const [status, setStatus] = useState("connecting");
  const [ended, setEnded] = useState<string[]>([]);
  const key = sources.join("\n");
  useEffect(() => {
    if (!sources.length) return;
    buffer.current = { sources: [], streams: [], times: [], texts: [], styled: [] };
    setCount(0);
    setEnded([]);
    const q = new URLSearchParams(sources.map((s) => ["container", s]));
    q.set("follow_restarts", "true");
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${window.location.host}/api/v1/logs/ws?${q}`);
    let frame = 0;
    ws.onopen = () => setStatus("following");
    ws.onmessage = (event: MessageEvent<string>) => {
      const b = buffer.current;
      for (const item of (JSON.parse(event.data) as Frame).lines ?? []) {
        if ("ended" in item) {
          const { container, reason } = item.ended;
          setEnded((now) => [...now, `${container}: ${reason}`]);
          continue;
        }
        b.sources.push(Math.max(0, sources.indexOf(item.container)));
        b.streams.push(item.stream);
        b.times.push(item.time);
        b.texts.push(stripAnsi(item.line));
        b.styled.push(parseAnsi(item.line));
      }
      const over = b.texts.length - MAX_LINES;
      if (over > 0) {
        for (const column of [b.sources, b.streams, b.times, b.texts, b.styled])
          column.splice(0, over);
      }
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
  }, [key]);
  return { buffer: buffer.current, count, status, ended };
}

export function MergedLogs() {
  version.value;
  const params = location.value.searchParams;
  const sources = params.getAll("container");
  const query = params.get("q") ?? "";
  const re = useMemo(() => compile(query), [query]);
  const { buffer, count, status, ended } = useMergedStream(sources);
  const scroller = useRef<HTMLDivElement>(null);
  const [follow, setFollow] = useState(true);
  const lastTop = useRef(0);
  const names = sources.map((s) => {
    const [node = "", ref = ""] = s.split("/", 2);
    return { node, ref, name: findContainer(node, ref)?.name ?? ref };
  });
  const virtualizer = useRows(scroller, count, ROW);
  useEffect(() => {
    if (follow && count) virtualizer.scrollToIndex(count - 1, { align: "end" });
  }, [follow, count, virtualizer]);

  function onScroll() {
    const el = scroller.current;
    if (!el) return;
    const up = el.scrollTop < lastTop.current - 1;
    lastTop.current = el.scrollTop;
    if (up && follow) setFollow(false);
    else if (!follow && el.scrollTop + el.clientHeight >= el.scrollHeight - 1) setFollow(true);
  }

  if (!sources.length)
    return (
      <main>
        <h1>Merged logs</h1>
        <p class="muted">
          Choose containers on the <a href="/containers">Containers</a> page and press "Merged
          logs".
        </p>
      </main>
    );
  return (
    <main class="logs-page">
      <header class="page-head">
        <h1>Merged logs</h1>
        <span class="muted" data-testid="logs-status">
          {status} · {count} lines
        </span>
      </header>
      <ul class="merged-sources" aria-label="Containers">
        {names.map((n, i) => (
          <li key={sources[i]} style={{ "--hue": hueOf(sources[i] ?? "") }}>
            <a href={containerPath(n.node, n.ref)}>{n.name}</a> <span class="muted">{n.node}</span>
          </li>
        ))}
      </ul>
      {ended.length > 0 && <p class="muted">Ended: {ended.join(", ")}</p>}
      <div class="toolbar">
        <input
          type="search"
          aria-label="Search the logs (regular expression)"
          placeholder="Search (regex)"
          value={query}
          onInput={(e) => setParams({ q: (e.currentTarget as HTMLInputElement).value })}
        />
        {!follow && (
          <button type="button" onClick={() => setFollow(true)}>
            Jump to live
          </button>
        )}
      </div>
      <div class="log-view" ref={scroller} onScroll={onScroll} data-testid="log-view">
        <div style={{ height: `${virtualizer.getTotalSize()}px`, position: "relative" }}>
          {virtualizer.getVirtualItems().map((item) => {
            const i = item.index;
            const source = buffer.sources[i] ?? 0;
            const tag = names[source];
            return (
              <div
                key={i}
                class={`log-line ${buffer.streams[i] === "stderr" ? "stderr" : ""}`}
                data-testid="log-line"
                data-container={sources[source]}
                style={{ transform: `translateY(${item.start}px)` }}
              >
                <span class="log-source" style={{ "--hue": hueOf(sources[source] ?? "") }}>
                  {tag?.name}@{tag?.node}
                </span>{" "}
                {render(buffer.texts[i] ?? "", buffer.styled[i] ?? null, re)}
              </div>
            );
          })}
        </div>
      </div>
    </main>
  );
}
