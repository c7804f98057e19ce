"""Who may do what, per environment: the ``access`` section of ``catalog.yml``.

```yaml
access:
  roles:
    release-managers: [lead01, lead02]      # DingTalk staff ids (senderStaffId)
  default:                                  # every environment not listed below
    deploy: [members]
    cancel: [members]
  environments:
    prod:
      deploy: [members]                     # may *request*: approval below still applies
      approval: {by: [release-managers], required: 1}
      cancel: [requester, release-managers]
      conversations: [cidXXXX==]            # optional: only these group chats may ask
```

Principals: ``members`` (anyone in the robot's own organisation), ``requester`` (whoever asked
for the task in question), a role name, or ``staff:<id>`` for one person. An action an
environment does not list falls back to ``default``; an action nobody lists is refused.
Only organisation members ever get anything that changes state (`chatops.access`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Mapping, Optional, Tuple

import yaml

from chatops.catalog.reader import Reader

# Everything the bot does that changes state, in one place.
ACTIONS = ("deploy", "cancel", "retry", "rollback", "lock", "unlock", "approve")
MEMBERS, REQUESTER = "members", "requester"
_ENV_FIELDS = {
    *(a for a in ACTIONS if a != "approve"),
    "approval",
    "freeze_exempt",
    "conversations",
}


@dataclass(frozen=True)
class ApprovalRule:
    by: Tuple[str, ...]
    required: int = 1


@dataclass(frozen=True)
class EnvironmentAccess:
    rules: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)
    approval: Optional[ApprovalRule] = None
    # Who may still deploy, retry or roll back while the environment is frozen.
    freeze_exempt: Tuple[str, ...] = ()
    # Group conversations allowed to ask for changes here (empty = any).
    conversations: Tuple[str, ...] = ()


def _members_only() -> EnvironmentAccess:
    return EnvironmentAccess(rules={a: (MEMBERS,) for a in ACTIONS if a != "approve"})


@dataclass(frozen=True)
class AccessPolicy:
    roles: Mapping[str, FrozenSet[str]] = field(default_factory=dict)
    default: EnvironmentAccess = field(default_factory=_members_only)
    environments: Mapping[str, EnvironmentAccess] = field(default_factory=dict)

    def for_environment(self, env_key: str) -> EnvironmentAccess:
        """The environment's own rules, each missing action taken from ``default``."""
        own = self.environments.get(env_key)
        if own is None:
            return self.default
        rules = {**self.default.rules, **own.rules}
        return EnvironmentAccess(
            rules=rules,
            approval=own.approval if own.approval is not None else self.default.approval,
            freeze_exempt=own.freeze_exempt or self.default.freeze_exempt,
            conversations=own.conversations or self.default.conversations,
        )

    def principals(self, action: str, env_key: str) -> Tuple[str, ...]:
        access = self.for_environment(env_key)
        if action == "approve":
            return access.approval.by if access.approval else ()
        return access.rules.get(action, ())

    def staff_of(self, principals: Tuple[str, ...]) -> List[str]:
        """The staff ids named by roles and ``staff:`` entries (for @-mentions), in order."""
        named: List[str] = []
        for principal in principals:
            if principal.startswith("staff:"):
                ids: Tuple[str, ...] = (principal[len("staff:") :],)
            else:
                ids = tuple(sorted(self.roles.get(principal, ())))
            named.extend(i for i in ids if i not in named)
        return named

    def to_dict(self) -> Dict[str, object]:
        def env(access: EnvironmentAccess) -> Dict[str, object]:
            out: Dict[str, object] = {k: list(v) for k, v in access.rules.items()}
            if access.approval is not None:
                out["approval"] = {
                    "by": list(access.approval.by),
                    "required": access.approval.required,
                }
            if access.freeze_exempt:
                out["freeze_exempt"] = list(access.freeze_exempt)
            if access.conversations:
                out["conversations"] = list(access.conversations)
            return out

        return {
            "roles": {name: sorted(ids) for name, ids in self.roles.items()},
            "default": env(self.default),
            "environments": {key: env(a) for key, a in self.environments.items()},
        }


def parse_access(
    reader: Reader, node: Optional[yaml.Node], environments: List[str]
) -> AccessPolicy:
    """The ``access`` section (absent: organisation members may do everything, no approvals)."""
    if node is None:
        return AccessPolicy()
    top = reader.mapping(node, "access")
    reader.reject_unknown(top, {"roles", "default", "environments"}, "access")
    roles: Dict[str, FrozenSet[str]] = {}
    if "roles" in top:
        for name, (_, value) in reader.mapping(top["roles"][1], "access.roles").items():
            if name in (MEMBERS, REQUESTER) or name.startswith("staff:"):
                raise reader.fail(value, f"role name '{name}' is reserved")
            roles[name] = frozenset(reader.strings(value, f"role '{name}'"))

    def principals(value: yaml.Node, what: str) -> Tuple[str, ...]:
        names = reader.strings(value, what)
        for name in names:
            if (
                name not in (MEMBERS, REQUESTER)
                and not name.startswith("staff:")
                and (name not in roles)
            ):
                raise reader.fail(value, f"{what} names '{name}', which is not a role")
        return names

    def environment(value: yaml.Node, what: str) -> EnvironmentAccess:
        fields = reader.mapping(value, what)
        reader.reject_unknown(fields, _ENV_FIELDS, what)
        rules = {
            action: principals(fields[action][1], f"{what}.{action}")
            for action in ACTIONS
            if action in fields and action != "approve"
        }
        approval = None
        if "approval" in fields:
            rule = reader.mapping(fields["approval"][1], f"{what}.approval")
            reader.reject_unknown(rule, {"by", "required"}, f"{what}.approval")
            by = principals(
                reader.require(fields["approval"][1], rule, "by", f"{what}.approval"),
                f"{what}.approval.by",
            )
            required = (
                reader.integer(rule["required"][1], f"{what}.approval.required", minimum=1)
                if "required" in rule
                else 1
            )
            approval = ApprovalRule(by, required)
        return EnvironmentAccess(
            rules=rules,
            approval=approval,
            freeze_exempt=principals(fields["freeze_exempt"][1], f"{what}.freeze_exempt")
            if "freeze_exempt" in fields
            else (),
            conversations=reader.strings(fields["conversations"][1], f"{what}.conversations")
            if "conversations" in fields
            else (),
        )

    default = (
        environment(top["default"][1], "access.default") if "default" in top else _members_only()
    )
    per_env: Dict[str, EnvironmentAccess] = {}
    if "environments" in top:
        for key, (key_node, value) in reader.mapping(
            top["environments"][1], "access.environments"
        ).items():
            if key not in environments:
                raise reader.fail(key_node, f"access names environment '{key}', not in the catalog")
            per_env[key] = environment(value, f"access.environments.{key}")
    return AccessPolicy(roles=roles, default=default, environments=per_env)
