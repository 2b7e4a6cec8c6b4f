// The ding-dong FastAGI server of callbackd's peers benchmark: the same
// scenario as callbackd's (the environment, EXEC Ringing, EXEC PJSIPHangup
// 603, close). It listens on 127.0.0.1 on a free port, prints
// "READY 127.0.0.1:<port>", and exits when its standard input closes.
'use strict';
const AGIServer = require('ding-dong');

const handler = (context) => {
  context.on('error', () => {});
  context.onEvent('variables')
    .then(() => context.exec('Ringing'))
    .then(() => context.exec('PJSIPHangup', '603'))
    .then(() => context.end())
    .catch(() => context.end());
};

const server = new AGIServer(handler).start(0, '127.0.0.1');
server.on('listening', () => {
  console.log('READY 127.0.0.1:' + server.address().port);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
