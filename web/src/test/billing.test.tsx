import { screen } from "@testing-library/react";
import Billing from "../pages/Billing";
import Usage from "../pages/Usage";
import { renderApp, stubApi } from "./render";

const LIMITS = { running_workspaces: 3, storage_gb: 10, workspace_hours_per_month: 100, llm_requests_per_month: 10000 };
const ME = {
  user: { email: "ada@example.com", email_verified: true },
  plan: "starter",
  license: { plan: "starter", status: "past_due", updated_at: null },
  limits: LIMITS,
  usage: { period: "2026-11", workspace_seconds: 5400 },
};
const PLANS = {
  currency: "usd",
  plans: [
    { name: "free", price_usd_per_month: 0, limits: { ...LIMITS, running_workspaces: 1 } },
    { name: "starter", price_usd_per_month: 29, limits: LIMITS },
    { name: "pro", price_usd_per_month: 99, limits: { ...LIMITS, running_workspaces: 10 } },
  ],
};

afterEach(() => vi.unstubAllGlobals());

describe("billing page", () => {
  it("warns with the grace deadline, lists invoices and the next one, and sends plan changes to the portal", async () => {
    stubApi({
      "GET /api/auth/me": () => [200, ME],
      "GET /api/plans": () => [200, PLANS],
      "GET /api/billing/invoices": () => [
        200,
        {
          subscription: { plan: "starter", status: "past_due", grace_until: "2026-12-06T12:00:00Z", cancel_at_period_end: false },
          invoices: [
            { id: "in_2", number: null, status: "open", currency: "usd", amount_due: 29000, amount_paid: 0, created: "2026-11-28T12:00:00Z", period_start: null, period_end: null, hosted_invoice_url: null },
            { id: "in_1", number: "A-1", status: "paid", currency: "usd", amount_due: 2900, amount_paid: 2900, created: "2026-10-28T12:00:00Z", period_start: null, period_end: null, hosted_invoice_url: null },
          ],
          next_invoice: { date: "2026-12-28T12:00:00Z", amount_due: 2900, currency: "usd", plan: "starter" },
        },
      ],
    });
    renderApp(<Billing />, { path: "/billing-page" });
    expect(await screen.findByTestId("grace-banner")).toHaveTextContent("Your last payment failed");
    expect(screen.getByTestId("grace-banner")).toHaveTextContent("Dec 6, 2026");
    expect(screen.getByTestId("billing-status")).toHaveTextContent("Payment failed");
    expect(screen.getByTestId("next-invoice")).toHaveTextContent("$29.00 on Dec 28, 2026");
    const table = screen.getByTestId("invoices");
    expect(table).toHaveTextContent("$290.00");
    expect(table).toHaveTextContent("A-1");
    expect(await screen.findByRole("button", { name: "Switch to Pro in the portal" })).toBeEnabled();
    expect(screen.getByRole("button", { name: "Your current plan" })).toBeDisabled();
  });

  it("a free account sees no invoices and upgrades through Checkout", async () => {
    stubApi({
      "GET /api/auth/me": () => [200, { ...ME, plan: "free", license: { plan: "free", status: "active", updated_at: null } }],
      "GET /api/plans": () => [200, PLANS],
      "GET /api/billing/invoices": () => [
        200,
        { subscription: { plan: "free", status: "active", grace_until: null, cancel_at_period_end: false }, invoices: [], next_invoice: null },
      ],
    });
    renderApp(<Billing />, { path: "/billing-page" });
    expect(await screen.findByTestId("no-invoices")).toHaveTextContent("No invoices yet.");
    expect(screen.queryByTestId("grace-banner")).toBeNull();
    expect(await screen.findByRole("button", { name: "Upgrade to Pro" })).toBeEnabled();
    expect(screen.queryByRole("button", { name: "Manage card and subscription" })).toBeNull();
  });
});

describe("usage page", () => {
  it("shows what is measured against the plan and no number for what is not", async () => {
    stubApi({
      "GET /api/llm/usage": () => [503, { error: { code: "unavailable", message: "try later" } }],
      "GET /api/auth/me": () => [200, ME],
      "GET /api/workspaces": () => [
        200,
        { workspaces: [{ workspace_id: "a", name: "a", status: "ready", desired_state: "running", url: null, created_at: "", last_active: null, disk_gb: 3, progress: [] }] },
      ],
    });
    renderApp(<Usage />, { path: "/usage-page" });
    expect(await screen.findByTestId("usage-hours-value")).toHaveTextContent("1.5 of 100 hours");
    expect(screen.getByTestId("usage-running-value")).toHaveTextContent("1 of 3 running");
    expect(screen.getByTestId("usage-storage-value")).toHaveTextContent("3 of 10 GB");
    expect(await screen.findByText(/The count could not be loaded right now/)).toBeInTheDocument();
    expect(screen.getByTestId("usage-llm")).toHaveTextContent("Your plan includes 10,000 requests a month.");
    expect(screen.getByTestId("usage-llm")).not.toHaveTextContent(/\d+ of /);
  });

  it("shows this month's LLM requests from the gateway's report against the plan's limit", async () => {
    stubApi({
      "GET /api/auth/me": () => [200, { ...ME, usage: { period: "2025-03", llm_requests: 7 } }],
      "GET /api/workspaces": () => [200, { workspaces: [] }],
      "GET /api/llm/usage": () => [
        200,
        {
          period: "2025-03",
          plan: "free",
          limit: 10000,
          used: 42,
          remaining: 9958,
          resets_at: "2025-04-01T00:00:00Z",
          by_model: [{ model: "gpt-4o-mini", requests: 42, input_tokens: 1200, output_tokens: 3400, cost_usd: 0.01 }],
          by_day: [],
          rows: [],
        },
      ],
    });
    renderApp(<Usage />, { path: "/usage-page" });
    expect(await screen.findByTestId("usage-llm-value")).toHaveTextContent("42 of 10,000 requests");
    expect(screen.getByTestId("usage-llm")).toHaveTextContent("9,958 left");
    const table = screen.getByTestId("llm-by-model");
    expect(table).toHaveTextContent("gpt-4o-mini");
    expect(table).toHaveTextContent("3,400");
  });

  it("falls back to the account's own counter when the report is unavailable", async () => {
    stubApi({
      "GET /api/auth/me": () => [200, { ...ME, usage: { period: "2025-03", llm_requests: 7 } }],
      "GET /api/workspaces": () => [200, { workspaces: [] }],
      "GET /api/llm/usage": () => [500, { error: { code: "internal", message: "boom" } }],
    });
    renderApp(<Usage />, { path: "/usage-page" });
    expect(await screen.findByTestId("usage-llm-value")).toHaveTextContent("7 of 10,000 requests");
  });
});
