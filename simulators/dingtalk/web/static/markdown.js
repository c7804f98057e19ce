/* A small, safe renderer for the markdown DingTalk robots send (headings, lists, quotes, bold,
 * italic, links, code, rules) and for text messages. It builds DOM nodes and only ever sets
 * textContent, so nothing in a message becomes HTML. Links: http(s) only; a
 * dtmd://dingtalkclient/sendMessage?content=... link becomes a button that sends its content.
 * "@id" / "@name" of someone known (ctx.people) is drawn as a highlighted mention.
 *
 *   DTMarkdown.markdown(text, ctx) / DTMarkdown.text(text, ctx) -> DocumentFragment
 *   ctx = {people: {id: nick}, atIds: [...], atAll: bool, onChoice: function (content) {}}
 */
(function () {
  "use strict";

  var DTMD = "dtmd://dingtalkclient/sendMessage?";
  // A link target: no spaces; parentheses only in balanced pairs, one level deep.
  var TARGET = "((?:[^\\s()]|\\([^\\s()]*\\))+)";
  var INLINE = new RegExp(
    [
      "(`+)([\\s\\S]*?[^`])\\1(?!`)", // 1-2 code
      "!\\[((?:\\\\.|[^\\]\\\\])*)\\]\\(\\s*" + TARGET + "\\s*\\)", // 3-4 image
      "\\[((?:\\\\.|[^\\]\\\\])*)\\]\\(\\s*" + TARGET + "\\s*\\)", // 5-6 link
      "\\*\\*([\\s\\S]+?)\\*\\*", // 7 bold
      "__([\\s\\S]+?)__", // 8 bold
      "\\*([^*\\s](?:[^*]*[^*\\s])?)\\*", // 9 italic
      "~~([\\s\\S]+?)~~", // 10 strike
    ].join("|"),
    "g"
  );
  var BARE_URL = /https?:\/\/[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+/g;
  var MENTION = /@([^\s@，。：；！？、,:;!?()（）]+)/g;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function unescapeLabel(label) {
    return label.replace(/\\([\\\[\]()*_`~#>!-])/g, "$1");
  }

  function choiceContent(url) {
    if (url.indexOf(DTMD) !== 0) return null;
    return new URLSearchParams(url.slice(DTMD.length)).get("content");
  }

  /* The longest known id or nick at the start of `word`: [id, rest] or null. */
  function knownMention(word, ctx) {
    var best = null;
    var people = ctx.people || {};
    Object.keys(people).forEach(function (id) {
      [id, people[id]].forEach(function (key) {
        if (key && word.indexOf(key) === 0 && (!best || key.length > best[1].length)) {
          best = [id, key];
        }
      });
    });
    (ctx.atIds || []).forEach(function (id) {
      if (word.indexOf(id) === 0 && (!best || id.length > best[1].length)) best = [id, id];
    });
    if (!best && ctx.atAll && /^(所有人|all)/.test(word)) best = ["all", word.match(/^(所有人|all)/)[0]];
    return best && [best[0], word.slice(best[1].length)];
  }

  /* Plain text: bare http(s) addresses become links (DingTalk does that too), then mentions. */
  function appendText(parent, text, ctx) {
    var last = 0;
    var m;
    BARE_URL.lastIndex = 0;
    while ((m = BARE_URL.exec(text))) {
      var url = m[0].replace(/[.,;:!?'")\]]+$/, "");
      appendMentions(parent, text.slice(last, m.index), ctx);
      link(parent, url, url, ctx);
      last = m.index + url.length;
      BARE_URL.lastIndex = last;
    }
    appendMentions(parent, text.slice(last), ctx);
  }

  function appendMentions(parent, text, ctx) {
    var last = 0;
    MENTION.lastIndex = 0;
    var m;
    while ((m = MENTION.exec(text))) {
      if (m.index > 0 && /[\w.\-]/.test(text.charAt(m.index - 1))) continue; // an e-mail address
      var found = knownMention(m[1], ctx);
      if (!found) continue;
      parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      var id = found[0];
      var name = id === "all" ? "所有人" : (ctx.people || {})[id] || id;
      var span = el("span", "mention", "@" + name);
      span.setAttribute("data-testid", "mention");
      span.setAttribute("data-user", id);
      parent.appendChild(span);
      parent.appendChild(document.createTextNode(found[1]));
      last = m.index + m[0].length;
    }
    parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function inline(parent, text, ctx) {
    var last = 0;
    var m;
    INLINE.lastIndex = 0;
    while ((m = INLINE.exec(text))) {
      appendText(parent, text.slice(last, m.index), ctx);
      last = INLINE.lastIndex;
      if (m[2] !== undefined) {
        parent.appendChild(el("code", "", m[2]));
      } else if (m[4] !== undefined) {
        parent.appendChild(el("span", "image", "[图片]"));
      } else if (m[6] !== undefined) {
        link(parent, unescapeLabel(m[5]), m[6], ctx);
      } else if (m[7] !== undefined || m[8] !== undefined) {
        inline(parent.appendChild(el("strong")), m[7] !== undefined ? m[7] : m[8], ctx);
      } else if (m[9] !== undefined) {
        inline(parent.appendChild(el("em")), m[9], ctx);
      } else if (m[10] !== undefined) {
        inline(parent.appendChild(el("del")), m[10], ctx);
      }
      INLINE.lastIndex = last; // the recursive calls moved the shared regex on
    }
    appendText(parent, text.slice(last), ctx);
  }

  function link(parent, label, url, ctx) {
    var content = choiceContent(url);
    if (content !== null) {
      var button = el("button", "choice", label);
      button.type = "button";
      button.setAttribute("data-testid", "choice");
      button.setAttribute("data-content", content);
      button.title = "发送：" + content;
      button.addEventListener("click", function () {
        if (ctx.onChoice) ctx.onChoice(content);
      });
      parent.appendChild(button);
    } else if (/^https?:\/\//i.test(url)) {
      var a = el("a", "", label);
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      parent.appendChild(a);
    } else {
      parent.appendChild(document.createTextNode(label));
    }
  }

  var FENCE = /^\s*(```|~~~)/;
  var HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  var RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
  var QUOTE = /^\s{0,3}>\s?(.*)$/;
  var ITEM = /^(\s*)([-*+]|\d+[.)])\s+(.*)$/;

  function blocks(parent, lines, ctx) {
    var para = null;
    var i = 0;
    function flush() {
      para = null;
    }
    while (i < lines.length) {
      var line = lines[i];
      var m;
      if (FENCE.test(line)) {
        flush();
        var code = [];
        for (i++; i < lines.length && !FENCE.test(lines[i]); i++) code.push(lines[i]);
        i++;
        parent.appendChild(el("pre")).appendChild(el("code", "", code.join("\n")));
      } else if (!line.trim()) {
        flush();
        i++;
      } else if ((m = HEADING.exec(line))) {
        flush();
        inline(parent.appendChild(el("h" + m[1].length)), m[2], ctx);
        i++;
      } else if (RULE.test(line)) {
        flush();
        parent.appendChild(el("hr"));
        i++;
      } else if (QUOTE.test(line)) {
        flush();
        var quoted = [];
        for (; i < lines.length && (m = QUOTE.exec(lines[i])); i++) quoted.push(m[1]);
        blocks(parent.appendChild(el("blockquote")), quoted, ctx);
      } else if ((m = ITEM.exec(line))) {
        flush();
        i = list(parent, lines, i, ctx);
      } else {
        if (para) para.appendChild(el("br"));
        else para = parent.appendChild(el("p"));
        inline(para, line.trim(), ctx);
        i++;
      }
    }
  }

  /* A run of list items from lines[i]; indented items nest one level. Returns the next line. */
  function list(parent, lines, i, ctx) {
    var first = ITEM.exec(lines[i]);
    var ordered = /\d/.test(first[2]);
    var indent = first[1].length;
    var node = el(ordered ? "ol" : "ul");
    if (ordered && parseInt(first[2], 10) !== 1) node.start = parseInt(first[2], 10);
    parent.appendChild(node);
    var item = null;
    while (i < lines.length) {
      var line = lines[i];
      var m = ITEM.exec(line);
      if (m && m[1].length > indent && item) {
        i = list(item, lines, i, ctx);
      } else if (m && m[1].length === indent && /\d/.test(m[2]) === ordered) {
        item = node.appendChild(el("li"));
        inline(item, m[3], ctx);
        i++;
      } else if (!m && item && /^\s+\S/.test(line)) {
        item.appendChild(el("br"));
        inline(item, line.trim(), ctx);
        i++;
      } else {
        break;
      }
    }
    return i;
  }

  function split(text) {
    return String(text || "").replace(/\r\n?/g, "\n").split("\n");
  }

  window.DTMarkdown = {
    markdown: function (text, ctx) {
      var frag = document.createDocumentFragment();
      blocks(frag, split(text), ctx || {});
      return frag;
    },
    text: function (text, ctx) {
      var frag = document.createDocumentFragment();
      split(text).forEach(function (line, n) {
        if (n) frag.appendChild(el("br"));
        appendText(frag, line, ctx || {});
      });
      return frag;
    },
  };
})();
