"""The README's demo command, run for real: ``SWITCHBOARD_DEMO=1 scripts/run``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("bash") is None, reason="scripts/run is a bash script")
async def test_scripts_run_in_demo_mode_serves_the_demo(tmp_path: Path) -> None:
    env = dict(os.environ) | {
        "SWITCHBOARD_DATA_DIR": str(tmp_path / "data"),
        "SWITCHBOARD_PORT": "0",
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "SWITCHBOARD_DEMO": "1",
        "PYTHON": sys.executable,
    }
    with trio.fail_after(240):
        process = await trio.lowlevel.open_process(
            ["bash", str(ROOT / "scripts" / "run")], stdout=subprocess.PIPE, env=env, cwd=ROOT
        )
        try:
            assert process.stdout is not None
            output = b""
            while b"Switchboard listening on" not in output or not output.endswith(b"\n"):
                chunk = await process.stdout.receive_some(4096)
                assert chunk, f"scripts/run exited early: {output.decode()}"
                output += chunk
            text = output.decode()
            assert "demo: open /demo on the URL printed below" in text
            assert any(line.startswith("login: ") for line in text.splitlines())
            url = text.split("Switchboard listening on ")[1].split()[0]
            async with httpx.AsyncClient(base_url=url) as http:
                demo = await http.get("/demo")
                console = await http.get("/console")
            assert demo.status_code == 200
            assert 'src="/widget.js" data-token="sba_' in demo.text
            assert console.status_code == 302
        finally:
            process.terminate()
            with trio.CancelScope(shield=True):
                await process.wait()
