"""``strata code …`` end to end: the real CLI entry (``strata.cli.main``), a live gateway with a
scripted model and real MiniLM embeddings, real bubblewrap runs, and the ``--json`` report."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
import typer

from applications.coding.ask import NOT_ANSWERED
from applications.coding.cli import register
from model_layer.errors import ValidationException
from strata import cli as strata_cli
from tests.applications.coding.code_harness import MODEL, live_gateway
from tests.model_layer.agents.scripted import text

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with live_gateway(tmp_path_factory.mktemp("gateway")) as gw:
        yield gw


@pytest.fixture
def strata(gateway, monkeypatch, capsys):
    """Run ``strata code …`` through the root CLI's main (its error handling included)."""

    def build_app() -> typer.Typer:
        app = typer.Typer(rich_markup_mode=None)

        @app.callback()
        def _root() -> None:
            """strata"""

        register(app)  # what the `strata.commands` entry point does
        return app

    monkeypatch.setattr(strata_cli, "build_app", build_app)
    monkeypatch.setenv("STRATA_CODE_URL", gateway.url)
    monkeypatch.setenv("STRATA_CODE_API_KEY", gateway.api_key)
    monkeypatch.setenv("STRATA_CODE_MODEL", MODEL)

    def run(*argv: str, answers: tuple[str, ...] = ()) -> tuple[int, str, str]:
        gateway.model.queue.clear()
        gateway.model.script(*[text(a) for a in answers])
        capsys.readouterr()
        status = strata_cli.main(["code", *argv])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def files(root: Path, **bodies: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, body in bodies.items():
        path = root / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body).lstrip())
    return root


