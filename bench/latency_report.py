"""bench/latency.py's report: latency.md and latency.png from latency.json, and the py-spy
profile of the Rasa server summarised by the cost groups of issue 15 (profile-groups.md, and
profile-<run>.txt with the functions that have the most samples)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Tuple

# -- profile ----------------------------------------------------------------------------------

# The groups of issue 15, first match wins. A sample is one stack of the event loop's thread,
# root first, "fn (file:line)" frames; py-spy runs with --idle, so a sample is wall time: a
# synchronous database call shows as the Python frame that waits for it.
IDLE = "idle: the event loop waiting for I/O"
PROFILE_GROUPS = [
    # the four named in issue 15
    (
        "`_validate_action_result` (jsonschema)",
        r"_validate_action_result|validate_action_result \(|jsonschema/",
    ),
    ("DIET parsing (the NLU pipeline)", r"rasa/nlu/|tensorflow|keras"),
    ("tracker store save", r"\bsave \([^)]*rasa/core/tracker_store\.py"),
    ("tracker serialization per action call", r"_action_call_format|endpoints\.py:\d+\);.*dumps"),
    # what "other" is made of
    ("tracker store retrieve", r"\(rasa/core/tracker_store\.py"),
    ("lock store (Redis)", r"lock_store\.py"),
    ("policies (rules, memoization)", r"rasa/core/policies/"),
    ("rest of Rasa's turn (processor, actions)", r"\(rasa/"),
    ("outbox sender (chatops/delivery.py)", r"\(chatops/delivery\.py"),
    ("follow-up worker (chatops/followups.py)", r"\(chatops/followups\.py"),
    ("channel: accept, finish_turn (connectors/dingtalk.py)", r"\(connectors/dingtalk\.py"),
    ("sweeper, metrics (chatops/runtime, chatops/metrics.py)", r"\(chatops/(runtime|metrics)"),
    ("Sanic, HTTP", r"\((sanic|httpx|httpcore|aiohttp|anyio)/"),
]
# The frame that runs the event loop: the innermost Python frame while the loop waits for I/O.
LOOP = re.compile(
    r"^(serve \(sanic/server/runners\.py|run_forever \(|_run_once \(|select \(.*selectors\.py)"
    r"|asyncio/events\.py"
)
GROUP_NAMES = [name for name, _ in PROFILE_GROUPS] + ["other"]


def summarize_profile(raw: Path) -> Dict[str, Any]:
    """Shares of the event loop thread's samples by group (of its busy samples: idle left
    out), and the functions with the most samples."""
    threads: Dict[str, List[Tuple[List[str], int]]] = {}
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit() and stack.startswith("thread ("):
            thread, _, rest = stack.partition(";")
            threads.setdefault(thread, []).append((rest.split(";"), int(count)))
    loop = max(
        threads.values(),
        key=lambda samples: sum(n for frames, n in samples if "base_events.py" in ";".join(frames)),
    )
    patterns = [(name, re.compile(pattern)) for name, pattern in PROFILE_GROUPS]
    groups: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    idle = busy = 0
    for frames, n in loop:
        if LOOP.search(frames[-1]):  # the loop itself is the innermost frame: it waits
            idle += n
            continue
        busy += n
        # Group by what the running task does (below the loop's frame; Sanic runs uvloop, whose
        # loop is native code under `serve`), not by the frames every sample shares.
        steps = [i for i, f in enumerate(frames) if LOOP.search(f)]
        stack = ";".join(frames[steps[-1] + 1 :] if steps else frames)
        groups[next((name for name, rx in patterns if rx.search(stack)), "other")] += n
        names = [re.sub(r":\d+\)$", ")", f) for f in frames]
        own[names[-1]] += n
        for name in set(names):
            inclusive[name] += n

    def share(counter: Counter[str], top: int) -> List[Tuple[str, float]]:
        return [(k, round(100 * v / max(1, busy), 1)) for k, v in counter.most_common(top)]

    return {
        "samples": idle + busy,
        "busy_samples": busy,
        "idle_share": round(100 * idle / max(1, idle + busy), 1),
        "groups": [(name, round(100 * groups[name] / max(1, busy), 1)) for name in GROUP_NAMES],
        "self_top": share(own, 25),
        "inclusive_top": share(inclusive, 60),
    }


# -- report -----------------------------------------------------------------------------------


def cell(value: Any, unit: str = "") -> str:
    return "–" if value is None else f"{value:g}{unit}" if isinstance(value, float) else str(value)


def span(low_high: List[int]) -> str:
    low, high = low_high
    return str(low) if low == high else f"{low}–{high}"


def render(data: Dict[str, Any], out: Path) -> bool:
    """latency.md and latency.png from latency.json; True when every target holds."""
    runs = data["runs"]
    lines = [
        f"Model `{data.get('model')}`, {data.get('cpus')} CPUs, {data.get('date')}; "
        "`python -m bench.latency` (bench/latency.py says what it measures).\n",
        "| run | users | conversations | turns | p50 / p95 / p99 ms | max ms | lost | deploys per "
        "conversation | results per conversation | turns/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    ok = True
    for name, run in runs.items():
        for users, r in run["levels"].items():
            lines.append(
                f"| {name} | {users} | {r['conversations']} | {r['turns']} | "
                f"{cell(r['p50_ms'])} / {cell(r['p95_ms'])} / {cell(r['p99_ms'])} | "
                f"{cell(r['max_ms'])} | {r['lost']} | {span(r['deploys_per_conversation'])} | "
                f"{span(r['results_per_conversation'])} | {r['throughput_turns_per_s']} |"
            )
    prepared = runs.get("prepared-1", {}).get("levels", {})
    checks = []
    if "10" in prepared:
        p95 = prepared["10"]["p95_ms"]
        checks.append(
            ("p95 ≤ 300 ms at 10 conversations", p95 is not None and p95 <= 300, f"{p95} ms")
        )
    for name, run in runs.items():
        for users, r in run["levels"].items():
            if users == "50":
                checks.append((f"0 lost at 50 ({name})", r["lost"] == 0, str(r["lost"])))
            one = r["deploys_per_conversation"] == [1, 1] and r["results_per_conversation"] == [
                1,
                1,
            ]
            checks.append(
                (
                    f"one deploy and one result per conversation ({name}, {users})",
                    one,
                    f"{r['deploys_per_conversation']} / {r['results_per_conversation']}",
                )
            )
    lines += ["", "| target | holds | measured |", "|---|---|---|"]
    for what, holds, measured in checks:
        ok &= holds
        lines.append(f"| {what} | {'✅' if holds else '❌'} | {measured} |")
    before, after = runs.get("stock-1", {}).get("levels", {}), prepared
    if before and after:
        lines += [
            "",
            "Issue 15, one replica: Rasa's own validation (`CHATOPS_STOCK_ACTION_VALIDATION=1`) "
            "and the prepared validator.",
            "",
            "| users | p50 ms before → after | p95 ms before → after | p99 ms before → after | "
            "turns/s before → after | Rasa server CPU ms per turn before → after |",
            "|---|---|---|---|---|---|",
        ]
        for users in sorted(set(before) & set(after), key=int):
            b, a = before[users], after[users]
            lines.append(
                f"| {users} | "
                + " | ".join(
                    f"{cell(b[k])} → {cell(a[k])}"
                    for k in ("p50_ms", "p95_ms", "p99_ms", "throughput_turns_per_s")
                )
                + f" | {b['cpu_s_per_turn'].get('rasa-0')} → {a['cpu_s_per_turn'].get('rasa-0')} |"
            )
    lines += [
        "",
        "Where a reply's time goes (means from the Rasa servers' metrics, /webhooks/ops/metrics):"
        " the turn (message accepted -> replies in the outbox) and the outbox (queued -> DingTalk "
        "accepted; no pacing wait here, each conversation stays within its burst of 5).",
        "",
        "| run | users | turn ms | outbox wait ms | turns/s |",
        "|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        for users, r in run["levels"].items():
            inside = r.get("inside_rasa") or {}
            lines.append(
                f"| {name} | {users} | {cell(inside.get('turn_ms'))} | "
                f"{cell(inside.get('outbox_wait_ms'))} | {r['throughput_turns_per_s']} |"
            )
    lines += [
        "",
        "CPU milliseconds per answered turn, by process (the whole machine has 2 CPUs):",
        "",
    ]
    names = sorted(
        {n for run in runs.values() for r in run["levels"].values() for n in r["cpu_s_per_turn"]}
    )
    lines += ["| run | users | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for name, run in runs.items():
        for users, r in run["levels"].items():
            lines.append(
                f"| {name} | {users} | "
                + " | ".join(cell(r["cpu_s_per_turn"].get(n)) for n in names)
                + " |"
            )
    lines += [
        "",
        "p50 / p95 ms by turn (deploy, status question, list):",
        "",
        "| run | users | deploy | status | list |",
        "|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        for users, r in run["levels"].items():
            k = r["by_kind"]
            lines.append(
                f"| {name} | {users} | "
                + " | ".join(
                    f"{cell(k[t]['p50_ms'])} / {cell(k[t]['p95_ms'])}"
                    for t in ("deploy", "status", "list")
                )
                + " |"
            )
    (out / "latency.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    plot(runs, out / "latency.png")
    print("\n".join(lines))
    return ok


def plot(runs: Dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, (name, run) in enumerate(runs.items()):
        users = sorted(run["levels"], key=int)
        for q, style in (("p50_ms", "--"), ("p95_ms", "-"), ("p99_ms", ":")):
            left.plot(
                [int(u) for u in users],
                [run["levels"][u][q] for u in users],
                style,
                marker="o",
                color=f"C{i}",
                label=f"{name} {q[:3]}",
            )
        right.bar(
            [f"{name}\n{u} users" for u in users],
            [run["levels"][u]["throughput_turns_per_s"] for u in users],
            color=f"C{i}",
            alpha=0.8,
        )
    left.axhline(300, color="grey", linewidth=0.8)
    left.set(
        xscale="log",
        yscale="log",
        xlabel="concurrent conversations",
        ylabel="message → first reply (ms)",
        title="latency",
    )
    left.legend(fontsize=7)
    right.set(ylabel="answered turns per second", title="throughput")
    right.tick_params(axis="x", labelsize=7, rotation=45)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_profile(data: Dict[str, Any], out: Path) -> None:
    """The measured part of profile.md: the groups of issue 15 per run (profile-groups.md) and
    each run's top functions (profile-<run>.txt)."""
    profiles = {n: r["profile"] for n, r in data["runs"].items() if "profile" in r}
    names = list(profiles)
    lines = [
        "| group (% of the event loop's busy samples) | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for group in GROUP_NAMES:
        shares = [str(dict(profiles[n]["groups"]).get(group)) for n in names]
        lines.append(f"| {group} | " + " | ".join(shares) + " |")
    lines.append(
        "| busy samples (idle share of the thread's wall time) | "
        + " | ".join(
            f"{profiles[n]['busy_samples']} ({profiles[n]['idle_share']}% idle)" for n in names
        )
        + " |"
    )
    for n in names:
        top = profiles[n]
        (out / f"profile-{n}.txt").write_text(
            f"py-spy --idle, the Rasa server's event loop thread, 50 users ({n}): % of "
            f"{top['busy_samples']} busy samples ({top['idle_share']}% of all were idle)\n\n"
            "Own (leaf) samples:\n"
            + "".join(f"{v:5.1f}  {k}\n" for k, v in top["self_top"])
            + "\nInclusive:\n"
            + "".join(f"{v:5.1f}  {k}\n" for k, v in top["inclusive_top"]),
            encoding="utf-8",
        )
    (out / "profile-groups.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
