import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { MiddlewareStack, endOfStack, addVerbs, METHODS } = require('../lib/middleware.js');

const quiet = () => {};

function fakeReq(method = 'INVITE') {
  return { method, uri: 'sip:alice@example.com' };
}

// Mimics the real Response: send() records the status and is ignored once a final response went out.
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

// Runs the request and resolves with what done() got (after letting promise callbacks settle).
function run(stack, req, res) {
  return new Promise((resolve) => {
    const calls = [];
    stack.handle(req, res, (err, reason) => calls.push({ err, reason }));
    setImmediate(() => setImmediate(() => resolve(calls)));
  });
}

test('layers run in registration order', async () => {
  const s = new MiddlewareStack({ logger: quiet });
  const log = [];
  s.use((req, res, next) => { log.push(1); next(); });
  s.use('invite', (req, res, next) => { log.push(2); next(); });
  s.use((req, res, next) => { log.push(3); next(); });
  const calls = await run(s, fakeReq(), fakeRes());
  assert.deepEqual(log, [1, 2, 3]);
  assert.deepEqual(calls, [{ err: undefined, reason: 'exhausted' }]);
});

test('layers are filtered by method; * matches all; matching is equality, not prefix', async () => {
  const s = new MiddlewareStack({ logger: quiet });
  const log = [];
  s.use('invite', (req, res, next) => { log.push('invite'); next(); });
  s.use('bye', (req, res, next) => { log.push('bye'); next(); });
  s.use('in', (req, res, next) => { log.push('in'); next(); });
  s.use('*', (req, res, next) => { log.push('star'); next(); });
  s.use((req, res, next) => { log.push('all'); next(); });
  await run(s, fakeReq('BYE'), fakeRes());
  assert.deepEqual(log, ['bye', 'star', 'all']);
  log.length = 0;
  await run(s, fakeReq('INFO'), fakeRes());
  assert.deepEqual(log, ['star', 'all']);
  log.length = 0;
  await run(s, fakeReq('invite'), fakeRes());
  assert.deepEqual(log, ['invite', 'star', 'all']);
});

test('method registration is case-insensitive and routes lower-case once', async () => {
  const routed = [];
  const s = new MiddlewareStack({ onRoute: (m) => routed.push(m), logger: quiet });
  const log = [];
  assert.deepEqual(s.use('INVITE', (req, res, next) => { log.push('A'); next(); }), { newMethods: ['invite'] });
  assert.deepEqual(s.use('Invite', (req, res, next) => { log.push('B'); next(); }), { newMethods: [] });
  assert.deepEqual(s.use('invite', (req, res, next) => { log.push('C'); next(); }), { newMethods: [] });
  assert.deepEqual(routed, ['invite']);
  assert.deepEqual(s.routedMethods, ['invite']);
  assert.equal(s.hasMethod('INVITE'), true);
  assert.equal(s.stack[0].method, 'invite');
  await run(s, fakeReq('INVITE'), fakeRes());
  assert.deepEqual(log, ['A', 'B', 'C']);
});

test('onRoute is called once per specific method, never for *', () => {
  const routed = [];
  const s = new MiddlewareStack({ onRoute: (m) => routed.push(m) });
  const f = (req, res, next) => next();
  assert.deepEqual(s.use(f), { newMethods: [] });
  assert.deepEqual(s.use('*', f), { newMethods: [] });
  s.use('invite', f);
  s.use('register', f, f);
  s.use('invite', f);
  s.use('REGISTER', [f]);
  s.use('bye', f);
  assert.deepEqual(routed, ['invite', 'register', 'bye']);
  assert.deepEqual(s.routedMethods, ['invite', 'register', 'bye']);
});

test('use() validates its arguments', () => {
  const s = new MiddlewareStack();
  assert.throws(() => s.use(), TypeError);
  assert.throws(() => s.use('invite'), TypeError);
  assert.throws(() => s.use([]), TypeError);
  assert.throws(() => s.use('invite', [[]]), TypeError);
  assert.throws(() => s.use(42), TypeError);
  assert.throws(() => s.use('invite', [() => {}, undefined]), TypeError);
  assert.throws(() => s.use('', () => {}), TypeError);
  assert.equal(s.stack.length, 0);
});

test('nested arrays are flattened in order', async () => {
  const s = new MiddlewareStack({ logger: quiet });
  const log = [];
  const mk = (n) => (req, res, next) => { log.push(n); next(); };
  s.use([mk(1), [mk(2), [mk(3)]]], mk(4));
  s.use('invite', [[mk(5)], mk(6)]);
  assert.equal(s.stack.length, 6);
  await run(s, fakeReq(), fakeRes());
  assert.deepEqual(log, [1, 2, 3, 4, 5, 6]);
});

