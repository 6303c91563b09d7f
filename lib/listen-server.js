'use strict';
// What srf.listen() returns when it creates the listening socket: a net.Server (as with
// drachtio-srf) whose socket the native side owns. The parts apps use are backed by it:
// 'listening', 'close' and 'error' events, address(), close(cb), listening, getConnections(cb)
// (the open drachtio server sessions). It never listens itself.
const net = require('node:net');

class ListenServer extends net.Server {
  constructor(link) {
    super();
    this._ownListening = false;
    this._link = link;
    link.on('listening', () => {
      this._ownListening = true;
      this.emit('listening');
    });
    link.on('stopped', (err) => {
      this._ownListening = false;
      if (err && this.listenerCount('error') > 0) this.emit('error', err);
      this.emit('close');
    });
  }

  get listening() { return this._ownListening; }

  listen() {
    throw new Error('this server listens through srf.listen(); it cannot listen again');
  }

  /** `{address, family, port}` once bound (the port chosen when listen() was given 0). */
  address() {
    const a = this._link.address;
    if (!a) return null;
    return { address: a.address, family: a.address.includes(':') ? 'IPv6' : 'IPv4', port: a.port };
  }

  /**
   * Stops accepting connections; sessions already open carry on until they end (as with
   * net.Server). 'close' (and `cb`) follow once the last one has ended.
   */
  close(cb) {
    if (typeof cb === 'function') this.once('close', cb);
    this._link.close(false);
    return this;
  }

  getConnections(cb) {
    const n = this._link.sessions.size;
    process.nextTick(() => cb(null, n));
    return this;
  }

  ref() { return this; }
  unref() { return this; }
}

module.exports = ListenServer;
