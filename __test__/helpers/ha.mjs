// The high-availability tests' app processes (helpers/ha-app.cjs), and the tools they need.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { once } from 'node:events';
import { onCI } from './shared.mjs';

const require = createRequire(import.meta.url);
const { redisAvailable } = require('../../scripts/redis.js');
const { kamailioAvailable } = require('../../scripts/kamailio.js');
const APP = new URL('./ha-app.cjs', import.meta.url).pathname;

/** True when the tools are installed; else the test skips with the reason (fails on CI). */
export function needTools(t, { kamailio = false } = {}) {
  const missing = [!redisAvailable() && 'redis-server', kamailio && !kamailioAvailable() && 'kamailio'].filter(Boolean);
  if (!missing.length) return true;
  if (onCI()) throw new Error(`${missing.join(' and ')} not installed (.ci/run installs them)`);
  t.skip(`${missing.join(' and ')} not installed (Debian packages redis-server, kamailio)`);
  return false;
}

/**
 * Starts helpers/ha-app.cjs with `args`; resolves once it is connected. Its JSON lines collect
 * in `events`; `until(pred, ms)` waits for them to satisfy `pred`; `count(event)`; `kill()`
 * (SIGKILL, resolved once it is gone). Killed at the end of test `t` in any case.
 */
export async function startHaApp(t, args) {
  const child = spawn(process.execPath, [APP, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const app = { child, pid: child.pid, events: [], waiters: new Set() };
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) !== -1) {
      app.events.push(JSON.parse(buf.slice(0, nl)));
      buf = buf.slice(nl + 1);
      app.waiters.forEach((w) => w());
    }
  });
  app.until = (pred, ms = 10000) => new Promise((resolve, reject) => {
    const check = () => {
      if (!pred(app.events)) return;
      app.waiters.delete(check);
      clearTimeout(timer);
      resolve(app.events);
    };
    const timer = setTimeout(() => { app.waiters.delete(check); reject(new Error(`app ${app.pid}: condition not met; events: ${JSON.stringify(app.events.slice(-5))}`)); }, ms);
    app.waiters.add(check);
    check();
  });
  app.count = (event) => app.events.filter((e) => e.event === event).length;
  app.kill = async () => {
    const gone = once(child, 'exit');
    child.kill('SIGKILL');
    await gone;
  };
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  await app.until((ev) => ev.some((e) => 'ready' in e));
  const ready = app.events.find((e) => 'ready' in e);
  if (ready.error) throw new Error(`ha-app ${args.join(' ')}: ${ready.error}`);
  return app;
}
