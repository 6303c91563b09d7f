'use strict';
// Registry: a Map for short-lived entries (commands awaiting their reply, transactions,
// dialogs, waiters) kept by long-lived objects (the Srf, its link).
//
// Why not a plain Map: once a Map has been promoted to V8's old generation, each time it grows
// or shrinks it moves to a new table there, and the table it leaves is garbage that still points
// at the entries it held until the next full collection. Minor collections take such pointers
// as roots, so every young object reachable from those entries (a call's Request, Response,
// messages and closures) survives and is promoted, then dies in the old generation. With
// entries added and removed for every call, 15-20 % of what the UAS app allocated survived its
// minor collections this way (bench/RESULTS.md). Here each entry holds its value in a box that
// is emptied on delete, so a table left behind keeps only the empty box.

class Registry {
  constructor() {
    this._map = new Map();
  }

  get size() { return this._map.size; }

  has(key) { return this._map.has(key); }

  get(key) {
    const box = this._map.get(key);
    return box === undefined ? undefined : box.value;
  }

  set(key, value) {
    const box = this._map.get(key);
    if (box === undefined) this._map.set(key, { value });
    else box.value = value;
    return this;
  }

  delete(key) {
    const box = this._map.get(key);
    if (box === undefined) return false;
    box.value = undefined;
    return this._map.delete(key);
  }
}

module.exports = Registry;
