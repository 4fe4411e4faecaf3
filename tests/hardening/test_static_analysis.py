"""Static analysis: ruff's bandit rules (S) are clean over the whole code base, and every place that
silences one says why, on the line itself (`# noqa: S310 - the partner's configured node URL`).
And the supply chain: every dependency pinned with the hashes of its files."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUFF = ROOT / ".venv" / "bin" / "ruff"
NOQA_S = re.compile(r"#\s*noqa:\s*(?P<codes>S\d+(?:\s*,\s*[A-Z]+\d+)*)(?P<rest>.*)$")
REASON = re.compile(r"^\s+[-–:]\s+\S")  # after the codes: " - the public prefix, not a secret"


def _python_files() -> list[Path]:
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return [ROOT / name for name in tracked if not name.startswith((".venv/", "var/", "staticfiles/"))]


def test_ruff_bandit_rules_are_clean():
    result = subprocess.run(
        [str(RUFF), "check", "--select", "S", "--output-format", "concise", "."],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, (
        "ruff's bandit rules found issues. Fix them, or where one is a justified exception, add "
        "`# noqa: Sxxx - why` on that line:\n" + result.stdout + result.stderr
    )


def test_every_bandit_exception_gives_a_reason():
    unexplained = []
    for path in _python_files():
        if not path.exists():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            match = NOQA_S.search(line)
            if match and not REASON.match(match.group("rest")):
                unexplained.append(f"  {path.relative_to(ROOT)}:{number}: {line.strip()[-100:]}")
    assert not unexplained, "`# noqa: S...` without a reason (write `# noqa: S310 - why`):\n" + "\n".join(unexplained)


def test_the_reason_check_reads_noqa_comments_right():
    assert REASON.match(NOQA_S.search('x = "cb"  # noqa: S105 - the public prefix').group("rest"))
    bare = "urlopen(u)  # noqa" + ": S310"  # split, or this file would hold a reasonless noqa itself
    assert not REASON.match(NOQA_S.search(bare).group("rest"))
    assert NOQA_S.search("q  # noqa: S608, E501 - fixed names")


def test_every_dependency_is_pinned_with_hashes():
    """requirements.txt pins every package to one version with the hashes of its files, so an
    install (make, Docker) fails rather than take a file that differs from the one reviewed."""
    text = (ROOT / "requirements.txt").read_text()
    entries = [e.strip() for e in text.replace("\\\n", " ").splitlines() if e.strip() and not e.startswith("#")]
    assert len(entries) > 50, "requirements.txt looks truncated"
    unpinned = [e.split()[0] for e in entries if not re.match(r"^[A-Za-z0-9._-]+==[^ ]+ ", e)]
    unhashed = [e.split()[0] for e in entries if "--hash=sha256:" not in e]
    assert not unpinned and not unhashed, f"not pinned: {unpinned}; without hashes: {unhashed}"
    direct = [line for line in (ROOT / "requirements.in").read_text().splitlines() if line.strip()[:1].isalnum()]
    wanted = {_normal(re.split(r"[=<>~ \[;]", line, maxsplit=1)[0]) for line in direct}
    pinned = {_normal(e.split("==")[0]) for e in entries}
    assert wanted <= pinned, f"in requirements.in but not locked: {sorted(wanted - pinned)}"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
