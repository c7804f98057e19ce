"""The simulated Zadig's state and rules, with no HTTP in it.

`World` is seeded from the deployment catalog: one project, one image registry, one code host
alias, a custom workflow per environment (stage ``build`` holding the ``zadig-build`` job, stage
``deploy`` holding the ``zadig-deploy`` job), the environments and the services. It answers the
OpenAPI calls a ChatOps bot makes, with Zadig's own quirks (see
``/work/shared/reference/zadig-openapi.md``): inputs matched by ``job_name`` only, jobs left out
of ``inputs`` skipped, unknown services silently dropped, a task id consumed even when task
creation fails late, ``cancel`` refusing only ``passed`` tasks, and so on.

Task progress is a function of the clock: ``waiting`` for ``waiting_seconds``, then ``running``
for ``running_seconds`` split evenly between the stages, then ``passed``, unless an outcome was
injected (``failed``/``timeout`` at a stage, or ``hang``). Tasks are frozen the first time they are
seen terminal, and queued once for the outbound workflow webhook.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import quote

from chatops.catalog import Catalog, Environment, Service

TERMINAL = ("passed", "failed", "timeout", "cancelled", "reject")
OUTCOMES = ("passed", "failed", "timeout", "hang")
FINISH_STATUSES = ("passed", "failed", "timeout", "cancelled", "reject")
NO_DOCUMENTS = "mongo: no documents in result"
BUILD_TYPE = "zadig-build"
DEPLOY_TYPE = "zadig-deploy"
CODEHOST_ID = 1
CODEHOST_TYPE = "gitlab"
CODEHOST_ADDRESS = "https://gitlab.example.com"
# The token's user (JWT ``name`` claim); Zadig records it as task creator and revoker.
DEFAULT_USER = "chatops-bot"
# Fixed creation time of the seeded objects, so discovery answers are stable across restarts.
SEED_TIME = 1718000000


class ZadigError(Exception):
    """What Zadig answers instead of success: an HTTP status and a JSON body (None = empty)."""

    def __init__(self, status: int, body: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body


def http_error(code: int, message: str, description: str) -> ZadigError:
    """aslan's ``*errors.HTTPError`` envelope; codes 6xxx/7xxx travel as HTTP 400."""
    status = 400 if 6000 <= code < 8000 else code
    return ZadigError(
        status,
        {
            "type": "error",
            "message": message,
            "code": code,
            "description": description,
            "extra": {},
        },
    )


def bad_request(description: str) -> ZadigError:
    return http_error(400, "Bad Request", description)


def internal_error(description: str) -> ZadigError:
    """A plain Go error turned into a response: HTTP 500, no ``type``/``extra``."""
    return ZadigError(500, {"message": "Internal Error: ", "code": 500, "description": description})


def create_task_error(description: str) -> ZadigError:
    return http_error(6160, "创建工作流任务失败", description)


def cancel_task_error(description: str) -> ZadigError:
    return http_error(6163, "取消工作流任务失败", description)


def forbidden() -> ZadigError:
    return ZadigError(403)


@dataclass
class WorldConfig:
    """Everything the simulator is started with; `/_sim/reset` returns to it."""

    catalog: Catalog
    token: str = "demo-zadig-token"
    waiting_seconds: float = 1.0
    running_seconds: float = 6.0
    webhook_url: str = ""
    webhook_token: str = ""
    web_url: str = "http://127.0.0.1:7070"
    user: str = DEFAULT_USER


# -- the seeded world ----------------------------------------------------------------------------


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


@dataclass(frozen=True)
class JobDef:
    name: str
    type: str


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

    def job(self, name: str) -> Optional[Tuple[int, int, JobDef]]:
        for si, stage in enumerate(self.stages):
            for ji, job in enumerate(stage.jobs):
                if job.name == name:
                    return si, ji, job
        return None


# -- tasks -------------------------------------------------------------------------------------


@dataclass
class JobTask:
    name: str
    key: str
    display_name: str
    origin_name: str
    type: str
    skipped: bool
    spec: Dict[str, Any]
    job_info: Dict[str, Any]
    service_name: str = ""
    service_module: str = ""
    image: str = ""


@dataclass
class StageTask:
    name: str
    parallel: bool
    jobs: List[JobTask]

    @property
    def active(self) -> bool:
        return any(not job.skipped for job in self.jobs)


@dataclass
class Outcome:
    """An injected result for the next matching task(s)."""

    status: str
    stage: str = "build"
    error: str = ""
    workflow_key: Optional[str] = None
    times: int = 1

    def as_dict(self) -> Dict[str, Any]:
        return {
            "workflow_key": self.workflow_key,
            "status": self.status,
            "stage": self.stage,
            "error": self.error,
            "times": self.times,
        }


@dataclass
class StageProgress:
    status: str = ""
    start: Optional[float] = None
    end: Optional[float] = None
    error: str = ""


@dataclass
class Progress:
    """A task's statuses and times at one moment (frozen once terminal)."""

    status: str
    start: Optional[float]
    end: Optional[float]
    error: str
    stages: List[StageProgress]


