// The API's shapes, as the coordinator writes them (docklord/coordinator/_json.py, _fleet.py).

export interface Port {
  private_port: number;
  protocol: string;
  host_ip: string | null;
  host_port: number | null;
}

export interface Container {
  node_id: string;
  id: string;
  name: string;
  image: string;
  image_id: string;
  command: string;
  state: string;
  status: string;
  created: string | null;
  started_at: string | null;
  finished_at: string | null;
  exit_code: number | null;
  ports: Port[];
  labels: Record<string, string>;
  cpu_percent?: number;
  memory_usage?: number;
}

export interface ContainerDetails extends Container {
  config: Record<string, unknown> & { env?: Record<string, string> };
  host_config: Record<string, unknown>;
  mounts: Record<string, unknown>[];
  networks: Record<string, unknown>;
  raw?: Record<string, unknown>;
}

export type NodeStatus = "online" | "connecting" | "offline";

export interface Node {
  node_id: string;
  name: string;
  labels: Record<string, string>;
  status: NodeStatus;
  connected_at: string | null;
  last_seen: string | null;
  agent_version: string;
  hostname: string;
  engine: {
    available: boolean;
    message: string;
    version: string | null;
    api_version: string | null;
    os: string | null;
    arch: string | null;
  };
  containers: Record<string, number>;
  seq: number;
}

export type StreamMessage =
  | { kind: "snapshot"; nodes: Node[]; containers: Container[]; seq: Record<string, number> }
  | { kind: "resync"; node_id: string; containers: Container[]; seq: number }
  | {
      kind: "event";
      seq: number;
      node_id: string;
      type: string;
      action: string;
      actor_id: string;
      time: string | null;
      removed: boolean;
      attributes: Record<string, string>;
      container?: Container | null;
    }
  | {
      kind: "instance";
      node_id: string;
      instance_id: string;
      container_id: string;
      action: string;
      state: string | null;
      removed: boolean;
      time: string | null;
    }
  | {
      kind: "node";
      node_id: string;
      status: NodeStatus | "removed";
      // Only when an admin renamed or relabelled the node.
      name?: string;
      labels?: Record<string, string>;
    }
  | {
      kind: "identity";
      what: "users" | "tokens" | "enrollments";
      action: string;
      user_id?: number;
      token_id?: number;
      node_id?: string;
    }
  | { kind: "engine"; node_id: string; available: boolean; message: string };
