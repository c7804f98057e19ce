"""scripts/generate_nlu.py: committed output is current; a catalog edit flows into NLU and jieba."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from chatops.catalog import DEFAULT_PATH, load_catalog, parse_catalog
from scripts.generate_nlu import (
    ALIAS_FREQ,
    DICT_OUT,
    NLU_OUT,
    render_nlu,
    render_userdict,
    synonyms,
)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "generate_nlu.py"
SHIPPED_TEXT = DEFAULT_PATH.read_text(encoding="utf-8")
WITH_POINTS = SHIPPED_TEXT.replace(
    "  web-frontend:\n    aliases: [前端]\n",
    "  web-frontend:\n    aliases: [前端]\n  points-service:\n    aliases: [积分服务, Points]\n"
    "    module: points\n",
)


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_committed_generated_files_are_up_to_date():
    proc = run_script("--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_check_fails_for_a_catalog_the_files_do_not_match(tmp_path: Path):
    edited = tmp_path / "catalog.yml"
    edited.write_text(WITH_POINTS, encoding="utf-8")
    before = (NLU_OUT.read_bytes(), DICT_OUT.read_bytes())

    proc = run_script("--check", "--catalog", str(edited))

    assert proc.returncode == 1
    assert "data/nlu/catalog.generated.yml is out of date" in proc.stdout
    assert "data/jieba/userdict.txt is out of date" in proc.stdout
    assert (NLU_OUT.read_bytes(), DICT_OUT.read_bytes()) == before  # --check writes nothing


def test_committed_files_equal_a_fresh_render():
    catalog = load_catalog()
    assert NLU_OUT.read_text(encoding="utf-8") == render_nlu(catalog)
    assert DICT_OUT.read_text(encoding="utf-8") == render_userdict(catalog)


def test_a_new_service_alias_adds_synonym_lookup_and_jieba_word():
    before_nlu = render_nlu(load_catalog())
    catalog = parse_catalog(WITH_POINTS)

    nlu = render_nlu(catalog)
    assert "积分服务" not in before_nlu
    # The module "points" is the alias "Points" up to case: listed once.
    assert (
        "  - synonym: points-service\n    examples: |\n      - 积分服务\n      - Points\n"
        "      - Points服务\n  - lookup: environment\n"
    ) in nlu
    service_lookup = nlu.split("  - lookup: service\n")[1].split("  - regex:")[0]
    assert "      - points-service\n      - 积分服务\n      - Points\n" in service_lookup
    assert f"积分服务 {ALIAS_FREQ} n\n" in render_userdict(catalog)


def test_generated_nlu_is_valid_rasa_yaml_with_the_expected_blocks():
    data = yaml.safe_load(render_nlu(load_catalog()))
    assert data["version"] == "3.1"
    kinds = [next(iter(item)) for item in data["nlu"]]
    assert kinds.count("lookup") == 2 and kinds.count("regex") == 2
    table = {
        item["synonym"]: item["examples"].split("\n") for item in data["nlu"] if "synonym" in item
    }
    assert "- 线上环境" in table["prod"] and "- production" in table["prod"]
    assert "- prod" not in table["prod"]  # the canonical value is never its own synonym
    assert set(table) == {"dev", "test", "uat", "prod", *load_catalog().services}


def test_environment_synonyms_cover_aliases_glued_to_huanjing():
    table = synonyms(load_catalog())
    assert table["test"] == ["测试环境", "测试", "qa", "qa环境", "test环境"]
    assert table["order-service"] == ["订单服务"]


def test_ascii_names_are_not_in_the_jieba_dictionary():
    catalog = parse_catalog(WITH_POINTS)
    words = [line.split(" ")[0] for line in render_userdict(catalog).splitlines()]
    for ascii_name in (
        "qa",
        "QA",
        "uat",
        "staging",
        "prod",
        "production",
        "Points",
        "points-service",
        "order-service",
        "dev",
        "gateway",
    ):
        assert ascii_name not in words
    assert all(not w.isascii() for w in words)
    assert words[-3:] == ["分支", "流水线", "环境"]
    assert len(words) == len(set(words))
