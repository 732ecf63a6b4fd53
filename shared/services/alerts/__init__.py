"""Alert use cases: acting on alerts (`actions`), listing them (`listing`), the `alert-events` queues
(`events`), delivering notices (`escalation`, `notice_links`), the periodic pass (`processor`), silences
(`silences`, `silencing`) and test notices (`notify_test`)."""