test('sub-apps (objects with handle) are wrapped and hand back to the parent', async () => {
  const s = new MiddlewareStack({ logger: quiet });
  const log = [];
  const sub = new MiddlewareStack({ logger: quiet });
  sub.use('invite', (req, res, next) => { log.push('sub1'); next(); });
  sub.use('bye', (req, res, next) => { log.push('sub-bye'); next(); });
  sub.use((req, res, next) => { log.push('sub2'); next(); });
  const plain = { handle(req, res, next) { log.push('plain'); next(); } };
  s.use((req, res, next) => { log.push('first'); next(); });
  s.use(sub);
  s.use('invite', plain);
  s.use((req, res, next) => { log.push('last'); next(); });
  const calls = await run(s, fakeReq(), fakeRes());
  assert.deepEqual(log, ['first', 'sub1', 'sub2', 'plain', 'last']);
  assert.deepEqual(calls, [{ err: undefined, reason: 'exhausted' }]);
});

test('an error inside a sub-app propagates to the parent error handlers', async () => {
  const s = new MiddlewareStack({ logger: quiet });
  const sub = new MiddlewareStack({ logger: quiet });
  const boom = new Error('boom');
  const log = [];
  sub.use((req, res, next) => next(boom));
  s.use(sub);
  s.use((req, res, next) => { log.push('skipped'); next(); });
  s.use((err, req, res, next) => { log.push(err); next(err); });
  const calls = await run(s, fakeReq(), fakeRes());
  assert.deepEqual(log, [boom]);
  assert.deepEqual(calls, [{ err: boom, reason: 'exhausted' }]);
});

test('error handlers run only while an error propagates; normal layers are skipped meanwhile', async () => {
  const s = new MiddlewareStack({ logger: quiet });
  const log = [];
  const boom = new Error('boom');
  s.use((err, req, res, next) => { log.push('eh0'); next(err); });
  s.use((req, res, next) => { log.push('a'); next(boom); });
  s.use((req, res, next) => { log.push('b'); next(); });
  s.use((err, req, res, next) => { log.push(['eh1', err]); next(err); });
  s.use((req, res, next) => { log.push('c'); next(); });
  s.use((err, req, res, next) => { log.push('eh2'); next(err); });
  const calls = await run(s, fakeReq(), fakeRes());
  assert.deepEqual(log, ['a', ['eh1', boom], 'eh2']);
  assert.deepEqual(calls, [{ err: boom, reason: 'exhausted' }]);

  // without an error, error handlers never run
  const t = new MiddlewareStack({ logger: quiet });
  const log2 = [];
  t.use((err, req, res, next) => { log2.push('eh'); next(); });
  t.use((req, res, next) => { log2.push('a'); next(); });
  t.use((err, req, res, next) => { log2.push('eh'); next(); });
  await run(t, fakeReq(), fakeRes());
  assert.deepEqual(log2, ['a']);
});

test('an error handler calling next() without an error resumes normal layers', async () => {
  const s = new MiddlewareStack({ logger: quiet });
  const log = [];
  s.use((req, res, next) => next(new Error('x')));
  s.use((req, res, next) => { log.push('skipped'); next(); });
  s.use((err, req, res, next) => { log.push('recover'); next(); });
  s.use((req, res, next) => { log.push('after'); next(); });
  const calls = await run(s, fakeReq(), fakeRes());
  assert.deepEqual(log, ['recover', 'after']);
  assert.deepEqual(calls, [{ err: undefined, reason: 'exhausted' }]);
});

test('a truthy non-Error passed to next (e.g. "route") is an error', async () => {
  const s = new MiddlewareStack({ logger: quiet });
  const seen = [];
  s.use((req, res, next) => next('route'));
  s.use((req, res, next) => { seen.push('normal'); next(); });
  s.use((err, req, res, next) => { seen.push(err); next(err); });
  const calls = await run(s, fakeReq(), fakeRes());
  assert.deepEqual(seen, ['route']);
  assert.deepEqual(calls, [{ err: 'route', reason: 'exhausted' }]);
});

test('a synchronous throw switches to error propagation', async () => {
  const s = new MiddlewareStack({ logger: quiet });
  const boom = new Error('thrown');
  const seen = [];
  s.use(() => { throw boom; });
  s.use((req, res, next) => { seen.push('normal'); next(); });
  s.use((err, req, res, next) => { seen.push(err); next(err); });
  const calls = await run(s, fakeReq(), fakeRes());
  assert.deepEqual(seen, [boom]);
  assert.deepEqual(calls, [{ err: boom, reason: 'exhausted' }]);
});

