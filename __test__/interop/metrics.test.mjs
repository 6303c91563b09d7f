// Prometheus metrics: `drachtio-rs serve --prometheus-scrape-port` and the embedded engine's
// `prometheus` option, scraped with node's fetch during and after sipp calls, parsed by a strict
// OpenMetrics text parser (below), and checked against what the calls did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { errorsFail } from '../helpers/embedded.mjs';
import { startServe, routesApplied, failOnError } from '../helpers/serve.mjs';
import { requireSipp, runSipp, freePort } from '../helpers/sipp.mjs';

const require = createRequire(import.meta.url);
const Srf = require('../../index.js');
const { install } = require('../../examples/uas-app.js');

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SUFFIXES = { counter: ['_total', '_created'], gauge: [''], histogram: ['_bucket', '_sum', '_count', '_created'], info: ['_info'], unknown: [''] };

/** Label set `{a="x",b="y"}` → object; strict about quoting and escapes. */
function parseLabels(text, line) {
  const labels = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    assert.ok(eq > i, `label name expected: ${line}`);
    const name = text.slice(i, eq);
    assert.match(name, /^[a-zA-Z_][a-zA-Z0-9_]*$/, `label name: ${line}`);
    assert.equal(text[eq + 1], '"', `label value must be quoted: ${line}`);
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j];
        assert.ok(['\\', '"', 'n'].includes(next), `bad escape in ${line}`);
        value += next === 'n' ? '\n' : next;
      } else value += text[j];
    }
    assert.equal(text[j], '"', `unterminated label value: ${line}`);
    assert.ok(!(name in labels), `label ${name} twice: ${line}`);
    labels[name] = value;
    i = j + 1;
    if (i < text.length) {
      assert.equal(text[i], ',', `',' between labels: ${line}`);
      i++;
    }
  }
  return labels;
}

/**
 * Strict OpenMetrics text (what prometheus-client writes; also the 0.0.4 subset it shares):
 * TYPE/HELP/UNIT before a family's samples, sample names of the family's type, numeric values,
 * no sample twice, `# EOF` last. Returns Map(family → { type, help, samples: [{ name, labels, value }] }).
 */
function parseOpenMetrics(text) {
  const families = new Map();
  const seen = new Set();
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', 'ends with a newline');
  assert.equal(lines.pop(), '# EOF', 'ends with # EOF');
  let current;
  for (const line of lines) {
    if (line.startsWith('# ')) {
      const m = /^# (TYPE|HELP|UNIT) (\S+)(?: (.*))?$/.exec(line);
      assert.ok(m, `comment line: ${line}`);
      const [, kind, name, rest = ''] = m;
      assert.match(name, NAME);
      if (!families.has(name)) families.set(name, { type: 'unknown', help: '', samples: [] });
      current = name;
      const f = families.get(name);
      if (kind === 'TYPE') {
        assert.ok(rest in SUFFIXES, `metric type ${rest}`);
        assert.equal(f.samples.length, 0, `TYPE after samples: ${line}`);
        f.type = rest;
      } else if (kind === 'HELP') f.help = rest;
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \S+)?$/.exec(line);
    assert.ok(m, `sample line: ${JSON.stringify(line)}`);
    const [, name, labelText = '', raw] = m;
    assert.ok(current, `sample before any family: ${line}`);
    const f = families.get(current);
    assert.ok(SUFFIXES[f.type].some((s) => name === current + s), `${name} is not a sample of ${f.type} ${current}`);
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : raw === 'NaN' ? NaN : Number(raw);
    assert.ok(!Number.isNaN(value) || raw === 'NaN', `value: ${line}`);
    const labels = parseLabels(labelText, line);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    assert.ok(!seen.has(key), `sample twice: ${line}`);
    seen.add(key);
    f.samples.push({ name, labels, value });
  }
  return families;
}

/** The value of sample `name` whose labels include `labels` (summed when several match); 0 when none. */
function value(families, name, labels = {}) {
  let sum = 0;
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
    }
  }
  return sum;
}

async function scrape(port) {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^application\/openmetrics-text; version=1\.0\.0/);
  return parseOpenMetrics(await res.text());
}

