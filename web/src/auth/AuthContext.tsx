// The session: boots from an OAuth return code or the kept refresh token, signs in and out, and
// finishes email verification. Codes and tokens leave the address bar before anything else runs.
import { useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { api, ApiError, session } from "../api/client";
import type { Tokens, User } from "../api/types";
import { holdResetToken, linkErrorText, PROVIDER_NAMES, takeLinking } from "../lib/returns";

export interface Notice {
  status: "success" | "error" | "info";
  text: string;
}

interface AuthState {
  ready: boolean;
  signedIn: boolean;
  notice: Notice | null;
  setNotice: (notice: Notice | null) => void;
  signIn: (email: string, password: string) => Promise<void>;
  signUp: (body: { email: string; password: string; first_name?: string; last_name?: string }) => Promise<void>;
  signOut: () => Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);

const OAUTH_ERRORS: Record<string, string> = {
  access_denied: "Sign-in was cancelled.",
  email_not_verified: "That account's email is not verified with the provider, so we cannot use it to sign you in.",
  provider_not_configured: "That sign-in option is not available here.",
};

// What the address bar carried, taken out of it (and out of the history entry).
export function takeReturnParams(): {
  code: string | null;
  error: string | null;
  verifyToken: string | null;
  resetToken: string | null;
  linked: string | null;
  provider: string | null;
} {
  const params = new URLSearchParams(window.location.search);
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  const found = {
    code: params.get("oauth_code"),
    error: params.get("oauth_error"),
    verifyToken: fragment.get("verify_email"),
    resetToken: fragment.get("reset_password"),
    linked: params.get("oauth_linked"),
    provider: params.get("provider"),
  };
  const fromFragment = found.verifyToken || found.resetToken;
  if (found.code || found.error || found.linked || params.has("provider") || fromFragment) {
    for (const name of ["oauth_code", "oauth_error", "oauth_linked", "provider"]) params.delete(name);
    const query = params.toString();
    const hash = fromFragment ? "" : window.location.hash;
    window.history.replaceState(window.history.state, "", window.location.pathname + (query ? `?${query}` : "") + hash);
  }
  return found;
}

export function AuthProvider({
  children,
  onSignedIn,
  go,
}: {
  children: ReactNode;
  onSignedIn?: () => void;
  // Moves to an app page (the reset page for a reset link, Settings after linking a provider).
  go?: (path: string) => void;
}) {
  const queryClient = useQueryClient();
  const [ready, setReady] = useState(false);
  const [signedIn, setSignedIn] = useState(session.signedIn);
  const [notice, setNotice] = useState<Notice | null>(null);
  const verifyToken = useRef<string | null>(null);
  const booted = useRef(false);

  useEffect(() => session.subscribe(setSignedIn), []);

  // Verifying needs the link (the mailbox) and the account's session (the password).
  const verifyPending = useCallback(async () => {
    const token = verifyToken.current;
    if (!token || !session.signedIn) return;
    verifyToken.current = null;
    try {
      await api.post("/api/auth/verify-email", { token });
      setNotice({ status: "success", text: "Email verified." });
      await queryClient.invalidateQueries({ queryKey: ["me"] });
    } catch (error) {
      const text = error instanceof ApiError ? error.message : "the link could not be used";
      setNotice({ status: "error", text: `Email not verified: ${text}` });
    }
  }, [queryClient]);

  const takeLink = useCallback(async () => {
    const { verifyToken: token, resetToken } = takeReturnParams();
    if (resetToken) {
      holdResetToken(resetToken);
      go?.("/reset-password");
    }
    if (!token) return;
    verifyToken.current = token;
    if (session.signedIn) await verifyPending();
    else setNotice({ status: "info", text: "Sign in to finish verifying your email." });
  }, [verifyPending, go]);

  useEffect(() => {
    if (booted.current) return; // StrictMode runs effects twice: a code is single use
    booted.current = true;
    const { code, error, verifyToken: token, resetToken, linked, provider } = takeReturnParams();
    verifyToken.current = token;
    if (resetToken) holdResetToken(resetToken);
    // A return from linking a provider in Settings (not a sign-in) goes back to Settings.
    const linking = takeLinking();
    const linkReturn = Boolean(linked || (linking && error && provider === linking));
    (async () => {
      try {
        if (linked) setNotice({ status: "success", text: `${PROVIDER_NAMES[linked] ?? linked} is now connected to your account.` });
        else if (linkReturn && error) setNotice({ status: "error", text: linkErrorText(provider ?? "", error) });
        else if (error) setNotice({ status: "error", text: OAUTH_ERRORS[error] ?? `Sign-in failed (${error}).` });
        if (code) {
          session.keep(await api.post<Tokens>("/api/auth/oauth/exchange", { code }));
          onSignedIn?.();
        } else if (session.refreshToken) {
          await session.refresh();
        }
        if (token && !session.signedIn) setNotice({ status: "info", text: "Sign in to finish verifying your email." });
        await verifyPending();
        if (resetToken) go?.("/reset-password");
        else if (linkReturn && session.signedIn) go?.("/settings");
      } catch (failure) {
        setNotice({ status: "error", text: failure instanceof ApiError ? failure.message : "Sign-in failed." });
      } finally {
        setReady(true);
      }
    })();
  }, [onSignedIn, verifyPending, go]);

  // A mailed link opened in a tab that already shows the app changes only the fragment.
  useEffect(() => {
    const onHash = () => void takeLink();
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, [takeLink]);

  const signIn = useCallback(
    async (email: string, password: string) => {
      session.keep(await api.post<Tokens & { user: User }>("/api/auth/login", { email, password }));
      queryClient.clear();
      await verifyPending();
    },
    [queryClient, verifyPending],
  );

  const signUp = useCallback(
    async (body: { email: string; password: string; first_name?: string; last_name?: string }) => {
      // The account starts free; a paid plan then goes through Checkout (no card on this page).
      session.keep(await api.post<Tokens>("/api/auth/register", { ...body, plan: "free" }));
      queryClient.clear();
      await verifyPending();
    },
    [queryClient, verifyPending],
  );

  const signOut = useCallback(async () => {
    const refreshToken = session.refreshToken;
    try {
      if (refreshToken) await api.post("/api/auth/logout", { refresh_token: refreshToken });
    } catch {
      // already signed out on the server
    }
    session.clear();
    queryClient.clear();
  }, [queryClient]);

  const value = useMemo(
    () => ({ ready, signedIn, notice, setNotice, signIn, signUp, signOut }),
    [ready, signedIn, notice, signIn, signUp, signOut],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const value = useContext(AuthContext);
  if (!value) throw new Error("useAuth outside AuthProvider");
  return value;
}
