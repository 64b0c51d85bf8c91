import { Alert, AlertIcon, Button, Flex, FormControl, FormErrorMessage, FormLabel, Input, Stack, Text } from "@chakra-ui/react";
import { useState, type FormEvent } from "react";
import { useUpdateProfile } from "../../api/account";
import type { User } from "../../api/types";
import { problem } from "./common";

// The profile's names: both sent on save; an empty field clears that name.
export function ProfileForm({ user }: { user: User }) {
  const update = useUpdateProfile();
  const [first, setFirst] = useState(user.first_name ?? "");
  const [last, setLast] = useState(user.last_name ?? "");
  const [saved, setSaved] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setSaved(false);
    try {
      await update.mutateAsync({ first_name: first, last_name: last });
      setSaved(true);
    } catch {
      // shown below from update.error
    }
  }

  return (
    <form onSubmit={submit} aria-label="Your name" noValidate>
      <Stack spacing={3}>
        <Flex gap={3} wrap="wrap">
          <FormControl flex="1 1 12rem" isInvalid={update.isError}>
            <FormLabel htmlFor="profile-first-name">First name</FormLabel>
            <Input id="profile-first-name" value={first} maxLength={100} autoComplete="given-name" onChange={(e) => setFirst(e.target.value)} />
          </FormControl>
          <FormControl flex="1 1 12rem" isInvalid={update.isError}>
            <FormLabel htmlFor="profile-last-name">Last name</FormLabel>
            <Input id="profile-last-name" value={last} maxLength={100} autoComplete="family-name" onChange={(e) => setLast(e.target.value)} />
            {update.isError && <FormErrorMessage>{problem(update.error, "Your name could not be saved.")}</FormErrorMessage>}
          </FormControl>
        </Flex>
        <Flex gap={3} align="center" wrap="wrap">
          <Button type="submit" size="sm" isLoading={update.isPending}>
            Save name
          </Button>
          {saved && (
            <Alert status="success" role="status" width="auto" py={1} borderRadius="md">
              <AlertIcon />
              <Text>Name saved.</Text>
            </Alert>
          )}
        </Flex>
      </Stack>
    </form>
  );
}
