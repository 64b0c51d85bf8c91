// Mailed links and provider returns, as the app keeps them between the address bar and the page
// that uses them. The reset token is held in memory only: never in storage, history or a URL.
let heldResetToken: string | null = null;

export function holdResetToken(token: string): void {
  heldResetToken = token;
}

export function resetToken(): string | null {
  return heldResetToken;
}

export function forgetResetToken(): void {
  heldResetToken = null;
}

// A provider link started in Settings; the provider's return then goes back there.
const LINKING_KEY = "coditect_linking";

export function rememberLinking(provider: string): void {
  sessionStorage.setItem(LINKING_KEY, provider);
}

export function takeLinking(): string | null {
  const provider = sessionStorage.getItem(LINKING_KEY);
  sessionStorage.removeItem(LINKING_KEY);
  return provider;
}

export const PROVIDER_NAMES: Record<string, string> = { google: "Google", github: "GitHub" };

const LINK_ERRORS: Record<string, string> = {
  identity_in_use: "that account already signs in to another Coditect account",
  access_denied: "you cancelled on the provider's page",
  state_expired: "it took too long; try again",
  email_not_verified: "the provider has not verified that account's email",
};

export function linkErrorText(provider: string, code: string): string {
  const name = PROVIDER_NAMES[provider] ?? provider;
  return `${name} was not connected: ${LINK_ERRORS[code] ?? `the provider's answer could not be used (${code})`}.`;
}
