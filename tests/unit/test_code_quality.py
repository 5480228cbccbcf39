"""ruff, mypy and the import rules are part of the suite, so a lint, type or layering error fails CI
like a broken test. The import rules are import-linter contracts in pyproject.toml
(docs/architecture.md, "Layers and their import contracts"); the cycle and torch checks below cover
what they cannot say."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterable, Mapping

import grimp
import pytest

from tests.fixtures.paths import REPO

PACKAGES = ("docstore", "indexer", "reranker", "search_api")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_the_packages() -> None:
    result = _run("mypy")  # packages listed in pyproject's [tool.mypy]
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_linter_contracts_are_kept() -> None:
    # import-linter has no `python -m` entry point; this is what its `lint-imports` script runs.
    # No cache: parallel runs would share one cache folder, and a full scan takes well under a second.
    entry = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    result = subprocess.run(
        [sys.executable, "-c", entry, "--no-cache", "--no-logo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_architecture_document_names_every_import_contract() -> None:
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    text = (REPO / "docs" / "architecture.md").read_text()
    missing = [c["id"] for c in contracts if f"`{c['id']}`" not in text]
    assert contracts and not missing, f"docs/architecture.md does not describe the contracts {missing}"


# Pointers out of the checkout: only to the shared data (test corpora, IR collections), never to
# documents, which live in the repository (docs/).
_OUTSIDE = re.compile(r"ARCHITECTURE\.md|(?:\.\./|/work/)shared/(?!data/)")
_SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def test_documentation_pointers_stay_inside_the_repository() -> None:
    found = []
    for path in sorted(REPO.rglob("*")):
        parts = set(path.relative_to(REPO).parts)
        if parts & _SKIP_DIRS or any(p.endswith(".egg-info") for p in parts) or not path.is_file():
            continue
        if path.suffix not in (".py", ".md", ".toml", ".yml", ".yaml", ".sh", ".cfg", ".txt", ".js", ".html"):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if _OUTSIDE.search(line):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not found, "pointers outside the repository:\n" + "\n".join(found)


def strongly_connected_components(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (a long import chain must not hit the recursion limit)."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        index[root] = lowlink[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(edges.get(root, ()))))]
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = lowlink[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges.get(successor, ())))))
                    break
                if successor in on_stack:
                    lowlink[node] = min(lowlink[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    lowlink[parent] = min(lowlink[parent], lowlink[node])
                if lowlink[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def test_strongly_connected_components() -> None:
    edges = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": ["e"], "e": ["d"], "f": ["f"], "g": []}
    assert sorted(strongly_connected_components(edges)) == [["a", "b", "c"], ["d", "e"], ["f"], ["g"]]


def test_no_import_cycles_between_modules() -> None:
    # Imports under `if TYPE_CHECKING:` and inside functions count: both still tie the two modules
    # together, and either is one edit away from a circular import at runtime.
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=False, cache_dir=None)
    edges = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    cycles = [
        component
        for component in strongly_connected_components(edges)
        if len(component) > 1 or component[0] in edges[component[0]]
    ]
    report = []
    for component in cycles:
        members = set(component)
        lines = [f"cycle between {', '.join(component)}:"]
        for importer in component:
            for imported in sorted(edges[importer] & members):
                for detail in graph.get_import_details(importer=importer, imported=imported):
                    lines.append(
                        f"  {importer} -> {imported} (l.{detail['line_number']}: {detail['line_contents']})"
                    )
        report.append("\n".join(lines))
    assert not cycles, f"{len(cycles)} import cycle(s):\n" + "\n".join(report)


# Everything a rerank server or a remote/jina client loads: none of it may pull torch in at import
# time, so a CPU-only API replica or a thin client never pays for (or needs) the torch install.
TORCH_FREE_MODULES = [
    "reranker.serving.engine",
    "reranker.serving.router",
    "reranker.serving.server",
    "reranker.serving.page_refs",
    "reranker.backends.factory",
    "reranker.backends.remote",
    "reranker.backends.jina",
]
HEAVY = ("torch", "transformers", "safetensors")

# Run in a fresh interpreter: this test process may already hold torch. A finder placed first on
# sys.meta_path records who asked for a heavy package, then lets the normal finders do the import.
_IMPORT_PROBE = textwrap.dedent(
    """
    import importlib, sys, traceback
    HEAVY = {heavy!r}
    OURS = {ours!r}  # frames in our packages name the import chain; library frames are noise
    first = {{}}

    class Probe:
        def find_spec(self, name, path=None, target=None):
            top = name.partition(".")[0]
            if top in HEAVY and top not in first:
                stack = traceback.extract_stack()[:-1]
                first[top] = [f"{{f.filename}}:{{f.lineno}}: {{f.line}}" for f in stack if f.filename.startswith(OURS)]
            return None

    sys.meta_path.insert(0, Probe())
    importlib.import_module({module!r})
    for name in HEAVY:
        if name in sys.modules:
            print(f"{{name}} imported via:")
            print("\\n".join("  " + line for line in first.get(name, ["(no frame in the repository)"])))
    """
)


@pytest.mark.parametrize("module", TORCH_FREE_MODULES)
def test_module_does_not_import_torch_at_import_time(module: str) -> None:
    ours = tuple(f"{REPO / package}/" for package in PACKAGES)
    probe = _IMPORT_PROBE.format(heavy=HEAVY, ours=ours, module=module)
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"importing {module} failed:\n{result.stderr}"
    assert not result.stdout.strip(), f"importing {module} loads a heavy package:\n{result.stdout}"