test('throwing a falsy value still counts as an error', async () => {
  const s = new MiddlewareStack({ logger: quiet });
  s.use(() => { throw undefined; }); // eslint-disable-line no-throw-literal
  const calls = await run(s, fakeReq(), fakeRes());
  assert.equal(calls.length, 1);
  assert.ok(calls[0].err instanceof Error);
});

test('an error handler that throws passes the new error on', async () => {
  const s = new MiddlewareStack({ logger: quiet });
  const second = new Error('second');
  s.use((req, res, next) => next(new Error('first')));
  s.use(() => {}, (err) => { throw second; }); // eslint-disable-line no-unused-vars
  const calls = await run(s, fakeReq(), fakeRes());
  // arity 0 and 1 are normal layers, so neither runs while the error propagates
  assert.equal(calls.length, 1);
  assert.equal(calls[0].err.message, 'first');

  const t = new MiddlewareStack({ logger: quiet });
  t.use((req, res, next) => next(new Error('first')));
  t.use((err, req, res, next) => { throw second; }); // eslint-disable-line no-unused-vars
  const calls2 = await run(t, fakeReq(), fakeRes());
  assert.deepEqual(calls2, [{ err: second, reason: 'exhausted' }]);
});

test('an async handler that rejects goes down the error path with no unhandledRejection', async () => {
  const unhandled = [];
  const onUnhandled = (r) => unhandled.push(r);
  process.on('unhandledRejection', onUnhandled);
  try {
    const s = new MiddlewareStack({ logger: quiet });
    const boom = new Error('async boom');
    const seen = [];
    s.use(async (req, res, next) => { await null; throw boom; });
    s.use((req, res, next) => { seen.push('normal'); next(); });
    s.use(async (err, req, res, next) => { seen.push(err); next(err); });
    const calls = await run(s, fakeReq(), fakeRes());
    assert.deepEqual(seen, [boom]);
    assert.deepEqual(calls, [{ err: boom, reason: 'exhausted' }]);

    // rejection with a falsy value is still an error
    const t = new MiddlewareStack({ logger: quiet });
    t.use(() => Promise.reject(undefined)); // eslint-disable-line prefer-promise-reject-errors
    const calls2 = await run(t, fakeReq(), fakeRes());
    assert.equal(calls2.length, 1);
    assert.ok(calls2[0].err instanceof Error);

    // done() throwing from inside the rejection path must not leak either
    const u = new MiddlewareStack({ logger: quiet });
    u.use(async () => { throw new Error('x'); });
    u.handle(fakeReq(), fakeRes(), () => { throw new Error('done blew up'); });
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('an async handler that resolves after calling next() is fine; rejecting after next() is only logged', async () => {
  const logged = [];
  const s = new MiddlewareStack({ logger: (...a) => logged.push(a) });
  const log = [];
  s.use(async (req, res, next) => { next(); await null; throw new Error('late'); });
  s.use((req, res, next) => { log.push('b'); next(); });
  s.use((err, req, res, next) => { log.push('eh'); next(err); });
  const calls = await run(s, fakeReq(), fakeRes());
  assert.deepEqual(log, ['b']);
  assert.deepEqual(calls, [{ err: undefined, reason: 'exhausted' }]);
  assert.equal(logged.length, 1);
  assert.equal(logged[0][1].message, 'late');
});

test('iteration stops when a final response has been sent at the time next() is called', async () => {
  const s = new MiddlewareStack({ logger: quiet });
  const log = [];
  s.use((req, res, next) => { log.push('a'); res.send(180); next(); });
  s.use((req, res, next) => { log.push('b'); res.send(486); next(); });
  s.use((req, res, next) => { log.push('c'); next(); });
  const res = fakeRes();
  const calls = await run(s, fakeReq(), res);
  assert.deepEqual(log, ['a', 'b']);
  assert.deepEqual(res.sent, [180, 486]);
  assert.deepEqual(calls, [{ err: undefined, reason: 'final-response-sent' }]);

  // an error after the final response also stops, carrying the error
  const t = new MiddlewareStack({ logger: quiet });
  const boom = new Error('after final');
  t.use((req, res, next) => { res.send(200); next(boom); });
  t.use((err, req, res, next) => { log.push('never'); next(); });
  const calls2 = await run(t, fakeReq(), fakeRes());
  assert.deepEqual(calls2, [{ err: boom, reason: 'final-response-sent' }]);

  // already sent before handle() starts: no layer runs
  const res3 = fakeRes();
  res3.finalResponseSent = true;
  const calls3 = await run(s, fakeReq(), res3);
  assert.deepEqual(calls3, [{ err: undefined, reason: 'final-response-sent' }]);
});

test('calling next() twice does not run later layers twice', async () => {
  const s = new MiddlewareStack({ logger: quiet });
  const log = [];
  s.use((req, res, next) => { log.push('a'); next(); next(); next(new Error('late')); });
  s.use((req, res, next) => { log.push('b'); next(); setImmediate(next); });
  s.use((req, res, next) => { log.push('c'); next(); });
  s.use((err, req, res, next) => { log.push('eh'); next(); });
  const calls = await run(s, fakeReq(), fakeRes());
  assert.deepEqual(log, ['a', 'b', 'c']);
  assert.deepEqual(calls, [{ err: undefined, reason: 'exhausted' }]);
});

test('asynchronous next() works and keeps ordering', async () => {
  const s = new MiddlewareStack({ logger: quiet });
  const log = [];
  s.use((req, res, next) => { log.push('a'); setTimeout(next, 5); });
  s.use(async (req, res, next) => { await new Promise((r) => setTimeout(r, 5)); log.push('b'); next(); });
  s.use((req, res, next) => { log.push('c'); next(); });
  const done = await new Promise((resolve) => s.handle(fakeReq(), fakeRes(), (err, reason) => resolve({ err, reason })));
  assert.deepEqual(log, ['a', 'b', 'c']);
  assert.deepEqual(done, { err: undefined, reason: 'exhausted' });
});

test('a long run of non-matching layers does not overflow the stack', async () => {
  const s = new MiddlewareStack({ logger: quiet });
  const f = (req, res, next) => next();
  for (let i = 0; i < 200000; i++) s.use('bye', f);
  let hit = false;
  s.use('invite', (req, res, next) => { hit = true; next(); });
  const calls = await run(s, fakeReq('INVITE'), fakeRes());
  assert.equal(hit, true);
  assert.deepEqual(calls, [{ err: undefined, reason: 'exhausted' }]);
});

test('req.app is set when an app is given; without done(), endOfStack applies', async () => {
  const app = { name: 'the app' };
  const s = new MiddlewareStack({ app, logger: quiet });
  const req = fakeReq('OPTIONS');
  const res = fakeRes();
  s.handle(req, res);
  assert.equal(req.app, app);
  assert.deepEqual(res.sent, [404]);

  const t = new MiddlewareStack({ logger: quiet });
  t.use((req, res, next) => next(Object.assign(new Error('busy'), { status: 486 })));
  const res2 = fakeRes();
  t.handle(fakeReq(), res2);
  assert.deepEqual(res2.sent, [486]);
});

// ---------------------------------------------------------------------------------------------
// endOfStack

function eos(method, err, { reason = 'exhausted', res = fakeRes(), withEnd = true } = {}) {
  const ended = [];
  const logged = [];
  const opts = { reason, logger: (...a) => logged.push(a) };
  if (withEnd) opts.endSession = (r) => ended.push(r);
  const ret = endOfStack(err, fakeReq(method), res, opts);
  return { ret, sent: res.sent, ended: ended.length, logged: logged.length, res };
}

test('endOfStack: unanswered INVITE (and others) → 404 and endSession', () => {
  for (const m of ['INVITE', 'BYE', 'OPTIONS', 'REGISTER', 'SUBSCRIBE', 'NOTIFY', 'MESSAGE', 'INFO', 'REFER', 'PUBLISH']) {
    const r = eos(m);
    assert.deepEqual(r.sent, [404], m);
    assert.equal(r.ended, 1, m);
    assert.equal(r.ret, 404);
    assert.equal(r.logged, 0);
  }
  // endSession is optional
  const r = eos('INVITE', undefined, { withEnd: false });
  assert.deepEqual(r.sent, [404]);
});

test('endOfStack: PRACK → 200, no endSession', () => {
  const r = eos('PRACK');
  assert.deepEqual(r.sent, [200]);
  assert.equal(r.ended, 0);
});

test('endOfStack: ACK and UPDATE → nothing', () => {
  for (const m of ['ACK', 'UPDATE']) {
    const r = eos(m);
    assert.deepEqual(r.sent, [], m);
    assert.equal(r.ended, 0, m);
    assert.equal(r.ret, null);
  }
});

test('endOfStack: error with .status → that status; plain error → 500; logged; no endSession', () => {
  const busy = Object.assign(new Error('busy'), { status: 486 });
  let r = eos('INVITE', busy);
  assert.deepEqual(r.sent, [486]);
  assert.equal(r.ended, 0);
  assert.equal(r.logged, 1);

  r = eos('INVITE', new Error('plain'));
  assert.deepEqual(r.sent, [500]);
  assert.equal(r.ended, 0);

  r = eos('ACK', new Error('plain'));
  assert.deepEqual(r.sent, [500]);

  r = eos('INVITE', 'route');
  assert.deepEqual(r.sent, [500]);

  // a status that is not a final SIP status falls back to 500
  r = eos('INVITE', Object.assign(new Error('odd'), { status: 'nope' }));
  assert.deepEqual(r.sent, [500]);
  r = eos('INVITE', Object.assign(new Error('odd'), { status: 180 }));
  assert.deepEqual(r.sent, [500]);
});

test('endOfStack: nothing at all when the final response was already sent', () => {
  for (const err of [undefined, new Error('late'), Object.assign(new Error('busy'), { status: 486 })]) {
    for (const m of ['INVITE', 'PRACK', 'BYE']) {
      const res = fakeRes();
      res.send(200);
      const r = eos(m, err, { reason: 'final-response-sent', res });
      assert.deepEqual(r.sent, [200], `${m} ${err}`);
      assert.equal(r.ended, 0, `${m} ${err}`);
      assert.equal(r.ret, null);
      assert.equal(r.logged, err ? 1 : 0);
    }
  }
});

test('endOfStack plugs straight into handle() as done', async () => {
  const s = new MiddlewareStack({ logger: quiet });
  s.use('invite', (req, res, next) => next());
  const res = fakeRes();
  const ended = [];
  const req = fakeReq('INVITE');
  s.handle(req, res, (err, reason) => endOfStack(err, req, res, { reason, endSession: (r) => ended.push(r) }));
  assert.deepEqual(res.sent, [404]);
  assert.deepEqual(ended, [res]);
});

// ---------------------------------------------------------------------------------------------
// verbs

test('the 14 SIP methods each have a verb on Srf that routes exactly that method to its handler', async () => {
  const Srf = require('../index.js');
  const all = ['INVITE', 'BYE', 'REGISTER', 'INFO', 'SUBSCRIBE', 'OPTIONS', 'MESSAGE', 'NOTIFY', 'CANCEL', 'UPDATE', 'PRACK', 'ACK', 'REFER', 'PUBLISH'];
  assert.deepEqual([...METHODS].sort(), [...all].sort());
  const srf = new Srf();
  for (const m of all) assert.equal(typeof srf[m.toLowerCase()], 'function', `srf.${m.toLowerCase()}`);
  // through the stack the verbs feed: each method reaches its own handler and no other
  const s = new MiddlewareStack({ logger: quiet });
  const reached = [];
  for (const m of all) s.use(m.toLowerCase(), (req, res) => { reached.push(`${m}<-${req.method}`); res.send(200); });
  for (const m of all) await run(s, fakeReq(m), fakeRes());
  assert.deepEqual(reached, all.map((m) => `${m}<-${m}`));
  assert.deepEqual(s.routedMethods.sort(), all.map((m) => m.toLowerCase()).sort(), 'a route registered for each');
});

test('addVerbs defines a lower-case shortcut per method that calls use(method, ...fns)', () => {
  // the use function is chosen by name
  class Thing { constructor() { this.calls = []; } add(...args) { this.calls.push(args); return this; } }
  addVerbs(Thing.prototype, 'add');
  const t = new Thing();
  const f = () => {};
  const g = () => {};
  for (const m of METHODS) {
    const verb = m.toLowerCase();
    assert.equal(typeof Thing.prototype[verb], 'function', verb);
    assert.equal(t[verb](f, [g]), t);
  }
  assert.deepEqual(t.calls, METHODS.map((m) => [m.toLowerCase(), f, [g]]));
  assert.equal(Object.keys(Thing.prototype).length, 0, 'verbs are not enumerable');

  class U { use(...args) { this.last = args; return 'ret'; } }
  addVerbs(U.prototype);
  const u = new U();
  assert.equal(u.invite(f), 'ret');
  assert.deepEqual(u.last, ['invite', f]);
});

test('MiddlewareStack has the verbs itself', async () => {
  const routed = [];
  const s = new MiddlewareStack({ onRoute: (m) => routed.push(m), logger: quiet });
  const log = [];
  assert.deepEqual(s.invite((req, res, next) => { log.push('inv'); next(); }), { newMethods: ['invite'] });
  s.bye((req, res, next) => { log.push('bye'); next(); });
  assert.deepEqual(routed, ['invite', 'bye']);
  await run(s, fakeReq('BYE'), fakeRes());
  assert.deepEqual(log, ['bye']);
});
