#!/usr/bin/env node
'use strict';
// drachtio-rs: the package's command line. `drachtio-rs serve [flags]` runs the embedded SIP
// engine behind drachtio-server's control protocol; flags are parsed in Rust.
const USAGE = `usage: drachtio-rs <command>

commands:
  serve [options]   run the SIP engine for drachtio-srf apps (drachtio-rs serve --help)
  --help            this text
`;

function main(argv) {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command !== 'serve') {
    process.stderr.write(`drachtio-rs: unknown command '${command}'\n${USAGE}`);
    return 2;
  }
  const { NativeServer, serveUsage } = require('./binding.js');
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(serveUsage());
    return 0;
  }
  let server;
  try {
    server = NativeServer.start(rest);
  } catch (err) {
    process.stderr.write(`drachtio-rs serve: ${err.message}\n`);
    return 2;
  }
  process.stdout.write(`drachtio-rs serve: control on ${server.admin}, SIP on ${server.sip}\n`);
  // The engine runs on Rust threads; this keeps Node's event loop (and the process) alive.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const stop = (signal) => {
    process.stdout.write(`drachtio-rs serve: ${signal}, shutting down\n`);
    clearInterval(keepAlive);
    server.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return undefined;
}

const code = main(process.argv.slice(2));
if (code !== undefined) process.exitCode = code;
