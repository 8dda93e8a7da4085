"""The repository refers to nothing outside itself: a clone has every file its text names."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Built from pieces so this file does not name them itself.
OUTSIDE_PATHS = (".." + "/shared", "/" + "work/")


def repository_files(root: Path) -> list[Path]:
    """Tracked files and new ones not ignored: what a commit of the tree would hold."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    names = {name for name in listed.decode().split("\0") if name}
    return [root / name for name in sorted(names) if (root / name).is_file()]


def outside_references(root: Path) -> list[str]:
    """`path:line: text` of every line of a text file naming a path outside the repository:
    the known outside paths, or the checkout's own absolute path (true only on this machine)."""
    needles = (*OUTSIDE_PATHS, f"{root}/")
    found = []
    for path in repository_files(root):
        data = path.read_bytes()
        if b"\0" in data:
            continue  # binary (images)
        text = data.decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if any(needle in line for needle in needles):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def test_no_file_names_a_path_outside_the_repository() -> None:
    assert outside_references(ROOT) == []


def test_a_reference_outside_is_found(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("ignored/\n")
    (tmp_path / "ignored").mkdir()
    (tmp_path / "ignored" / "notes.md").write_text(f"see {OUTSIDE_PATHS[0]}/docs\n")
    (tmp_path / "clean.py").write_text('"""Nothing outside: docs/spec.md section 3."""\n')
    (tmp_path / "picture.png").write_bytes(b"\x89PNG\0" + OUTSIDE_PATHS[1].encode())
    assert outside_references(tmp_path) == []

    (tmp_path / "README.md").write_text(f"# x\n\nThe contract is {OUTSIDE_PATHS[0]}/spec.md.\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "run.md").write_text(f"cd {OUTSIDE_PATHS[1]}checkout\n")
    (tmp_path / "local.py").write_text(f"DATA = '{tmp_path}/data'\n")
    subprocess.run(["git", "add", "README.md"], cwd=tmp_path, check=True)  # tracked or new alike
    assert outside_references(tmp_path) == [
        f"README.md:3: The contract is {OUTSIDE_PATHS[0]}/spec.md.",
        f"docs/run.md:1: cd {OUTSIDE_PATHS[1]}checkout",
        f"local.py:1: DATA = '{tmp_path}/data'",
    ]
