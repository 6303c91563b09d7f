// Our MiddlewareStack + endOfStack beside drachtio-srf's own connect-style app, driven with the
// same layers and the same fake requests/responses: the layers that run, their order, the errors
// they see, the responses sent and whether the session is ended must agree. The differences we
// make on purpose are tested at the bottom (INTENDED).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { MiddlewareStack, endOfStack } = require('../../lib/middleware.js');
const createApp = require('drachtio-srf/lib/connect.js');

// Like the real Response: a second final response is ignored.
function fakeRes() {
  return {
    finalResponseSent: false,
    sent: [],
    send(status) {
      if (this.finalResponseSent) return;
      this.sent.push(status);
      if (status >= 200) this.finalResponseSent = true;
    },
  };
}

// Upstream logs unhandled errors with console.error; keep the test output clean.
async function silenced(fn) {
  const orig = console.error;
  console.error = () => {};
  try { return await fn(); } finally { console.error = orig; }
}

const settle = () => new Promise((r) => setImmediate(() => setImmediate(r)));

// `build(use, log)` registers layers through `use(...args)`; each implementation gets its own log.
function theirs(build) {
  const app = createApp();
  const routes = [];
  const ended = [];
  app.client = { route: (m) => routes.push(m), isListening: false };
  app.endSession = (r) => ended.push(r);
  const log = [];
  build((...a) => app.use(...a), log, () => createApp());
  return {
    routes, log,
    async run(method) {
      log.length = 0; ended.length = 0;
      const req = { method, uri: 'sip:x@example.com' };
      const res = fakeRes();
      await silenced(async () => { app.handle(req, res); await settle(); });
      return { log: [...log], sent: res.sent, ended: ended.length };
    },
  };
}

function ours(build) {
  const routes = [];
  const ended = [];
  const stack = new MiddlewareStack({ onRoute: (m) => routes.push(m), logger: () => {} });
  const log = [];
  build((...a) => stack.use(...a), log, () => new MiddlewareStack({ logger: () => {} }));
  return {
    routes, log,
    async run(method) {
      log.length = 0; ended.length = 0;
      const req = { method, uri: 'sip:x@example.com' };
      const res = fakeRes();
      stack.handle(req, res, (err, reason) =>
        endOfStack(err, req, res, { reason, endSession: (r) => ended.push(r), logger: () => {} }));
      await settle();
      return { log: [...log], sent: res.sent, ended: ended.length };
    },
  };
}

async function compare(build, methods) {
  const a = theirs(build);
  const b = ours(build);
  for (const m of methods) {
    const [x, y] = [await a.run(m), await b.run(m)];
    assert.deepEqual(y, x, `request ${m}`);
  }
  assert.deepEqual(b.routes, a.routes, 'routes registered');
}

const ALL = ['INVITE', 'BYE', 'REGISTER', 'INFO', 'SUBSCRIBE', 'OPTIONS', 'MESSAGE', 'NOTIFY',
  'CANCEL', 'UPDATE', 'PRACK', 'ACK', 'REFER', 'PUBLISH'];

const pass = (log, name) => (req, res, next) => { log.push(`${name}:${req.method}`); next(); };

test('ordering and per-method filtering agree', async () => {
  await compare((use, log) => {
    use(pass(log, 'all1'));
    use('invite', pass(log, 'inv1'));
    use('bye', pass(log, 'bye'));
    use('register', [pass(log, 'reg1'), pass(log, 'reg2')]);
    use('invite', pass(log, 'inv2'), pass(log, 'inv3'));
    use(pass(log, 'all2'));
  }, ALL);
});

test('nothing registered: end-of-stack defaults agree (404+endSession, PRACK 200, ACK/UPDATE nothing)', async () => {
  await compare((use, log) => { use('notify', pass(log, 'n')); }, ALL);
});

test('a layer that answers and stops agrees', async () => {
  await compare((use, log) => {
    use(pass(log, 'first'));
    use('invite', (req, res) => { log.push('answer'); res.send(486); });
    use(pass(log, 'never'));
  }, ['INVITE', 'BYE']);
});

test('error propagation through error handlers agrees', async () => {
  await compare((use, log) => {
    use((err, req, res, next) => { log.push('eh-before'); next(err); });
    use('invite', (req, res, next) => { log.push('fail'); next(Object.assign(new Error('busy'), { status: 486 })); });
    use(pass(log, 'skipped'));
    use((err, req, res, next) => { log.push(`eh:${err.status}`); next(err); });
    use(pass(log, 'skipped2'));
  }, ['INVITE', 'BYE', 'PRACK', 'ACK']);
});

test('an unhandled plain error ends in 500 in both', async () => {
  await compare((use, log) => {
    use((req, res, next) => { log.push('fail'); next(new Error('plain')); });
  }, ['INVITE', 'ACK', 'UPDATE', 'PRACK']);
});

test('a string passed to next() is an error in both', async () => {
  await compare((use, log) => {
    use((req, res, next) => next('route'));
    use(pass(log, 'skipped'));
    use((err, req, res, next) => { log.push(`eh:${err}`); next(err); });
  }, ['INVITE']);
});

