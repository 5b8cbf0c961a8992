// The instances API (docs/API.md "Instances: a user's own SSH box"): a user's own SSH box on a
// node. The mutating routes answer in the DockHost format {"success", "message", "data"}.

import { request } from "./api";

export interface InstancePorts {
  ssh: number;
  http: number;
  https: number;
}

export interface Instance {
  id: string;
  owner: string;
  node_id: string;
  /** Camel case as in the documented DockHost answer; null while the node is making it. */
  containerId: string | null;
  ports: InstancePorts | null;
  /** The container's state from the fleet view, `creating`, `unknown` (node offline). */
  state: string;
  created_at: string;
}

export interface InstanceAnswer {
  success: boolean;
  message: string;
  data: Instance;
}

const BASE = "/api/v1/instances";

export const instancesApi = {
  /** The caller's instances, or (admins, `all`) everyone's. */
  list: (all: boolean) =>
    request<{ instances: Instance[] }>("GET", all ? `${BASE}?all=true` : BASE),
  create: (sshPublicKey: string, node: string | null) =>
    request<InstanceAnswer>(
      "POST",
      BASE,
      node ? { ssh_public_key: sshPublicKey, node } : { ssh_public_key: sshPublicKey },
    ),
  act: (id: string, action: "start" | "stop") =>
    request<InstanceAnswer>("POST", `${BASE}/${encodeURIComponent(id)}/${action}`),
  remove: (id: string) => request<InstanceAnswer>("DELETE", `${BASE}/${encodeURIComponent(id)}`),
};
