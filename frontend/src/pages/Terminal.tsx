// An interactive terminal in a container: xterm.js over .../exec/ws. Binary frames carry the
// keystrokes and the output; text frames the JSON control messages (resize, exit). The size
// follows the element (a ResizeObserver fits the terminal and tells the server).

import { FitAddon } from "@xterm/addon-fit";
import { Terminal as XTerm } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { useEffect, useRef, useState } from "preact/hooks";
import type { Container } from "../types";

type Control = { type: "exit"; exit_code: number | null } | { type: "error"; message: string };

function execUrl(c: Container, rows: number, cols: number): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const path = `/api/v1/nodes/${encodeURIComponent(c.node_id)}/containers/${encodeURIComponent(c.id)}/exec/ws`;
  return `${scheme}://${window.location.host}${path}?cmd=sh&rows=${rows}&cols=${cols}`;
}

export function Terminal({ c }: { c: Container }) {
  const box = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState("connecting");
  const [size, setSize] = useState<{ rows: number; cols: number } | null>(null);

  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const term = new XTerm({ convertEol: false, cursorBlink: true, fontSize: 14 });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(element);
    fit.fit();
    setSize({ rows: term.rows, cols: term.cols });
    const ws = new WebSocket(execUrl(c, term.rows, term.cols));
    ws.binaryType = "arraybuffer";
    const encoder = new TextEncoder();
    ws.onopen = () => {
      setStatus("connected");
      term.focus();
    };
    ws.onmessage = (event: MessageEvent<ArrayBuffer | string>) => {
      if (typeof event.data !== "string") {
        term.write(new Uint8Array(event.data));
        return;
      }
      const control = JSON.parse(event.data) as Control;
      if (control.type === "exit") setStatus(`exited with code ${control.exit_code ?? "unknown"}`);
      else setStatus(`error: ${control.message}`);
    };
    ws.onclose = (event) => {
      setStatus((s) =>
        s.startsWith("exited") ? s : `closed${event.reason ? `: ${event.reason}` : ""}`,
      );
    };
    const typed = term.onData((data) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(data));
    });
    const resized = term.onResize(({ rows, cols }) => {
      setSize({ rows, cols });
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "resize", rows, cols }));
    });
    const observer = new ResizeObserver(() => fit.fit());
    observer.observe(element);
    return () => {
      observer.disconnect();
      typed.dispose();
      resized.dispose();
      ws.close();
      term.dispose();
    };
  }, [c.node_id, c.id]);

  return (
    <section aria-label="Terminal">
      <h2>
        Terminal <span class="muted">({status})</span>
      </h2>
      <div
        ref={box}
        class="terminal"
        data-testid="terminal"
        data-rows={size?.rows}
        data-cols={size?.cols}
        data-status={status}
      />
    </section>
  );
}
