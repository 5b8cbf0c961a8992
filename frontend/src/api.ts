// The one REST client: same-origin fetch with the session cookie; every failure becomes an
// ApiError carrying the API's own code and message ({"error": {"code", "message"}}).

/** One problem of a 422 answer: `field` is the path in the body (`ports.0.host_port`). */
export interface FieldError {
  field: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: FieldError[] = [],
  ) {
    super(message);
  }
}

export interface Me {
  user_id: number | null;
  username: string;
  role: "viewer" | "operator" | "admin";
  nodes: string[] | null;
}

async function errorOf(response: Response): Promise<ApiError> {
  try {
    const body = (await response.json()) as {
      error?: { code?: string; message?: string; fields?: FieldError[] };
    };
    if (body.error?.message) {
      const { code, message, fields } = body.error;
      return new ApiError(response.status, code ?? "error", message, fields ?? []);
    }
  } catch {
    // not JSON: fall through to the status line
  }
  return new ApiError(response.status, "http_error", `${response.status} ${response.statusText}`);
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "content-type": "application/json" };
  }
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "the coordinator cannot be reached");
  }
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const api = {
  me: () => request<Me>("GET", "/api/v1/me"),
  login: (username: string, password: string) =>
    request<unknown>("POST", "/api/v1/auth/login", { username, password }),
  logout: () => request<void>("POST", "/api/v1/auth/logout"),
  nodes: () => request<{ nodes: import("./types").Node[] }>("GET", "/api/v1/nodes"),
  inspect: (node: string, ref: string, raw: boolean) =>
    request<import("./types").ContainerDetails>(
      "GET",
      `/api/v1/nodes/${enc(node)}/containers/${enc(ref)}${raw ? "?raw=true" : ""}`,
    ),
  act: (node: string, id: string, action: Action) =>
    request<unknown>("POST", `/api/v1/nodes/${enc(node)}/containers/${enc(id)}/${action}`),
  remove: (node: string, id: string, force: boolean) =>
    request<void>(
      "DELETE",
      `/api/v1/nodes/${enc(node)}/containers/${enc(id)}${force ? "?force=true" : ""}`,
    ),
};

export type Action = "start" | "stop" | "restart" | "kill" | "pause" | "unpause";

function enc(s: string): string {
  return encodeURIComponent(s);
}
