import { ago, bytes, now, percent } from "../format";
import { mayOperate } from "../session";
import { containers, countsOf, type NodeView, nodes, version } from "../store";
import { AddNode, Invitations, isAdmin, NodeControls } from "./NodeAdmin";

function usage(nodeId: string): { cpu?: number; memory?: number } {
  let cpu: number | undefined;
  let memory: number | undefined;
  for (const c of containers.values()) {
    if (c.node_id !== nodeId) continue;
    if (c.cpu_percent !== undefined) cpu = (cpu ?? 0) + c.cpu_percent;
    if (c.memory_usage !== undefined) memory = (memory ?? 0) + c.memory_usage;
  }
  const out: { cpu?: number; memory?: number } = {};
  if (cpu !== undefined) out.cpu = cpu;
  if (memory !== undefined) out.memory = memory;
  return out;
}

function NodeCard({ node, at }: { node: NodeView; at: number }) {
  const counts = countsOf(node.node_id);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const { cpu, memory } = usage(node.node_id);
  return (
    <article class="node" data-testid="node" data-node={node.node_id}>
      <header>
        <h2>
          <a href={`/containers?node=${encodeURIComponent(node.node_id)}`}>
            {node.name || node.node_id}
          </a>
        </h2>
        <span class={`status status-${node.status}`}>{node.status}</span>
      </header>
      {node.name && <p class="muted">{node.node_id}</p>}
      <dl>
        <dt>Engine</dt>
        <dd>
          {node.engine.version ?? "unknown"}
          {node.engine.available
            ? ""
            : ` (unavailable${node.engine.message ? `: ${node.engine.message}` : ""})`}
        </dd>
        <dt>Containers</dt>
        <dd>
          {total} total
          {Object.entries(counts)
            .sort()
            .map(([state, n]) => ` · ${n} ${state}`)}
        </dd>
        {cpu !== undefined && (
          <>
            <dt>CPU</dt>
            <dd>{percent(cpu)}</dd>
          </>
        )}
        {memory !== undefined && (
          <>
            <dt>Memory</dt>
            <dd>{bytes(memory)}</dd>
          </>
        )}
        <dt>Last heard</dt>
        <dd>{ago(node.heard_at, at)}</dd>
        {node.hostname && (
          <>
            <dt>Host</dt>
            <dd>{node.hostname}</dd>
          </>
        )}
      </dl>
      {Object.keys(node.labels).length > 0 && (
        <ul class="labels" aria-label="Labels">
          {Object.entries(node.labels).map(([k, v]) => (
            <li key={k}>
              {k}={v}
            </li>
          ))}
        </ul>
      )}
      {mayOperate() && node.status === "online" && (
        <a class="button" href={`/create?node=${encodeURIComponent(node.node_id)}`}>
          New container
        </a>
      )}
      {isAdmin() && <NodeControls node={node} />}
    </article>
  );
}

export function Fleet() {
  version.value;
  const at = now.value;
  const list = [...nodes.values()].sort((a, b) => a.node_id.localeCompare(b.node_id));
  return (
    <main>
      <h1>Nodes</h1>
      {isAdmin() && <AddNode />}
      {isAdmin() && <Invitations />}
      {list.length === 0 && <p class="muted">No node has registered yet.</p>}
      <div class="nodes">
        {list.map((n) => (
          <NodeCard key={n.node_id} node={n} at={at} />
        ))}
      </div>
    </main>
  );
}
