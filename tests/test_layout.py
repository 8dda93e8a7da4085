"""Where the tests keep their fixtures: in conftest.py files, none in a test module, so that a
test's fixtures are found in its directory's conftest.py or those above it (README, Layout)."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# The modules pytest collects tests from (its default `python_files`, which pyproject.toml keeps).
TEST_MODULE_PATTERNS = ("test_*.py", "*_test.py")


def is_fixture(decorator: ast.expr) -> bool:
    """`@pytest.fixture`, `@pytest.fixture(...)`, `@fixture` and the plugins' `@x.fixture`."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr == "fixture"
    return isinstance(target, ast.Name) and target.id == "fixture"


def fixtures_in_test_modules(root: Path) -> list[str]:
    """`path:line: name` of every function a test module under `root` declares a fixture, at
    module level or inside a class."""
    modules = sorted({path for pattern in TEST_MODULE_PATTERNS for path in root.rglob(pattern)})
    found = []
    for path in modules:
        tree = ast.parse(path.read_text(), filename=str(path))
        functions = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and any(is_fixture(decorator) for decorator in node.decorator_list)
        ]
        for node in sorted(functions, key=lambda function: function.lineno):
            found.append(f"{path.relative_to(root)}:{node.lineno}: {node.name}")
    return found


def test_no_test_module_defines_a_fixture() -> None:
    assert fixtures_in_test_modules(TESTS) == []


def test_a_fixture_in_a_test_module_is_found(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text("import pytest\n\n@pytest.fixture\ndef shared(): ...\n")
    (tmp_path / "helpers.py").write_text("from pytest import fixture\n\n@fixture\ndef h(): ...\n")
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "test_plain.py").write_text(
        "import pytest\n\n@pytest.mark.parametrize('x', [1])\ndef test_x(shared, x): ...\n"
    )
    assert fixtures_in_test_modules(tmp_path) == []

    (tmp_path / "api" / "test_fixtures.py").write_text(
        textwrap.dedent(
            """\
            import pytest
            import pytest_asyncio
            from pytest import fixture

            @pytest.fixture
            def bare(): ...

            @pytest.fixture(scope="module", params=[1, 2])
            def called(): ...

            @fixture
            def imported(): ...

            class TestGroup:
                @pytest_asyncio.fixture
                async def in_a_class(self): ...
            """
        )
    )
    (tmp_path / "checks_test.py").write_text(
        "import pytest\n\n@pytest.fixture()\ndef late(): ...\n"
    )
    assert fixtures_in_test_modules(tmp_path) == [
        "api/test_fixtures.py:6: bare",
        "api/test_fixtures.py:9: called",
        "api/test_fixtures.py:12: imported",
        "api/test_fixtures.py:16: in_a_class",
        "checks_test.py:4: late",
    ]
