"""What the simulated Zadig is seeded with, derived from the deployment catalog.

One project, one image registry, one code host alias, and two custom workflows per environment:
``<workflow>`` with stage ``build`` holding the ``zadig-build`` job, then stage ``deploy``
holding the ``zadig-deploy`` job (image from the build job); and ``<workflow>-rollback`` with
one stage ``deploy`` holding a ``zadig-deploy`` job named ``deploy`` whose image is chosen at
run time. The control API can add an ``approval`` job or other jobs to a workflow (`with_stage`).
Ids and creation times are fixed, so discovery answers are stable across restarts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from chatops.catalog import Catalog, Environment, Service

BUILD_TYPE = "zadig-build"
DEPLOY_TYPE = "zadig-deploy"
APPROVAL_TYPE = "approval"
# docs/zadig-task-operations.md §1.2: the approval kinds; only native ones are decided in Zadig.
APPROVAL_KINDS = ("native", "lark", "dingtalk", "workwx")
ROLLBACK_SUFFIX = "-rollback"
CODEHOST_ID = 1
CODEHOST_TYPE = "gitlab"
CODEHOST_ADDRESS = "https://gitlab.example.com"
# The token's user (JWT ``name`` and ``uid`` claims); Zadig records the name as task creator
# and revoker, and matches the uid against an approval's approvers.
DEFAULT_USER = "chatops-bot"
DEFAULT_USER_ID = "uid-chatops-bot"
# Fixed creation time of the seeded objects, so discovery answers are stable across restarts.
SEED_TIME = 1718000000


def object_id(*parts: str) -> str:
    """A stable 24-hex-digit id that looks like a Mongo ObjectID."""
    return hashlib.md5("/".join(parts).encode()).hexdigest()[:24]


def split_registry(registry: str) -> Tuple[str, str]:
    """``https://harbor.example.com/mall`` -> (``https://harbor.example.com``, ``mall``)."""
    scheme, sep, rest = registry.partition("://")
    if not sep:
        scheme, rest = "", registry
    host, _, namespace = rest.rstrip("/").partition("/")
    return (f"{scheme}://{host}" if scheme else host), namespace


def image_repo(registry: str) -> str:
    """Registry address + namespace without the scheme, as Zadig prefixes image names."""
    address, namespace = split_registry(registry)
    host = address.split("://", 1)[-1]
    return f"{host}/{namespace}" if namespace else host


def initial_image(registry: str, env: Environment, svc: Service) -> str:
    """What an environment runs before any deploy."""
    return f"{image_repo(registry)}/{svc.module}:20240610000000-0-{env.branch}"


def env_alias(env: Environment) -> str:
    """Zadig's env alias: the catalog label, unless it is just the key."""
    return env.label if env.label != env.key else ""


@dataclass(frozen=True)
class Approver:
    user_id: str
    user_name: str


@dataclass(frozen=True)
class ApprovalDef:
    """An approval job's settings (docs/zadig-task-operations.md §1.2)."""

    kind: str
    approvers: Tuple[Approver, ...]
    needed: int = 1
    timeout: int = 60  # minutes as configured; 0 means 60
    description: str = ""

    @property
    def minutes(self) -> int:
        return self.timeout or 60


@dataclass(frozen=True)
class JobDef:
    name: str
    type: str
    approval: Optional[ApprovalDef] = None
    # A deploy job's image source: ``fromjob`` (the build job's output) or ``runtime``.
    source: str = "fromjob"


@dataclass(frozen=True)
class StageDef:
    name: str
    jobs: Tuple[JobDef, ...]
    parallel: bool = True


@dataclass
class Workflow:
    key: str
    display_name: str
    env: Environment
    stages: Tuple[StageDef, ...]
    disabled: bool = False

    def stage_index(self, name: str) -> Optional[int]:
        return next((i for i, stage in enumerate(self.stages) if stage.name == name), None)

    def job(self, name: str) -> Optional[Tuple[int, int, JobDef]]:
        """Stage index, job index and definition of the job called `name`."""
        for si, stage in enumerate(self.stages):
            for ji, job in enumerate(stage.jobs):
                if job.name == name:
                    return si, ji, job
        return None


def seed_workflows(catalog: Catalog) -> Dict[str, Workflow]:
    """Per environment a build-then-deploy workflow, then per environment a deploy-only
    ``-rollback`` one (environments may share a workflow)."""
    workflows: Dict[str, Workflow] = {}
    for env in catalog.environments.values():
        if env.workflow in workflows:
            continue
        workflows[env.workflow] = Workflow(
            key=env.workflow,
            display_name=f"{catalog.project_name}-{env.label}-构建部署",
            env=env,
            stages=(
                StageDef("build", (JobDef(env.build_job, BUILD_TYPE),)),
                StageDef("deploy", (JobDef(env.deploy_job, DEPLOY_TYPE),), False),
            ),
        )
    for env in catalog.environments.values():
        key = env.workflow + ROLLBACK_SUFFIX
        if key in workflows:
            continue
        workflows[key] = Workflow(
            key=key,
            display_name=f"{catalog.project_name}-{env.label}-回滚",
            env=env,
            stages=(StageDef("deploy", (JobDef("deploy", DEPLOY_TYPE, source="runtime"),), False),),
        )
    return workflows


def with_stage(stages: Tuple[StageDef, ...], stage: StageDef) -> Tuple[StageDef, ...]:
    """`stages` with `stage` put right before the stage holding the first deploy job (last when
    there is none)."""
    at = next(
        (i for i, st in enumerate(stages) if any(j.type == DEPLOY_TYPE for j in st.jobs)),
        len(stages),
    )
    return (*stages[:at], stage, *stages[at:])
