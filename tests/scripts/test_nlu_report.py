"""scripts/nlu_report.py: the scorer and its command line."""

from __future__ import annotations

from pathlib import Path

from scripts.nlu_report import article_frame, main, score


def test_a_model_path_that_does_not_exist_is_refused(tmp_path: Path, capsys):
    missing = tmp_path / "models" / "chatops-nope.tar.gz"

    assert main(["--model", str(missing), "--gate"]) == 2
    assert f"no model file at {missing}" in capsys.readouterr().err


def test_a_folder_is_not_a_model(tmp_path: Path):
    assert main(["--model", str(tmp_path)]) == 2


def test_whole_frame_needs_the_intent_and_every_entity():
    gold = [("deploy", {("service", "order-service"), ("environment", "test")})] * 3
    predicted = [
        ("deploy", {("service", "order-service"), ("environment", "test")}),
        ("deploy", {("service", "order-service")}),
        ("query_status", {("service", "order-service"), ("environment", "test")}),
    ]

    result = score("bot", gold, predicted)

    assert result["whole_frame_accuracy"] == round(1 / 3, 4)
    assert result["intent_accuracy"] == round(2 / 3, 4)


def test_the_articles_regex_understands_only_its_one_sentence():
    assert article_frame("执行dev环境order流水线") == (
        "deploy",
        {("environment", "dev"), ("service", "order")},
    )
    assert article_frame("把订单服务发到测试环境") == ("", set())
