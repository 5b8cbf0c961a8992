// Users (admin): list, create, change role and node grants, disable and enable, reset a
// password, delete. The list is fetched when the page opens (and on each reconnect of the
// events socket), after each change this page makes, and when the socket's `identity` message
// says the accounts changed elsewhere (another admin, curl); never on a timer.

import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { adminApi, parseGrants, ROLES, type Role, type User, type UserChange } from "../api-admin";
import { ErrorLine, useConfirm } from "../components";
import { date } from "../format";
import { FormEnd, field, useSubmit } from "../forms";
import { socketState, useMessages } from "../live";
import { messageOf } from "../once";
import { me } from "../session";
import { nodes, version } from "../store";
import { ListTable, RowButton } from "../table";

function NodeChoices() {
  version.value;
  return (
    <datalist id="node-ids">
      {[...nodes.keys()].sort().map((id) => (
        <option key={id} value={id} />
      ))}
    </datalist>
  );
}

function grantsText(grants: string[] | null): string {
  return grants === null ? "" : grants.join(", ");
}

function NewUser({ onMade }: { onMade: () => void }) {
  const submit = useSubmit(async (formEl) => {
    const form = new FormData(formEl);
    await adminApi.createUser({
      username: field(form, "username").trim(),
      password: field(form, "password"),
      role: String(form.get("role")) as Role,
      node_grants: parseGrants(field(form, "grants")),
    });
    formEl.reset();
    onMade();
  });

  return (
    <form class="admin-form" onSubmit={submit.onSubmit} aria-label="New user">
      <h2>New user</h2>
      <label>
        Username <input name="username" required autocomplete="off" />
      </label>
      <label>
        Password{" "}
        <input name="password" type="password" required minLength={8} autocomplete="new-password" />
      </label>
      <label>
        Role{" "}
        <select name="role" defaultValue="viewer">
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </label>
      <label>
        Nodes <input name="grants" list="node-ids" placeholder="every node" />
      </label>
      <FormEnd submit={submit} text="Create user" />
    </form>
  );
}

type Asking = "password" | "grants" | null;

function UserRow({ user, onChanged }: { user: User; onChanged: () => void }) {
  const [asking, setAsking] = useState<Asking>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const self = me.value?.user_id === user.id;

  async function change(body: UserChange, done?: string) {
    setAsking(null);
    setError(null);
    setNotice(null);
    try {
      await adminApi.updateUser(user.id, body);
      if (done) setNotice(done);
      onChanged();
    } catch (err) {
      setError(messageOf(err));
    }
  }

  const remove = useConfirm({
    text: () => `Delete user ${user.username}? Their tokens and sessions end with the account.`,
    confirmLabel: "Delete",
    run: async () => {
      setError(null);
      await adminApi.deleteUser(user.id);
      onChanged();
    },
    fail: (err) => setError(messageOf(err)),
  });

  function fieldOf(event: SubmitEvent, field: string): string {
    event.preventDefault();
    return String(new FormData(event.currentTarget as HTMLFormElement).get(field) ?? "");
  }

  return (
    <tr data-testid="user-row" data-username={user.username}>
      <td>
        <strong>{user.username}</strong>
        {self && <span class="muted"> (you)</span>}
      </td>
      <td>
        <select
          aria-label={`Role of ${user.username}`}
          value={user.role}
          onChange={(e) =>
            void change({ role: (e.currentTarget as HTMLSelectElement).value as Role })
          }
        >
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </td>
      <td class="wrap">
        {user.node_grants === null ? (
          <span class="muted">every node</span>
        ) : (
          grantsText(user.node_grants)
        )}{" "}
        <RowButton label={`Nodes of ${user.username}`} onClick={() => setAsking("grants")}>
          Edit
        </RowButton>
      </td>
      <td>
        <span class={user.disabled ? "state state-exited" : "state state-running"}>
          {user.disabled ? "disabled" : "enabled"}
        </span>
      </td>
      <td>{date(user.created_at)}</td>
      <td>
        <div class="row-actions">
          <RowButton
            label={`${user.disabled ? "Enable" : "Disable"} ${user.username}`}
            onClick={() => void change({ disabled: !user.disabled })}
          >
            {user.disabled ? "Enable" : "Disable"}
          </RowButton>
          <RowButton
            label={`Reset password of ${user.username}`}
            onClick={() => setAsking("password")}
          >
            Reset password
          </RowButton>
          <RowButton label={`Delete ${user.username}`} danger onClick={() => remove.ask()}>
            Delete
          </RowButton>
        </div>
        {notice && <output>{notice}</output>}
        <ErrorLine error={error} />
        {remove.dialog}
        {asking === "password" && (
          <Ask
            title={`New password for ${user.username} (their sessions end)`}
            onCancel={() => setAsking(null)}
            onSubmit={(e) =>
              void change({ password: fieldOf(e, "value") }, "Password reset; sessions ended")
            }
          >
            <input
              name="value"
              type="password"
              aria-label="New password"
              required
              minLength={8}
              autocomplete="new-password"
            />
          </Ask>
        )}
        {asking === "grants" && (
          <Ask
            title={`Nodes ${user.username} may use (blank: every node)`}
            onCancel={() => setAsking(null)}
            onSubmit={(e) => void change({ node_grants: parseGrants(fieldOf(e, "value")) })}
          >
            <input
              name="value"
              aria-label="Nodes"
              list="node-ids"
              defaultValue={grantsText(user.node_grants)}
            />
          </Ask>
        )}
      </td>
    </tr>
  );
}

/** A small modal form (one field), like `Confirm`. */
function Ask(props: {
  title: string;
  onSubmit: (event: SubmitEvent) => void;
  onCancel: () => void;
  children: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    ref.current?.showModal();
  }, []);
  return (
    <dialog ref={ref} aria-label={props.title} onCancel={props.onCancel}>
      <form onSubmit={props.onSubmit}>
        <p>{props.title}</p>
        {props.children}
        <div class="buttons">
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
          <button type="submit">Save</button>
        </div>
      </form>
    </dialog>
  );
}

export function Users() {
  const [users, setUsers] = useState<User[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function load() {
    try {
      setUsers((await adminApi.users()).users);
      setError(null);
    } catch (err) {
      setError(messageOf(err));
    }
  }

  const live = socketState.value === "live";
  useEffect(() => {
    if (me.value?.role === "admin") void load();
  }, [live]);
  useMessages((m: { kind: string; what?: string }) => {
    if (m.kind === "identity" && m.what === "users") void load();
  });

  if (me.value?.role !== "admin") {
    return (
      <main>
        <h1>Users</h1>
        <p class="muted">Only admins manage users.</p>
      </main>
    );
  }
  return (
    <main>
      <h1>Users</h1>
      <NodeChoices />
      <ListTable
        columns={["User", "Role", "Nodes", "Status", "Created"]}
        actions
        items={users}
        error={error}
        loading="Loading…"
        row={(u) => <UserRow key={u.id} user={u} onChanged={() => void load()} />}
      />
      <NewUser onMade={() => void load()} />
    </main>
  );
}
