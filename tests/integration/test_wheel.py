"""The built wheel, installed into a fresh virtual environment, carries everything the programs read at run time.

The wheel is built from a copy of the tree (nothing is written into the checkout) without network
access, installed with `--no-deps` into a venv that sees neither the checkout nor the system's
packages (its dependencies come from this test's own site-packages through a `.pth` file), and
checked from a directory outside the tree: CSS, trial-area GeoJSON, default rules and trials files,
the Alembic migrations, and `create_app` serving /assets/base.css.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "dashboard" / "core" / "store" / "migrations"

pytestmark = pytest.mark.wheel

# Run by the fresh venv's Python in isolated mode (-I): argv[1] is the JSON list of migration files
# the source tree has; prints what it found as JSON.
CHECK = r"""
import json, sys, tempfile
from importlib import resources
from pathlib import Path

import assets, callbacks, dashboard, layouts
from dashboard.core import geo
from dashboard.core.alerting.rules import DEFAULT_RULES_PATH, load_rules
from dashboard.core.settings import load_settings
from dashboard.core.trials import DEFAULT_TRIALS_PATH, load_trials
from dashboard.web.app import ASSETS, create_app, load_overlay

store = Path(tempfile.mkdtemp()) / "store.db"
app = create_app(load_settings(environ={}, database_url=f"sqlite:///{store}"))
served = app.server.test_client().get("/assets/base.css")
css = resources.files("assets").joinpath("base.css").read_text(encoding="utf-8")
glyphs = app.server.test_client().get("/map/glyphs/DejaVu Sans Bold/0-255.pbf")
migrations = resources.files("dashboard.core.store.migrations")
print(json.dumps({
    "modules": [m.__file__ for m in (assets, callbacks, dashboard, layouts)],
    "assets_folder": str(ASSETS),
    "css": len(css),
    "served": [served.status_code, served.get_data(as_text=True) == css],
    "glyphs": [glyphs.status_code, len(glyphs.get_data())],
    "overlay_features": len((load_overlay() or {}).get("features", [])),
    "areas_path": str(geo.DEFAULT_PATH),
    "routes": len(geo.load_trial_areas().route.points),
    "rules": len(load_rules(DEFAULT_RULES_PATH).rules),
    "trials": sorted(load_trials(DEFAULT_TRIALS_PATH).ids),
    "migrations_missing": [n for n in json.loads(sys.argv[1]) if not migrations.joinpath(n).is_file()],
    "store_migrated": store.stat().st_size > 0,
}))
"""


def _source_copy(dest: Path) -> Path:
    """pyproject, README and every top-level package of the checkout, without caches or build leftovers."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for child in ROOT.iterdir():
        if child.is_dir() and (child / "__init__.py").is_file() and child.name != "tests":
            shutil.copytree(child, dest / child.name, ignore=ignore)
    return dest


def _migration_files() -> list[str]:
    if not MIGRATIONS.is_dir():
        return []
    return sorted(
        str(p.relative_to(MIGRATIONS))
        for p in MIGRATIONS.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".mako", ".ini")
    )


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)
    assert result.returncode == 0, f"{' '.join(args[:6])} ...\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_the_installed_wheel_has_its_assets_rules_and_migrations(tmp_path):
    wheels = tmp_path / "wheels"
    # No build isolation: the build uses this environment's setuptools, so it needs no network.
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["--wheel-dir", str(wheels), str(_source_copy(tmp_path / "src"))]
    )
    (wheel,) = wheels.glob("mk_control-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(env_dir)
    python = env_dir / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index"]
        + [str(wheel)]
    )
    site = Path(
        _run([str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    )
    # The dependencies (dash, SQLAlchemy, alembic ...) from this test's environment, after the wheel's own files.
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    out = _run([str(python), "-I", "-c", CHECK, json.dumps(_migration_files())], cwd=elsewhere, env=env)
    found = json.loads(out.stdout.strip().splitlines()[-1])

    for module in found["modules"]:
        assert Path(module).is_relative_to(site), f"{module} was not imported from the installed wheel"
    assert Path(found["assets_folder"]).is_relative_to(site) and Path(found["areas_path"]).is_relative_to(site)
    assert found["css"] > 0 and found["served"] == [200, True]
    assert found["glyphs"][0] == 200 and found["glyphs"][1] > 20_000  # the map's label glyphs are in the wheel
    assert found["overlay_features"] > 0 and found["routes"] > 10
    assert found["rules"] > 0 and "streetcav" in found["trials"]
    assert found["migrations_missing"] == [] and found["store_migrated"]
