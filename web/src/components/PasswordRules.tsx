import { FormControl, FormErrorMessage, FormLabel, Input, List, ListItem, Text } from "@chakra-ui/react";
import { passwordRules } from "../lib/password";

// The rules under the password field, ticked as they are met (announced politely).
export function PasswordRules({ password, email, id }: { password: string; email: string | null; id: string }) {
  const rules = passwordRules(password, email);
  return (
    <List id={id} mt={2} spacing={1} fontSize="sm" aria-live="polite">
      {rules.map((rule) => (
        <ListItem key={rule.id} color={rule.met ? "green.700" : "gray.700"} data-rule={rule.id} data-met={rule.met}>
          <Text as="span" aria-hidden="true">
            {rule.met ? "✓ " : "○ "}
          </Text>
          {rule.label}
          <Text as="span" position="absolute" w="1px" h="1px" overflow="hidden" clipPath="inset(50%)">
            {rule.met ? " (met)" : " (not met yet)"}
          </Text>
        </ListItem>
      ))}
    </List>
  );
}

// A required "New password" field with its error and the rules ticked under it (password change,
// set and reset).
export function NewPasswordField({
  id,
  value,
  onChange,
  error,
  email,
}: {
  id: string;
  value: string;
  onChange: (value: string) => void;
  error?: string | null;
  email: string | null;
}) {
  return (
    <FormControl isRequired isInvalid={Boolean(error)}>
      <FormLabel>New password</FormLabel>
      <Input name="new_password" type="password" autoComplete="new-password" value={value} onChange={(e) => onChange(e.target.value)} aria-describedby={id} />
      <FormErrorMessage>{error}</FormErrorMessage>
      <PasswordRules id={id} password={value} email={email} />
    </FormControl>
  );
}
