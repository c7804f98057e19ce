"""Merge what a live Zadig lists into a catalog, keeping everything a person wrote.

`discover` reads the project's environments, custom workflows (with their build/deploy job
names), services and default image registry (docs/zadig-openapi.md §4, §3.7); `merge` is pure:

- every alias, branch and production flag a person wrote is kept;
- a new environment or service is added with no aliases, and the report says to add them;
- an environment or service Zadig no longer lists is kept, with a warning (never deleted here);
- each environment is mapped to the custom workflow whose deploy job deploys to it, else keeps
  its current workflow, else gets ``<project>-<env>``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar

from chatops.catalog.model import KEY_PATTERN, Catalog, Environment, Service
from chatops.zadig.client import ZadigClient
from chatops.zadig.models import EnvironmentInfo, RegistryInfo, ServiceInfo, WorkflowDetail

T = TypeVar("T")


@dataclass(frozen=True)
class Discovered:
    """What Zadig says about one project, fetched once; ``merge`` needs nothing else."""

    environments: Tuple[EnvironmentInfo, ...]  # the non-production list only
    workflows: Tuple[WorkflowDetail, ...]  # custom workflows, with their jobs
    services: Tuple[ServiceInfo, ...]
    registries: Tuple[RegistryInfo, ...]


async def discover(zadig: ZadigClient, project_key: str) -> Discovered:
    """Read everything ``merge`` needs; any ZadigError propagates (nothing is half-read)."""
    environments = await zadig.list_environments(project_key)
    summaries = await zadig.list_workflows(project_key)
    # Product (legacy) workflows have no custom-workflow detail and cannot be triggered here.
    workflows = [await zadig.get_workflow(w.key, project_key) for w in summaries if w.is_custom]
    services = await zadig.list_services(project_key)
    registries = await zadig.list_registries()
    return Discovered(tuple(environments), tuple(workflows), tuple(services), tuple(registries))


# -- the merge (pure) -----------------------------------------------------------------------------


def merge(catalog: Catalog, discovered: Discovered) -> Tuple[Catalog, List[str]]:
    """The catalog updated with what Zadig lists, and one report line per change or doubt."""
    report: List[str] = []
    where = str(catalog.path) if catalog.path else "the catalog"
    taken = _names_in_use(catalog)

    registry = _registry(catalog, discovered.registries, report)
    environments = _merge_environments(catalog, discovered, taken, report)
    services = _merge_services(catalog, discovered, taken, report)

    new_names = [f"environment {k}" for k in environments if k not in catalog.environments] + [
        f"service {n}" for n in services if n not in catalog.services
    ]
    if new_names:
        report.append(f"add Chinese aliases to {where} for: {', '.join(new_names)}")
    merged = replace(catalog, registry=registry, environments=environments, services=services)
    return merged, report


def _registry(catalog: Catalog, registries: Sequence[RegistryInfo], report: List[str]) -> str:
    addresses = [r.registry for r in registries]
    default = next((r.registry for r in registries if r.is_default), None)
    if default is None and catalog.registry not in addresses and len(addresses) == 1:
        default = addresses[0]
    if default is None:
        if catalog.registry not in addresses:
            report.append(
                f"warning: Zadig has no default image registry; keeping {catalog.registry}"
            )
        return catalog.registry
    if default != catalog.registry:
        report.append(f"registry: {catalog.registry} -> {default}")
    return default


def _acceptable(
    found: Iterable[Tuple[str, T]],
    kind: str,
    noun: str,
    known: Mapping[str, object],
    taken: Dict[str, str],
    report: List[str],
) -> Dict[str, T]:
    """What Zadig listed that the catalog can hold: valid names not already used for
    something else (first occurrence wins); each skipped one is reported."""
    listed: Dict[str, T] = {}
    for name, info in found:
        if not _valid_name(name):
            report.append(
                f"warning: skipped Zadig {kind} '{name}': catalog {noun} must be "
                "lower-case letters, digits and '-'"
            )
        elif name not in known and taken.get(name.lower()):
            report.append(
                f"warning: skipped Zadig {kind} '{name}': the catalog already "
                f"uses that name for {taken[name.lower()]}"
            )
        else:
            listed.setdefault(name, info)
    return listed


def _merge_environments(
    catalog: Catalog, discovered: Discovered, taken: Dict[str, str], report: List[str]
) -> Dict[str, Environment]:
    details = {w.workflow_key: w for w in discovered.workflows}
    listed: Dict[str, EnvironmentInfo] = _acceptable(
        ((info.key, info) for info in discovered.environments),
        "environment",
        "keys",
        catalog.environments,
        taken,
        report,
    )

    result: Dict[str, Environment] = {}
    for key, env in catalog.environments.items():
        result[key] = _map_workflow(catalog, env, details, report)
        if key in listed:
            continue
        if env.production:
            report.append(
                f"kept environment '{key}': production environments are listed by a "
                "license-gated endpoint, so Zadig was not asked about it"
            )
        else:
            report.append(
                f"warning: environment '{key}' is no longer listed by Zadig; kept "
                "(delete it by hand if it is really gone)"
            )

    conventional = _conventional_jobs(catalog)
    for key, info in listed.items():
        if key in result:
            continue
        draft = Environment(
            key=key,
            aliases=(),
            workflow=f"{catalog.project_key}-{key}",
            build_job=conventional[0],
            deploy_job=conventional[1],
            branch=key,
            production=info.production,
        )
        env = _map_workflow(catalog, draft, details, report, new=True)
        result[key] = env
        hint = f", Zadig calls it '{info.alias}'" if info.alias else ""
        report.append(
            f"added environment '{key}' (workflow {env.workflow}, jobs "
            f"{env.build_job}/{env.deploy_job}, branch {env.branch}{hint}); "
            "check its branch"
        )
    return result


def _map_workflow(
    catalog: Catalog,
    env: Environment,
    details: Dict[str, WorkflowDetail],
    report: List[str],
    new: bool = False,
) -> Environment:
    """The environment pointed at the workflow that deploys to it, with that workflow's jobs."""
    usable = sorted(
        (
            w
            for w in details.values()
            if w.deploy_env == env.key and w.build_job_name and w.deploy_job_name
        ),
        key=lambda w: w.workflow_key,
    )
    chosen: Optional[WorkflowDetail] = None
    if usable:
        by_key = {w.workflow_key: w for w in usable}
        chosen = (
            by_key.get(env.workflow) or by_key.get(f"{catalog.project_key}-{env.key}") or usable[0]
        )
        if len(usable) > 1:
            report.append(
                f"note: workflows {', '.join(by_key)} all deploy to '{env.key}'; "
                f"using {chosen.workflow_key}"
            )
    elif env.workflow in details:
        chosen = details[env.workflow]  # e.g. a workflow whose environment is chosen at run time
    if chosen is None:
        if not new:
            report.append(
                f"warning: Zadig has no custom workflow '{env.workflow}' (environment "
                f"'{env.key}'); kept the mapping"
            )
        else:
            report.append(
                f"warning: no custom workflow deploys to '{env.key}'; assumed "
                f"'{env.workflow}' with jobs {env.build_job}/{env.deploy_job}"
            )
        return env
    build = chosen.build_job_name or env.build_job
    deploy = chosen.deploy_job_name or env.deploy_job
    updated = replace(env, workflow=chosen.workflow_key, build_job=build, deploy_job=deploy)
    if not new and updated != env:
        report.append(
            f"environment '{env.key}': workflow {env.workflow} "
            f"({env.build_job}/{env.deploy_job}) -> {updated.workflow} "
            f"({updated.build_job}/{updated.deploy_job})"
        )
    return updated


