/**
 * A command line's Ctrl-C: the first SIGINT or SIGTERM aborts the returned signal (the work stops
 * after its current batch); another one more than a second later exits 130 at once. npm and tsx
 * pass the terminal's Ctrl-C on too, so copies within a second are the same press.
 */
export function abortOnSignals(): AbortController {
  const controller = new AbortController();
  let firstSignalAt = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    const now = Date.now();
    if (firstSignalAt === 0) {
      firstSignalAt = now;
      process.stderr.write(`\n${sig}: stopping after the current batch (press Ctrl-C again to quit at once)\n`);
      controller.abort(sig);
    } else if (now - firstSignalAt > 1000) {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller;
}
