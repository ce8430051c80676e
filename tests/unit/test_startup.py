"""The collector is off while a new process imports and back on once it has (issue 18: ~0.25 s
of the model worker's start, ~25 ms of an ``exec``), and a caller of ``main()`` inside a running
program keeps its collector as it was."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

from appliance.cli.main import main


def test_a_command_run_in_process_keeps_the_collector_on(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("IRONCURTAIN_HOME", str(tmp_path / "home"))
    frozen = gc.get_freeze_count()
    assert main(["policy", "show"]) == 0
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
    assert "policy" in capsys.readouterr().out.lower()


def test_a_new_process_collects_again_once_loaded() -> None:
    program = textwrap.dedent(
        """
        import gc
        from appliance.host import startup
        startup.loading()          # not this process's entry: nothing changes
        assert gc.isenabled()
        startup.entered()
        assert not gc.isenabled()
        import json, decimal       # what a command imports
        startup.loaded()
        assert gc.isenabled() and gc.get_freeze_count() > 0
        startup.loading()          # a command that imports more after its module
        assert not gc.isenabled()
        startup.loaded()
        assert gc.isenabled()
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
