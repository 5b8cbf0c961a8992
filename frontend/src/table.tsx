// The list tables of the management pages (users, tokens, invitations, rules, channels,
// volumes, networks): the column heads, the rows, and under the table what to say when there
// is no row, or none has come yet. Each page states its columns and how one item is drawn.

import type { ComponentChildren, VNode } from "preact";
import { ErrorLine } from "./components";

export function ListTable<T>(props: {
  columns: readonly string[];
  /** A last column of buttons, named "Actions" for screen readers only. */
  actions?: boolean;
  /** `null`: not read yet. */
  items: readonly T[] | null;
  row: (item: T) => VNode;
  /** The table's own classes; "admin" unless told. */
  class?: string;
  label?: string;
  /** Shown above the table; while it is set, `loading` is not. */
  error?: string | null;
  /** Said under the table while `items` is null. */
  loading?: string;
  /** Said under the table when `items` is empty. */
  empty?: string;
}) {
  const { items } = props;
  const note =
    items === null
      ? props.error
        ? undefined
        : props.loading
      : items.length === 0
        ? props.empty
        : undefined;
  return (
    <>
      <ErrorLine error={props.error} />
      <div class="table-wrap">
        <table class={props.class ?? "admin"} aria-label={props.label}>
          <thead>
            <tr>
              {props.columns.map((c) => (
                <th key={c}>{c}</th>
              ))}
              {props.actions && (
                <th>
                  <span class="sr-only">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>{(items ?? []).map(props.row)}</tbody>
        </table>
      </div>
      {note && <p class="muted">{note}</p>}
    </>
  );
}

/** A button of one row: `children` on screen, `label` (which names the row) as its name. */
export function RowButton(props: {
  label: string;
  onClick: () => void;
  danger?: boolean;
  disabled?: boolean;
  children: ComponentChildren;
}) {
  return (
    <button
      type="button"
      class={props.danger ? "danger" : undefined}
      aria-label={props.label}
      disabled={props.disabled}
      onClick={props.onClick}
    >
      {props.children}
    </button>
  );
}
