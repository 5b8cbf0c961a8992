// The submit of the management pages' forms: no page reload, the button busy while the call
// runs, the call's refusal shown as the form's error above its buttons.

import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { ErrorLine } from "./components";
import { messageOf } from "./once";

export type Submit = ReturnType<typeof useSubmit>;

/** `onSubmit` for a form whose submit runs `run(form)`; `describe` turns a refusal into text. */
export function useSubmit(
  run: (form: HTMLFormElement) => Promise<void>,
  describe: (err: unknown) => string = messageOf,
) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function onSubmit(event: SubmitEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await run(event.currentTarget as HTMLFormElement);
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, setError, onSubmit };
}

/** A form field's text (`""` when absent). */
export function field(form: FormData, name: string): string {
  return String(form.get(name) ?? "");
}

/** A form's end: its error, then `children`, then Cancel (with `cancel`) and the submit button. */
export function FormEnd(props: {
  submit: Submit;
  text: string;
  cancel?: () => void;
  children?: ComponentChildren;
}) {
  return (
    <>
      <ErrorLine error={props.submit.error} />
      {props.children}
      <div class="buttons">
        {props.cancel && (
          <button type="button" onClick={props.cancel}>
            Cancel
          </button>
        )}
        <button type="submit" disabled={props.submit.busy}>
          {props.text}
        </button>
      </div>
    </>
  );
}
