// The admin's controls on the Nodes page: add a node (the one-time command), the invitations
// not used yet (withdraw one), rename and relabel a node, revoke one. The node list itself stays
// the live store's: a new node appears, goes online, is renamed and disappears from the events
// socket, never from the answer to a click; the invitations follow its `identity` messages.

import { useEffect, useState } from "preact/hooks";
import {
  adminApi,
  type Enrollment,
  formatLabels,
  type NewNode,
  parseLabels,
  type Registered,
} from "../api-admin";
import { ErrorLine, useConfirm } from "../components";
import { date } from "../format";
import { FormEnd, field, useSubmit } from "../forms";
import { socketState, useMessages } from "../live";
import { messageOf, ShownOnce } from "../once";
import { me } from "../session";
import { type NodeView, nodes, putNode, version } from "../store";
import { ListTable, RowButton } from "../table";

export function isAdmin(): boolean {
  return me.value?.role === "admin";
}

export function AddNode() {
  const [open, setOpen] = useState(false);
  const [mode, setMode] = useState<NewNode["mode"]>("secret");
  const [made, setMade] = useState<Registered | null>(null);
  const submit = useSubmit(async (formEl) => {
    const form = new FormData(formEl);
    const body: NewNode = { mode, labels: parseLabels(field(form, "labels")) };
    const name = field(form, "name").trim();
    const nodeId = field(form, "node_id").trim();
    if (name) body.name = name;
    if (nodeId) body.node_id = nodeId;
    setMade(await adminApi.registerNode(body));
    setOpen(false);
  });

  if (made) {
    const note =
      made.mode === "secret"
        ? `Node ${made.node_id}: run this on the node's host. It holds the node's secret and is shown only now.`
        : `Run this on the node's host before ${new Date(made.expires_at ?? "").toLocaleString()}; the enrolment token works once and is shown only now.`;
    return (
      <ShownOnce
        label="Start command"
        text={made.command}
        note={note}
        testId="node-command"
        onDone={() => setMade(null)}
      />
    );
  }
  if (!open) {
    return (
      <div class="actions">
        <button type="button" onClick={() => setOpen(true)}>
          Add node
        </button>
      </div>
    );
  }
  return (
    <form class="admin-form" onSubmit={submit.onSubmit} aria-label="Add node">
      <fieldset>
        <legend>Credentials</legend>
        <label>
          <input
            type="radio"
            name="mode"
            checked={mode === "secret"}
            onChange={() => setMode("secret")}
          />{" "}
          Secret (pre-registered; listed at once, offline until it links)
        </label>
        <label>
          <input
            type="radio"
            name="mode"
            checked={mode === "token"}
            onChange={() => setMode("token")}
          />{" "}
          Enrolment token (one use, valid 24 h; listed once it enrols)
        </label>
      </fieldset>
      <label>
        Name <input name="name" maxLength={255} placeholder="web-1" />
      </label>
      <label>
        Labels <input name="labels" placeholder="env=prod, zone=a" />
      </label>
      <label>
        Node id <input name="node_id" placeholder="random" />
      </label>
      <FormEnd submit={submit} text="Create" cancel={() => setOpen(false)} />
    </form>
  );
}

export function NodeControls({ node }: { node: NodeView }) {
  const [editing, setEditing] = useState(false);
  const title = node.name || node.node_id;

  const save = useSubmit(async (formEl) => {
    const form = new FormData(formEl);
    const changed = await adminApi.updateNode(node.node_id, {
      name: field(form, "name").trim(),
      labels: parseLabels(field(form, "labels")),
    });
    // The stream's node message brings the same; this page need not wait for it.
    const known = nodes.get(node.node_id);
    if (known) {
      putNode({ ...changed, status: known.status });
      version.value++;
    }
    setEditing(false);
  });
  const revoke = useConfirm({
    text: () =>
      `Revoke node ${title}? Its link closes at once and it is refused from then on; it must be added again to come back.`,
    confirmLabel: "Revoke",
    run: () => {
      save.setError(null);
      return adminApi.revokeNode(node.node_id);
    },
    fail: (err) => save.setError(messageOf(err)),
  });

  return (
    <div class="node-admin">
      {editing ? (
        <form onSubmit={save.onSubmit} aria-label={`Edit ${title}`}>
          <label>
            Name <input name="name" maxLength={255} defaultValue={node.name} />
          </label>
          <label>
            Labels <input name="labels" defaultValue={formatLabels(node.labels)} />
          </label>
          <div class="buttons">
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
            <button type="submit">Save</button>
          </div>
        </form>
      ) : (
        <div class="buttons">
          <RowButton label={`Edit ${title}`} onClick={() => setEditing(true)}>
            Edit
          </RowButton>
          <RowButton label={`Revoke ${title}`} danger onClick={() => revoke.ask()}>
            Revoke
          </RowButton>
        </div>
      )}
      <ErrorLine error={save.error} />
      {revoke.dialog}
    </div>
  );
}

/** The invitations (enrolment tokens) not used yet, each with a withdraw button. */
export function Invitations() {
  const [list, setList] = useState<Enrollment[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const live = socketState.value === "live";

  async function load() {
    try {
      setList((await adminApi.enrollments()).enrollments);
      setError(null);
    } catch (err) {
      setError(messageOf(err));
    }
  }

  // Missed messages are not replayed: read the list again on each (re)connect.
  useEffect(() => {
    if (live) void load();
  }, [live]);
  useMessages((m: { kind: string; what?: string; node_id?: string; status?: string }) => {
    // An invitation made or withdrawn anywhere, or used: its node links.
    if (m.kind === "identity" && m.what === "enrollments") void load();
    else if (m.kind === "node" && m.status !== "removed" && !nodes.has(m.node_id ?? ""))
      void load();
  });
  const withdraw = useConfirm<Enrollment>({
    text: (e) =>
      `Withdraw the invitation of ${e.node_id ?? "a node"}? Its enrolment token stops working at once.`,
    confirmLabel: "Withdraw",
    run: async (e) => {
      setError(null);
      await adminApi.withdrawEnrollment(e.id);
      await load();
    },
    fail: (err) => setError(messageOf(err)),
  });

  if (!list?.length && !error) return null;
  return (
    <section class="invitations" aria-labelledby="invitations-title">
      <h2 id="invitations-title">Invitations not used yet</h2>
      <ListTable
        label="Invitations"
        columns={["Node id", "Name", "Labels", "Expires"]}
        actions
        items={list ?? []}
        error={error}
        row={(e) => (
          <tr key={e.id} data-testid="invitation-row" data-node={e.node_id ?? ""}>
            <td>{e.node_id ?? "any"}</td>
            <td>{e.name ?? ""}</td>
            <td class="wrap">{formatLabels(e.labels)}</td>
            <td class="muted">{date(e.expires_at)}</td>
            <td>
              <RowButton
                label={`Withdraw the invitation of ${e.node_id ?? e.id}`}
                danger
                onClick={() => withdraw.ask(e)}
              >
                Withdraw
              </RowButton>
            </td>
          </tr>
        )}
      />
      {withdraw.dialog}
    </section>
  );
}
