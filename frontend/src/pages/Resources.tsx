// The resource pages of one node: images (Images.tsx), volumes and networks, with tabs between
// them and a node picker (`?node=`). Volumes and networks: list, create, remove (confirmed),
// prune with a preview, and which containers use each (from their inspect answers).

import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import {
  mayOperateOn,
  messageOf,
  type Network,
  type PruneResult,
  parseLabels,
  plural,
  resources,
  type Usage,
  useLiveList,
  useUsage,
  type Volume,
} from "../api-resources";
import { ErrorLine, useConfirm } from "../components";
import { bytes, date, shortId } from "../format";
import { useSubmit } from "../forms";
import { containerPath, location, setParams } from "../router";
import { findContainer, nodes, type TimelineEntry, version } from "../store";
import { ListTable } from "../table";
import { Images } from "./Images";

export type ResourceKind = "images" | "volumes" | "networks";

const TITLES: Record<ResourceKind, string> = {
  images: "Images",
  volumes: "Volumes",
  networks: "Networks",
};

/** Networks every engine has; the engine refuses to remove them. */
const PREDEFINED = new Set(["bridge", "host", "none"]);

function Users({ users, node }: { users: Usage[]; node: string }) {
  if (users.length === 0) return <span class="muted">unused</span>;
  return (
    <>
      {users.map((u) => (
        <a key={u.id} class="user" href={containerPath(node, u.id)}>
          {u.name}
        </a>
      ))}
    </>
  );
}

function Labels({ labels }: { labels: Record<string, string> }) {
  const entries = Object.entries(labels);
  if (!entries.length) return null;
  return (
    <ul class="labels" aria-label="Labels">
      {entries.map(([k, v]) => (
        <li key={k}>{v ? `${k}=${v}` : k}</li>
      ))}
    </ul>
  );
}

/** A Remove button that asks first and shows the API's refusal (a volume in use: 409). */
function RemoveButton(props: { what: string; remove: () => Promise<void> }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const remove = useConfirm({
    text: () => `Remove ${props.what}?`,
    confirmLabel: "Remove",
    run: async () => {
      setBusy(true);
      setError(null);
      try {
        await props.remove();
      } finally {
        setBusy(false);
      }
    },
    fail: (err) => setError(messageOf(err)),
  });
  return (
    <>
      <button type="button" class="danger" disabled={busy} onClick={() => remove.ask()}>
        Remove{busy ? "…" : ""}
      </button>
      <ErrorLine error={error} />
      {remove.dialog}
    </>
  );
}

/** A Prune… button: the preview in a confirmation, then what the prune answered. */
function PruneButton(props: {
  what: string;
  preview: string[];
  ready: boolean;
  run: () => Promise<string>;
  children?: ComponentChildren;
}) {
  const [outcome, setOutcome] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const n = props.preview.length;
  const prune = useConfirm({
    text: () =>
      n ? `Remove these ${n} unused ${props.what}?` : `No unused ${props.what}: nothing to prune.`,
    confirmLabel: "Prune",
    run: async () => {
      setError(null);
      setOutcome(null);
      setOutcome(await props.run());
    },
    fail: (err) => setError(messageOf(err)),
    children: (
      <>
        {props.children}
        <ul class="preview" data-testid="prune-preview">
          {props.preview.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      </>
    ),
  });
  return (
    <>
      <button
        type="button"
        disabled={!props.ready}
        title={props.ready ? "" : "still reading what the containers use"}
        onClick={() => prune.ask()}
      >
        Prune…
      </button>
      {outcome && (
        <output class="muted" data-testid="prune-result">
          {outcome}
        </output>
      )}
      <ErrorLine error={error} />
      {prune.dialog}
    </>
  );
}

function CreateForm(props: {
  what: string;
  nameRequired: boolean;
  create: (name: string, labels: Record<string, string>, extra: Extra) => Promise<unknown>;
  extras?: boolean;
}) {
  const [name, setName] = useState("");
  const [labels, setLabels] = useState("");
  const [driver, setDriver] = useState("");
  const [internal, setInternal] = useState(false);
  const submit = useSubmit(async () => {
    await props.create(name.trim(), parseLabels(labels), { driver: driver.trim(), internal });
    setName("");
    setLabels("");
  });
  return (
    <form class="toolbar create" aria-label={`Create a ${props.what}`} onSubmit={submit.onSubmit}>
      <input
        aria-label={`${props.what} name`}
        placeholder={props.nameRequired ? "name" : "name (empty: the engine names it)"}
        value={name}
        required={props.nameRequired}
        onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)}
      />
      <input
        aria-label="Labels"
        placeholder="labels: key=value, key2=value2"
        value={labels}
        onInput={(e) => setLabels((e.currentTarget as HTMLInputElement).value)}
      />
      {props.extras && (
        <>
          <input
            aria-label="Driver"
            placeholder="driver (bridge)"
            value={driver}
            onInput={(e) => setDriver((e.currentTarget as HTMLInputElement).value)}
          />
          <label>
            <input
              type="checkbox"
              checked={internal}
              onChange={(e) => setInternal((e.currentTarget as HTMLInputElement).checked)}
            />{" "}
            internal
          </label>
        </>
      )}
      <button type="submit" disabled={submit.busy}>
        Create {props.what}
      </button>
      <ErrorLine error={submit.error} />
    </form>
  );
}

