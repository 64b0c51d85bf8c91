import { ChakraProvider } from "@chakra-ui/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEventLib from "@testing-library/user-event";
import { api, session } from "../api/client";
import type { User } from "../api/types";
import { AuthProvider, takeReturnParams } from "../auth/AuthContext";
import { NoticeBanner } from "../components/NoticeBanner";
import { holdResetToken, resetToken, takeLinking } from "../lib/returns";
import { describeClient } from "../lib/clients";
import ResetPassword from "../pages/ResetPassword";
import Settings from "../pages/Settings";
import { ConnectionsSection } from "../pages/settings/ConnectionsSection";
import { DeleteSection } from "../pages/settings/DeleteSection";
import { PasswordSection } from "../pages/settings/PasswordSection";
import { ProfileForm } from "../pages/settings/ProfileForm";
import { SessionsSection } from "../pages/settings/SessionsSection";
import { TokensSection } from "../pages/settings/TokensSection";
import { renderApp, stubApi } from "./render";

const userEvent = userEventLib.setup({ delay: null });
const TOKENS = { access_token: "acc", refresh_token: "ref", token_type: "Bearer", expires_in: 900 };
const RENEWED = { ...TOKENS, access_token: "acc2", refresh_token: "ref2" };
const EMAIL = "ada@example.com";
const refusal = (status: number, code: string, message: string) => (): [number, unknown] => [status, { error: { code, message } }];
const WITH_PASSWORD = { connections: [], has_password: true };
const USER: User = {
  user_id: "u1",
  tenant_id: "t1",
  email: EMAIL,
  first_name: "Ada",
  last_name: "Lovelace",
  created_at: "2026-01-01T00:00:00Z",
  email_verified: true,
};

// Signed in, without a kept refresh token: the provider's boot does not renew on its own.
beforeEach(() => {
  session.keep(TOKENS);
  sessionStorage.removeItem("coditect_refresh");
});
afterEach(() => {
  session.clear();
  vi.unstubAllGlobals();
});

describe("changing the password", () => {
  it("ticks the rules, puts each refusal on its field, then renews this session", async () => {
    let attempt = 0;
    const calls = stubApi({
      "GET /api/auth/connections": () => [200, WITH_PASSWORD],
      "POST /api/auth/password/change": () => {
        attempt += 1;
        if (attempt === 1) return refusal(403, "wrong_password", "the password is not correct")();
        if (attempt === 2) return refusal(422, "password_contains_email", "password: must not contain the email address's local part")();
        return [204, null];
      },
      "POST /api/auth/refresh": () => [200, RENEWED],
    });
    renderApp(<PasswordSection email={EMAIL} emailVerified />, { path: "/settings" });
    const current = await screen.findByLabelText(/^Current password/);
    sessionStorage.setItem("coditect_refresh", "ref");
    const next = screen.getByLabelText(/^New password/);
    await userEvent.type(next, "short");
    expect(document.querySelector('[data-rule="length"]')).toHaveAttribute("data-met", "false");
    await userEvent.click(screen.getByRole("button", { name: "Change password" }));
    expect(await screen.findByText("Enter your current password.")).toBeInTheDocument();
    expect(calls.filter((c) => c.path === "/api/auth/password/change")).toHaveLength(0);

    await userEvent.type(current, "old password!");
    await userEvent.clear(next);
    await userEvent.type(next, "a much longer secret");
    expect(document.querySelector('[data-rule="length"]')).toHaveAttribute("data-met", "true");
    await userEvent.click(screen.getByRole("button", { name: "Change password" }));
    expect(await screen.findByText("That is not your current password.")).toBeInTheDocument();
    expect(current).toHaveAttribute("aria-invalid", "true");
    expect(next).not.toHaveAttribute("aria-invalid");

    await userEvent.click(screen.getByRole("button", { name: "Change password" }));
    expect(await screen.findByText("Must not contain the email address's local part.")).toBeInTheDocument();
    expect(next).toHaveAttribute("aria-invalid", "true");
    expect(current).not.toHaveAttribute("aria-invalid");

    await userEvent.click(screen.getByRole("button", { name: "Change password" }));
    expect(await screen.findByTestId("password-changed")).toHaveTextContent("Every other device");
    const change = calls.filter((c) => c.path === "/api/auth/password/change").at(-1)!;
    expect(change.body).toEqual({ current_password: "old password!", new_password: "a much longer secret" });
    expect(change.headers["Authorization"]).toBe("Bearer acc");
    // The session's own refresh family is kept: a fresh access token follows the change.
    await waitFor(() => expect(session.accessToken).toBe("acc2"));
    expect(calls.find((c) => c.path === "/api/auth/refresh")!.body).toEqual({ refresh_token: "ref" });
    expect(current).toHaveValue("");
  });

  it("offers to set a first password on an account without one", async () => {
    const calls = stubApi({
      "GET /api/auth/connections": () => [200, { connections: [{ provider: "google", subject: "g1", email: EMAIL, linked_at: "2025-01-01T00:00:00Z" }], has_password: false }],
      "POST /api/auth/password/set": () => [204, null],
      "POST /api/auth/refresh": () => [200, RENEWED],
    });
    renderApp(<PasswordSection email={EMAIL} emailVerified />, { path: "/settings" });
    await userEvent.type(await screen.findByLabelText(/^New password/), "a much longer secret");
    expect(screen.queryByLabelText(/^Current password/)).toBeNull();
    await userEvent.click(screen.getByRole("button", { name: "Set password" }));
    await waitFor(() => expect(calls.some((c) => c.path === "/api/auth/password/set")).toBe(true));
    expect(calls.find((c) => c.path === "/api/auth/password/set")!.body).toEqual({ new_password: "a much longer secret" });
  });
});

