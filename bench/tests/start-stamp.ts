// Loaded with --import by the suite's timing run (file-times.ts): a test file's process says on
// stderr when it started, so its time includes loading its modules. Other processes stay quiet.
if (process.env["NODE_TEST_CONTEXT"] && /\.test\.ts$/.test(process.argv[1] ?? ""))
  process.stderr.write(`#gh-start ${Date.now()}\n`);
