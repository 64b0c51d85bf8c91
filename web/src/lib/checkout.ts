// Paid plans go through Stripe Checkout in this tab; what we wait for when it returns is kept in
// sessionStorage (the tab's own), so the dashboard can say "activating…" until the webhook lands.
import { api } from "../api/client";
import type { PlanName } from "../api/types";

const ACTIVATING = "coditect_activating_plan";
const CHECKOUT_AFTER_SIGN_IN = "coditect_checkout_plan";

export function activatingPlan(): PlanName | null {
  return sessionStorage.getItem(ACTIVATING) as PlanName | null;
}

export function clearActivating(): void {
  sessionStorage.removeItem(ACTIVATING);
}

export async function goToCheckout(plan: PlanName, go: (url: string) => void = (url) => window.location.assign(url)) {
  const { url } = await api.post<{ url: string }>("/api/billing/checkout", { plan });
  sessionStorage.setItem(ACTIVATING, plan);
  go(url);
}

export async function goToPortal(go: (url: string) => void = (url) => window.location.assign(url)) {
  const { url } = await api.post<{ url: string }>("/api/billing/portal", {});
  go(url);
}

// A paid plan chosen before "Sign in with Google/GitHub": Checkout follows the sign-in.
export function rememberCheckoutAfterSignIn(plan: PlanName | null): void {
  if (plan && plan !== "free") sessionStorage.setItem(CHECKOUT_AFTER_SIGN_IN, plan);
  else sessionStorage.removeItem(CHECKOUT_AFTER_SIGN_IN);
}

export function takeCheckoutAfterSignIn(): PlanName | null {
  const plan = sessionStorage.getItem(CHECKOUT_AFTER_SIGN_IN) as PlanName | null;
  sessionStorage.removeItem(CHECKOUT_AFTER_SIGN_IN);
  return plan;
}
