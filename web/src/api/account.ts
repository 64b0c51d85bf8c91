// The account's self-service API (sessions, passwords, connected accounts, API tokens, deletion)
// and the LLM usage report, as TanStack Query hooks. Only Settings and Usage import this.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, request, session } from "./client";
import { keys } from "./hooks";
import type { ApiToken, ApiTokenCreated, Connections, LlmUsage, Provider, SignInSession, TokenScope } from "./types";

export const accountKeys = {
  sessions: ["account", "sessions"] as const,
  connections: ["account", "connections"] as const,
  tokens: ["account", "tokens"] as const,
  llmUsage: ["llm-usage"] as const,
};

export function useSessions() {
  return useQuery({
    queryKey: accountKeys.sessions,
    queryFn: async () => (await api.get<{ sessions: SignInSession[] }>("/api/auth/sessions")).sessions,
  });
}

export function useConnections() {
  return useQuery({ queryKey: accountKeys.connections, queryFn: () => api.get<Connections>("/api/auth/connections") });
}

export function useApiTokens() {
  return useQuery({
    queryKey: accountKeys.tokens,
    queryFn: async () => (await api.get<{ tokens: ApiToken[] }>("/api/auth/tokens")).tokens,
  });
}

export function useLlmUsage() {
  return useQuery({ queryKey: accountKeys.llmUsage, queryFn: () => api.get<LlmUsage>("/api/llm/usage") });
}

// Setting a password ends the account's other sessions and makes access tokens issued before it
// unable to open IDEs; this session's refresh family stays, so a fresh access token follows.
async function renewAfterPasswordWrite(): Promise<void> {
  await session.refresh();
}

export function useChangePassword() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (body: { current_password: string; new_password: string }) => {
      await api.post("/api/auth/password/change", body);
      await renewAfterPasswordWrite();
    },
    onSuccess: () => client.invalidateQueries({ queryKey: ["account"] }),
  });
}

export function useSetPassword() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (body: { new_password: string }) => {
      await api.post("/api/auth/password/set", body);
      await renewAfterPasswordWrite();
    },
    onSuccess: () => client.invalidateQueries({ queryKey: ["account"] }),
  });
}

export function useRevokeSession() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (sessionId: string) => api.delete(`/api/auth/sessions/${encodeURIComponent(sessionId)}`),
    onSuccess: () => client.invalidateQueries({ queryKey: accountKeys.sessions }),
  });
}

export function useUnlink() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ provider, subject }: { provider: Provider; subject: string }) =>
      api.delete(`/api/auth/connections/${provider}/${encodeURIComponent(subject)}`),
    onSuccess: () => Promise.all([client.invalidateQueries({ queryKey: accountKeys.connections }), client.invalidateQueries({ queryKey: ["me"] })]),
  });
}

// The answer sets the flow's state cookie on this origin; the browser then goes to the provider.
export function startLink(provider: Provider): Promise<{ url: string }> {
  return api.post<{ url: string }>(`/api/auth/connections/${provider}/link`, {});
}

export function useCreateToken() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: { name: string; scope: TokenScope; expires_in_days: number | null }) =>
      api.post<ApiTokenCreated>("/api/auth/tokens", body),
    onSuccess: () => client.invalidateQueries({ queryKey: accountKeys.tokens }),
  });
}

export function useRevokeToken() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (tokenId: string) => api.delete(`/api/auth/tokens/${encodeURIComponent(tokenId)}`),
    onSuccess: () => client.invalidateQueries({ queryKey: accountKeys.tokens }),
  });
}

export function signOutEverywhere(): Promise<void> {
  return api.post<void>("/api/auth/sessions/revoke-all", {});
}

export function deleteAccount(password: string | null): Promise<void> {
  return api.post<void>("/api/auth/delete-account", password === null ? {} : { password });
}

// The export as a file the browser saves (fetched with the bearer token, so not a plain link).
export async function exportAccount(): Promise<Blob> {
  const data = await request<unknown>("GET", "/api/auth/export");
  return new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
}

// Mailed-link flows: no session needed.
export function requestPasswordReset(email: string): Promise<{ status: string }> {
  return api.post<{ status: string }>("/api/auth/password/reset", { email });
}

export function confirmPasswordReset(token: string, newPassword: string): Promise<void> {
  return api.post<void>("/api/auth/password/reset/confirm", { token, new_password: newPassword });
}

export function useUpdateProfile() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: { first_name: string; last_name: string }) => api.patch("/api/auth/me", body),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.me }),
  });
}
