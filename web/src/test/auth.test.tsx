import { screen, waitFor } from "@testing-library/react";
import userEventLib from "@testing-library/user-event";
import { session } from "../api/client";
import { takeReturnParams } from "../auth/AuthContext";
import { passwordRules } from "../lib/password";
import { AuthForm } from "../pages/AuthPage";
import { renderApp, stubApi } from "./render";

// Typing without per-key delays: the behaviour, not the pace.
const userEvent = userEventLib.setup({ delay: null });

const TOKENS = { access_token: "acc", refresh_token: "ref", token_type: "Bearer", expires_in: 900 };

afterEach(() => {
  session.clear();
  vi.unstubAllGlobals();
});

describe("password rules", () => {
  it("follow the server's policy", () => {
    expect(passwordRules("short", "ada@example.com").map((r) => r.met)).toEqual([false, true]);
    expect(passwordRules("ada-is-long-enough", "ada@example.com").map((r) => r.met)).toEqual([true, false]);
    expect(passwordRules("correct horse", "al@example.com").map((r) => r.met)).toEqual([true, true]);
  });
});

describe("sign-up form", () => {
  it("shows the rules ticking as the user types and refuses to submit until they are met", async () => {
    const calls = stubApi({});
    renderApp(<AuthForm mode="signup" />, { path: "/signup" });
    await userEvent.type(screen.getByLabelText(/^Email/), "ada@example.com");
    await userEvent.type(screen.getByLabelText(/^Password/), "ada12");
    const length = document.querySelector('[data-rule="length"]')!;
    const email = document.querySelector('[data-rule="email"]')!;
    expect(length).toHaveAttribute("data-met", "false");
    expect(email).toHaveAttribute("data-met", "false");
    await userEvent.click(screen.getByRole("button", { name: "Create free account" }));
    expect(await screen.findByText("The password does not meet the rules below yet.")).toBeInTheDocument();
    expect(calls.filter((c) => c.path === "/api/auth/register")).toHaveLength(0);
    await userEvent.clear(screen.getByLabelText(/^Password/));
    await userEvent.type(screen.getByLabelText(/^Password/), "correct horse battery");
    expect(length).toHaveAttribute("data-met", "true");
    expect(email).toHaveAttribute("data-met", "true");
  });

  it("puts a server error on the field it names", async () => {
    stubApi({
      "POST /api/auth/register": () => [409, { error: { code: "email_taken", message: "an account with this email already exists" } }],
    });
    renderApp(<AuthForm mode="signup" />, { path: "/signup" });
    await userEvent.type(screen.getByLabelText(/^Email/), "ada@example.com");
    await userEvent.type(screen.getByLabelText(/^Password/), "correct horse battery");
    await userEvent.click(screen.getByRole("button", { name: "Create free account" }));
    const email = screen.getByLabelText(/^Email/);
    await waitFor(() => expect(email).toHaveAttribute("aria-invalid", "true"));
    expect(screen.getByText("an account with this email already exists")).toBeInTheDocument();
    expect(screen.getByLabelText(/^Password/)).not.toHaveAttribute("aria-invalid");
  });

  it("a paid plan signs up free, then goes to Checkout and remembers what it waits for", async () => {
    const calls = stubApi({
      "POST /api/auth/register": () => [201, { ...TOKENS, user: {} }],
      "POST /api/billing/checkout": () => [200, { url: "https://checkout.example/cs_1" }],
    });
    const go = vi.fn();
    renderApp(<AuthForm mode="signup" go={go} />, { path: "/signup?plan=pro" });
    expect(screen.getByRole("radio", { name: "Pro" })).toBeChecked();
    await userEvent.type(screen.getByLabelText(/^Email/), "ada@example.com");
    await userEvent.type(screen.getByLabelText(/^Password/), "correct horse battery");
    await userEvent.click(screen.getByRole("button", { name: "Create account and pay for Pro" }));
    await waitFor(() => expect(go).toHaveBeenCalledWith("https://checkout.example/cs_1"));
    const register = calls.find((c) => c.path === "/api/auth/register")!;
    expect(register.body).toMatchObject({ email: "ada@example.com", plan: "free" });
    const checkout = calls.find((c) => c.path === "/api/billing/checkout")!;
    expect(checkout.body).toEqual({ plan: "pro" });
    expect(checkout.headers["Authorization"]).toBe("Bearer acc");
    expect(sessionStorage.getItem("coditect_activating_plan")).toBe("pro");
    expect(sessionStorage.getItem("coditect_refresh")).toBe("ref");
  });

  it("sign-in answers with the server's message when the credentials are wrong", async () => {
    stubApi({ "POST /api/auth/login": () => [401, { error: { code: "invalid_credentials", message: "email or password is incorrect" } }] });
    renderApp(<AuthForm mode="signin" />, { path: "/signin" });
    await userEvent.type(screen.getByLabelText(/^Email/), "ada@example.com");
    await userEvent.type(screen.getByLabelText(/^Password/), "whatever");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("email or password is incorrect");
  });
});

describe("OAuth return", () => {
  it("takes the code out of the address bar and exchanges it", async () => {
    window.history.replaceState(null, "", "/?oauth_code=one-time&provider=google");
    const calls = stubApi({ "POST /api/auth/oauth/exchange": () => [200, TOKENS] });
    renderApp(<p>home</p>, { path: "/" });
    await waitFor(() => expect(session.signedIn).toBe(true));
    expect(window.location.search).toBe("");
    expect(calls[0]).toMatchObject({ method: "POST", path: "/api/auth/oauth/exchange", body: { code: "one-time" } });
  });

  it("takes a verification token out of the fragment", () => {
    window.history.replaceState(null, "", "/#verify_email=tok");
    expect(takeReturnParams()).toMatchObject({ code: null, error: null, verifyToken: "tok", resetToken: null });
    expect(window.location.href).not.toContain("tok");
  });
});
