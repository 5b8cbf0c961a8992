// A window over many rows of one fixed height (the log views): only the rows near the screen
// are drawn, and what each render, scroll or append costs depends on those rows alone. A
// measuring virtualizer (@tanstack/virtual-core, which the log views used first) keeps one
// measurement object per row and rebuilds them all when the count changes: at a million lines
// that was a million objects on every redraw while lines streamed in.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";

export interface Row {
  index: number;
  /** The row's offset from the top of the list, in pixels. */
  start: number;
}

export type Align = "start" | "center" | "end";

export interface Rows {
  /** The height of all the rows together (the scroller's content). */
  getTotalSize(): number;
  /** The rows to draw now: those on screen and `overscan` more on either side. */
  getVirtualItems(): Row[];
  scrollToIndex(index: number, options: { align: Align }): void;
}

export function useRows(
  scroller: { current: HTMLElement | null },
  count: number,
  height: number,
  overscan = 20,
): Rows {
  const [, rerender] = useState(0);
  const total = useRef(count);
  total.current = count;
  // The first row drawn by the last render: a scroll that does not change it draws nothing.
  const drawnFrom = useRef(-1);
  const rows = useMemo<Rows>(() => {
    const range = () => {
      const el = scroller.current;
      const top = el?.scrollTop ?? 0;
      const shown = el?.clientHeight ?? 0;
      const first = Math.max(0, Math.floor(top / height) - overscan);
      const last = Math.min(total.current, Math.ceil((top + shown) / height) + overscan);
      return [first, last] as const;
    };
    return {
      getTotalSize: () => total.current * height,
      getVirtualItems: () => {
        const [first, last] = range();
        drawnFrom.current = first;
        const out: Row[] = [];
        for (let i = first; i < last; i++) out.push({ index: i, start: i * height });
        return out;
      },
      scrollToIndex: (index, { align }) => {
        const el = scroller.current;
        if (!el) return;
        const top = index * height;
        const offset =
          align === "start"
            ? top
            : align === "end"
              ? top + height - el.clientHeight
              : top - (el.clientHeight - height) / 2;
        el.scrollTop = Math.max(0, offset);
      },
    };
  }, [scroller, height, overscan]);
  // The scroller may appear after the first render (a page that starts with a form): look at
  // every render whether it is the element listened to.
  const listened = useRef<{ el: HTMLElement; stop: () => void } | null>(null);
  useEffect(() => {
    const el = scroller.current;
    if (listened.current?.el === el) return;
    listened.current?.stop();
    listened.current = null;
    if (!el) return;
    const moved = () => {
      const first = Math.max(0, Math.floor(el.scrollTop / height) - overscan);
      if (first !== drawnFrom.current) rerender((n) => n + 1);
    };
    const observer = new ResizeObserver(() => rerender((n) => n + 1));
    el.addEventListener("scroll", moved, { passive: true });
    observer.observe(el);
    listened.current = {
      el,
      stop: () => {
        el.removeEventListener("scroll", moved);
        observer.disconnect();
      },
    };
  });
  useEffect(() => () => listened.current?.stop(), []);
  return rows;
}
