"""A faithful Zadig simulator: the custom-workflow OpenAPI on a loopback port.

Used by the tests, the end-to-end suite and the demo in place of a real Zadig. It behaves like
Zadig's gateway (token check, 401 with an empty body) and aslan (routes, error envelopes,
quirks) as written down in ``docs/zadig-openapi.md``. A background ticker finishes tasks by the
clock and sends the workflow ``webhook`` notification once per finished task.

Modules:

* `world` - state and rules, no HTTP, one module per topic (tasks and their jobs, workflows,
  discovery); `lifecycle` - a task's progress by the clock; `definitions` - the seeded objects.
* `shapes` - the JSON Zadig answers with; `errors` - its error envelopes and Go's
  ``json.Unmarshal`` texts; `args` - request bodies decoded as aslan binds them.
* `routes` - the OpenAPI mapped to rule calls; `control` - the ``/_sim`` control API;
  `ticker` - the clock and outbound webhooks; `app` - the Sanic app; `__main__` - the CLI.

Run::

    python -m simulators.zadig --port 7070 --token demo-zadig-token --catalog catalog.yml \
        --waiting-seconds 1 --running-seconds 6 [--webhook-url URL --webhook-token T] \
        [--web-url http://zadig.example.com]

Every flag also reads ``ZADIG_SIM_<FLAG>`` (e.g. ``ZADIG_SIM_RUNNING_SECONDS``). Tests and the
demo steer it through the unauthenticated control API under ``/_sim`` (see `control`).
"""

from simulators.zadig.app import create_app

__all__ = ["create_app"]
