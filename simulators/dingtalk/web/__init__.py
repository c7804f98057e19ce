"""A DingTalk-style group chat page for the demo, served by the DingTalk simulator at ``/chat``.

Plain HTML, CSS and vanilla JavaScript in ``static/`` (no build step, nothing from a CDN). The
page speaks as a chosen person through ``POST /_sim/web/say``, which builds the DingTalk
callback, signs it and posts it to the bot exactly as ``/_sim/say`` does (or pushes it as a
Stream frame when a Stream client is connected); it polls ``GET /_sim/web/feed`` for the
conversation's messages (the users' and the bot's, including results and approval requests the
bot posts later through the session webhook or the OpenAPI). A side panel shows the Zadig
simulator (``--zadig-url``) through ``GET /_sim/web/zadig/panel`` and the proxy
``/_sim/web/zadig/sim/<path>`` -> ``<zadig>/_sim/<path>``. URL parameters: ``?user=<id>``,
``?chat=group|single``, ``?group=<conversationId>`` (a test's own group).

Routes: ``GET /`` (-> ``/chat``), ``GET /chat``, ``GET /chat/static/<file>``, ``GET
/_sim/web/people`` (people, the default group, whether there is a Zadig panel), ``POST
/_sim/web/say {"text", "person", "chat", "group"}``, ``GET /_sim/web/feed?chat=&person=&group=
&since=`` (or ``conversation=``) -> ``{"conversation", "messages", "next", "epoch"}``.

People (`feed.PEOPLE`): ``user123`` 张三 (developer; the simulator's default sender), ``lead01``
李四 (release manager in catalog.yml), ``guest01`` 王五 (outside the organisation: no
senderStaffId, another senderCorpId).

``data-testid`` contract (stable; for browser tests):

* ``app`` - the root; ``data-ready="true"`` once the first feed poll is drawn, ``data-user``,
  ``data-chat`` (group|single).
* ``user-switch`` - ``<select>`` of people (option values are the ids above); ``user-note``.
* ``conversation-switch`` - the session list; its buttons ``conversation-group`` and
  ``conversation-single`` (``data-chat``; the shown one has ``aria-selected="true"``);
  ``group-title``, ``chat-title``, ``chat-sub``.
* ``message-list`` - the messages, in order. Each ``message`` has ``data-id`` (feed id),
  ``data-kind`` (user|bot), ``data-sender`` (the staff id, the known person's id for an
  external sender, ``bot`` for the bot), ``data-sender-name``, ``data-msgtype``, ``data-route``
  (bot: session_webhook / openapi_group / openapi_single / sync_response; user: http /
  stream), ``data-external="true"`` for someone outside; class ``mine`` for the current
  person's messages, ``at-me`` for bot messages that @ them. Inside: ``message-sender``,
  ``message-content``, ``mention`` (``data-user``), ``choice`` buttons (``data-content``: what
  a tap sends), ``undelivered`` (the bot refused or was unreachable).
* ``message-input``, ``send-button``, ``send-error`` (why the last send failed), ``composer-hint``.
* ``zadig-panel`` (``data-enabled="false"`` when there is no Zadig simulator), ``zadig-status``;
  ``outcome-stage`` (``<select>`` build|deploy), ``outcome-fail``, ``outcome-hang``,
  ``outcome-clear``, ``outcome-pending`` (``data-count``); ``approval-workflow`` (``<select>``
  of workflow keys), ``approval-on``, ``approval-off``, ``approval-state`` (``data-workflows``:
  keys with an approval job); ``zadig-tasks``: each ``zadig-task`` has ``data-workflow``,
  ``data-task-id``, ``data-status`` and holds ``zadig-task-status``, ``zadig-stage``
  (``data-stage``, ``data-status``) and, while it waits for approval, ``zadig-approve`` /
  ``zadig-reject``.
"""

from simulators.dingtalk.web.routes import register

__all__ = ["register"]
