// The sign-up password rules, as the server checks them (shared/passwords.py), shown while typing.
export const MIN_LENGTH = 10;
export const MAX_LENGTH = 1024;

export interface Rule {
  id: string;
  label: string;
  met: boolean;
}

// `email` null: the address is not known here (a reset link); the server still checks it.
export function passwordRules(password: string, email: string | null): Rule[] {
  const local = (email ?? "").split("@", 1)[0].toLowerCase();
  const rules = [
    {
      id: "length",
      label: `At least ${MIN_LENGTH} characters`,
      met: password.length >= MIN_LENGTH && password.length <= MAX_LENGTH,
    },
    {
      id: "email",
      label: "Does not contain the part of your email before the @",
      met: local.length < 3 || !password.toLowerCase().includes(local),
    },
  ];
  return email === null ? rules.filter((rule) => rule.id !== "email") : rules;
}

export function passwordOk(password: string, email: string | null): boolean {
  return passwordRules(password, email).every((rule) => rule.met);
}
