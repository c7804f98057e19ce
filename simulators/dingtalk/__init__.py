"""A stand-in for DingTalk (钉钉) that the bot cannot tell from the real service.

It plays both sides of docs/dingtalk.md:

* DingTalk -> bot. ``POST /_sim/say`` builds the full callback body of §1.5 (leading space in
  group text, ``atUsers``, ``sessionWebhook`` pointing back here, unknown extra keys ...), signs
  it as in §1.3 and POSTs it to the bot's URL. ``POST /_sim/stream/say`` pushes the same body
  as a Stream-mode CALLBACK frame (§4.2) to a client connected over the WebSocket gateway.
* bot -> DingTalk. The session webhook (``/robot/sendBySession``), the OpenAPI access token and
  the robot send endpoints (``/v1.0/robot/groupMessages/send``, ``oToMessages/batchSend``),
  with DingTalk's error answers: 300001 for a gone session, 130101 over the per-robot rate
  limit, HTTP 400/401 bodies ``{"code","message"}`` for the OpenAPI.

Every message the bot sends is recorded; ``GET /_sim/messages`` lists them for tests and the
demo REPL.

Control endpoints (JSON in, JSON out):

* ``POST /_sim/say`` ``{"text", "user", "nick", "conversation", "group", "msgtype", "recognition",
  "msg_id", "timestamp_offset_ms", "sign", "raw_body", "omit_headers", "bot_url", "admin",
  "external", "title", "at_users"}`` -> ``{"status", "body", "msg_id", "session",
  "conversation", "callback"}`` (502 if the bot is unreachable).
* ``GET /_sim/messages?conversation=<cid>&since=<index>`` -> ``{"messages": [...], "next": n}``;
  each message has index, conversation, route (session_webhook / openapi_group /
  openapi_single / sync_response), msgtype, title, text, at_user_ids, is_at_all, user_ids,
  session, time_ms and the decoded payload.
* ``GET /_sim/inbound`` (every callback sent to the bot; ``status``: the bot's HTTP answer, 0 when
  unreachable), ``POST /_sim/expire_sessions``,
  ``POST /_sim/reset`` (back to the start-up state and config), ``POST /_sim/config
  {"rate_limit", "session_ttl_seconds", "bot_url"}``, ``GET /_sim/health``.
* Stream: ``POST /v1.0/gateway/connections/open``, WebSocket ``/connect?ticket=``,
  ``POST /_sim/stream/say`` (same fields as /_sim/say, plus ``wait_ack_seconds``; 409 without a
  client), ``GET /_sim/stream/acks``, ``POST /_sim/stream/ping``, ``POST /_sim/stream/disconnect
  {"close_after_seconds": 10}``, ``GET /_sim/stream/status``.

The web chat (`web`): ``GET /chat`` is a DingTalk-style group chat page for the demo; it speaks
through ``POST /_sim/web/say`` (the same signed path as ``/_sim/say``), shows ``GET
/_sim/web/feed`` and a panel on the Zadig simulator given by ``--zadig-url`` (default
``$DINGTALK_SIM_ZADIG_URL``, else ``$ZADIG_BASE_URL``, else ``http://127.0.0.1:7070``; also
``POST /_sim/config {"zadig_url"}``).

An ``"external": true`` sender is outside the robot's organisation: no ``senderStaffId`` and a
``senderCorpId`` of another corp (``dingexternalcorp0000001``) instead of the robot's own.

Sessions: one live session per conversation (per user for 1:1 chats), reused until it expires
or is revoked by ``/_sim/expire_sessions``; the next message then opens a new one. The rate
limit is one sliding 60 s window per robot shared by every send route (no 10-minute penalty).
A JSON message in the bot's HTTP response body is recorded as route ``sync_response``
(historic behaviour, docs/dingtalk.md §2.1); ``{"msgtype":"empty"}`` or an empty body is ignored.

Modules: `state` (config, sessions, rate limit, recorded messages), `callbacks` (the callback
body and its signature), `receiving` (session webhook and OpenAPI send endpoints), `stream`
(the Stream gateway), `control` (``/_sim``), `web` (the chat page and its routes), `app` (the
Sanic app: `create_app`), `__main__` (the CLI). A new surface is a module with its own
``register(app)``.

Run: ``python -m simulators.dingtalk --port 7080 --app-key demo-app-key --app-secret
demo-app-secret --bot-url http://127.0.0.1:5005/webhooks/dingtalk/webhook --zadig-url
http://127.0.0.1:7070``, then open http://127.0.0.1:7080/chat.
"""

from simulators.dingtalk.app import create_app

__all__ = ["create_app"]
