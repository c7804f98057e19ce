/* The chat: who speaks, which conversation, the message list (polled from the simulator's feed)
 * and the composer. Every message goes to POST /_sim/web/say, which signs the DingTalk callback
 * and posts it to the bot. URL parameters: ?user=<id>&chat=group|single&group=<conversationId>.
 */
(function () {
  "use strict";

  var POLL_MS = 500;
  var COLOURS = ["#3296fa", "#ff943e", "#15bc83", "#9a6ef7", "#f25643", "#00b3c7", "#d4a017"];
  var params = new URLSearchParams(location.search);
  var state = {
    people: [],
    names: {},
    person: null,
    chat: params.get("chat") === "single" ? "single" : "group",
    group: params.get("group") || "",
    groupTitle: "",
    botNick: "部署助手",
    since: 0,
    epoch: null,
    view: 0, // bumped on every switch, so an answer for the old view is dropped
  };

  function $(testid) {
    return document.querySelector('[data-testid="' + testid + '"]');
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function colour(id) {
    var h = 0;
    for (var i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
    return COLOURS[h % COLOURS.length];
  }

  function clock(ms) {
    var d = new Date(ms || Date.now());
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  function getJSON(url, options) {
    return fetch(url, options).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error(body.error || "HTTP " + response.status);
        return body;
      });
    });
  }

  // -- the conversation ------------------------------------------------------------------------

  function feedURL() {
    var q = new URLSearchParams({
      chat: state.chat,
      person: state.person.id,
      group: state.group,
      since: String(state.since),
    });
    return "/_sim/web/feed?" + q.toString();
  }

  function mentionCtx(item) {
    return {
      people: state.names,
      atIds: item.at_user_ids || [],
      atAll: !!item.is_at_all,
      onChoice: send,
    };
  }

  function render(item) {
    var bot = item.kind === "bot";
    var row = el("div", "msg " + (bot ? "msg-bot" : "msg-user"));
    row.setAttribute("data-testid", "message");
    row.setAttribute("data-id", String(item.id));
    row.setAttribute("data-kind", item.kind);
    row.setAttribute("data-sender", item.sender);
    row.setAttribute("data-sender-name", item.nick);
    row.setAttribute("data-msgtype", item.msgtype);
    row.setAttribute("data-route", item.route || "");
    if (item.external) row.setAttribute("data-external", "true");
    var avatar = el("div", "avatar", bot ? "部" : (item.nick || "?").charAt(0));
    avatar.style.background = bot ? "#3296fa" : colour(item.sender);
    if (bot) avatar.classList.add("avatar-bot");
    var body = el("div", "msg-body");
    var meta = el("div", "msg-meta");
    var name = el("span", "msg-name", item.nick || item.sender);
    name.setAttribute("data-testid", "message-sender");
    meta.appendChild(name);
    if (bot) meta.appendChild(el("span", "tag tag-bot", "机器人"));
    if (item.external) meta.appendChild(el("span", "tag tag-external", "外部"));
    meta.appendChild(el("span", "msg-time", clock(item.time_ms)));
    var bubble = el("div", "bubble" + (item.msgtype === "markdown" ? " markdown" : ""));
    bubble.setAttribute("data-testid", "message-content");
    var ctx = mentionCtx(item);
    if (bot && item.msgtype !== "text") {
      if (item.msgtype !== "markdown" && item.title) bubble.appendChild(el("h4", "", item.title));
      bubble.appendChild(DTMarkdown.markdown(item.text, ctx));
    } else {
      bubble.appendChild(DTMarkdown.text(item.text, ctx));
    }
    if (item.delivered === false) {
      var failed = el("span", "undelivered", "!");
      failed.title = "机器人没有收下这条消息";
      failed.setAttribute("data-testid", "undelivered");
      body.appendChild(failed);
    }
    body.insertBefore(bubble, body.firstChild);
    body.insertBefore(meta, bubble);
    row.appendChild(avatar);
    row.appendChild(body);
    return row;
  }

  function markMine() {
    document.querySelectorAll('[data-testid="message"]').forEach(function (row) {
      var kind = row.getAttribute("data-kind");
      var sender = row.getAttribute("data-sender");
      row.classList.toggle("mine", kind === "user" && sender === state.person.id);
    });
    document.querySelectorAll('[data-testid="message"][data-kind="bot"]').forEach(function (row) {
      var at = row.querySelector('[data-testid="mention"][data-user="' + state.person.id + '"]');
      row.classList.toggle("at-me", !!at);
    });
  }

  function poll() {
    var view = state.view;
    return getJSON(feedURL())
      .then(function (data) {
        if (view !== state.view) return;
        var list = $("message-list");
        if (state.epoch !== null && data.epoch !== state.epoch) {
          list.replaceChildren();
          state.since = 0;
          state.epoch = data.epoch;
          return poll();
        }
        state.epoch = data.epoch;
        var atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
        data.messages.forEach(function (item) {
          insert(list, item);
        });
        state.since = data.next;
        if (data.messages.length) {
          markMine();
          if (atBottom || data.messages.some(mineItem)) list.scrollTop = list.scrollHeight;
        }
      })
      .catch(function () {
        /* the simulator restarting: try again next tick */
      });
  }

  /* In id order, once: two polls in flight may answer out of order. */
  function insert(list, item) {
    var rows = list.querySelectorAll('[data-testid="message"]');
    for (var i = rows.length - 1; i >= 0; i--) {
      var id = Number(rows[i].getAttribute("data-id"));
      if (id === item.id) return;
      if (id < item.id) {
        list.insertBefore(render(item), rows[i].nextSibling);
        return;
      }
    }
    list.insertBefore(render(item), list.firstChild);
  }

  function mineItem(item) {
    return item.kind === "user" && item.sender === state.person.id;
  }

  function loop() {
    poll().then(function () {
      setTimeout(loop, POLL_MS);
    });
  }

  // -- sending ---------------------------------------------------------------------------------

  function send(text) {
    text = String(text || "").trim();
    if (!text) return Promise.resolve();
    var error = $("send-error");
    error.textContent = "";
    return getJSON("/_sim/web/say", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        text: text,
        person: state.person.id,
        chat: state.chat,
        group: state.group,
      }),
    })
      .catch(function (exc) {
        error.textContent = "发送失败：" + exc.message;
      })
      .then(poll);
  }

  function sendInput() {
    var input = $("message-input");
    var text = input.value;
    if (!text.trim()) return;
    input.value = "";
    send(text);
    input.focus();
  }

  // -- switches --------------------------------------------------------------------------------

  function switchTo(personId, chat) {
    var before = state.chat === "single" ? state.person && state.person.id : state.group;
    state.person = state.people.filter(function (p) {
      return p.id === personId;
    })[0] || state.people[0];
    state.chat = chat === "single" ? "single" : "group";
    var after = state.chat === "single" ? state.person.id : state.group;
    var app = $("app");
    app.setAttribute("data-user", state.person.id);
    app.setAttribute("data-chat", state.chat);
    $("user-switch").value = state.person.id;
    var note = state.person.external
      ? "组织外的人：钉钉不带 senderStaffId，senderCorpId 是另一家公司"
      : "senderStaffId = " + state.person.id + " · " + state.person.role;
    $("user-note").textContent = note;
    document.querySelectorAll('[data-testid="conversation-switch"] [data-chat]').forEach(function (b) {
      var on = b.getAttribute("data-chat") === state.chat;
      b.classList.toggle("active", on);
      b.setAttribute("aria-selected", on ? "true" : "false");
    });
    $("chat-title").textContent = state.chat === "group" ? state.groupTitle : state.botNick;
    $("composer-hint").textContent =
      (state.chat === "group" ? "群聊里的消息都会 @" + state.botNick : "单聊：直接发给" + state.botNick) +
      " · Enter 发送，Shift+Enter 换行";
    $("chat-sub").textContent =
      state.chat === "group"
        ? state.people.length + 1 + " 人 · " + state.group
        : "与 " + state.person.nick + " 的单聊";
    if (before !== after || state.chat !== app.getAttribute("data-shown")) {
      app.setAttribute("data-shown", state.chat);
      state.view += 1;
      state.since = 0;
      $("message-list").replaceChildren();
      poll();
    } else {
      markMine();
    }
    var q = new URLSearchParams(location.search);
    q.set("user", state.person.id);
    q.set("chat", state.chat);
    history.replaceState(null, "", "?" + q.toString());
  }

  function start(config) {
    state.people = config.people;
    state.people.forEach(function (p) {
      state.names[p.id] = p.nick;
    });
    state.group = state.group || config.group.conversation;
    state.groupTitle = config.group.title;
    state.botNick = config.bot.nick;
    $("group-title").textContent = state.groupTitle;
    var select = $("user-switch");
    state.people.forEach(function (p) {
      var option = el("option", "", p.nick + " · " + (p.external ? "外部 · " : "") + p.role);
      option.value = p.id;
      select.appendChild(option);
    });
    select.addEventListener("change", function () {
      switchTo(select.value, state.chat);
    });
    document.querySelectorAll('[data-testid="conversation-switch"] [data-chat]').forEach(function (b) {
      b.addEventListener("click", function () {
        switchTo(state.person.id, b.getAttribute("data-chat"));
      });
    });
    var input = $("message-input");
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        sendInput();
      }
    });
    $("send-button").addEventListener("click", sendInput);
    switchTo(params.get("user") || state.people[0].id, state.chat);
    if (window.ZadigPanel) ZadigPanel.start(config.zadig.enabled);
    poll().then(function () {
      $("app").setAttribute("data-ready", "true");
      setTimeout(loop, POLL_MS);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    getJSON("/_sim/web/people").then(start);
  });
})();