def block(path: str, search: str, replace: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


@needs_bwrap
def test_fix_json_report(strata, tmp_path):
    ws = files(
        tmp_path / "ws",
        **{
            "calc.py": "def add(a, b):\n    return a - b\n",
            "test_calc.py": "from calc import add\ndef test(): assert add(2, 3) == 5\n",
        },
    )
    status, out, _ = strata(
        "fix", "add subtracts", "--workspace", str(ws), "--json",
        answers=(block("calc.py", "    return a - b\n", "    return a + b\n"),),
    )  # fmt: skip
    report = json.loads(out)
    assert status == 0 and report["status"] == "fixed"
    assert [r["outcome"] for r in report["runs"]] == ["failed", "passed"]
    assert report["runs"][1]["isolation"] == "bubblewrap"
    assert report["files_changed"][0]["path"] == "calc.py" and report["written"] == ["calc.py"]
    assert report["model_calls"][0]["model_id"] == MODEL


@needs_bwrap
def test_fix_that_fails_exits_1_and_dry_run_writes_nothing(strata, tmp_path):
    ws = files(
        tmp_path / "ws",
        **{"calc.py": "X = 1\n", "test_calc.py": "from calc import X\ndef test(): assert X == 2\n"},
    )
    status, out, _ = strata("fix", "X must be 2", "-w", str(ws), "--attempts", "1", answers=("no idea",))
    assert status == 1 and out.startswith("fix: not_fixed")
    status, out, _ = strata(
        "fix",
        "X must be 2",
        "-w",
        str(ws),
        "--dry-run",
        "--json",
        answers=(block("calc.py", "X = 1\n", "X = 2\n"),),
    )
    assert status == 0 and json.loads(out)["written"] == []
    assert (ws / "calc.py").read_text() == "X = 1\n"


@needs_bwrap
def test_generate_and_test(strata, tmp_path):
    stub = 'def slug(s: str) -> str:\n    """Lower-case words, dashed."""\n    raise NotImplementedError\n'
    ws = files(
        tmp_path / "ws",
        **{
            "slug.py": stub,
            "test_slug.py": "from slug import slug\ndef test(): assert slug('A b') == 'a-b'\n",
        },
    )
    impl = block("slug.py", "    raise NotImplementedError\n", "    return '-'.join(s.lower().split())\n")
    status, out, _ = strata("generate", "implement slug", "-w", str(ws), "--json", answers=(impl,))
    assert (status, json.loads(out)["status"]) == (0, "generated")
    new_test = block("test_more.py", "", "from slug import slug\ndef test_empty(): assert slug('') == ''\n")
    status, out, _ = strata("test", "slug.py", "-w", str(ws), "--json", answers=(new_test,))
    report = json.loads(out)
    assert (status, report["status"]) == (0, "tests_added")
    assert report["runs"][-1]["counts"]["passed"] == 2 and (ws / "test_more.py").exists()


def test_explain_cites_the_lines_it_read(strata, gateway, tmp_path):
    ws = files(tmp_path / "ws", **{"calc.py": "X = 1\n\n\ndef add(a, b):\n    return a + b\n"})
    status, out, _ = strata(
        "explain", "calc.py:add", "-w", str(ws), "--json", answers=("It adds two numbers.",)
    )
    report = json.loads(out)
    assert (status, report["status"], report["answer"]) == (0, "answered", "It adds two numbers.")
    assert report["citations"] == [{"path": "calc.py", "lines": [4, 5]}]
    assert "def add(a, b)" in str(gateway.model.requests[-1].messages)
    status, out, _ = strata("explain", "calc.py:nothing", "-w", str(ws))
    assert status == 1 and "no function or class named 'nothing'" in out


def test_ask_answers_from_the_docs_with_citations(strata, tmp_path):
    ws = files(
        tmp_path / "ws",
        **{
            "README.md": "# Widget\n\nWidget renders charts. Start it with `widget serve --port 8080`.\n",
            "docs__deploy.md": "# Deploying\n\nDeploy: `widget deploy --region eu-west-1` (needs Docker).\n",
            "widget.py": "X = 1\n",
        },
    )
    status, out, _ = strata(
        "ask", "How do I deploy?", "-w", str(ws), "--json",
        answers=("Run `widget deploy --region eu-west-1` (Docker is needed) [1].",),
    )  # fmt: skip
    report = json.loads(out)
    assert (status, report["status"]) == (0, "answered")
    assert report["citations"][0]["path"] == "docs/deploy.md"  # retrieval ranked it first
    assert all((ws / c["path"]).is_file() for c in report["citations"])
    status, out, _ = strata("ask", "What is the licence?", "-w", str(ws), "--json", answers=(NOT_ANSWERED,))
    assert json.loads(out)["status"] == "not_in_docs" and json.loads(out)["citations"] == []


def test_bad_input_is_one_line(strata, tmp_path):
    status, _, err = strata("fix", "x", "-w", str(tmp_path / "missing"))
    assert status == 1 and err.startswith("error: no such workspace folder")
    assert len(err.strip().splitlines()) == 1
    nodocs = files(tmp_path / "nodocs", **{"a.py": "X = 1\n"})
    status, out, _ = strata("ask", "anything?", "-w", str(nodocs))
    assert status == 1 and out.startswith("ask: no_docs")
    status, _, err = strata("explain", "../etc/passwd", "-w", str(nodocs))
    assert status == 1 and "outside the workspace" in err


def test_explain_cuts_a_file_too_long_for_the_models_window(strata, gateway, tmp_path):
    body = "".join(f"def helper_{i}(x):\n    return x + {i}\n\n\n" for i in range(400))  # 1,600 lines
    ws = files(tmp_path / "ws", **{"big.py": body})

    def small_window(request):  # what llama.cpp answers for a prompt over its 2,048 tokens
        size = sum(len(b.get("text", "")) for m in request.messages for b in m["content"])
        if size > 6000:
            raise ValidationException(
                f"the model rejected the request: request ({size // 3} tokens) exceeds the available "
                "context size (2000 tokens), try increasing it"
            )
        return text("Helpers that add constants.")

    gateway.model.policy = small_window
    try:
        status, out, _ = strata("explain", "big.py", "-w", str(ws), "--json")
    finally:
        gateway.model.policy = None
    report = json.loads(out)
    assert (status, report["status"], report["answer"]) == (0, "answered", "Helpers that add constants.")
    [citation] = report["citations"]
    first, last = citation["lines"]
    assert first == 1 and 100 < last < 1600  # the lines that fitted, not the whole file
    assert f"lines 1-{last} explained" in report["notes"][0]
    explained = str(gateway.model.requests[-1].messages)
    assert f"helper_{(last - 2) // 4}(" in explained and "helper_399(" not in explained


def test_ask_counts_a_retrieved_file_named_by_path_as_a_citation(strata, tmp_path):
    ws = files(
        tmp_path / "ws",
        **{
            "README.md": "# Widget\n\nWidget renders charts. Start it with `widget serve --port 8080`.\n",
            "docs__deploy.md": "# Deploying\n\nDeploy: `widget deploy --region eu-west-1` (needs Docker).\n",
        },
    )
    named = "Run `widget deploy --region eu-west-1`, as (docs/deploy.md) says."
    status, out, _ = strata("ask", "How do I deploy?", "-w", str(ws), "--json", answers=(named,))
    report = json.loads(out)
    assert (status, report["status"]) == (0, "answered")
    assert [c["path"] for c in report["citations"]] == ["docs/deploy.md"]
    # A file that was not retrieved (or does not exist) is no citation: the answer is uncited.
    invented = "Run `widget deploy`, see docs/release.md and mydocs/deploy.md."
    status, out, _ = strata("ask", "How do I deploy?", "-w", str(ws), "--json", answers=(invented,))
    assert (status, json.loads(out)["status"], json.loads(out)["citations"]) == (1, "uncited", [])
