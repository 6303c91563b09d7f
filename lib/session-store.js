'use strict';
// Session stores (seed 003, "Managing session state"): where dialogs and their `session` data
// are kept so that another process can rebuild them. A store is any object with
// `get(id) → Promise<object|null>`, `set(id, object) → Promise`, `del(id) → Promise`; two come
// with the library: in this process's memory (the default: no takeover across processes, the
// same code path) and Redis (node-redis, an optional dependency loaded on first use).

class MemoryStore {
  constructor() {
    this._map = new Map();
  }

  async get(id) {
    const v = this._map.get(id);
    return v === undefined ? null : JSON.parse(v);
  }

  async set(id, value) {
    this._map.set(id, JSON.stringify(value));
  }

  async del(id) {
    this._map.delete(id);
  }

  get size() { return this._map.size; }
}

// A dialog's record outlives a crashed process only this long: calls longer than a day are
// rare, and records of dialogs nobody ended must not pile up forever.
const DEFAULT_TTL_SECONDS = 24 * 3600;

class RedisStore {
  /**
   * `{ url }` or `{ host, port, password, db }`; `prefix` for the keys (default 'srf:dialog:'),
   * `ttl` seconds a record lives without being written again (default one day). Connects on
   * first use and reconnects by itself; while Redis is unreachable, operations fail at once
   * (no queueing), so calls never wait on it.
   */
  constructor(opts = {}) {
    let redis;
    try {
      redis = require('redis');
    } catch (err) {
      throw new Error(`RedisStore needs the 'redis' package (npm install redis): ${err.message}`);
    }
    const url = opts.url || `redis://${opts.host || '127.0.0.1'}:${opts.port || 6379}${opts.db ? `/${opts.db}` : ''}`;
    this.prefix = opts.prefix || 'srf:dialog:';
    this.ttl = opts.ttl || DEFAULT_TTL_SECONDS;
    try {
      this._client = redis.createClient({
        url,
        password: opts.password,
        disableOfflineQueue: true,
        socket: { connectTimeout: 2000, reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000) },
      });
    } catch (err) {
      throw new Error(`RedisStore: ${err.message}: '${url}' (expected e.g. redis://127.0.0.1:6379)`);
    }
    // Failures surface on the operations; the client's own error events would otherwise be
    // unhandled EventEmitter errors.
    this._client.on('error', () => {});
    this._connecting = this._client.connect().catch(() => {});
  }

  async get(id) {
    await this._connecting;
    const v = await this._client.get(this.prefix + id);
    return v === null ? null : JSON.parse(v);
  }

  async set(id, value) {
    await this._connecting;
    await this._client.set(this.prefix + id, JSON.stringify(value), { EX: this.ttl });
  }

  async del(id) {
    await this._connecting;
    await this._client.del(this.prefix + id);
  }

  /** Closes the connection (the app is shutting down); at once when Redis is unreachable. */
  async close() {
    await this._connecting;
    if (!this._client.isOpen) return;
    if (this._client.isReady) {
      const grace = new Promise((resolve) => setTimeout(resolve, 1000).unref());
      await Promise.race([this._client.close().catch(() => {}), grace]);
    }
    if (this._client.isOpen) this._client.destroy();
  }
}

function isStore(s) {
  return !!s && ['get', 'set', 'del'].every((m) => typeof s[m] === 'function');
}

module.exports = { MemoryStore, RedisStore, isStore };