test('a synchronous throw is an error in both', async () => {
  await compare((use, log) => {
    use('invite', () => { throw Object.assign(new Error('t'), { status: 503 }); });
    use(pass(log, 'skipped'));
    use((err, req, res, next) => { log.push(`eh:${err.message}`); next(err); });
  }, ['INVITE', 'BYE']);
});

test('an error handler recovering with next() agrees', async () => {
  await compare((use, log) => {
    use((req, res, next) => next(new Error('x')));
    use((err, req, res, next) => { log.push('recover'); next(); });
    use(pass(log, 'after'));
    use('invite', (req, res) => res.send(200));
  }, ['INVITE', 'BYE']);
});

test('an error handler that answers agrees', async () => {
  await compare((use, log) => {
    use((req, res, next) => next(new Error('x')));
    use((err, req, res, next) => { log.push('answer'); res.send(480); next(err); });
    use((err, req, res, next) => { log.push('never'); next(err); });
  }, ['INVITE', 'OPTIONS']);
});

test('asynchronous next() agrees', async () => {
  await compare((use, log) => {
    use((req, res, next) => { log.push('a'); setImmediate(next); });
    use(pass(log, 'b'));
  }, ['INVITE', 'PRACK']);
});

test('sub-apps agree', async () => {
  await compare((use, log, makeSub) => {
    const sub = makeSub();
    sub.use('invite', pass(log, 'sub-inv'));
    sub.use(pass(log, 'sub-all'));
    use(pass(log, 'before'));
    use(sub);
    use(pass(log, 'after'));
  }, ['INVITE', 'BYE']);
});

// ---------------------------------------------------------------------------------------------
// INTENDED differences

test('INTENDED: method matching is equality, not prefix', async () => {
  const build = (use, log) => { use('in', pass(log, 'in')); use('invite', (req, res) => res.send(200)); };
  const [x, y] = [await theirs(build).run('INFO'), await ours(build).run('INFO')];
  assert.deepEqual(x, { log: ['in:INFO'], sent: [404], ended: 1 });
  assert.deepEqual(y, { log: [], sent: [404], ended: 1 });
});

test('INTENDED: routes are registered lower-case', () => {
  const build = (use, log) => { use('INVITE', pass(log, 'i')); use('invite', pass(log, 'i2')); };
  assert.deepEqual(theirs(build).routes, ['INVITE', 'invite']);
  assert.deepEqual(ours(build).routes, ['invite']);
});

test('INTENDED: a second next() call is ignored instead of running the stack on', async () => {
  const build = (use, log) => {
    use((req, res, next) => { log.push('a'); next(); next(); });
    use(pass(log, 'b'));
    use(pass(log, 'c'));
  };
  const [x, y] = [await theirs(build).run('INVITE'), await ours(build).run('INVITE')];
  // upstream shares one index: the extra call finds the stack exhausted and runs the end-of-stack again
  assert.deepEqual(x, { log: ['a', 'b:INVITE', 'c:INVITE'], sent: [404], ended: 2 });
  assert.deepEqual(y, { log: ['a', 'b:INVITE', 'c:INVITE'], sent: [404], ended: 1 });
});

test('INTENDED: stopping after a final response does not end the session', async () => {
  const build = (use, log) => { use((req, res, next) => { log.push('a'); res.send(200); next(); }); };
  const [x, y] = [await theirs(build).run('INVITE'), await ours(build).run('INVITE')];
  assert.deepEqual(x, { log: ['a'], sent: [200], ended: 1 });
  assert.deepEqual(y, { log: ['a'], sent: [200], ended: 0 });
});

test('INTENDED: nested arrays are flattened at any depth (upstream flattens one level)', async () => {
  const build = (use, log) => { use([pass(log, 'a'), [pass(log, 'b')]]); use((req, res) => res.send(200)); };
  const [x, y] = [await theirs(build).run('INVITE'), await ours(build).run('INVITE')];
  // upstream keeps the inner array as a layer and fails calling it
  assert.deepEqual(x, { log: ['a:INVITE'], sent: [500], ended: 0 });
  assert.deepEqual(y, { log: ['a:INVITE', 'b:INVITE'], sent: [200], ended: 0 });
});

test('INTENDED: a rejected async handler is an error (upstream ignores the returned promise)', async () => {
  const unhandled = [];
  const onUnhandled = (r) => unhandled.push(r);
  process.on('unhandledRejection', onUnhandled);
  try {
    const build = (use, log) => {
      use(() => {
        const p = (async () => { await null; throw Object.assign(new Error('async'), { status: 503 }); })();
        // keep upstream's run from leaking an unhandledRejection into the test runner
        p.catch(() => {});
        return p;
      });
      use((err, req, res, next) => { log.push(`eh:${err.message}`); next(err); });
    };
    const x = await theirs(build).run('INVITE');
    assert.deepEqual(x, { log: [], sent: [], ended: 0 }, 'upstream: request left hanging');

    const y = await ours(build).run('INVITE');
    assert.deepEqual(y, { log: ['eh:async'], sent: [503], ended: 0 });
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
