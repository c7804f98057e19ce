/* The Zadig side panel: tasks with their stages (polled from GET /_sim/web/zadig/panel) and the
 * Zadig simulator's controls, reached through the same-origin proxy /_sim/web/zadig/sim/<path>:
 * the next task fails or hangs (POST outcome), a workflow needs an approval (POST|DELETE
 * workflows/<key>/approval), a waiting approval is voted on (POST tasks/<key>/<id>/approve).
 */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var STATUS = {
    "": "未开始",
    created: "已创建",
    prepare: "准备中",
    waiting: "排队中",
    running: "运行中",
    passed: "成功",
    failed: "失败",
    timeout: "超时",
    cancelled: "已取消",
    wait_for_approval: "待审批",
    reject: "已拒绝",
    skipped: "已跳过",
  };
  var STAGES = { build: "构建", deploy: "部署", approval: "审批" };
  var OUTCOMES = { failed: "失败", hang: "卡住", timeout: "超时", passed: "成功" };
  var panel = { user: null, last: "", workflows: [] };

  function $(testid) {
    return document.querySelector('[data-testid="' + testid + '"]');
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function call(method, path, body) {
    return fetch("/_sim/web/zadig/sim/" + path, {
      method: method,
      headers: { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.error || "HTTP " + response.status);
        return data;
      });
    });
  }

  function status(text, bad) {
    var node = $("zadig-status");
    node.textContent = text;
    node.classList.toggle("bad", !!bad);
  }

  function act(promise, done) {
    return promise
      .then(function () {
        status(done);
        return refresh();
      })
      .catch(function (exc) {
        status("操作失败：" + exc.message, true);
      });
  }

  // -- drawing ---------------------------------------------------------------------------------

  function taskRow(task) {
    var row = el("li", "task status-" + (task.status || "none"));
    row.setAttribute("data-testid", "zadig-task");
    row.setAttribute("data-workflow", task.workflow_key);
    row.setAttribute("data-task-id", String(task.task_id));
    row.setAttribute("data-status", task.status);
    // Zadig says "running" while an approval job waits; the panel says what is happening.
    var shown = task.waiting_approval ? "wait_for_approval" : task.status;
    if (task.waiting_approval) row.setAttribute("data-approval", "waiting");
    var head = el("div", "task-head");
    head.appendChild(el("span", "task-name", task.workflow_key + " #" + task.task_id));
    var badge = el("span", "badge status-" + (shown || "none"), STATUS[shown] || shown);
    badge.setAttribute("data-testid", "zadig-task-status");
    head.appendChild(badge);
    row.appendChild(head);
    var what = (task.services.join("、") || "—") + (task.env ? " → " + task.env : "");
    row.appendChild(el("div", "task-sub", what + " · " + task.creator));
    var stages = el("ol", "stages");
    task.stages.forEach(function (stage) {
      var status = stage.waiting_approval ? "wait_for_approval" : stage.status;
      var item = el("li", "stage status-" + (status || "none"));
      item.setAttribute("data-testid", "zadig-stage");
      item.setAttribute("data-stage", stage.name);
      item.setAttribute("data-status", stage.status);
      if (stage.waiting_approval) item.setAttribute("data-approval", "waiting");
      item.title = stage.jobs
        .map(function (job) {
          return job.name + "：" + (STATUS[job.status] || job.status);
        })
        .join("\n");
      item.appendChild(el("span", "stage-name", STAGES[stage.name] || stage.name));
      item.appendChild(el("span", "stage-status", STATUS[status] || status));
      stages.appendChild(item);
    });
    row.appendChild(stages);
    if (task.error) row.appendChild(el("div", "task-error", task.error));
    if (task.waiting_approval) row.appendChild(votes(task));
    return row;
  }

  function votes(task) {
    var box = el("div", "votes");
    [
      ["zadig-approve", "在 Zadig 批准", true],
      ["zadig-reject", "拒绝", false],
    ].forEach(function (spec) {
      var button = el("button", "btn" + (spec[2] ? " primary" : ""), spec[1]);
      button.type = "button";
      button.setAttribute("data-testid", spec[0]);
      button.addEventListener("click", function () {
        var user = panel.user || {};
        var path = "tasks/" + task.workflow_key + "/" + task.task_id + "/approve";
        act(
          call("POST", path, {
            user_id: user.user_id,
            user_name: user.user_name,
            approve: spec[2],
            comment: spec[2] ? "在 Zadig 页面批准" : "在 Zadig 页面拒绝",
          }),
          spec[2] ? "已批准" : "已拒绝"
        );
      });
      box.appendChild(button);
    });
    return box;
  }

  function draw(data) {
    panel.user = data.user;
    var list = $("zadig-tasks");
    list.replaceChildren();
    if (!data.tasks.length) list.appendChild(el("li", "empty", "还没有任务"));
    data.tasks.forEach(function (task) {
      list.appendChild(taskRow(task));
    });
    var pending = data.outcomes.map(function (o) {
      var where = STAGES[o.stage] || o.stage;
      return (o.workflow_key || "任意工作流") + "：" + where + (OUTCOMES[o.status] || o.status);
    });
    var note = $("outcome-pending");
    note.textContent = pending.length ? "已设置 · " + pending.join("；") : "未设置：任务正常完成";
    note.setAttribute("data-count", String(pending.length));
    drawWorkflows(data.workflows);
  }

  function drawWorkflows(workflows) {
    var select = $("approval-workflow");
    var keys = workflows.map(function (w) {
      return w.key;
    });
    if (keys.join() !== panel.workflows.join()) {
      var chosen = select.value;
      select.replaceChildren();
      keys.forEach(function (key) {
        var option = el("option", "", key);
        option.value = key;
        select.appendChild(option);
      });
      var prod = keys.filter(function (k) {
        return /prod$/.test(k);
      })[0];
      select.value = keys.indexOf(chosen) >= 0 ? chosen : prod || keys[0] || "";
      panel.workflows = keys;
    }
    var withApproval = workflows
      .filter(function (w) {
        return w.approval;
      })
      .map(function (w) {
        return w.key;
      });
    var note = $("approval-state");
    note.textContent = withApproval.length ? "需要审批：" + withApproval.join("、") : "没有工作流需要审批";
    note.setAttribute("data-workflows", withApproval.join(","));
  }

  function refresh() {
    return fetch("/_sim/web/zadig/panel")
      .then(function (response) {
        return response.json().then(function (data) {
          if (response.status === 503) {
            $("zadig-panel").setAttribute("data-enabled", "false");
            return;
          }
          if (!response.ok) throw new Error(data.error || "HTTP " + response.status);
          var key = JSON.stringify(data);
          if (key !== panel.last) {
            panel.last = key;
            draw(data);
          }
          if ($("zadig-status").classList.contains("bad") || !panel.connected) status("已连接");
          panel.connected = true;
        });
      })
      .catch(function (exc) {
        panel.connected = false;
        status("不可达：" + exc.message, true);
      });
  }

  function loop() {
    refresh().then(function () {
      setTimeout(loop, POLL_MS);
    });
  }

  function outcome(kind) {
    var stage = $("outcome-stage").value;
    var body = { status: kind, stage: stage };
    if (kind === "failed") body.error = (STAGES[stage] || stage) + "失败（模拟）";
    return act(call("POST", "outcome", body), "下一个任务将" + OUTCOMES[kind]);
  }

  function start(enabled) {
    if (!enabled) {
      $("zadig-panel").setAttribute("data-enabled", "false");
      return;
    }
    $("outcome-fail").addEventListener("click", function () {
      outcome("failed");
    });
    $("outcome-hang").addEventListener("click", function () {
      outcome("hang");
    });
    $("outcome-clear").addEventListener("click", function () {
      act(call("DELETE", "outcome"), "已清除");
    });
    $("approval-on").addEventListener("click", function () {
      var key = $("approval-workflow").value;
      var user = panel.user || {};
      var approver = { user_id: user.user_id, user_name: user.user_name };
      var body = { type: "native", approvers: [approver], needed: 1, timeout: 60 };
      act(call("POST", "workflows/" + key + "/approval", body), key + " 需要审批");
    });
    $("approval-off").addEventListener("click", function () {
      var key = $("approval-workflow").value;
      act(call("DELETE", "workflows/" + key + "/approval"), key + " 不需要审批");
    });
    loop();
  }

  window.ZadigPanel = { start: start };
})();
