"""Static analysis: ruff's bandit rules (S) are clean over the whole code base, and every place that
silences one says why, on the line itself (`# noqa: S310 - the partner's configured node URL`)."""

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
