// Locates ../shared test data (never copied into the repo). On a user's clone it may be
// absent: tests then skip with a visible reason, except on CI (any non-empty CI), where they fail.
import { existsSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function sharedDir(sub) {
  const base = process.env.SRF_SHARED_DIR ? resolve(process.env.SRF_SHARED_DIR) : join(repo, '..', 'shared');
  const dir = join(base, sub);
  if (existsSync(dir)) return { dir };
  const reason = `${dir} not found (set SRF_SHARED_DIR to run these tests)`;
  if (onCI()) throw new Error(`shared test data missing: ${reason}`);
  return { skip: reason };
}

/** True on CI: CI set to anything non-empty (CI=true, CI=1, ...), so a CI cannot skip by spelling. */
export function onCI() {
  return Boolean(process.env.CI);
}
