// The sign-up password rules, as the server checks them (shared/passwords.py), shown while typing.
export const MIN_LENGTH = 10;
export const MAX_LENGTH = 1024;

export interface Rule {
  id: string;
  label: string;
  met: boolean;
}

export function passwordRules(password: string, email: string): Rule[] {
  const local = email.split("@", 1)[0].toLowerCase();
  return [
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
}

export function passwordOk(password: string, email: string): boolean {
  return passwordRules(password, email).every((rule) => rule.met);
}
