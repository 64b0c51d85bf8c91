// One fetch wrapper for the platform's API: JSON in and out, the access token in the
// Authorization header (never in a URL), one refresh at a time when it expires.
import type { Tokens } from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  // Server messages for a body field start with its name ("password: must be ..."); codes name
  // it too ("email_taken"). The form shows the message on that field.
  get field(): string | undefined {
    const named = /^([a-z_]+): /.exec(this.message);
    if (named) return named[1];
    if (this.code.startsWith("password")) return "password";
    if (this.code.includes("email")) return "email";
    if (this.code === "name_taken") return "name";
    return undefined;
  }

  // The message without its "field: " prefix, for showing under that field.
  get text(): string {
    return this.message.replace(/^[a-z_]+: /, "");
  }
}

// The refresh token is kept in sessionStorage: it survives a reload and the round trip through
// Stripe Checkout in this tab, is gone when the tab closes, and is never shared with another
// tab or origin. The access token lives only in memory.
const REFRESH_KEY = "coditect_refresh";

type Listener = (signedIn: boolean) => void;

class Session {
  private access: string | null = null;
  private refreshing: Promise<boolean> | null = null;
  private listeners = new Set<Listener>();

  get refreshToken(): string | null {
    return sessionStorage.getItem(REFRESH_KEY);
  }

  get signedIn(): boolean {
    return this.access !== null;
  }

  get accessToken(): string | null {
    return this.access;
  }

  keep(tokens: Tokens): void {
    this.access = tokens.access_token;
    sessionStorage.setItem(REFRESH_KEY, tokens.refresh_token);
    this.emit();
  }

  clear(): void {
    const was = this.access !== null;
    this.access = null;
    sessionStorage.removeItem(REFRESH_KEY);
    if (was) this.emit();
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(): void {
    for (const listener of this.listeners) listener(this.signedIn);
  }

  // Concurrent 401s share one refresh: a second rotation of the same token would look like
  // reuse to the server and revoke the whole session.
  refresh(): Promise<boolean> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    const token = this.refreshToken;
    if (!token) return false;
    try {
      this.keep(await request<Tokens>("POST", "/api/auth/refresh", { refresh_token: token }, false));
      return true;
    } catch (error) {
      // Only a definite "no" ends the session; a network failure leaves it for the next try.
      if (error instanceof ApiError && error.status < 500 && error.status !== 0) this.clear();
      return false;
    }
  }
}

export const session = new Session();

// Requests that carry no session of their own: a 401 from these is the answer, not an expired
// access token (and refreshing from inside the refresh would loop).
const NO_RENEWAL = ["/api/auth/login", "/api/auth/register", "/api/auth/refresh", "/api/auth/logout", "/api/auth/oauth/", "/api/auth/password/reset"];

export async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  retry = true,
): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (session.accessToken) headers["Authorization"] = `Bearer ${session.accessToken}`;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch {
    throw new ApiError(0, "network_error", "Coditect could not be reached. Check your connection and try again.");
  }
  if (response.status === 401 && retry && !NO_RENEWAL.some((p) => path.startsWith(p)) && session.refreshToken) {
    if (await session.refresh()) return request<T>(method, path, body, false);
  }
  if (response.status === 204) return undefined as T;
  const data: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(
      response.status,
      error?.code ?? "http_error",
      error?.message ?? `The server answered ${response.status}.`,
    );
  }
  return data as T;
}

export const api = {
  get: <T>(path: string) => request<T>("GET", path),
  post: <T>(path: string, body: unknown = {}) => request<T>("POST", path, body),
  patch: <T>(path: string, body: unknown) => request<T>("PATCH", path, body),
  delete: <T>(path: string) => request<T>("DELETE", path),
};