def _conventional_jobs(catalog: Catalog) -> Tuple[str, str]:
    """The job names most environments use: the guess for a workflow Zadig does not show."""
    counts = Counter((e.build_job, e.deploy_job) for e in catalog.environments.values())
    return counts.most_common(1)[0][0]


def _merge_services(
    catalog: Catalog, discovered: Discovered, taken: Dict[str, str], report: List[str]
) -> Dict[str, Service]:
    listed: Dict[str, ServiceInfo] = _acceptable(
        ((info.name, info) for info in discovered.services),
        "service",
        "names",
        catalog.services,
        taken,
        report,
    )

    result: Dict[str, Service] = {}
    for name, svc in catalog.services.items():
        info = listed.get(name)
        if info is None:
            report.append(
                f"warning: service '{name}' is no longer listed by Zadig; kept "
                "(delete it by hand if it is really gone)"
            )
            result[name] = svc
            continue
        module = (
            svc.module if svc.module in info.modules or not info.modules else _pick_module(info)
        )
        if module != svc.module:
            report.append(f"service '{name}': module {svc.module} -> {module}")
        result[name] = replace(svc, module=module)

    for name, info in listed.items():
        if name in result:
            continue
        module = _pick_module(info)
        result[name] = Service(name=name, module=module, repo=name, aliases=())
        more = f" (modules: {', '.join(info.modules)})" if len(info.modules) > 1 else ""
        report.append(
            f"added service '{name}' (module {module}{more}, repo {name}); check its repo"
        )
    return result


def _pick_module(info: ServiceInfo) -> str:
    if info.name in info.modules or not info.modules:
        return info.name
    return info.modules[0]


def _valid_name(name: str) -> bool:
    """A Zadig name the catalog cannot hold is skipped, not written into a file that won't load."""
    return bool(KEY_PATTERN.match(name))


def _names_in_use(catalog: Catalog) -> Dict[str, str]:
    """Every key, name and alias (lower-cased) -> what it names; a new name must not collide."""
    taken: Dict[str, str] = {}
    for env in catalog.environments.values():
        for name in (env.key, *env.aliases):
            taken[name.lower()] = f"environment {env.key}"
    for svc in catalog.services.values():
        for name in (svc.name, *svc.aliases):
            taken[name.lower()] = f"service {svc.name}"
    return taken
