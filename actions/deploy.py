"""The deploy form: ask for what is missing, confirm production, trigger Zadig, promise a result."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    choice_buttons,
    conversation_id,
    first_value,
    reply_target,
    runtime,
    task_ref,
)
from chatops.formatting import explain_zadig_error
from chatops.zadig.errors import ZadigError, ZadigNotFound

logger = logging.getLogger(__name__)

FORM_SLOTS = ("service", "environment", "branch", "confirmed")


def reset_form_slots() -> List[EventType]:
    return [SlotSet(slot, None) for slot in FORM_SLOTS]


def valid_branch(branch: Optional[str]) -> bool:
    """A git ref name Zadig can check out: no whitespace, no leading '-'."""
    return bool(branch) and not any(ch.isspace() for ch in branch) and not branch.startswith("-")


def environment_choices() -> str:
    envs = runtime().catalog.environments.values()
    return " / ".join(f"{e.key}（{e.label}）" for e in envs)


class ValidateDeployForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_deploy_form"

    async def required_slots(
        self,
        domain_slots: List[Text],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> List[Text]:
        """``confirmed`` (an explicit 确认) is only required for production environments."""
        env = runtime().catalog.environment(first_value(tracker.get_slot("environment")))
        if env is not None and env.production:
            return list(domain_slots)
        return [slot for slot in domain_slots if slot != "confirmed"]

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Also validate ``branch``: it is optional, and rasa_sdk only validates required slots."""
        events = await super().get_validation_events(dispatcher, tracker, domain)
        if "branch" in tracker.slots_to_validate():
            result = await self.validate_branch(
                tracker.get_slot("branch"), dispatcher, tracker, domain
            )
            events += [SlotSet(slot, value) for slot, value in result.items()]
        return events

    async def validate_service(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """A catalog service (by name or alias), or say what was not found and what is close."""
        wanted = first_value(value)
        catalog = runtime().catalog
        service = catalog.service(wanted)
        if service is not None:
            return {"service": service.name}
        close = catalog.suggest_services(wanted or "")
        hint = f"，是要 {' / '.join(close)} 吗？" if close else "。"
        dispatcher.utter_message(text=f"没有找到 {wanted}{hint}")
        return {"service": None}

    async def validate_environment(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        wanted = first_value(value)
        env = runtime().catalog.environment(wanted)
        if env is None:
            close = runtime().catalog.suggest_environments(wanted or "")
            hint = f"，是要 {' / '.join(close)} 吗？" if close else "。"
            dispatcher.utter_message(text=f"没有 {wanted} 这个环境{hint}")
            return {"environment": None}
        # A confirmation given for another environment does not carry over.
        return {"environment": env.key, "confirmed": None}

    async def validate_branch(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        branch = first_value(value)
        if not valid_branch(branch):
            dispatcher.utter_message(text=f"分支名 {branch!r} 不合法，我会用环境的默认分支。")
            return {"branch": None}
        return {"branch": branch}

    async def validate_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        return {"confirmed": True if value is True else None}


class ActionAskService(Action):
    def name(self) -> Text:
        return "action_ask_service"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Ask which service, offering every catalog service as a one-tap choice."""
        services = runtime().catalog.services.values()
        names = " / ".join(f"{s.name}（{s.label}）" for s in services)
        dispatcher.utter_message(
            text=f"发布哪个服务？可选：{names}",
            buttons=choice_buttons([(f"{s.name}（{s.label}）", s.name) for s in services]),
        )
        return []


class ActionAskEnvironment(Action):
    def name(self) -> Text:
        return "action_ask_environment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Ask which environment, listing the catalog's environments."""
        envs = runtime().catalog.environments.values()
        dispatcher.utter_message(
            text=f"发布到哪个环境？可选：{environment_choices()}",
            buttons=choice_buttons([(f"{e.key}（{e.label}）", e.key) for e in envs]),
        )
        return []


class ActionAskConfirmed(Action):
    def name(self) -> Text:
        return "action_ask_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Summarise a production deploy and ask for an explicit yes."""
        plan = runtime().catalog.plan(
            first_value(tracker.get_slot("service")) or "",
            first_value(tracker.get_slot("environment")) or "",
            first_value(tracker.get_slot("branch")),
        )
        env = runtime().catalog.environment(plan.env_name)
        dispatcher.utter_message(
            text=(
                f"⚠️ 这是生产环境发布，请确认：\n"
                f"- 服务：{plan.service_name}\n"
                f"- 环境：{plan.env_name}（{env.label if env else plan.env_name}）\n"
                f"- 工作流：{plan.workflow_key}\n"
                f"- 分支：{plan.branch}\n"
                f"回复“确认”开始发布，回复“不发了”放弃。"
            ),
            buttons=choice_buttons([("确认发布", "确认"), ("不发了", "不发了")]),
        )
        return []


class ActionSubmitDeploy(Action):
    def name(self) -> Text:
        return "action_submit_deploy"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Trigger the catalog's workflow, reply with the task, and register the follow-up."""
        rt = runtime()
        service = first_value(tracker.get_slot("service"))
        environment = first_value(tracker.get_slot("environment"))
        env = rt.catalog.environment(environment)
        if service is None or env is None:
            dispatcher.utter_message(text="发布信息不完整，没有触发任何任务。")
            return reset_form_slots()
        if env.production and tracker.get_slot("confirmed") is not True:
            dispatcher.utter_message(response="utter_deploy_stopped")
            return reset_form_slots()

        branch = first_value(tracker.get_slot("branch"))
        if branch is not None and not valid_branch(branch):
            dispatcher.utter_message(
                text=f"分支名 {branch!r} 不合法，改用 {env.key} 的默认分支 {env.branch}。"
            )
            branch = None
        plan = rt.catalog.plan(service, env.key, branch)
        try:
            task = await rt.zadig.trigger_deploy(plan)
        except ZadigError as exc:
            logger.warning("trigger %s failed: %s", plan.workflow_key, exc)
            text = explain_zadig_error(exc, "触发发布", changes_state=True)
            if isinstance(exc, ZadigNotFound):
                text += f"（{plan.env_name} 对应的工作流是 {plan.workflow_key}）"
            dispatcher.utter_message(text=text)
            return reset_form_slots()

        target = reply_target(tracker)
        rt.store.add(
            project_key=plan.project_key,
            workflow_key=task.workflow_key,
            task_id=task.task_id,
            service=plan.service_name,
            environment=plan.env_name,
            sender_id=tracker.sender_id,
            conversation_id=conversation_id(tracker),
            target=target,
        )
        promise = (
            "任务结束后我会在这里告诉你结果。"
            if target
            else "这个渠道收不到自动通知，可以随时问我“刚才的发布怎么样了”。"
        )
        dispatcher.utter_message(
            text=(
                f"🚀 已开始发布 {plan.service_name} → {plan.env_name}（分支 {plan.branch}）\n"
                f"任务：{task.workflow_key} #{task.task_id}\n"
                f"详情：{rt.task_link(task.workflow_key, task.task_id)}\n{promise}"
            )
        )
        return [
            *reset_form_slots(),
            SlotSet("last_task", task_ref(task.workflow_key, task.task_id)),
        ]


class ActionStopDeploy(Action):
    def name(self) -> Text:
        return "action_stop_deploy"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """End the deploy form ("算了", "不发了") after utter_deploy_stopped said so."""
        return [ActiveLoop(None), *reset_form_slots(), SlotSet("requested_slot", None)]
