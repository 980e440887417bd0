"""The parts of `serve --workers` that need no process: the restart intensity, the setting."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing
from click.testing import CliRunner

from chinwag.cli import main
from chinwag.runtime.supervisor import RestartPolicy
from chinwag.workers.parent import RestartBudget


def test_restart_budget_forgets_deaths_older_than_the_period() -> None:
    clock = trio.testing.MockClock(autojump_threshold=0)
    allowed: list[bool] = []

    async def deaths() -> None:
        budget = RestartBudget(RestartPolicy(max_restarts=3, within_seconds=60.0))
        for at in (0, 10, 20, 30):  # the 4th death within 60 s: give up
            await trio.sleep_until(at)
            allowed.append(budget.allow())
        await trio.sleep_until(75)  # the deaths at 0 and 10 are older than 60 s now, 20 is not
        allowed.append(budget.allow())
        allowed.append(budget.allow())
        allowed.append(budget.allow())

    trio.run(deaths, clock=clock)
    assert allowed == [True, True, True, False, True, True, False]


def test_workers_setting_is_bounded(tmp_path: Path) -> None:
    for value in ("0", "65", "-2"):
        result = CliRunner().invoke(
            main, ["serve", "--workers", value, "--data-dir", str(tmp_path / "d")]
        )
        assert result.exit_code == 2
        assert "workers must be between 1 and 64" in result.output
    assert not (tmp_path / "d").exists()
