"""The operations channel: readiness once the model is loaded, Prometheus metrics."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from connectors.dingtalk import DingTalkInput
from connectors.ops import OpsInput
from tests.connectors.test_dingtalk_channel import SESSION_PATH, deliver, group_message


def samples(text):
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_ready_only_once_the_model_is_loaded(serve, agent, runtime):
    client = await serve(OpsInput(runtime=lambda: runtime))
    agent.is_ready = lambda: False
    not_yet = await client.get("/webhooks/ops/ready")
    agent.is_ready = lambda: True
    ready = await client.get("/webhooks/ops/ready")

    assert (not_yet.status_code, not_yet.json()["ready"]) == (503, False)
    assert (ready.status_code, ready.json()) == (200, {"ready": True})


async def test_metrics_count_messages_replies_turns_and_the_shared_state(
    serve, agent, runtime, dingtalk
):
    async def reply(message):
        await message.output_channel.send_text_message(message.sender_id, "好的")

    agent.reply = reply
    client = await serve(DingTalkInput(runtime=lambda: runtime), OpsInput(runtime=lambda: runtime))
    body = group_message()
    await deliver(client, body)
    await deliver(client, body)  # re-delivered
    await deliver(client, group_message(), headers={"sign": "forged", "timestamp": "1"})
    await dingtalk.wait_for(SESSION_PATH)
    runtime.audit.record("deploy", "triggered", workflow_key="mall-test", task_id=1)

    response = await client.get("/webhooks/ops/metrics")

    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert found[("chatops_messages_in_total", (("result", "accepted"),))] == 1
    assert found[("chatops_messages_in_total", (("result", "duplicate"),))] == 1
    assert found[("chatops_messages_in_total", (("result", "unsigned"),))] == 1
    assert found[("chatops_turn_seconds_count", ())] == 1
    assert found[("chatops_replies_out_total", (("outcome", "sent"),))] == 1
    assert (
        found[("chatops_audit_events_total", (("action", "deploy"), ("decision", "triggered")))]
        == 1
    )
    assert found[("chatops_queue_rows", (("state", "sent"), ("table", "outbox")))] == 1