/** Scrapes until `cond(metrics)` holds; returns those metrics. */
async function scrapeUntil(port, cond, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const m = await scrape(port);
    if (cond(m)) return m;
    if (Date.now() > end) return m;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const CALLS = 10;

/**
 * Runs CALLS sipp calls (2 s each) at `target`, scraping while they are up; checks the counters
 * against the calls. `reliable`: over TCP (nothing retransmitted, so counts are exact).
 */
async function callsAndCounters(t, port, target, { tcp, before, engineAnswersBye }) {
  const args = ['-sn', 'uac', target, '-m', String(CALLS), '-r', '20', '-l', String(CALLS), '-d', '2000'];
  if (tcp) args.push('-t', 't1');
  const run = runSipp(args, { timeoutMs: 30000 });
  const during = await scrapeUntil(port, (m) => value(m, 'drachtio_stable_dialogs') === CALLS, 8000);
  assert.equal(value(during, 'drachtio_stable_dialogs'), CALLS, 'every call up at once shows as a dialog');
  assert.ok(value(during, 'drachtio_server_transactions') >= 0);
  assert.equal(value(during, 'drachtio_app_connections'), 1);
  const calls = await run;
  assert.equal(calls.code, 0, calls.summary());
  assert.equal(calls.stats.successful, CALLS, calls.summary());

  const after = await scrapeUntil(port, (m) => value(m, 'drachtio_stable_dialogs') === 0);
  assert.equal(value(after, 'drachtio_stable_dialogs'), 0, 'calls in progress back to 0');
  assert.equal(value(after, 'drachtio_proxy_cores'), 0);
  const moved = (name, labels) => value(after, name, labels) - value(before, name, labels);
  const exact = (name, labels, n) => assert.equal(moved(name, labels), n, `${name}${JSON.stringify(labels)}`);
  // sipp's uac: INVITE, ACK, BYE in; 180, 200 to the INVITE and 200 to the BYE out. Over UDP a
  // retransmission is possible (counted: these are messages on the wire), so at least.
  const atLeast = (name, labels, n) => assert.ok(moved(name, labels) >= n, `${name}${JSON.stringify(labels)}: ${moved(name, labels)} < ${n}`);
  const check = tcp ? exact : atLeast;
  check('drachtio_sip_requests_in_total', { method: 'INVITE' }, CALLS);
  check('drachtio_sip_requests_in_total', { method: 'ACK' }, CALLS);
  check('drachtio_sip_requests_in_total', { method: 'BYE' }, CALLS);
  check('drachtio_sip_responses_out_total', { method: 'INVITE', code: '180' }, CALLS);
  check('drachtio_sip_responses_out_total', { method: 'INVITE', code: '200' }, CALLS);
  check('drachtio_sip_responses_out_total', { method: 'BYE', code: '200' }, CALLS);
  exact('drachtio_sip_responses_out_total', { code: '503' }, 0);
  exact('drachtio_sip_responses_in_total', {}, 0);
  exact('drachtio_dropped_messages_total', {}, 0);
  // The app answered each INVITE and each BYE: one observation of its first response each.
  // The embedded engine answers the BYE of a createUAS Dialog itself: only the INVITEs then.
  check('drachtio_app_response_seconds_count', {}, engineAnswersBye ? CALLS : 2 * CALLS);
  assert.equal(value(after, 'drachtio_app_response_seconds_bucket', { le: '+Inf' }), value(after, 'drachtio_app_response_seconds_count'));
  atLeast('drachtio_message_processing_seconds_count', {}, 3 * CALLS);
  assert.ok(value(after, 'drachtio_message_processing_seconds_sum') > 0);
  assert.equal(value(after, 'drachtio_build_info_total'), 1);
  assert.ok(value(after, 'drachtio_time_started') > 1.6e9);
}

test('serve: --prometheus-scrape-port, counters follow sipp calls (UDP)', { timeout: 60000 }, async (t) => {
  if (!requireSipp(t)) return;
  const port = await freePort();
  const serve = await startServe({ extra: ['--prometheus-scrape-port', `127.0.0.1:${port}`] });
  const srf = new Srf();
  failOnError(t, srf);
  install(srf, () => {});
  try {
    const idle = await scrapeUntil(port, (m) => m.has('drachtio_app_connections'), 5000);
    assert.equal(value(idle, 'drachtio_app_connections'), 0);
    srf.connect({ host: serve.admin.host, port: serve.admin.port, secret: 'cymru' });
    await once(srf, 'connect');
    await routesApplied(srf);
    const before = await scrapeUntil(port, (m) => value(m, 'drachtio_app_connections') === 1);
    assert.equal(value(before, 'drachtio_app_connections'), 1);
    assert.ok(value(before, 'drachtio_sip_requests_out_total', { method: 'OPTIONS' }) >= 1, "routesApplied's OPTIONS went out");
    const notFound = await fetch(`http://127.0.0.1:${port}/nothing`);
    assert.equal(notFound.status, 404);
    await callsAndCounters(t, port, serve.sip, { tcp: false, before });
    srf.disconnect();
    const gone = await scrapeUntil(port, (m) => value(m, 'drachtio_app_connections') === 0);
    assert.equal(value(gone, 'drachtio_app_connections'), 0);
  } finally {
    srf.disconnect();
    await serve.stop();
  }
});

test('embedded: connect({ embedded: { prometheus } }), counters follow sipp calls exactly (TCP); the endpoint closes with the engine', { timeout: 60000 }, async (t) => {
  if (!requireSipp(t)) return;
  const port = await freePort();
  const srf = errorsFail(new Srf());
  install(srf, () => {});
  srf.connect({ embedded: { contacts: ['sip:127.0.0.1:0;transport=tcp'], prometheus: { port, host: '127.0.0.1' } } });
  const [err, hostport] = await once(srf, 'connect');
  assert.ifError(err);
  const addr = hostport.split(',')[0].split('/')[1];
  try {
    const before = await scrapeUntil(port, (m) => value(m, 'drachtio_app_connections') === 1, 5000);
    assert.equal(value(before, 'drachtio_app_connections'), 1);
    await callsAndCounters(t, port, addr, { tcp: true, before, engineAnswersBye: true });
  } finally {
    srf.disconnect();
  }
  const end = Date.now() + 5000;
  let closed = false;
  while (!closed && Date.now() < end) {
    closed = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(1000) }).then(() => false, () => true);
    if (!closed) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(closed, 'the scrape port closes once the embedded engine stops');
});

test('embedded: prometheus options are validated', () => {
  const bad = [{ port: 0 }, { port: 70000 }, { port: 9090, host: 'localhost' }, 'x'];
  for (const prometheus of bad) {
    assert.throws(() => new Srf().connect({ embedded: { contacts: ['sip:127.0.0.1:0'], prometheus } }), /prometheus/);
  }
});
