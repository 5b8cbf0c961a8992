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
import { Confirm, ErrorLine } from "../components";
import { date } from "../format";
import { listeners, socketState } from "../live";
import { messageOf, ShownOnce } from "../once";
import { me } from "../session";
import { type NodeView, nodes, putNode, version } from "../store";

export function isAdmin(): boolean {
  return me.value?.role === "admin";
}

export function AddNode() {
  const [open, setOpen] = useState(false);
  const [mode, setMode] = useState<NewNode["mode"]>("secret");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [made, setMade] = useState<Registered | null>(null);

  async function submit(event: SubmitEvent) {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const body: NewNode = { mode, labels: parseLabels(String(form.get("labels") ?? "")) };
    const name = String(form.get("name") ?? "").trim();
    const nodeId = String(form.get("node_id") ?? "").trim();
    if (name) body.name = name;
    if (nodeId) body.node_id = nodeId;
    setBusy(true);
    setError(null);
    try {
      setMade(await adminApi.registerNode(body));
      setOpen(false);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

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
    <form class="admin-form" onSubmit={submit} aria-label="Add node">
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
      <ErrorLine error={error} />
      <div class="buttons">
        <button type="button" onClick={() => setOpen(false)}>
          Cancel
        </button>
        <button type="submit" disabled={busy}>
          Create
        </button>
      </div>
    </form>
  );
}

export function NodeControls({ node }: { node: NodeView }) {
  const [editing, setEditing] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const title = node.name || node.node_id;

  async function save(event: SubmitEvent) {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setError(null);
    try {
      const changed = await adminApi.updateNode(node.node_id, {
        name: String(form.get("name") ?? "").trim(),
        labels: parseLabels(String(form.get("labels") ?? "")),
      });
      // The stream's node message brings the same; this page need not wait for it.
      const known = nodes.get(node.node_id);
      if (known) {
        putNode({ ...changed, status: known.status });
        version.value++;
      }
      setEditing(false);
    } catch (err) {
      setError(messageOf(err));
    }
  }

  async function revoke() {
    setConfirming(false);
    setError(null);
    try {
      await adminApi.revokeNode(node.node_id);
    } catch (err) {
      setError(messageOf(err));
    }
  }

  return (
    <div class="node-admin">
      {editing ? (
        <form onSubmit={save} aria-label={`Edit ${title}`}>
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
          <button type="button" aria-label={`Edit ${title}`} onClick={() => setEditing(true)}>
            Edit
          </button>
          <button
            type="button"
            class="danger"
            aria-label={`Revoke ${title}`}
            onClick={() => setConfirming(true)}
          >
            Revoke
          </button>
        </div>
      )}
      <ErrorLine error={error} />
      {confirming && (
        <Confirm
          text={`Revoke node ${title}? Its link closes at once and it is refused from then on; it must be added again to come back.`}
          confirmLabel="Revoke"
          onConfirm={() => void revoke()}
          onCancel={() => setConfirming(false)}
        />
      )}
    </div>
  );
}

/** The invitations (enrolment tokens) not used yet, each with a withdraw button. */
export function Invitations() {
  const [list, setList] = useState<Enrollment[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [asking, setAsking] = useState<Enrollment | null>(null);
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
  useEffect(() => {
    const listen = (m: { kind: string; what?: string; node_id?: string; status?: string }) => {
      // An invitation made or withdrawn anywhere, or used: its node links.
      if (m.kind === "identity" && m.what === "enrollments") void load();
      else if (m.kind === "node" && m.status !== "removed" && !nodes.has(m.node_id ?? ""))
        void load();
    };
    listeners.add(listen);
    return () => {
      listeners.delete(listen);
    };
  }, []);

  async function withdraw(e: Enrollment) {
    setAsking(null);
    setError(null);
    try {
      await adminApi.withdrawEnrollment(e.id);
      await load();
    } catch (err) {
      setError(messageOf(err));
    }
  }

  if (!list?.length && !error) return null;
  return (
    <section class="invitations" aria-labelledby="invitations-title">
      <h2 id="invitations-title">Invitations not used yet</h2>
      <ErrorLine error={error} />
      <div class="table-wrap">
        <table class="admin" aria-label="Invitations">
          <thead>
            <tr>
              <th>Node id</th>
              <th>Name</th>
              <th>Labels</th>
              <th>Expires</th>
              <th>
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {(list ?? []).map((e) => (
              <tr key={e.id} data-testid="invitation-row" data-node={e.node_id ?? ""}>
                <td>{e.node_id ?? "any"}</td>
                <td>{e.name ?? ""}</td>
                <td class="wrap">{formatLabels(e.labels)}</td>
                <td class="muted">{date(e.expires_at)}</td>
                <td>
                  <button
                    type="button"
                    class="danger"
                    aria-label={`Withdraw the invitation of ${e.node_id ?? e.id}`}
                    onClick={() => setAsking(e)}
                  >
                    Withdraw
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {asking && (
        <Confirm
          text={`Withdraw the invitation of ${asking.node_id ?? "a node"}? Its enrolment token stops working at once.`}
          confirmLabel="Withdraw"
          onConfirm={() => void withdraw(asking)}
          onCancel={() => setAsking(null)}
        />
      )}
    </section>
  );
}
