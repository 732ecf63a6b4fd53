"""A local Functions host: runs `function_app.app` the way the Azure Functions host does.

Started as `python -m devhost [--port 7071] [--host 127.0.0.1] [--settings-file local.settings.json]`, it
indexes the app once (`app.get_functions()`), reads host.json and serves, for the trigger kinds this app uses:

* timers: six-field NCRONTAB in UTC, `%Setting%` schedules, `past_due`, `runOnStartup`, no overlapping runs;
* storage-queue triggers (Azurite locally): base64 messages, `batchSize + newBatchThreshold` in flight,
  `visibilityTimeout` after a failure, `<queue>-poison` after `maxDequeueCount`, exponential polling back-off;
* queue output bindings (`func.Out`), sent base64-encoded after the function succeeds;
* HTTP routes under `/api`, with function keys checked only when `DEVHOST_FUNCTION_KEY` is set.

Several devhost processes may run at once against the same Azurite and database: they share no local state.
Queue messages are then spread over them as over scaled-out instances. Timers are different: in Azure a timer
is a singleton per host id (a blob lease), while each devhost fires its own timers; the app's timers are
idempotent, so a second devhost only repeats work that finds nothing left to do.

Not emulated: timer schedule monitoring (`useMonitor` status in storage), queue message lease renewal (a
message is received invisible for `functionTimeout` instead), identity-based connections, retry policies.
"""
