// Polling that backs off: 1 s for the first polls of a change, doubling to at most 10 s.
export const FIRST_DELAY_MS = 1_000;
export const MAX_DELAY_MS = 10_000;
const FAST_POLLS = 5;

export function nextPollDelay(pollsSoFar: number): number {
  if (pollsSoFar < FAST_POLLS) return FIRST_DELAY_MS;
  return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (pollsSoFar - FAST_POLLS + 1));
}
