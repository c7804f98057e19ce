"""How a trigger's inputs become job tasks, by job type (docs/zadig-openapi.md §3.1).

Two phases, as in aslan: the input updaters read each job's ``parameters`` (their errors are plain
Go errors, HTTP 500; a job type the server version takes no input for is ``undefined job type``),
then ``ToJobs`` expands every build and deploy job into one job task per service (errors become
6160). An approval or any other job listed in ``inputs`` becomes one job task. A job without an
input is kept as a single skipped job task (the caller drops it instead before v4.0.0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

from chatops.catalog import Catalog, Environment, Service
from simulators.zadig.args import as_list, as_str
from simulators.zadig.definitions import (
    APPROVAL_TYPE,
    BUILD_TYPE,
    DEPLOY_TYPE,
    JobDef,
    Workflow,
    image_repo,
)
from simulators.zadig.errors import NO_DOCUMENTS, create_task_error, internal_error
from simulators.zadig.lifecycle import JobTask
from simulators.zadig.shapes.specs import build_spec, built_repo, deploy_spec, other_spec
from simulators.zadig.versions import JOB_NAMING, Version, accepts_input


@dataclass
class ChosenService:
    service: Service
    branch: str = ""
    image: str = ""


@dataclass
class JobInput:
    """One job's input after phase 1: the services it works on (and a deploy's env)."""

    services: List[ChosenService]
    env: str = ""


@dataclass
class TaskBuild:
    """What phase 2 needs for one task; `built` maps (service, module) to the image built."""

    catalog: Catalog
    workflow: Workflow
    task_id: int
    now: float
    deployed: Dict[str, Dict[str, str]]
    version: Version
    built: Dict[Tuple[str, str], str] = field(default_factory=dict)


# -- phase 1: input updaters -------------------------------------------------------------------


def read_input(
    catalog: Catalog, job: JobDef, params: Dict[str, Any], env: Environment, version: Version
) -> JobInput:
    """Phase 1 for one job; the job's own type picks the parser, the input's is ignored."""
    if not accepts_input(version, job.type):
        raise internal_error(f"undefined job type of type:{job.type}")
    if job.type == BUILD_TYPE:
        return _build_input(catalog, job, params, env)
    if job.type == DEPLOY_TYPE:
        return _deploy_input(catalog, params)
    # An approval is kept by being listed (``"parameters":{}``); other jobs run as defined.
    return JobInput([])


def _services(catalog: Catalog, params: Dict[str, Any]) -> List[Tuple[Service, Dict[str, Any]]]:
    """The known services of ``service_list``, first entry per service; Zadig drops the rest."""
    found = []
    seen = set()
    for entry in as_list(params.get("service_list")):
        svc = catalog.services.get(as_str(entry.get("service_name")))
        if svc is None or svc.module != as_str(entry.get("service_module")) or svc.name in seen:
            continue
        seen.add(svc.name)
        found.append((svc, entry))
    return found


def _build_input(
    catalog: Catalog, job: JobDef, params: Dict[str, Any], env: Environment
) -> JobInput:
    if as_str(params.get("registry")) != catalog.registry:
        raise internal_error(
            f"failed to update jobspec for job: {job.name}, err: "
            "didn't find the specified image registry"
        )
    services = []
    for svc, entry in _services(catalog, params):
        branch = env.branch
        for repo in as_list(entry.get("repo_info")):
            codehost = as_str(repo.get("codehost_name"))
            if codehost != catalog.codehost:
                raise internal_error(f"failed to find code host with name:{codehost}")
            if (
                as_str(repo.get("repo_namespace")) == catalog.repo_namespace
                and as_str(repo.get("repo_name")) == svc.repo
                and repo.get("branch")
            ):
                branch = as_str(repo.get("branch"))
        services.append(ChosenService(svc, branch=branch))
    return JobInput(services)


def _deploy_input(catalog: Catalog, params: Dict[str, Any]) -> JobInput:
    services = [
        ChosenService(svc, image=as_str(entry.get("image_name")))
        for svc, entry in _services(catalog, params)
    ]
    # env_name is assigned unconditionally (``// required`` in Zadig), even when empty.
    return JobInput(services, env=as_str(params.get("env_name")))


# -- phase 2: ToJobs ---------------------------------------------------------------------------


def job_tasks(
    ctx: TaskBuild, si: int, ji: int, job: JobDef, chosen: Optional[JobInput]
) -> List[JobTask]:
    """The job tasks of job `ji` in stage `si`: skipped without an input, else per service
    (build and deploy jobs) or one (any other job)."""
    if chosen is None:
        return [_single_job(ctx, si, ji, job, skipped=True)]
    if job.type == BUILD_TYPE:
        return _build_jobs(ctx, si, ji, job, chosen)
    if job.type == DEPLOY_TYPE:
        return _deploy_jobs(ctx, si, ji, job, chosen)
    return [_single_job(ctx, si, ji, job, skipped=False)]


def _task_name(ctx: TaskBuild, si: int, ji: int, index: int, job: JobDef, *parts: str) -> str:
    """v3.3.0+: ``job-<stage>-<job>-<n>-<job name>`` (docs/zadig-task-operations.md §1.2).

    Before, a job task was named after its service(s) and job, lower-cased, trimmed of "-" and
    cut to 63 characters (``<service>-<module>-<job>`` for builds, ``<service>-<job>`` for
    deploys, as aslan's v3.2 ``jobNameFormat`` callers build it; read in aslan's source, not
    restated in docs/), and an approval or other single job by its name in the workflow."""
    if ctx.version >= JOB_NAMING:
        return f"job-{si}-{ji}-{index}-{job.name}"
    return "-".join((*parts, job.name))[:63].strip("-").lower()


def _single_job(ctx: TaskBuild, si: int, ji: int, job: JobDef, skipped: bool) -> JobTask:
    if job.type == BUILD_TYPE:
        spec = build_spec([], "", "", "")
    elif job.type == DEPLOY_TYPE:
        spec = deploy_spec(ctx.workflow.env, [])
    else:
        # An approval's spec is drawn with its votes (shapes.approvals).
        spec = {} if job.type == APPROVAL_TYPE else other_spec(job.name, job.type)
    return JobTask(
        name=_task_name(ctx, si, ji, 0, job),
        key=job.name,
        display_name=job.name,
        origin_name=job.name,
        type=job.type,
        skipped=skipped,
        spec=spec,
        job_info={"job_name": job.name},
        approval=job.approval,
    )


def _build_jobs(ctx: TaskBuild, si: int, ji: int, job: JobDef, chosen: JobInput) -> List[JobTask]:
    stamp = datetime.fromtimestamp(ctx.now, tz=timezone.utc).strftime("%Y%m%d%H%M%S")
    jobs = []
    for index, item in enumerate(chosen.services):
        svc, branch = item.service, item.branch
        tag = f"{stamp}-{ctx.task_id}-{branch.replace('/', '-')}"
        image = f"{image_repo(ctx.catalog.registry)}/{svc.module}:{tag}"
        ctx.built[(svc.name, svc.module)] = image
        repo = built_repo(ctx.catalog, svc, branch)
        jobs.append(
            JobTask(
                name=_task_name(ctx, si, ji, index, job, svc.name, svc.module),
                key=".".join((job.name, svc.name, svc.module)),
                display_name="-".join((job.name, svc.name, svc.module)),
                origin_name=job.name,
                type=BUILD_TYPE,
                skipped=False,
                spec=build_spec([repo], image, svc.name, svc.module),
                job_info={
                    "service_name": svc.name,
                    "service_module": svc.module,
                    "job_name": job.name,
                },
                service_name=svc.name,
                service_module=svc.module,
                image=image,
            )
        )
    return jobs


def _deploy_jobs(ctx: TaskBuild, si: int, ji: int, job: JobDef, chosen: JobInput) -> List[JobTask]:
    env_key = chosen.env
    env = ctx.catalog.environments.get(env_key)
    # The deploy job looks the env up with its own production flag.
    if env is None or env.production != ctx.workflow.env.production:
        raise create_task_error(
            f"failed to find env: {env_key} in project: "
            f"{ctx.catalog.project_key}, error: {NO_DOCUMENTS}"
        )
    if not chosen.services:
        raise create_task_error(f"deploy service is empty for env {env_key}")
    jobs = []
    for index, item in enumerate(chosen.services):
        svc = item.service
        image = (
            item.image
            or ctx.built.get((svc.name, svc.module))
            or ctx.deployed.get(env_key, {}).get(svc.name, "")
        )
        service = {"service_name": svc.name, "service_module": svc.module, "image": image}
        jobs.append(
            JobTask(
                name=_task_name(ctx, si, ji, index, job, svc.name),
                key=".".join((job.name, svc.name)),
                display_name="-".join((job.name, svc.name)),
                origin_name=job.name,
                type=DEPLOY_TYPE,
                skipped=False,
                spec=deploy_spec(env, [service]),
                job_info={"service_name": svc.name, "job_name": job.name},
                service_name=svc.name,
                service_module=svc.module,
                image=image,
            )
        )
    return jobs