@dataclass
class Task:
    workflow: Workflow
    task_id: int
    project_key: str
    creator: str
    create_time: float
    waiting: float
    running: float
    stages: List[StageTask]
    outcome: Optional[Outcome]
    request: Dict[str, Any]
    params: List[Dict[str, Any]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    revoker: str = ""
    final: Optional[Progress] = None
    notified: bool = False

    @property
    def workflow_key(self) -> str:
        return self.workflow.key

    # -- progress by clock -----------------------------------------------------------------

    def progress(self, now: float) -> Progress:
        if self.final is not None:
            return self.final
        return self._by_clock(now)

    def _target_stage(self) -> Optional[int]:
        """Index of the stage an injected failure/timeout/hang happens in."""
        active = [i for i, st in enumerate(self.stages) if st.active]
        if not active:
            return None
        for i in active:
            if self.stages[i].name == self.outcome.stage:
                return i
        return active[-1]

    def _by_clock(self, now: float) -> Progress:
        started = self.create_time + self.waiting
        if now < started:
            return Progress(
                "waiting",
                self.create_time,
                None,
                "",
                [StageProgress("" if st.active else "skipped") for st in self.stages],
            )
        kind = self.outcome.status if self.outcome else "passed"
        target = self._target_stage() if kind in ("failed", "timeout", "hang") else None
        count = len(self.stages)
        share = self.running / count if count else self.running
        stages: List[StageProgress] = []
        status: Optional[str] = None
        end: Optional[float] = None
        error = ""
        blocked = False
        for i, stage in enumerate(self.stages):
            if not stage.active:
                stages.append(StageProgress("skipped"))
                continue
            if blocked:
                stages.append(StageProgress(""))
                continue
            begin, finish = started + i * share, started + (i + 1) * share
            if now < begin:
                stages.append(StageProgress(""))
            elif kind == "hang" and i == target:
                stages.append(StageProgress("running", begin))
                blocked = True
            elif now < finish:
                stages.append(StageProgress("running", begin))
            elif kind in ("failed", "timeout") and i == target:
                error = self.outcome.error or _default_error(kind, stage.name)
                stages.append(StageProgress(kind, begin, finish, error))
                status, end, blocked = kind, finish, True
            else:
                stages.append(StageProgress("passed", begin, finish))
        if status is None:
            finish = started + self.running
            if kind == "hang" or now < finish:
                status = "running"
            elif kind in ("failed", "timeout"):
                # Nothing ran that could fail (every job skipped): fail the task itself.
                status, end = kind, finish
                error = self.outcome.error or _default_error(kind, "")
            else:
                status, end = "passed", finish
        return Progress(status, self.create_time, end, error, stages)

    def forced(self, status: str, now: float, error: str = "") -> Progress:
        """The task's progress if it were ended right now with `status`."""
        current = self._by_clock(now) if self.final is None else self.final
        if status in ("failed", "timeout") and not error:
            error = _default_error(status, "")
        if status not in ("failed", "timeout"):
            error = ""
        stages: List[StageProgress] = []
        for sp, stage in zip(current.stages, self.stages):
            sp = replace(sp)
            if status == "passed":
                if stage.active and sp.status not in ("passed",):
                    sp.status, sp.start, sp.end = "passed", sp.start or now, now
            elif sp.status == "running":
                sp.status, sp.end = status, now
                if status in ("failed", "timeout"):
                    sp.error = error
            stages.append(sp)
        return Progress(status, current.start, now, error, stages)


def _default_error(kind: str, stage: str) -> str:
    where = f" in stage {stage}" if stage else ""
    if kind == "timeout":
        return f"job timeout{where}"
    return f"job failed{where}"


# -- request parsing, with Go's json.Unmarshal messages ---------------------------------------


_JSON_KIND = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "bool",
    int: "number",
    float: "number",
}
_ARGS_TYPE = "workflow.OpenAPICreateCustomWorkflowTaskArgs"


def _kind(value: Any) -> str:
    return _JSON_KIND.get(type(value), "value")


def parse_json_body(raw: bytes) -> Any:
    """``json.Unmarshal`` of a raw body; raises Bad Request with Go's error text."""
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        raise bad_request("unexpected end of JSON input")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()):
            raise bad_request("unexpected end of JSON input") from None
        char = text[exc.pos]
        if exc.msg == "Extra data":
            raise bad_request(f"invalid character '{char}' after top-level value") from None
        raise bad_request(f"invalid character '{char}' looking for beginning of value") from None


