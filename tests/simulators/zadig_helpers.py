"""What the Zadig simulator tests share: the token and registry of the simulator process
started in conftest, request bodies, small readers of task JSON, and a `World` on a fake clock.

tests/simulators has no __init__.py, so conftest cannot be imported; this module can
(``tests.simulators.zadig_helpers``).
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

from chatops.catalog import parse_catalog
from simulators.zadig.world import World, WorldConfig

# Must match the simulator process started in conftest.
TOKEN = "test-zadig-token"
REGISTRY = "https://harbor.example.com/mall"
TASK = "/openapi/workflows/custom/task"
MONGO_500 = {
    "message": "Internal Error: ",
    "code": 500,
    "description": "mongo: no documents in result",
}

Svc = Tuple[str, str, str]  # service name, module, repo
USER: Svc = ("user-service", "user-service", "user-service")
ORDER: Svc = ("order-service", "order", "order-backend")


def build_input(
    services: Sequence[Svc] = (USER,),
    branch: str = "feature-x",
    registry: str = REGISTRY,
    codehost: str = "gitlab",
    job_name: str = "build",
) -> Dict[str, Any]:
    return {
        "job_name": job_name,
        "job_type": "zadig-build",
        "parameters": {
            "registry": registry,
            "service_list": [
                {
                    "service_name": name,
                    "service_module": module,
                    "repo_info": [
                        {
                            "codehost_name": codehost,
                            "repo_namespace": "mall",
                            "repo_name": repo,
                            "branch": branch,
                        }
                    ],
                }
                for name, module, repo in services
            ],
        },
    }


def deploy_input(env: str = "dev", services: Sequence[Svc] = (USER,)) -> Dict[str, Any]:
    return {
        "job_name": "deploy",
        "job_type": "zadig-deploy",
        "parameters": {
            "env_name": env,
            "service_list": [
                {"service_name": name, "service_module": module, "image_name": ""}
                for name, module, _ in services
            ],
        },
    }


def trigger_body(
    workflow: str = "mall-dev", inputs: Optional[List[Dict[str, Any]]] = None, project: str = "mall"
) -> Dict[str, Any]:
    env = {"mall-dev": "dev", "mall-test": "test", "mall-prod": "prod"}.get(workflow, "dev")
    return {
        "project_key": project,
        "workflow_key": workflow,
        "inputs": inputs if inputs is not None else [build_input(), deploy_input(env)],
    }


def error_body(code: int, message: str, description: str) -> Dict[str, Any]:
    return {
        "type": "error",
        "message": message,
        "code": code,
        "description": description,
        "extra": {},
    }


def started(zadig, body: Optional[Dict[str, Any]] = None) -> int:
    resp = zadig.trigger(body or trigger_body())
    assert resp.status_code == 200, resp.text
    return resp.json()["task_id"]


def stage(task: Dict[str, Any], name: str) -> Dict[str, Any]:
    return next(s for s in task["stages"] if s["name"] == name)


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_world(
    catalog_yaml: str, clock: FakeClock, waiting: float = 1.0, running: float = 6.0
) -> World:
    catalog = parse_catalog(catalog_yaml)
    return World(
        WorldConfig(catalog=catalog, token=TOKEN, waiting_seconds=waiting, running_seconds=running),
        clock,
    )


# -- added for approvals, rollback workflows, retries and logs ---------------------------------

BOT = {"user_id": "uid-chatops-bot", "user_name": "chatops-bot"}
ALICE = {"user_id": "uid-alice", "user_name": "alice"}
APPROVE = "/openapi/workflows/custom/task/approve"


def approval_input(name: str = "approve") -> Dict[str, Any]:
    return {"job_name": name, "job_type": "approval", "parameters": {}}


# A trigger of mall-dev that lists its build, approval and deploy jobs.
WITH_APPROVAL = trigger_body(inputs=[build_input(), approval_input(), deploy_input()])


def approval_config(
    approvers: Sequence[Dict[str, str]] = (BOT,), needed: int = 1, **extra: Any
) -> Dict[str, Any]:
    return {"type": "native", "approvers": list(approvers), "needed": needed, **extra}


def rollback_input(env: str, service: Svc, image: str) -> Dict[str, Any]:
    name, module, _ = service
    return {
        "job_name": "deploy",
        "job_type": "zadig-deploy",
        "parameters": {
            "env_name": env,
            "service_list": [{"service_name": name, "service_module": module, "image_name": image}],
        },
    }


def all_jobs(task: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [job for st in task["stages"] for job in st["jobs"]]


def job_named(task: Dict[str, Any], name: str) -> Dict[str, Any]:
    return next(job for job in all_jobs(task) if job["name"] == name)


def running_images(zadig, env: str, production: bool = False) -> Dict[str, str]:
    path = f"/openapi/environments/{'production/' if production else ''}{env}"
    detail = zadig.api.get(path, params={"projectKey": "mall"}).json()
    return {s["service_name"]: s["containers"][0]["image"] for s in detail["services"]}


def world_trigger(world: World, body: Dict[str, Any]) -> int:
    return world.trigger(json.dumps(body).encode())["task_id"]
