"""`rasa data validate`, failing on every warning but one that Rasa cannot judge.

Rasa 3.6's validator warns "The utterance 'utter_x' is not used in any story or rule" for every
response that only custom actions send (``dispatcher.utter_message(response="utter_x")``): it
does not read action code. Fixed sentences belong in the domain all the same, so this wrapper
runs ``rasa data validate`` and accepts exactly those warnings for responses that an action
under ``actions/`` names; any other warning, or a response nobody uses, fails as
``--fail-on-warnings`` would.

Usage: python scripts/validate_data.py
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import List, Set

ROOT = Path(__file__).resolve().parent.parent
UNUSED = re.compile(r"The utterance '(utter_[\w]+)' is not used in any story or rule\.")
WARNING = re.compile(r"UserWarning: (.*)")
SENT_BY_ACTION = re.compile(r"""response\s*=\s*["'](utter_\w+)["']""")


def responses_sent_by_actions(folder: Path = ROOT / "actions") -> Set[str]:
    names: Set[str] = set()
    for path in folder.rglob("*.py"):
        names.update(SENT_BY_ACTION.findall(path.read_text(encoding="utf-8")))
    return names


def unacceptable(output: str, sent_by_actions: Set[str]) -> List[str]:
    """The warnings in ``rasa data validate``'s output that must fail the check."""
    problems = []
    for line in output.splitlines():
        found = WARNING.search(line)
        if not found:
            continue
        message = found.group(1).strip()
        unused = UNUSED.search(message)
        if unused and unused.group(1) in sent_by_actions:
            continue
        problems.append(message)
    return problems


def main() -> int:
    rasa = Path(sys.executable).parent / "rasa"
    command = [str(rasa), "data", "validate", "--config", "config.yml", "--domain", "domain.yml"]
    proc = subprocess.run(
        [*command, "--data", "data"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    output = proc.stdout + proc.stderr
    problems = unacceptable(output, responses_sent_by_actions())
    if proc.returncode != 0 or problems:
        print(output)
        for problem in problems:
            print(f"validate: {problem}", file=sys.stderr)
        return proc.returncode or 1
    print("rasa data validate: no warnings (responses sent only by actions accepted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
