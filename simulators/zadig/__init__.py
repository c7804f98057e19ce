"""A faithful Zadig simulator: the custom-workflow OpenAPI on a loopback port.

Used by the tests, the end-to-end suite and the demo in place of a real Zadig. It behaves like
Zadig's gateway (token check, 401 with an empty body) and aslan (routes, error envelopes,
quirks) as written down in ``docs/zadig-openapi.md`` and ``docs/zadig-task-operations.md``, as
the configured server version (default 5.0.0) does. A background ticker moves tasks on by the
clock and sends the workflow ``webhook`` notifications.

What it serves: trigger, task detail, cancel, task history, retry, remark, approve, job logs,
workflow list and detail, projects, environments (with what runs now), image update, restart,
services, registries. Seeded per catalog environment: the build-then-deploy workflow and a
deploy-only ``<workflow>-rollback`` (image chosen at run time).

Modules:

* `world` - state and rules, no HTTP, one module per topic (tasks and their jobs, retry and
  remark, approvals, logs, notifications, workflows, environments, discovery); `lifecycle` - a
  task's progress by the clock (runs, approvals, injected outcomes); `definitions` - the seeded
  objects; `versions` - what changes with the server version.
* `shapes` - the JSON (and log text) Zadig answers with; `errors` - its error envelopes and Go's
  ``json.Unmarshal`` texts; `args` - request bodies decoded as aslan binds them.
* `routes` - the OpenAPI mapped to rule calls; `control` - the ``/_sim`` control API;
  `ticker` - the clock and outbound webhooks; `app` - the Sanic app; `__main__` - the CLI.

Run::

    python -m simulators.zadig --port 7070 --token demo-zadig-token --catalog catalog.yml \
        --waiting-seconds 1 --running-seconds 6 [--webhook-url URL --webhook-token T] \
        [--web-url http://zadig.example.com] [--zadig-version 4.1.0]

Every flag also reads ``ZADIG_SIM_<FLAG>`` (e.g. ``ZADIG_SIM_RUNNING_SECONDS``; the version is
``ZADIG_SIM_VERSION``). Tests and the demo steer it through the unauthenticated control API
under ``/_sim`` (see `control`):

* ``POST /_sim/config`` also takes ``version``, ``user {user_id, user_name, system_admin}`` (the
  API token's user, default ``uid-chatops-bot`` / ``chatops-bot``), ``webhook_notify_types``
  (default every terminal status; add ``wait_for_approval`` or ``created``),
  ``approval_minute_seconds`` (how long a minute of an approval's time limit lasts, for new
  tasks) and ``licensed``; ``POST /_sim/reset`` restores all of it and the workflows.
* ``POST /_sim/outcome`` also takes ``stage`` (any stage of the workflows), ``service`` (only
  that service's job fails) and ``log`` (the failing job's log ends with these lines).
* ``POST|DELETE /_sim/workflows/<key>/approval`` ``{"type", "approvers": [{"user_id",
  "user_name"}], "needed", "timeout", "name", "stage", "description"}``: an approval job in its
  own stage before the deploy stage; ``POST /_sim/workflows/<key>/jobs {"stage", "name",
  "type"}`` and ``DELETE /_sim/workflows/<key>/jobs/<name>``: other jobs;
  ``GET|DELETE /_sim/workflows/<key>``: a definition, or remove the workflow.
* ``POST /_sim/tasks/<key>/<id>/approve {"user_id", "user_name", "approve", "comment"}``: vote as
  any approver on the waiting approval; ``GET /_sim/restarts``: the restarts asked for.
"""

from simulators.zadig.app import create_app

__all__ = ["create_app"]
