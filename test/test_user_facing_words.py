"""What users read speaks of the product, not of how it was developed: no tracker numbers, no history of
who did what in which sitting, no commands of the developers' own machines. Scans the README, docs/, models/,
config/, launch/, scripts/, the Makefile and packaging files, and every comment, docstring and log message of the
package and its benchmarks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("docs", "models", "config", "launch", "scripts", "nvs_fusion_ros", "benchmarks")
FILES = ("README.md", "CHANGELOG.md", "Makefile", "setup.py", "setup.cfg", "package.xml", "pyproject.toml")
SUFFIXES = {".md", ".py", ".sh", ".yaml", ".yml", ".rviz", ".txt", ".xml", ".toml", ".cfg", ".json"}
#: files still owned elsewhere at the time of writing; each must lose its words and then leave this list
PENDING: dict[str, str] = {}  # file -> why it still has such words (none now)

NUMBER = r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|several)"
WORDS = {
    "a tracker number": r"\b(?:issues?|tickets?|PR) ?#?\d+",
    "a work session": rf"\bsessions? {NUMBER}\b|\b(?:in|over|across|for|of) {NUMBER} sessions\b"
                      r"|\b(?:this|last|next|previous|earlier|later) session\b|\bsession'?s (?:run|work|measure)",
    "a stage of the work": r"\bstage \d+'s\b|\bstages? \d+ (?:of the|run|candidate)",
    "a borrowed machine": r"\blent\b|\blends?\b|\bborrowed\b|\bloaned\b",
    "the developers' tools": r"device tool|\brun\(command=|\bgive_back\b|\bworktree\b|\bthe lead\b",
    "a path of the development machine": r"/work/(?:wt|main)/",
    "the tracker's wording": r"\bthe issue'?s\b",
}
PATTERN = re.compile("|".join(f"(?P<w{i}>{p})" for i, p in enumerate(WORDS.values())), re.IGNORECASE)


def user_facing_files() -> list[Path]:
    files = [ROOT / name for name in FILES if (ROOT / name).is_file()]
    for folder in FOLDERS:
        files += [p for p in sorted((ROOT / folder).rglob("*")) if p.is_file() and p.suffix in SUFFIXES
                  and "__pycache__" not in p.parts]
    return files


def findings(text: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in PATTERN.finditer(line):
            kind = list(WORDS)[int(next(k for k, v in match.groupdict().items() if v)[1:])]
            found.append(f"line {number}: {kind}: {match.group(0)!r}")
    return found


def test_the_patterns_catch_development_words_and_spare_product_words() -> None:
    caught = ["see issue 14", "after session 5", "trained over three sessions", "stage 7's candidate",
              "on a lent GPU", 'run(command="bash x")', "the device tool",
              '"model": "/work/wt/geometric/checkpoints/x.pt"', "the issue's bar"]
    spared = ["a RosSession per test", "the ROS session spins", "stage 1 fits the orbit", "the lens distortion",
              "an issue with QoS", "the silhouette"]
    assert all(findings(text) for text in caught), [t for t in caught if not findings(t)]
    assert not any(findings(text) for text in spared), [findings(t) for t in spared]


@pytest.mark.parametrize("path", user_facing_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_development_words(path: Path) -> None:
    relative = str(path.relative_to(ROOT))
    found = findings(path.read_text(errors="replace"))
    if relative in PENDING:
        assert found, f"{relative} is clean now: drop it from PENDING"
        return
    assert not found, f"{relative}: " + "; ".join(found)


#: pages the README links to that are written at the same time on other branches; once they exist here,
#: this test fails until they leave this set
PAGES_WRITTEN_ELSEWHERE: set[str] = set()


def test_the_readme_is_short_keeps_the_two_setup_commands_and_its_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 12 * 1024
    assert "make demo" in readme and "make test" in readme  # .ci/run runs `make test`
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), ROOT / "CHANGELOG.md"]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            resolved = (page.parent / target).resolve()
            relative = str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(resolved)
            if relative in PAGES_WRITTEN_ELSEWHERE:
                assert not resolved.exists(), f"{relative} exists now: drop it from PAGES_WRITTEN_ELSEWHERE"
                continue
            assert resolved.exists(), f"{page.relative_to(ROOT)} links to {target}, which does not exist"
