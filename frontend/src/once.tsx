// A secret shown once: a node's start command or a new API token. It lives only in the state
// of the component that received it (never in a signal, the URL or storage), so dismissing it,
// leaving the page or reloading loses it for good, as the API means it to.

import { useRef, useState } from "preact/hooks";

export function ShownOnce(props: {
  label: string;
  text: string;
  note: string;
  testId: string;
  onDone: () => void;
}) {
  const ref = useRef<HTMLElement>(null);
  const [copied, setCopied] = useState<string | null>(null);

  async function copy() {
    try {
      await navigator.clipboard.writeText(props.text);
      setCopied("Copied");
    } catch {
      // No clipboard (an insecure origin, a denied permission): select it for Ctrl+C.
      const range = document.createRange();
      if (ref.current) range.selectNodeContents(ref.current);
      const selection = window.getSelection();
      selection?.removeAllRanges();
      selection?.addRange(range);
      setCopied("Selected: press Ctrl+C");
    }
  }

  return (
    <section class="once" aria-label={props.label}>
      <p>
        <strong>{props.label}</strong> <span class="muted">{props.note}</span>
      </p>
      <pre>
        <code ref={ref} data-testid={props.testId}>
          {props.text}
        </code>
      </pre>
      <div class="buttons">
        <button type="button" onClick={() => void copy()}>
          Copy
        </button>
        {copied && <output>{copied}</output>}
        <button type="button" onClick={props.onDone}>
          Done
        </button>
      </div>
    </section>
  );
}

/** The message of anything a call threw. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
