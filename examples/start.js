'use strict';
// `npm start`: the example app on the embedded SIP engine, and a second Srf placing a real
// call to it over UDP on loopback (INVITE, 100, 180, 200, ACK, then BYE), printing the ladder.
const Srf = require('..');
const { install, sdp } = require('./uas-app.js');

const failed = (msg) => {
  console.error(`call failed: ${msg}`);
  process.exit(1);
};
const guard = setTimeout(() => failed('no answer within 10 s'), 10000);

const WIDTH = 40; // between the two lifelines

function ladder(arrow, text) {
  const line = '-'.repeat(Math.max(2, WIDTH - 6 - text.length));
  console.log(arrow === '>' ? `  |--- ${text} ${line}>|` : `  |<-- ${text} ${line}-|`);
}

async function main() {
  const app = new Srf();
  install(app, (msg) => console.log(`  |${' '.repeat(WIDTH)}|   ${msg}`));
  app.connect({ embedded: { contacts: ['sip:127.0.0.1:0;transport=udp'] } });
  const [, appHostport, version] = await new Promise((resolve) => app.once('connect', (...a) => resolve(a)));
  const appAddr = appHostport.split(',')[0].split('/')[1];

  const caller = new Srf();
  caller.connect({ embedded: { contacts: ['sip:127.0.0.1:0;transport=udp'] } });
  const [, callerHostport] = await new Promise((resolve) => caller.once('connect', (...a) => resolve(a)));
  const callerAddr = callerHostport.split(',')[0].split('/')[1];

  console.log(`drachtio-srf-rs embedded engine ${version}\n`);
  console.log(`  caller ${callerAddr.padEnd(WIDTH - 6)}app ${appAddr}`);
  ladder('>', 'INVITE (SDP offer)');
  const dialog = await caller.createUAC(`sip:+15551230000@${appAddr}`, { localSdp: sdp(50000), callingNumber: '+15557654321' }, {
    cbProvisional: (res) => ladder('<', `${res.status} ${res.reason}`),
  });
  ladder('<', '200 OK (SDP answer)');
  ladder('>', 'ACK');
  await new Promise((r) => setTimeout(r, 300));
  ladder('>', 'BYE');
  await dialog.destroy();
  ladder('<', '200 OK');
  await new Promise((r) => setTimeout(r, 50));
  clearTimeout(guard);
  console.log('\ncall completed: INVITE/180/200/ACK/BYE/200 through the embedded engine');
  caller.disconnect();
  app.disconnect();
}

main().catch((err) => failed(err.message));