interface Extra {
  driver: string;
  internal: boolean;
}

function usersOf(usages: Usage[], pick: (u: Usage) => string[]): Map<string, Usage[]> {
  const out = new Map<string, Usage[]>();
  for (const u of usages) for (const name of pick(u)) out.set(name, [...(out.get(name) ?? []), u]);
  return out;
}

/** Engines from API 1.42 (Docker 23) prune only anonymous volumes unless told `all`. */
function prunesAnonymousOnly(node: string): boolean {
  const [major = 0, minor = 0] = (nodes.get(node)?.engine.api_version ?? "0.0")
    .split(".")
    .map(Number);
  return major > 1 || (major === 1 && minor >= 42);
}

const isVolumeListEvent = (e: TimelineEntry) =>
  e.type === "volume" && (e.action === "create" || e.action === "destroy");

function Volumes({ node }: { node: string }) {
  const { items, error } = useLiveList(node, resources.volumes, isVolumeListEvent);
  const { usages, pending } = useUsage(node);
  const operate = mayOperateOn(node);
  const users = usersOf(usages, (u) => u.volumes);
  const anonymousOnly = prunesAnonymousOnly(node);
  const list = [...(items ?? [])].sort((a, b) => a.name.localeCompare(b.name));
  const preview = list
    .filter((v) => !users.get(v.name)?.length)
    .filter((v) => !anonymousOnly || "com.docker.volume.anonymous" in v.labels)
    .map((v) => v.name);
  async function prune(): Promise<string> {
    const r: PruneResult = await resources.pruneVolumes(node);
    return `Pruned ${r.deleted.length} (${bytes(r.space_reclaimed)} reclaimed)`;
  }
  return (
    <>
      {operate && (
        <CreateForm
          what="volume"
          nameRequired={false}
          create={(name, labels) =>
            resources.createVolume(node, { ...(name ? { name } : {}), labels })
          }
        />
      )}
      <div class="toolbar">
        <span class="muted">
          {items ? plural(list.length, "volume") : "Loading…"}
          {pending ? ` · reading ${pending} containers…` : ""}
        </span>
        {operate && items && (
          <PruneButton what="volumes" preview={preview} ready={pending === 0} run={prune}>
            {anonymousOnly && <p class="muted">This engine prunes anonymous volumes only.</p>}
          </PruneButton>
        )}
      </div>
      <ListTable
        class="containers resources"
        label="Volumes"
        columns={["Name", "Driver", "Created", "Labels", "Used by"]}
        actions={operate}
        items={list}
        error={error}
        row={(v: Volume) => (
          <tr key={v.name} data-testid="volume-row" data-name={v.name}>
            <td class="wrap" title={v.mountpoint}>
              {v.name.length === 64 ? shortId(v.name) : v.name}
            </td>
            <td>{v.driver}</td>
            <td class="muted">{date(v.created)}</td>
            <td class="wrap">
              <Labels labels={v.labels} />
            </td>
            <td class="wrap">
              <Users users={users.get(v.name) ?? []} node={node} />
            </td>
            {operate && (
              <td>
                <RemoveButton
                  what={`volume ${v.name} from ${node}`}
                  remove={() => resources.removeVolume(node, v.name)}
                />
              </td>
            )}
          </tr>
        )}
      />
    </>
  );
}

const LIVE = new Set(["running", "paused", "restarting"]);

/** Whether `labels` match a prune's `label` filter (`key` or `key=value`; empty: all). */
function hasLabel(labels: Record<string, string>, filter: string): boolean {
  const wanted = filter.trim();
  if (!wanted) return true;
  const [key = "", ...rest] = wanted.split("=");
  return key in labels && (rest.length === 0 || labels[key] === rest.join("="));
}

const isNetworkListEvent = (e: TimelineEntry) =>
  e.type === "network" && (e.action === "create" || e.action === "destroy");

