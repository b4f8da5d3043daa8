"""The package's shape, checked: the import-linter contracts of its layers hold, no module is
over 400 lines, and no comment cites a document the repository does not have."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "tiktok_research"


def test_the_import_contracts_hold():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports)], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
    for contract in ("Layers", "never by importing them", "No import cycles"):
        assert contract in result.stdout


def test_no_module_is_over_400_lines():
    long = {str(path.relative_to(REPO)): lines for path in PACKAGE.rglob("*.py")
            if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


def test_comments_state_the_rule_not_a_reference():
    cited = [f"{path.relative_to(REPO)}:{number}" for root in ("src", "rules", "scripts")
             for path in (REPO / root).rglob("*") if path.is_file() and path.suffix in
             (".py", ".smk")
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if "SPEC §" in line]
    assert cited == []
