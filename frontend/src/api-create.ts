// The create form's API calls: the create itself and what a node offers to choose from (its
// images, volumes and networks, for the suggestions). Shapes as docs/API.md documents them.

import { request } from "./api";

export type Protocol = "tcp" | "udp" | "sctp";
export type RestartPolicy = "no" | "always" | "unless-stopped" | "on-failure";

/** A number as typed: what is not one goes to the API as written, which then names the field. */
export type Typed = number | string;

export interface PortIn {
  container_port: Typed;
  protocol: Protocol;
  host_ip: string;
  host_port?: Typed;
}

export interface MountIn {
  type: "volume" | "bind";
  source: string;
  target: string;
  read_only: boolean;
}

/** The body of `POST /api/v1/nodes/{node}/containers` (only `image` is required). */
export interface CreateBody {
  image: string;
  name?: string;
  cmd?: string[];
  entrypoint?: string[];
  env: Record<string, string>;
  ports: PortIn[];
  mounts: MountIn[];
  labels: Record<string, string>;
  restart_policy: RestartPolicy;
  restart_max_retries?: Typed;
  cpus?: Typed;
  memory?: string;
  network?: string;
  working_dir?: string;
  user?: string;
  hostname?: string;
  tty: boolean;
  start: boolean;
}

export interface Created {
  id: string;
  name: string;
  node_id: string;
  started: boolean;
}

export interface Image {
  id: string;
  repo_tags: string[];
}

export interface Volume {
  name: string;
}

export interface Network {
  id: string;
  name: string;
}

function nodePath(node: string, rest: string): string {
  return `/api/v1/nodes/${encodeURIComponent(node)}/${rest}`;
}

export const createApi = {
  create: (node: string, body: CreateBody) =>
    request<Created>("POST", nodePath(node, "containers"), body),
  images: (node: string) => request<{ images: Image[] }>("GET", nodePath(node, "images")),
  volumes: (node: string) => request<{ volumes: Volume[] }>("GET", nodePath(node, "volumes")),
  networks: (node: string) => request<{ networks: Network[] }>("GET", nodePath(node, "networks")),
};
