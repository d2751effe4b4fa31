"""Offline GPU nodes: the wheelhouse builds from this machine's registries under 64 MiB, and installs with
pip --no-index into a throwaway venv that sees only the packages a node already has (this venv minus the wheelhouse's
own), after which mmcv.ops / mmengine / mmdet / mmseg import. mmcv's 9-minute build is replaced by the wheel setup
cached (MMCV_WHEEL); the node builds it from the sdist in the house."""
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import run_tool

PROVIDED_BY_HOUSE = ("mmcv", "mmengine", "mmdet", "mmseg", "pycocotools", "cv2", "opencv", "addict", "yapf", "rich",
                     "termcolor", "shapely", "terminaltables", "prettytable", "ftfy", "regex", "wcwidth", "pygments",
                     "markdown_it", "mdurl", "platformdirs", "setuptools", "pkg_resources", "_distutils_hack", "pip",
                     "wheel", "distutils-precedence", "__editable__", "mae_bench", "_mae_bench")
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _cached_mmcv_wheel() -> Path | None:
    import torch
    cache = Path.home() / ".cache" / "mae-bench"
    tv = torch.__version__.split("+")[0]
    wheels = sorted(cache.glob(f"mmcv-2.1.0-torch{tv}-py{PY.replace('.', '')}-*/mmcv-*.whl"))
    return wheels[0] if wheels else None


def _node_like_site(tmp: Path) -> Path:
    """A folder of links to this venv's packages except those the wheelhouse brings (what a node has)."""
    site, node = Path(sysconfig.get_paths()["purelib"]), tmp / "node_site"
    node.mkdir()
    for entry in site.iterdir():
        if not entry.name.lower().replace("-", "_").startswith(tuple(p.replace("-", "_") for p in PROVIDED_BY_HOUSE)):
            (node / entry.name).symlink_to(entry)
    return node


@pytest.mark.slow  # in make test (CI), not in the quick loop of make test-fast
def test_wheelhouse_builds_small_and_installs_offline(tmp_path):
    wheel = _cached_mmcv_wheel()
    assert wheel is not None, "no cached mmcv wheel: `make setup` (run by `make test`) builds one"
    house = tmp_path / "house"
    proc = run_tool("build_wheelhouse.sh", house, PYVER=PY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    size = sum(f.stat().st_size for f in house.rglob("*") if f.is_file())
    assert size < 64 * 2**20, size
    assert (house / "mmcv-2.1.0.tar.gz").is_file() and list(house.glob("mmdet-3.3.0-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run([str(venv / "bin/python"), "-c", code], capture_output=True, text=True,
                             check=True).stdout.strip()
    (Path(purelib) / "node.pth").write_text(str(_node_like_site(tmp_path)) + "\n")
    proc = run_tool("install_offline.sh", house, venv, MMCV_WHEEL=str(wheel), PIP_NO_INDEX="1",
                    PIP_CONFIG_FILE="/dev/null")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "stack imports" in proc.stdout, proc.stdout[-2000:]