def parse_trigger_args(raw: bytes) -> Dict[str, Any]:
    body = parse_json_body(raw)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise bad_request(
            f"json: cannot unmarshal {_kind(body)} into Go value of type {_ARGS_TYPE}"
        )
    for name in ("project_key", "workflow_key"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise bad_request(
                f"json: cannot unmarshal {_kind(value)} into Go struct field "
                f"OpenAPICreateCustomWorkflowTaskArgs.{name} of type string"
            )
    inputs = body.get("inputs")
    if inputs is not None:
        if not isinstance(inputs, list):
            raise bad_request(
                f"json: cannot unmarshal {_kind(inputs)} into Go struct field "
                "OpenAPICreateCustomWorkflowTaskArgs.inputs of type "
                "[]*workflow.CustomJobInput"
            )
        for item in inputs:
            if item is not None and not isinstance(item, dict):
                raise bad_request(
                    f"json: cannot unmarshal {_kind(item)} into Go struct field "
                    "OpenAPICreateCustomWorkflowTaskArgs.inputs of type "
                    "workflow.CustomJobInput"
                )
            for name in ("job_name", "job_type"):
                value = (item or {}).get(name)
                if value is not None and not isinstance(value, str):
                    raise bad_request(
                        f"json: cannot unmarshal {_kind(value)} into Go struct field "
                        f"CustomJobInput.inputs.{name} of type string"
                    )
    return body


def _as_list(value: Any) -> List[Dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


# -- the world ---------------------------------------------------------------------------------


class World:
    """All simulated Zadig state. Not thread-safe: used from one event loop."""

    def __init__(self, config: WorldConfig, clock: Callable[[], float] = time.time) -> None:
        self.initial = replace(config)
        self.clock = clock
        self.reset()

    # -- control ---------------------------------------------------------------------------

    def reset(self) -> None:
        self.config = replace(self.initial)
        catalog = self.config.catalog
        self.catalog = catalog
        self.registry_address, self.registry_namespace = split_registry(catalog.registry)
        self.registry_id = object_id("registry", catalog.registry)
        self.workflows: Dict[str, Workflow] = {}
        for env in catalog.environments.values():
            if env.workflow in self.workflows:
                continue
            self.workflows[env.workflow] = Workflow(
                key=env.workflow,
                display_name=f"{catalog.project_name}-{env.label}-构建部署",
                env=env,
                stages=(
                    StageDef("build", (JobDef(env.build_job, BUILD_TYPE),)),
                    StageDef("deploy", (JobDef(env.deploy_job, DEPLOY_TYPE),), False),
                ),
            )
        self.tasks: Dict[Tuple[str, int], Task] = {}
        self.counters: Dict[str, int] = {}
        self.outcomes: List[Outcome] = []
        self.requests: List[Dict[str, Any]] = []
        self.completed: List[Task] = []
        self.deliveries: List[Dict[str, Any]] = []
        self.fault: Dict[str, Any] = {"mode": "ok", "seconds": 0.0}
        # What each environment runs now; a passed deploy replaces the image.
        self.deployed: Dict[str, Dict[str, str]] = {
            env.key: {svc.name: self.initial_image(env, svc) for svc in catalog.services.values()}
            for env in catalog.environments.values()
        }

    def initial_image(self, env: Environment, svc: Service) -> str:
        return f"{image_repo(self.catalog.registry)}/{svc.module}:20240610000000-0-{env.branch}"

    def configure(self, values: Dict[str, Any]) -> None:
        for name in ("waiting_seconds", "running_seconds"):
            if values.get(name) is not None:
                seconds = float(values[name])
                if seconds < 0:
                    raise ValueError(f"{name} must not be negative")
                setattr(self.config, name, seconds)
        for name in ("webhook_url", "webhook_token", "web_url"):
            if name in values:
                setattr(self.config, name, _str(values[name]) if values[name] is not None else "")

    def add_outcome(self, values: Dict[str, Any]) -> Outcome:
        status = values.get("status")
        if status not in OUTCOMES:
            raise ValueError(f"status must be one of {', '.join(OUTCOMES)}")
        stage = values.get("stage") or "build"
        if stage not in ("build", "deploy"):
            raise ValueError("stage must be build or deploy")
        key = values.get("workflow_key") or None
        if key is not None and key not in self.workflows:
            raise ValueError(f"unknown workflow {key}")
        times = int(values.get("times", 1))
        if times < 1:
            raise ValueError("times must be at least 1")
        outcome = Outcome(status, stage, _str(values.get("error")), key, times)
        self.outcomes.append(outcome)
        return outcome

    def _take_outcome(self, workflow_key: str) -> Optional[Outcome]:
        for outcome in self.outcomes:
            if outcome.workflow_key in (None, workflow_key):
                outcome.times -= 1
                if outcome.times <= 0:
                    self.outcomes.remove(outcome)
                return replace(outcome, times=1)
        return None

    def set_disabled(self, workflow_key: str, disabled: bool) -> None:
        self.workflows[workflow_key].disabled = disabled

    def record(self, method: str, path: str, query: Dict[str, Any], raw: bytes) -> None:
        try:
            body = json.loads(raw) if raw.strip() else None
        except (ValueError, UnicodeDecodeError):
            body = None
        self.requests.append(
            {
                "method": method,
                "path": path,
                "query": query,
                "json": body,
                "body": raw.decode("utf-8", errors="replace"),
                "time": self.clock(),
            }
        )

    # -- clock -----------------------------------------------------------------------------

    def refresh(self) -> List[Task]:
        """Freeze tasks that reached a terminal status; returns the newly finished ones."""
        now = self.clock()
        finished = []
        for task in self.tasks.values():
            if task.final is None:
                progress = task.progress(now)
                if progress.status in TERMINAL:
                    self._finish(task, progress)
                    finished.append(task)
        return finished

    def _finish(self, task: Task, progress: Progress) -> None:
        task.final = progress
        for stage, sp in zip(task.stages, progress.stages):
            if sp.status != "passed":
                continue
            for job in stage.jobs:
                if job.type == DEPLOY_TYPE and not job.skipped and job.service_name:
                    env = job.spec["env"]
                    self.deployed.setdefault(env, {})[job.service_name] = job.image
        if not task.notified:
            task.notified = True
            self.completed.append(task)

    def take_completed(self) -> List[Task]:
        done, self.completed = self.completed, []
        return done

    def finish(self, workflow_key: str, task_id: int, status: str, error: str = "") -> Task:
        """Force a task to end now (control API); a terminal task is overwritten."""
        if status not in FINISH_STATUSES:
            raise ValueError(f"status must be one of {', '.join(FINISH_STATUSES)}")
        self.refresh()
        task = self.tasks.get((workflow_key, task_id))
        if task is None:
            raise KeyError(f"{workflow_key}:{task_id}")
        self._finish(task, task.forced(status, self.clock(), error))
        return task

    # -- OpenAPI: workflow tasks -----------------------------------------------------------

    def trigger(self, raw: bytes) -> Dict[str, Any]:
        args = parse_trigger_args(raw)
        project_key, workflow_key = _str(args.get("project_key")), _str(args.get("workflow_key"))
        if not project_key or not workflow_key:
            raise bad_request("project_key and workflow_key are required")
        if project_key != self.catalog.project_key:
            raise forbidden()
        workflow = self.workflows.get(workflow_key)
        if workflow is None:
            raise http_error(6542, "查询workflow失败", NO_DOCUMENTS)
        if workflow.disabled:
            raise create_task_error("workflow is disabled")

        # The seeded workflows declare no parameters, so any named one is unknown to Zadig.
        for param in _as_list(args.get("parameters")):
            raise internal_error(f"param {_str(param.get('name'))} not found in workflow")

        # Phase 1: input updaters (plain errors -> HTTP 500). Unknown job names are ignored and
        # the last input for a job wins; every job without an input is skipped.
        selected: Dict[str, Dict[str, Any]] = {}
        for item in _as_list(args.get("inputs")):
            found = workflow.job(_str(item.get("job_name")))
            if found is None:
                continue
            job = found[2]
            params = item.get("parameters") if isinstance(item.get("parameters"), dict) else {}
            if job.type == BUILD_TYPE:
                selected[job.name] = self._build_input(job, params, workflow.env)
            else:
                selected[job.name] = self._deploy_input(params, workflow.env)

        # The task id is taken before the jobs are turned into tasks, so a late failure
        # (6160 below) still consumes an id, as Zadig's counter does.
        task_id = self.counters.get(workflow_key, 0) + 1
        self.counters[workflow_key] = task_id

        # Phase 2: ToJobs (errors -> 400/6160).
        now = self.clock()
        stages: List[StageTask] = []
        built: Dict[Tuple[str, str], str] = {}
        for si, stage in enumerate(workflow.stages):
            jobs: List[JobTask] = []
            for ji, job in enumerate(stage.jobs):
                chosen = selected.get(job.name)
                if chosen is None:
                    jobs.append(self._skipped_job(si, ji, job, workflow.env))
                elif job.type == BUILD_TYPE:
                    jobs.extend(self._build_jobs(si, ji, job, chosen, task_id, now, built))
                else:
                    jobs.extend(self._deploy_jobs(si, ji, job, chosen, workflow, built))
            if jobs:
                stages.append(StageTask(stage.name, stage.parallel, jobs))

        task = Task(
            workflow=workflow,
            task_id=task_id,
            project_key=project_key,
            creator=self.config.user,
            revoker=self.config.user,
            create_time=now,
            waiting=self.config.waiting_seconds,
            running=self.config.running_seconds,
            stages=stages,
            outcome=self._take_outcome(workflow_key),
            request=args,
        )
        if not any(stage.active for stage in stages):
            task.notes.append(
                "every job was skipped: the task runs and passes but builds and "
                "deploys nothing (list every job in inputs)"
            )
        self.tasks[(workflow_key, task_id)] = task
        return {
            "project_name": self.catalog.project_key,
            "workflow_name": workflow_key,
            "task_id": task_id,
        }

    def _build_input(self, job: JobDef, params: Dict[str, Any], env: Environment) -> Dict[str, Any]:
        if _str(params.get("registry")) != self.catalog.registry:
            raise internal_error(
                f"failed to update jobspec for job: {job.name}, err: "
                "didn't find the specified image registry"
            )
        services: List[Dict[str, Any]] = []
        seen = set()
        for entry in _as_list(params.get("service_list")):
            svc = self._service(_str(entry.get("service_name")), _str(entry.get("service_module")))
            if svc is None or svc.name in seen:
                continue  # Zadig drops services it cannot build, silently
            seen.add(svc.name)
            branch = env.branch
            for repo in _as_list(entry.get("repo_info")):
                codehost = _str(repo.get("codehost_name"))
                if codehost != self.catalog.codehost:
                    raise internal_error(f"failed to find code host with name:{codehost}")
                if (
                    _str(repo.get("repo_namespace")) == self.catalog.repo_namespace
                    and _str(repo.get("repo_name")) == svc.repo
                    and repo.get("branch")
                ):
                    branch = _str(repo.get("branch"))
            services.append({"service": svc, "branch": branch})
        return {"services": services}

    def _deploy_input(self, params: Dict[str, Any], env: Environment) -> Dict[str, Any]:
        services = []
        seen = set()
        for entry in _as_list(params.get("service_list")):
            svc = self._service(_str(entry.get("service_name")), _str(entry.get("service_module")))
            if svc is None or svc.name in seen:
                continue
            seen.add(svc.name)
            services.append({"service": svc, "image": _str(entry.get("image_name"))})
        # env_name is assigned unconditionally (``// required`` in Zadig), even when empty.
        return {"env": _str(params.get("env_name")), "services": services}

    def _service(self, name: str, module: str) -> Optional[Service]:
        svc = self.catalog.services.get(name)
        return svc if svc is not None and svc.module == module else None

    def _skipped_job(self, si: int, ji: int, job: JobDef, env: Environment) -> JobTask:
        if job.type == BUILD_TYPE:
            spec = build_spec([], "", "", "")
        else:
            spec = deploy_spec(env.key, self._env_alias(env), env.production, [])
        return JobTask(
            name=f"job-{si}-{ji}-0-{job.name}",
            key=job.name,
            display_name=job.name,
            origin_name=job.name,
            type=job.type,
            skipped=True,
            spec=spec,
            job_info={"job_name": job.name},
        )

    def _build_jobs(
        self,
        si: int,
        ji: int,
        job: JobDef,
        chosen: Dict[str, Any],
        task_id: int,
        now: float,
        built: Dict[Tuple[str, str], str],
    ) -> List[JobTask]:
        stamp = datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y%m%d%H%M%S")
        jobs = []
        for index, item in enumerate(chosen["services"]):
            svc: Service = item["service"]
            branch = item["branch"]
            tag = f"{stamp}-{task_id}-{branch.replace('/', '-')}"
            image = f"{image_repo(self.catalog.registry)}/{svc.module}:{tag}"
            built[(svc.name, svc.module)] = image
            repo = {
                "source": CODEHOST_TYPE,
                "repo_owner": self.catalog.repo_namespace,
                "repo_namespace": self.catalog.repo_namespace,
                "repo_name": svc.repo,
                "branch": branch,
                "prs": [],
                "tag": "",
                "commit_id": hashlib.sha1(f"{svc.repo}@{branch}".encode()).hexdigest(),
                "commit_message": f"Merge branch '{branch}' into {branch}",
                "author_name": "dev",
                "address": CODEHOST_ADDRESS,
                "codehost_id": CODEHOST_ID,
            }
            jobs.append(
                JobTask(
                    name=f"job-{si}-{ji}-{index}-{job.name}",
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

    def _deploy_jobs(
        self,
        si: int,
        ji: int,
        job: JobDef,
        chosen: Dict[str, Any],
        workflow: Workflow,
        built: Dict[Tuple[str, str], str],
    ) -> List[JobTask]:
        env_key = chosen["env"]
        env = self.catalog.environments.get(env_key)
        # The deploy job looks the env up with its own production flag.
        if env is None or env.production != workflow.env.production:
            raise create_task_error(
                f"failed to find env: {env_key} in project: "
                f"{self.catalog.project_key}, error: {NO_DOCUMENTS}"
            )
        if not chosen["services"]:
            raise create_task_error(f"deploy service is empty for env {env_key}")
        jobs = []
        for index, item in enumerate(chosen["services"]):
            svc: Service = item["service"]
            image = (
                item["image"]
                or built.get((svc.name, svc.module))
                or self.deployed.get(env_key, {}).get(svc.name, "")
            )
            jobs.append(
                JobTask(
                    name=f"job-{si}-{ji}-{index}-{job.name}",
                    key=".".join((job.name, svc.name)),
                    display_name="-".join((job.name, svc.name)),
                    origin_name=job.name,
                    type=DEPLOY_TYPE,
                    skipped=False,
                    spec=deploy_spec(
                        env.key,
                        self._env_alias(env),
                        env.production,
                        [{"service_name": svc.name, "service_module": svc.module, "image": image}],
                    ),
                    job_info={"service_name": svc.name, "job_name": job.name},
                    service_name=svc.name,
                    service_module=svc.module,
                    image=image,
                )
            )
        return jobs

    def _task(self, workflow_key: str, task_id: int) -> Optional[Task]:
        self.refresh()
        return self.tasks.get((workflow_key, task_id))

    def get_task(self, workflow_key: str, task_id: int) -> Dict[str, Any]:
        task = self._task(workflow_key, task_id)
        if task is None:
            raise internal_error(NO_DOCUMENTS)
        return self.preview(task)

    def cancel(self, workflow_key: str, task_id: int) -> None:
        task = self._task(workflow_key, task_id)
        if task is None:
            raise cancel_task_error(NO_DOCUMENTS)
        if task.final is not None:
            if task.final.status == "passed":
                raise cancel_task_error(f"task: {workflow_key}:{task_id} is passed, cannot cancel")
            # Zadig only refuses passed tasks: failed/timeout/cancelled become cancelled.
            task.final = replace(task.final, status="cancelled")
        else:
            self._finish(task, task.forced("cancelled", self.clock()))
        task.revoker = self.config.user

    def list_tasks(
        self, workflow_key: str, project_key: str, page: int, size: int
    ) -> Dict[str, Any]:
        self.refresh()
        mine = [
            task
            for (key, _), task in self.tasks.items()
            if key == workflow_key and task.project_key == project_key and project_key
        ]
        mine.sort(key=lambda t: (t.create_time, t.task_id), reverse=True)
        start = max(page - 1, 0) * size if size > 0 else 0
        chunk = mine[start : start + size] if size > 0 else mine
        now = self.clock()
        items = []
        for task in chunk:
            progress = task.progress(now)
            items.append(
                {
                    "workflow_key": task.workflow_key,
                    "workflow_name": task.workflow.display_name,
                    "project_key": project_key,
                    "task_id": task.task_id,
                    "create_time": int(task.create_time),
                    "task_creator": task.creator,
                    "start_time": _secs(progress.start),
                    "end_time": _secs(progress.end),
                    "status": progress.status.lower(),
                }
            )
        return {"total": len(mine), "workflow_tasks": items}

    # -- shapes ----------------------------------------------------------------------------

    def preview(self, task: Task) -> Dict[str, Any]:
        """``WorkflowTaskPreview`` (omitempty fields left out when empty/0)."""
        now = self.clock()
        progress = task.progress(now)
        out: Dict[str, Any] = {
            "task_id": task.task_id,
            "workflow_key": task.workflow_key,
            "workflow_name": task.workflow.display_name,
            "params": task.params,
        }
        _put(out, "status", progress.status)
        out["reverted"] = False
        out["remark"] = ""
        _put(out, "task_creator", task.creator)
        _put(out, "task_revoker", task.revoker)
        _put(out, "create_time", int(task.create_time))
        _put(out, "start_time", _secs(progress.start))
        _put(out, "end_time", _secs(progress.end))
        stages = []
        for stage, sp in zip(task.stages, progress.stages):
            item: Dict[str, Any] = {"name": stage.name, "status": sp.status}
            _put(item, "start_time", _secs(sp.start))
            _put(item, "end_time", _secs(sp.end))
            item.update(
                {
                    "parallel": stage.parallel,
                    "manual_exec": None,
                    "error": sp.error,
                    "jobs": [self._job_preview(job, sp, now) for job in stage.jobs],
                }
            )
            stages.append(item)
        out["stages"] = stages
        _put(out, "error", progress.error)
        out.update(
            {
                "project_key": task.project_key,
                "is_restart": False,
                "debug": False,
                "approval_ticket_id": "",
                "approval_id": "",
            }
        )
        return out

    @staticmethod
    def _job_preview(job: JobTask, sp: StageProgress, now: float) -> Dict[str, Any]:
        status, start, end, error = _job_state(job, sp)
        item: Dict[str, Any] = {
            "name": job.name,
            "key": job.key,
            "display_name": job.display_name,
            "origin_name": job.origin_name,
            "type": job.type,
            "status": status,
            "reverted": False,
        }
        _put(item, "start_time", _secs(start))
        _put(item, "end_time", _secs(end))
        cost = (end if end is not None else now) - start if start is not None else 0
        item.update(
            {
                "cost_seconds": int(cost),
                "error": error,
                "breakpoint_before": False,
                "breakpoint_after": False,
                "error_policy": None,
                "error_handler_user_id": "",
                "error_handler_username": "",
                "retry_count": 0,
                "job_info": job.job_info,
                "spec": job.spec,
            }
        )
        return item

    def webhook_payload(self, task: Task) -> Dict[str, Any]:
        """The custom-workflow ``webhook`` notification body (reference §6.2)."""
        progress = task.progress(self.clock())
        display = task.workflow.display_name
        stages = []
        for stage, sp in zip(task.stages, progress.stages):
            jobs = []
            for job in stage.jobs:
                status, start, end, error = _job_state(job, sp)
                if job.type == BUILD_TYPE:
                    spec: Optional[Dict[str, Any]] = {
                        "repositories": [
                            {
                                k: repo.get(k)
                                for k in (
                                    "source",
                                    "repo_owner",
                                    "repo_namespace",
                                    "repo_name",
                                    "branch",
                                    "prs",
                                    "tag",
                                    "author_name",
                                    "commit_id",
                                    "commit_message",
                                )
                            }
                            | {
                                "commit_url": f"{repo['address']}/{repo['repo_owner']}/"
                                f"{repo['repo_name']}/commit/{repo['commit_id']}"
                            }
                            for repo in job.spec["repos"]
                        ],
                        "image": job.spec["image"],
                    }
                elif job.type == DEPLOY_TYPE:
                    spec = {
                        "env": job.spec["env"],
                        "service_name": job.service_name,
                        "service_modules": [
                            {"service_module": s["service_module"], "image": s["image"]}
                            for s in job.spec["service_and_images"]
                        ],
                    }
                else:
                    spec = None
                jobs.append(
                    {
                        "name": job.origin_name,
                        "display_name": job.display_name,
                        "type": job.type,
                        "status": status,
                        "start_time": _secs(start),
                        "end_time": _secs(end),
                        "error": error,
                        "spec": spec,
                    }
                )
            stages.append(
                {
                    "name": stage.name,
                    "status": sp.status,
                    "start_time": _secs(sp.start),
                    "end_time": _secs(sp.end),
                    "error": sp.error,
                    "jobs": jobs,
                }
            )
        return {
            "object_kind": "workflow",
            "event": "workflow",
            "workflow": {
                "task_id": task.task_id,
                "project_name": task.project_key,
                "project_display_name": self.catalog.project_name,
                "workflow_name": task.workflow_key,
                "workflow_display_name": display,
                "status": progress.status,
                "remark": "",
                "detail_url": self.detail_url(task.workflow),
                "error": progress.error,
                "create_time": int(task.create_time),
                "start_time": _secs(progress.start),
                "end_time": _secs(progress.end),
                "stages": stages,
                "task_creator": task.creator,
                "task_creator_id": "",
                "task_creator_email": "",
                "task_type": "workflow",
            },
            "release_plan": None,
        }

    def detail_url(self, workflow: Workflow) -> str:
        return (
            f"{self.config.web_url.rstrip('/')}/v1/projects/detail/{self.catalog.project_key}"
            f"/pipelines/custom/{workflow.key}?display_name={quote(workflow.display_name)}"
        )

    def sim_task(self, task: Task) -> Dict[str, Any]:
        """The simulator's own view of a task: the preview plus what it was asked and noted."""
        return {
            "workflow_key": task.workflow_key,
            "task_id": task.task_id,
            "status": task.progress(self.clock()).status,
            "outcome": task.outcome.as_dict() if task.outcome else None,
            "notes": task.notes,
            "notified": task.notified,
            "request": task.request,
            "preview": self.preview(task),
        }

    # -- OpenAPI: discovery ----------------------------------------------------------------

    def list_workflows(self, project_key: str) -> Dict[str, Any]:
        if project_key != self.catalog.project_key:
            return {"workflows": []}
        return {
            "workflows": [
                {
                    "workflow_key": wf.key,
                    "workflow_name": wf.display_name,
                    "update_by": "admin",
                    "update_time": SEED_TIME,
                    "type": "custom",
                }
                for wf in self.workflows.values()
            ]
        }

    def workflow_detail(self, workflow_key: str, project_key: str) -> Dict[str, Any]:
        workflow = self.workflows.get(workflow_key)
        if workflow is None:
            raise internal_error(NO_DOCUMENTS)
        env = workflow.env
        stages = []
        for stage in workflow.stages:
            jobs = []
            for job in stage.jobs:
                if job.type == BUILD_TYPE:
                    spec = {
                        "docker_registry_id": self.registry_id,
                        "service_and_builds": [
                            self._build_option(svc, env) for svc in self.catalog.services.values()
                        ],
                    }
                else:
                    spec = {
                        "env": env.key,
                        "production": env.production,
                        "source": "fromjob",
                        "job_name": env.build_job,
                        "env_source": "fixed",
                        "deploy_type": "k8s",
                        "deploy_contents": ["image"],
                        "skip_check_run_status": False,
                        "services": [],
                    }
                jobs.append(
                    {
                        "name": job.name,
                        "type": job.type,
                        "skipped": False,
                        "spec": spec,
                        "run_policy": "",
                        "error_policy": None,
                        "service_modules": None,
                    }
                )
            stages.append({"name": stage.name, "parallel": stage.parallel, "jobs": jobs})
        notify = []
        if self.config.webhook_url:
            notify.append(
                {
                    "enabled": True,
                    "webhook_type": "webhook",
                    "webhook_notification_config": {
                        "address": self.config.webhook_url,
                        "token": self.config.webhook_token,
                    },
                    "notify_type": ["passed", "failed", "timeout", "cancelled"],
                }
            )
        return {
            "workflow_key": workflow.key,
            "workflow_name": workflow.display_name,
            "project_key": project_key,
            "description": "",
            "created_by": "admin",
            "create_time": SEED_TIME,
            "updated_by": "",
            "update_time": SEED_TIME,
            "params": [],
            "stages": stages,
            "notify_ctls": notify,
            "share_storages": [],
            "concurrency_limit": -1,
        }

    def _build_option(self, svc: Service, env: Environment) -> Dict[str, Any]:
        return {
            "service_name": svc.name,
            "service_module": svc.module,
            "build_name": f"{svc.name}-build",
            "repos": [
                {
                    "source": CODEHOST_TYPE,
                    "repo_owner": self.catalog.repo_namespace,
                    "repo_namespace": self.catalog.repo_namespace,
                    "repo_name": svc.repo,
                    "branch": env.branch,
                    "codehost_id": CODEHOST_ID,
                }
            ],
        }

    def list_projects(self, page: int, size: int) -> Dict[str, Any]:
        projects = [
            {
                "project_name": self.catalog.project_name,
                "project_key": self.catalog.project_key,
                "description": "",
                "deploy_type": "k8s",
            }
        ]
        start = max(page - 1, 0) * size if size > 0 else 0
        return {
            "total": len(projects),
            "projects": projects[start : start + size] if size > 0 else projects,
        }

    def project_detail(self, project_key: str) -> Dict[str, Any]:
        if project_key != self.catalog.project_key:
            raise forbidden()
        return {
            "project_name": self.catalog.project_name,
            "project_key": project_key,
            "is_public": False,
            "desc": "",
            "deploy_type": "k8s",
            "create_time": SEED_TIME,
            "created_by": "admin",
        }

    @staticmethod
    def _env_alias(env: Environment) -> str:
        return env.label if env.label != env.key else ""

    def _env_brief(self, env: Environment) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        _put(out, "envName", self._env_alias(env))
        out.update(
            {
                "env_key": env.key,
                "cluster_id": object_id("cluster", "local"),
                "namespace": f"{self.catalog.project_key}-env-{env.key}",
                "production": env.production,
                "registry_id": self.registry_id,
                "status": "running",
                "update_by": "admin",
                "update_time": SEED_TIME,
            }
        )
        return out

    def list_envs(self, project_key: str, production: bool) -> List[Dict[str, Any]]:
        if project_key != self.catalog.project_key:
            return []
        return [
            self._env_brief(env)
            for env in self.catalog.environments.values()
            if env.production == production
        ]

    def env_detail(self, project_key: str, env_key: str, production: bool) -> Dict[str, Any]:
        self.refresh()
        env = self.catalog.environments.get(env_key)
        if project_key != self.catalog.project_key or env is None or env.production != production:
            raise internal_error(NO_DOCUMENTS)
        services = []
        for svc in self.catalog.services.values():
            image = self.deployed.get(env.key, {}).get(svc.name, "")
            services.append(
                {
                    "service_name": svc.name,
                    "deploy_strategy": "deploy",
                    "containers": [
                        {"name": svc.module, "type": "", "image": image, "image_name": svc.module}
                    ],
                    "variable_kvs": [],
                    "status": "Running",
                    "type": "k8s",
                }
            )
        out: Dict[str, Any] = {
            "project_key": project_key,
            "env_key": env.key,
            "update_by": "admin",
            "update_time": SEED_TIME,
            "cluster_id": object_id("cluster", "local"),
            "namespace": f"{project_key}-env-{env.key}",
            "registry_id": self.registry_id,
        }
        _put(out, "env_name", self._env_alias(env))
        out.update({"global_variables": [], "services": services, "status": "running"})
        return out

    def list_services(self, project_key: str) -> List[Dict[str, Any]]:
        if project_key != self.catalog.project_key:
            return []
        default_env = next(iter(self.catalog.environments.values()))
        return [
            {
                "service_name": svc.name,
                "source": "spock",
                "type": "k8s",
                "containers": [
                    {
                        "name": svc.module,
                        "image": self.initial_image(default_env, svc),
                        "image_name": svc.module,
                    }
                ],
            }
            for svc in self.catalog.services.values()
        ]

    def list_registries(self) -> List[Dict[str, Any]]:
        return [
            {
                "registry_id": self.registry_id,
                "address": self.registry_address,
                "provider": "harbor",
                "region": "",
                "namespace": self.registry_namespace,
                "is_default": True,
            }
        ]


def build_spec(
    repos: List[Dict[str, Any]], image: str, service: str, module: str
) -> Dict[str, Any]:
    return {
        "repos": repos,
        "image": image,
        "package": "",
        "service_name": service,
        "service_module": module,
        "envs": [],
    }


def deploy_spec(
    env: str, alias: str, production: bool, services: List[Dict[str, Any]]
) -> Dict[str, Any]:
    return {
        "env": env,
        "env_alias": alias,
        "production": production,
        "service_type": "k8s",
        "deploy_contents": ["image"],
        "skip_check_run_status": False,
        "is_import_to_deploy": False,
        "service_and_images": services,
        "yaml_content": "",
        "user_supplied_value": "",
        "variable_kvs": [],
        "origin_revision": 0,
        "value_merge_strategy": "reuse-values",
    }


def _job_state(
    job: JobTask, sp: StageProgress
) -> Tuple[str, Optional[float], Optional[float], str]:
    if job.skipped:
        return "skipped", None, None, ""
    error = ""
    if sp.status in ("failed", "timeout"):
        error = sp.error
    return sp.status, sp.start, sp.end, error


def _secs(value: Optional[float]) -> int:
    return int(value) if value else 0


def _put(target: Dict[str, Any], key: str, value: Any) -> None:
    """Go's ``omitempty``: leave the key out for "" / 0 / None."""
    if value not in ("", 0, None):
        target[key] = value
