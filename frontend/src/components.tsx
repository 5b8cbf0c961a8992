import type { ComponentChildren, VNode } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { liveSince, socketState } from "./live";

export function StateBadge({ state }: { state: string }) {
  return <span class={`state state-${state}`}>{state}</span>;
}

const SOCKET_TEXT = {
  connecting: "connecting",
  live: "live",
  reconnecting: "reconnecting",
  stale: "stale",
} as const;

/** The browser's own socket state, always in the header. */
export function SocketBadge() {
  const state = socketState.value;
  const since = liveSince.value;
  const title =
    state === "stale" && since
      ? `reconnecting; data as of ${new Date(since).toLocaleTimeString()}`
      : `events socket: ${state}`;
  return (
    <output class={`socket socket-${state}`} title={title} data-testid="socket-state">
      {SOCKET_TEXT[state]}
    </output>
  );
}

/** The API's message (or any error text) as an alert; nothing when there is none. */
export function ErrorLine(props: { error: string | null | undefined }) {
  if (!props.error) return null;
  return (
    <p class="error" role="alert">
      {props.error}
    </p>
  );
}

/** A modal confirmation (an in-page <dialog>, so it is styled and testable). */
export function Confirm(props: {
  text: string;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
  children?: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    ref.current?.showModal();
  }, []);
  return (
    <dialog ref={ref} onCancel={props.onCancel} aria-label="Confirm">
      <p>{props.text}</p>
      {props.children}
      <div class="buttons">
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="button" class="danger" onClick={props.onConfirm}>
          {props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/** Asking before doing: `ask(item)` opens a `Confirm` (the caller places `dialog`); once
 * confirmed, `run(item)` goes, and what it throws goes to `fail`. */
export function useConfirm<T = void>(spec: {
  text: (item: T) => string;
  confirmLabel: string;
  run: (item: T) => Promise<unknown>;
  fail: (err: unknown) => void;
  children?: ComponentChildren;
}): { ask: (item: T) => void; dialog: VNode | null } {
  // Boxed, so that an item of `void` (a yes/no question) still tells asking from not.
  const [asking, setAsking] = useState<{ item: T } | null>(null);
  const dialog = asking && (
    <Confirm
      text={spec.text(asking.item)}
      confirmLabel={spec.confirmLabel}
      onConfirm={() => {
        setAsking(null);
        spec.run(asking.item).catch(spec.fail);
      }}
      onCancel={() => setAsking(null)}
    >
      {spec.children}
    </Confirm>
  );
  return { ask: (item: T) => setAsking({ item }), dialog };
}