describe("personal API tokens", () => {
  it("shows a new token's secret once, refuses a taken name on its field, revokes after confirmation", async () => {
    const token = { token_id: "t1", name: "ci", scope: "read", prefix: "cdt_pat_abcd", created_at: "2025-03-01T00:00:00Z", expires_at: null, last_used_at: null };
    let listed: unknown[] = [];
    const calls = stubApi({
      "GET /api/auth/tokens": () => [200, { tokens: listed }],
      "POST /api/auth/tokens": (body) => {
        if ((body as { name: string }).name === "taken") return refusal(409, "name_taken", "you already have a token named 'taken'")();
        listed = [token];
        return [201, { token, secret: "cdt_pat_abcdSECRET" }];
      },
      "DELETE /api/auth/tokens/t1": () => {
        listed = [];
        return [204, null];
      },
    });
    renderApp(<TokensSection />, { path: "/settings" });
    expect(await screen.findByTestId("no-tokens")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Create token" }));
    expect(await screen.findByText(/Give the token a name/)).toBeInTheDocument();

    await userEvent.type(screen.getByLabelText(/^Token name/), "taken");
    await userEvent.click(screen.getByRole("button", { name: "Create token" }));
    expect(await screen.findByText("You already have a token named 'taken'.")).toBeInTheDocument();
    expect(screen.getByLabelText(/^Token name/)).toHaveAttribute("aria-invalid", "true");

    await userEvent.clear(screen.getByLabelText(/^Token name/));
    await userEvent.type(screen.getByLabelText(/^Token name/), "ci");
    await userEvent.selectOptions(screen.getByLabelText("Expires after"), "never");
    await userEvent.click(screen.getByRole("button", { name: "Create token" }));
    expect(await screen.findByTestId("token-secret")).toHaveValue("cdt_pat_abcdSECRET");
    expect(calls.find((c) => c.method === "POST" && c.body && (c.body as { name: string }).name === "ci")!.body).toEqual({
      name: "ci",
      scope: "read",
      expires_in_days: null,
    });
    const writeText = vi.fn(async () => undefined);
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    await userEvent.click(screen.getByRole("button", { name: "Copy token" }));
    expect(writeText).toHaveBeenCalledWith("cdt_pat_abcdSECRET");
    expect(await screen.findByText("Copied to the clipboard.")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Done" }));
    expect(screen.queryByTestId("token-secret")).toBeNull();
    expect(document.body).not.toHaveTextContent("SECRET");
    expect(await screen.findByTestId("token")).toHaveTextContent("never expires");

    await userEvent.click(screen.getByRole("button", { name: "Revoke ci" }));
    const dialog = await screen.findByRole("alertdialog");
    expect(dialog).toHaveTextContent("“ci”");
    await userEvent.click(within(dialog).getByRole("button", { name: "Revoke token" }));
    expect(await screen.findByTestId("no-tokens")).toBeInTheDocument();
    expect(calls.some((c) => c.method === "DELETE" && c.path === "/api/auth/tokens/t1")).toBe(true);
  });
});

describe("connected accounts", () => {
  it("shows the server's refusal to unlink the last sign-in method, and starts a link", async () => {
    const calls = stubApi({
      "GET /api/auth/connections": () => [200, { connections: [{ provider: "google", subject: "g-1", email: EMAIL, linked_at: "2025-01-01T00:00:00Z" }], has_password: false }],
      "DELETE /api/auth/connections/google/g-1": refusal(409, "last_sign_in_method", "this is the account's only way to sign in; set a password first"),
      "POST /api/auth/connections/github/link": () => [200, { url: "https://github.example/authorize?state=s" }],
    });
    const go = vi.fn();
    renderApp(<ConnectionsSection go={go} />, { path: "/settings" });
    await userEvent.click(await screen.findByRole("button", { name: `Disconnect Google (${EMAIL})` }));
    expect(await screen.findByTestId("connections-error")).toHaveTextContent("This is the account's only way to sign in; set a password first.");
    await userEvent.click(screen.getByRole("button", { name: "Connect GitHub" }));
    await waitFor(() => expect(go).toHaveBeenCalledWith("https://github.example/authorize?state=s"));
    expect(calls.find((c) => c.path.endsWith("/link"))!.headers["Authorization"]).toBe("Bearer acc");
    expect(takeLinking()).toBe("github");
  });

  it("a provider's return from a link goes back to Settings with a message", async () => {
    session.clear();
    sessionStorage.setItem("coditect_linking", "github");
    sessionStorage.setItem("coditect_refresh", "ref");
    window.history.replaceState(null, "", "/?oauth_linked=github&provider=github");
    stubApi({
      "POST /api/auth/refresh": () => [200, RENEWED],
      "GET /api/auth/me": () => [200, { user: { email: EMAIL, email_verified: true, created_at: "" }, plan: "free", license: {}, limits: {}, usage: { period: "2025-03" } }],
    });
    const go = vi.fn();
    render(
      <ChakraProvider>
        <QueryClientProvider client={new QueryClient()}>
          <AuthProvider go={go}>
            <NoticeBanner />
          </AuthProvider>
        </QueryClientProvider>
      </ChakraProvider>,
    );
    await waitFor(() => expect(go).toHaveBeenCalledWith("/settings"));
    expect(screen.getByTestId("notice")).toHaveTextContent("GitHub is now connected to your account.");
    expect(window.location.search).toBe("");
  });
});

describe("sessions", () => {
  it("lists sessions, ends another one, and signs out everywhere after confirmation", async () => {
    let sessions = [
      { session_id: "f1", method: "password", created_at: "2025-03-01T10:00:00Z", last_used_at: "2025-03-02T10:00:00Z", client: "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0", client_ip: "127.0.0.1", expires_at: "", current: true },
      { session_id: "f2", method: "google", created_at: "2025-03-01T09:00:00Z", last_used_at: "2025-03-01T09:00:00Z", client: "Mozilla/5.0 (iPhone) Safari/604.1", client_ip: "10.0.0.2", expires_at: "", current: false },
    ];
    const calls = stubApi({
      "GET /api/auth/sessions": () => [200, { sessions }],
      "DELETE /api/auth/sessions/f2": () => {
        sessions = sessions.slice(0, 1);
        return [204, null];
      },
      "POST /api/auth/sessions/revoke-all": () => [204, null],
    });
    renderApp(<SessionsSection />, { path: "/settings" });
    const items = await screen.findAllByTestId("session");
    expect(items[0]).toHaveTextContent("Chrome on Linux");
    expect(items[0]).toHaveTextContent("this browser");
    expect(items[1]).toHaveTextContent("Safari on iOS");
    expect(items[1]).toHaveTextContent("with Google from 10.0.0.2");
    await userEvent.click(within(items[1]).getByRole("button", { name: /^Sign out/ }));
    await waitFor(() => expect(screen.getAllByTestId("session")).toHaveLength(1));

    await userEvent.click(screen.getByRole("button", { name: "Sign out everywhere" }));
    const dialog = await screen.findByRole("alertdialog");
    await userEvent.click(within(dialog).getByRole("button", { name: "Sign out everywhere" }));
    expect(await screen.findByText("signin page")).toBeInTheDocument();
    expect(session.signedIn).toBe(false);
    expect(sessionStorage.getItem("coditect_refresh")).toBeNull();
    expect(calls.some((c) => c.path === "/api/auth/sessions/revoke-all")).toBe(true);
  });

  it("renews an expired access token for the account's own endpoints", async () => {
    let first = true;
    const calls = stubApi({
      "GET /api/auth/sessions": () => {
        if (first) {
          first = false;
          return refusal(401, "token_expired", "token expired")();
        }
        return [200, { sessions: [] }];
      },
      "POST /api/auth/refresh": () => [200, RENEWED],
    });
    sessionStorage.setItem("coditect_refresh", "ref");
    await api.get("/api/auth/sessions");
    expect(calls.map((c) => c.path)).toEqual(["/api/auth/sessions", "/api/auth/refresh", "/api/auth/sessions"]);
    expect(calls[2].headers["Authorization"]).toBe("Bearer acc2");
  });

  it("names devices from their User-Agent", () => {
    expect(describeClient("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit Version/17 Safari/605")).toBe("Safari on macOS");
    expect(describeClient("python-httpx/0.27")).toBe("a Python script");
    expect(describeClient("")).toBe("Unknown device");
  });
});

describe("deleting the account", () => {
  it("names the account, needs the password, then ends the session", async () => {
    let attempt = 0;
    const calls = stubApi({
      "GET /api/auth/connections": () => [200, WITH_PASSWORD],
      "POST /api/auth/delete-account": () => (++attempt === 1 ? refusal(403, "wrong_password", "the password is not correct")() : [204, null]),
    });
    renderApp(<DeleteSection email={EMAIL} />, { path: "/settings" });
    await userEvent.click(screen.getByRole("button", { name: "Delete account…" }));
    const dialog = await screen.findByRole("dialog", { name: `Delete the account ${EMAIL}?` });
    await userEvent.click(within(dialog).getByRole("button", { name: "Delete account" }));
    expect(await within(dialog).findByText("Enter your password to confirm.")).toBeInTheDocument();
    await userEvent.type(within(dialog).getByLabelText(/^Your password/), "wrong one!");
    await userEvent.click(within(dialog).getByRole("button", { name: "Delete account" }));
    expect(await within(dialog).findByText("That is not your password.")).toBeInTheDocument();
    expect(session.signedIn).toBe(true);
    await userEvent.click(within(dialog).getByRole("button", { name: "Delete account" }));
    await waitFor(() => expect(session.signedIn).toBe(false));
    expect(calls.filter((c) => c.path === "/api/auth/delete-account").at(-1)!.body).toEqual({ password: "wrong one!" });
  });

  it("asks a provider-only account to sign in again when its sign-in is not recent", async () => {
    const calls = stubApi({
      "GET /api/auth/connections": () => [200, { connections: [], has_password: false }],
      "POST /api/auth/delete-account": refusal(403, "reauthentication_required", "sign in again (less than 5 minutes ago) to delete the account"),
    });
    renderApp(<DeleteSection email={EMAIL} />, { path: "/settings" });
    await userEvent.click(screen.getByRole("button", { name: "Delete account…" }));
    const dialog = await screen.findByRole("dialog");
    await within(dialog).findByText(/within 5 minutes of signing in/);
    await userEvent.click(within(dialog).getByRole("button", { name: "Delete account" }));
    expect(await within(dialog).findByText("Sign in again (less than 5 minutes ago) to delete the account.")).toBeInTheDocument();
    expect(within(dialog).getByRole("button", { name: "Sign in again" })).toBeInTheDocument();
    expect(calls.find((c) => c.path === "/api/auth/delete-account")!.body).toEqual({});
  });
});

describe("password reset", () => {
  it("takes the mailed token out of the address bar and holds it in memory only", () => {
    window.history.replaceState(null, "", "/#reset_password=secret-token");
    expect(takeReturnParams().resetToken).toBe("secret-token");
    expect(window.location.href).not.toContain("secret-token");
  });

  it("asks for a link by email", async () => {
    const calls = stubApi({ "POST /api/auth/password/reset": () => [202, { status: "queued" }] });
    session.clear();
    renderApp(<ResetPassword />, { path: "/reset-password" });
    await userEvent.type(screen.getByLabelText(/^Email/), EMAIL);
    await userEvent.click(screen.getByRole("button", { name: "Send reset link" }));
    expect(await screen.findByTestId("reset-sent")).toHaveTextContent(`If ${EMAIL} has a Coditect account`);
    expect(calls[0].body).toEqual({ email: EMAIL });
  });

  it("sets the new password with the held token, then sends the person to sign in", async () => {
    const calls = stubApi({ "POST /api/auth/password/reset/confirm": () => [204, null] });
    holdResetToken("held-token");
    session.clear();
    renderApp(<ResetPassword />, { path: "/reset-password" });
    await userEvent.type(screen.getByLabelText(/^New password/), "a much longer secret");
    await userEvent.click(screen.getByRole("button", { name: "Set new password" }));
    expect(await screen.findByText("signin page")).toBeInTheDocument();
    expect(calls[0].body).toEqual({ token: "held-token", new_password: "a much longer secret" });
    expect(resetToken()).toBeNull();
    expect(session.signedIn).toBe(false);
  });

  it("says when the link is used up and offers a new one", async () => {
    stubApi({ "POST /api/auth/password/reset/confirm": refusal(400, "invalid_token", "the reset link is not valid or was used") });
    holdResetToken("used-token");
    renderApp(<ResetPassword />, { path: "/reset-password" });
    await userEvent.type(screen.getByLabelText(/^New password/), "a much longer secret");
    await userEvent.click(screen.getByRole("button", { name: "Set new password" }));
    expect(await screen.findByText(/not valid or was already used/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Ask for a new link" }));
    expect(screen.getByRole("button", { name: "Send reset link" })).toBeInTheDocument();
  });
});

describe("settings page", () => {
  it("shows every section of the account", async () => {
    stubApi({
      "GET /api/auth/me": () => [200, { user: { email: EMAIL, email_verified: true, first_name: "Ada", last_name: null, created_at: "2025-01-01T00:00:00Z" }, plan: "free", license: {}, limits: {}, usage: { period: "2025-03" } }],
      "GET /api/auth/connections": () => [200, WITH_PASSWORD],
      "GET /api/auth/sessions": () => [200, { sessions: [] }],
      "GET /api/auth/tokens": () => [200, { tokens: [] }],
    });
    renderApp(<Settings />, { path: "/settings" });
    expect(await screen.findByTestId("settings-email")).toHaveTextContent(EMAIL);
    for (const name of ["Profile", "Password", "Sign-in methods", "Signed-in devices", "Personal API tokens", "Your data and account"]) {
      expect(screen.getByRole("heading", { name, level: 2 })).toBeInTheDocument();
    }
    expect(await screen.findByLabelText(/^Current password/)).toBeInTheDocument();
  });
});

describe("the profile's name", () => {
  it("saves both names, shows the server's refusal on the form, and says when it is saved", async () => {
    let attempt = 0;
    const calls = stubApi({
      "PATCH /api/auth/me": () => {
        attempt += 1;
        if (attempt === 1) return refusal(422, "validation_error", "first_name: String should have at most 100 characters")();
        return [200, { user: { ...USER, first_name: "Augusta Ada", last_name: "" } }];
      },
    });
    renderApp(<ProfileForm user={USER} />, { path: "/settings" });
    const first = await screen.findByLabelText("First name");
    expect(first).toHaveValue("Ada");
    expect(screen.getByLabelText("Last name")).toHaveValue("Lovelace");
    await userEvent.clear(first);
    await userEvent.type(first, "Augusta Ada");
    await userEvent.clear(screen.getByLabelText("Last name"));
    await userEvent.click(screen.getByRole("button", { name: "Save name" }));
    expect(await screen.findByText("String should have at most 100 characters.")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Save name" }));
    expect(await screen.findByText("Name saved.")).toBeInTheDocument();
    const sent = calls.filter((c) => c.path === "/api/auth/me" && c.method === "PATCH");
    expect(sent).toHaveLength(2);
    expect(sent[1].body).toEqual({ first_name: "Augusta Ada", last_name: "" });
  });
});
