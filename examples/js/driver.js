// retool's JavaScript driver: one fresh, pre-started Node.js per execution.
// It waits for the code on fd 3, runs it as a script in this context with
// fds 0-2 as stdio, prints the completion value of the code if it is not
// undefined (`1+1` prints 2; a Promise is awaited first; strings are printed
// as they are, other values with util.inspect), and exits 1 with
// the stack on stderr when the code throws. Timers and promises still
// pending when the code returns run to completion before the process exits.
'use strict';
const fs = require('fs');
const vm = require('vm');
const util = require('util');
const { createRequire } = require('module');

// The code runs as a script, not a module: give it what a CommonJS module
// sees, resolved from the work dir so that require('./x.js') finds /work/x.js.
const filename = process.cwd() + '/code.js';
globalThis.require = createRequire(filename);
globalThis.module = { exports: {}, filename, id: '.', loaded: false };
globalThis.exports = globalThis.module.exports;
globalThis.__filename = filename;
globalThis.__dirname = process.cwd();

// Values that are the by-product of a call made for its effect, such as
// setTimeout(...) or http.get(...), are not printed.
const { EventEmitter } = require('events');
const effects = [EventEmitter,
  (t => (clearTimeout(t), t.constructor))(setTimeout(() => {}, 0)),
  (t => (clearImmediate(t), t.constructor))(setImmediate(() => {}))];

function show(value) {
  if (value === undefined || effects.some(c => value instanceof c)) return;
  process.stdout.write((typeof value === 'string' ? value : util.inspect(value)) + '\n');
}

// fail prints what the code threw, without the driver's own frames.
function fail(err) {
  let text;
  if (err instanceof Error && typeof err.stack === 'string') {
    const lines = err.stack.split('\n');
    const cut = lines.findIndex((l, i) => i > 0 && /\(node:vm:|\/\.retool\/driver\.js/.test(l));
    text = (cut > 0 ? lines.slice(0, cut) : lines).join('\n');
  } else {
    text = 'Uncaught ' + util.inspect(err);
  }
  process.stderr.write(text + '\n');
  process.exit(1); // stdio pipes are synchronous on Linux: nothing is lost
}

// Everything above ran while the worker was idle; now wait for the code.
const code = fs.readFileSync(3, 'utf8');
fs.closeSync(3);

let value;
try {
  value = vm.runInThisContext(code, { filename: 'code.js' });
} catch (err) {
  fail(err);
}
if (value !== null && typeof value === 'object' && typeof value.then === 'function') {
  Promise.resolve(value).then(show, fail);
} else {
  show(value);
}