function Networks({ node }: { node: string }) {
  const { items, error } = useLiveList(node, resources.networks, isNetworkListEvent);
  const { usages, pending } = useUsage(node);
  const operate = mayOperateOn(node);
  const users = usersOf(usages, (u) => u.networks);
  const list = [...(items ?? [])].sort((a, b) => a.name.localeCompare(b.name));
  const [only, setOnly] = useState("");
  // The engine's prune keeps the networks a running container is attached to, and only those:
  // one that only stopped containers name goes too, so the preview counts running users.
  const running = usersOf(
    usages.filter((u) => LIVE.has(findContainer(node, u.id)?.state ?? "")),
    (u) => u.networks,
  );
  const unused = list.filter(
    (n) => !PREDEFINED.has(n.name) && !running.get(n.name)?.length && hasLabel(n.labels, only),
  );
  async function prune(): Promise<string> {
    const r: PruneResult = await resources.pruneNetworks(node, only.trim());
    return `Pruned ${plural(r.deleted.length, "network")}`;
  }
  return (
    <>
      {operate && (
        <CreateForm
          what="network"
          nameRequired
          extras
          create={(name, labels, extra) =>
            resources.createNetwork(node, {
              name,
              labels,
              internal: extra.internal,
              ...(extra.driver ? { driver: extra.driver } : {}),
            })
          }
        />
      )}
      <div class="toolbar">
        <span class="muted">
          {items ? plural(list.length, "network") : "Loading…"}
          {pending ? ` · reading ${pending} containers…` : ""}
        </span>
        {operate && items && (
          <>
            <input
              class="prune-label"
              aria-label="Prune only networks with label"
              placeholder="only with label key[=value]"
              value={only}
              onInput={(e) => setOnly((e.currentTarget as HTMLInputElement).value)}
            />
            <PruneButton
              what="networks"
              preview={unused.map((n) => n.name)}
              ready={pending === 0}
              run={prune}
            >
              <p class="muted">Networks only stopped containers use go too.</p>
            </PruneButton>
          </>
        )}
      </div>
      <ListTable
        class="containers resources"
        label="Networks"
        columns={["Name", "Id", "Driver", "Scope", "Labels", "Used by"]}
        actions={operate}
        items={list}
        error={error}
        row={(n: Network) => (
          <tr key={n.id} data-testid="network-row" data-name={n.name}>
            <td class="wrap">
              {n.name}
              {n.internal ? <span class="muted"> (internal)</span> : null}
            </td>
            <td>
              <code title={n.id}>{shortId(n.id)}</code>
            </td>
            <td>{n.driver}</td>
            <td>{n.scope}</td>
            <td class="wrap">
              <Labels labels={n.labels} />
            </td>
            <td class="wrap">
              <Users users={users.get(n.name) ?? []} node={node} />
            </td>
            {operate && (
              <td>
                {!PREDEFINED.has(n.name) && (
                  <RemoveButton
                    what={`network ${n.name} from ${node}`}
                    remove={() => resources.removeNetwork(node, n.id)}
                  />
                )}
              </td>
            )}
          </tr>
        )}
      />
    </>
  );
}

/** The chosen node: `?node=`, else the first online node, else the first known. */
function chosenNode(): string {
  const wanted = location.value.searchParams.get("node");
  if (wanted) return wanted;
  const list = [...nodes.values()].sort((a, b) => a.node_id.localeCompare(b.node_id));
  return (list.find((n) => n.status === "online") ?? list[0])?.node_id ?? "";
}

export function Resources({ kind }: { kind: ResourceKind }) {
  version.value;
  const node = chosenNode();
  const known = [...nodes.values()].sort((a, b) => a.node_id.localeCompare(b.node_id));
  const query = node ? `?node=${encodeURIComponent(node)}` : "";
  return (
    <main data-testid={`${kind}-page`} data-node={node}>
      <h1>{TITLES[kind]}</h1>
      <div class="toolbar">
        <nav class="tabs" aria-label="Resources">
          {(Object.keys(TITLES) as ResourceKind[]).map((k) => (
            <a key={k} href={`/${k}${query}`} aria-current={k === kind ? "page" : undefined}>
              {TITLES[k]}
            </a>
          ))}
        </nav>
        <label>
          Node{" "}
          <select
            aria-label="Node"
            value={node}
            onChange={(e) =>
              setParams({ node: (e.currentTarget as HTMLSelectElement).value, q: null })
            }
          >
            {!nodes.has(node) && node && <option value={node}>{node}</option>}
            {known.map((n) => (
              <option key={n.node_id} value={n.node_id}>
                {n.name || n.node_id} ({n.status})
              </option>
            ))}
          </select>
        </label>
      </div>
      {!node && <p class="muted">No node has registered yet.</p>}
      {node && kind === "images" && <Images node={node} />}
      {node && kind === "volumes" && <Volumes node={node} />}
      {node && kind === "networks" && <Networks node={node} />}
    </main>
  );
}
