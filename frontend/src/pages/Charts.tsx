// Live resource charts of a running container (uPlot) from .../stats/ws, which sends the
// coordinator's kept history first, then one sample about every second. Network and block I/O
// are drawn as rates (the samples carry totals since the start).

import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { bytes } from "../format";
import type { Container } from "../types";

interface Sample {
  read: string;
  cpu_percent: number;
  memory_usage: number;
  net_rx: number;
  net_tx: number;
  block_read: number;
  block_write: number;
}

/** At most this many samples per chart (an hour at one a second). */
const KEEP = 3600;

interface Spec {
  title: string;
  series: string[];
  value: (v: number) => string;
  pick: (s: Sample, before: Sample | undefined, dt: number) => number[];
}

const rate = (now: number, was: number | undefined, dt: number) =>
  was === undefined || dt <= 0 ? 0 : Math.max(0, (now - was) / dt);

const SPECS: Spec[] = [
  {
    title: "CPU %",
    series: ["cpu"],
    value: (v) => `${v.toFixed(1)}%`,
    pick: (s) => [s.cpu_percent],
  },
  { title: "Memory", series: ["memory"], value: bytes, pick: (s) => [s.memory_usage] },
  {
    title: "Network (per second)",
    series: ["rx", "tx"],
    value: bytes,
    pick: (s, b, dt) => [rate(s.net_rx, b?.net_rx, dt), rate(s.net_tx, b?.net_tx, dt)],
  },
  {
    title: "Block I/O (per second)",
    series: ["read", "write"],
    value: bytes,
    pick: (s, b, dt) => [
      rate(s.block_read, b?.block_read, dt),
      rate(s.block_write, b?.block_write, dt),
    ],
  },
];
const COLOURS = ["#1a6dd6", "#d67a1a"];

function Chart({ spec, data }: { spec: Spec; data: number[][] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    plot.current = new uPlot(
      {
        width: element.clientWidth || 300,
        height: 140,
        legend: { show: true },
        axes: [{}, { values: (_u, ticks) => ticks.map(spec.value), size: 70 }],
        series: [
          {},
          ...spec.series.map((label, i) => ({ label, stroke: COLOURS[i] ?? "#888", width: 1.5 })),
        ],
      },
      data as uPlot.AlignedData,
      element,
    );
    const observer = new ResizeObserver(() =>
      plot.current?.setSize({ width: element.clientWidth, height: 140 }),
    );
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.current?.destroy();
    };
  }, [spec]);
  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);
  return (
    <figure class="chart" aria-label={spec.title}>
      <figcaption>{spec.title}</figcaption>
      <div ref={box} />
    </figure>
  );
}

export function Charts({ c }: { c: Container }) {
  const [points, setPoints] = useState(0);
  const [status, setStatus] = useState("connecting");
  const series = useRef<number[][][]>(SPECS.map((s) => [[], ...s.series.map(() => [])]));
  const [, redraw] = useState(0);

  useEffect(() => {
    series.current = SPECS.map((s) => [[], ...s.series.map(() => [])]);
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const path = `/api/v1/nodes/${encodeURIComponent(c.node_id)}/containers/${encodeURIComponent(c.id)}/stats/ws`;
    const ws = new WebSocket(`${scheme}://${window.location.host}${path}`);
    let before: Sample | undefined;
    let frame = 0;
    ws.onopen = () => setStatus("live");
    ws.onmessage = (event: MessageEvent<string>) => {
      const sample = JSON.parse(event.data) as Sample;
      const t = Date.parse(sample.read) / 1000;
      const dt = before ? t - Date.parse(before.read) / 1000 : 0;
      SPECS.forEach((spec, i) => {
        const columns = series.current[i];
        if (!columns) return;
        columns[0]?.push(t);
        spec.pick(sample, before, dt).forEach((v, j) => {
          columns[j + 1]?.push(v);
        });
        if ((columns[0]?.length ?? 0) > KEEP) for (const col of columns) col.shift();
      });
      before = sample;
      // One redraw per frame, however fast samples come (the history arrives all at once).
      if (!frame) {
        frame = requestAnimationFrame(() => {
          frame = 0;
          series.current = series.current.map((cols) => cols.map((col) => col.slice()));
          setPoints(series.current[0]?.[0]?.length ?? 0);
          redraw((n) => n + 1);
        });
      }
    };
    ws.onclose = (event) => setStatus(event.code === 1000 ? "the container stopped" : "closed");
    return () => {
      cancelAnimationFrame(frame);
      ws.close();
    };
  }, [c.node_id, c.id]);

  return (
    <section aria-label="Stats" data-testid="charts" data-points={points} data-status={status}>
      <h2>
        Stats{" "}
        <span class="muted">
          ({status}, {points} samples)
        </span>
      </h2>
      <div class="charts">
        {SPECS.map((spec, i) => (
          <Chart key={spec.title} spec={spec} data={series.current[i] ?? []} />
        ))}
      </div>
    </section>
  );
}
