// Keyboard shortcuts, listed under "?".

import { signal } from "@preact/signals";
import { Confirm } from "./components";
import { navigate } from "./router";

export const showShortcuts = signal(false);

const LIST: [string, string][] = [
  ["/ or Ctrl+K", "search containers"],
  ["g c", "go to containers"],
  ["g n", "go to nodes"],
  ["?", "this list"],
  ["Esc", "close a dialog"],
];

let pendingG = false;

document.addEventListener("keydown", (event) => {
  if ((event.target as Element | null)?.closest?.("input, textarea, select, .terminal")) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "?") {
    showShortcuts.value = true;
    return;
  }
  if (pendingG && (event.key === "c" || event.key === "n")) {
    navigate(event.key === "c" ? "/containers" : "/nodes");
  }
  pendingG = event.key === "g";
});

export function Shortcuts() {
  if (!showShortcuts.value) return null;
  const close = () => {
    showShortcuts.value = false;
  };
  return (
    <Confirm text="Keyboard shortcuts" confirmLabel="Close" onConfirm={close} onCancel={close}>
      <dl class="kv">
        {LIST.flatMap(([keys, what]) => [
          <dt key={`k${keys}`}>
            <kbd>{keys}</kbd>
          </dt>,
          <dd key={`v${keys}`}>{what}</dd>,
        ])}
      </dl>
    </Confirm>
  );
}
