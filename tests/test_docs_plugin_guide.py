"""The test samples of docs/plugins.md ("Testing") pass as a plugin author would run them: with
pytest and himoe's pytest plugin, against the example plugin of docs/examples/himoe-example/."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"
EXAMPLE = ROOT / "docs" / "examples" / "himoe-example"


def guide_testing_samples() -> list[str]:
    section = GUIDE.read_text(encoding="utf-8").split("## Testing", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```python\n(.*?)^```", section, re.S | re.M)


def test_the_guide_s_pytest_samples_pass(tmp_path):
    samples = guide_testing_samples()
    assert samples, "docs/plugins.md has no python sample in its Testing section"
    for index, code in enumerate(samples):
        (tmp_path / f"test_guide_sample_{index}.py").write_text(code, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(EXAMPLE), os.environ.get("PYTHONPATH")])),
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
    )  # load himoe's plugin once, explicitly
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "himoe_core.testing.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-c",
            str(tmp_path / "pytest.ini"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b[1-9]\d* passed\b", result.stdout), result.stdout
