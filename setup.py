import json
import os

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError


class BuildJpegRegion(build_ext):
    """Build the fast pipeline's region JPEG decoder (``mae_bench/data/jpeg_region.c``, loaded with ctypes by
    ``mae_bench/data/jpeg_region.py``) with the package, and write its state beside it (``jpeg_region.build.json``):
    ``built``, or ``fallback`` with the compiler's reason when the C compiler or libjpeg's headers are missing, so the
    decision is made once, here, and printed loudly, instead of in every DataLoader worker of every run."""

    STATE = "jpeg_region.build.json"

    def run(self):
        self.states = {}
        super().run()  # builds into build_lib; copies the libraries into the source tree when --inplace / editable
        for ext_dir, state in self.states.items():
            dirs = {ext_dir}
            if self.inplace:
                dirs.add(self.get_finalized_command("build_py").get_package_dir("mae_bench.data"))
            for d in dirs:
                os.makedirs(d, exist_ok=True)
                with open(os.path.join(d, self.STATE), "w") as f:
                    json.dump(state, f, indent=1)

    def build_extension(self, ext):
        path = self.get_ext_fullpath(ext.name)
        try:
            super().build_extension(ext)
            state = dict(decoder="built", library=os.path.basename(path))
        except (CCompilerError, ExecError, PlatformError) as e:  # no compiler, no headers, no libjpeg to link
            what = {"CompileError": "compiling it failed (a C compiler and libjpeg's jpeglib.h are needed)",
                    "LinkError": "linking it against libjpeg (-ljpeg) failed"}.get(type(e).__name__, type(e).__name__)
            state = dict(decoder="fallback", reason=f"{what}: {e}"[-600:])
            bar = "=" * 100
            print(f"\n{bar}\nWARNING: the JPEG region decoder ({ext.sources[0]}) was NOT built: {state['reason']}\n"
                  "mae-bench installs with the fallback (whole-JPEG decodes: the same pixels, slower). To build it, "
                  "install a C compiler and libjpeg-turbo's headers (Debian/Ubuntu libjpeg-dev, Fedora "
                  f"libjpeg-turbo-devel) and install mae-bench again.\n{bar}\n", flush=True)
        self.states[os.path.dirname(path)] = state

    def copy_extensions_to_source(self):
        """As setuptools, skipping a library the fallback did not build."""
        exts = self.extensions
        built = [os.path.join(self.build_lib, self.get_ext_filename(e.name)) for e in exts]
        self.extensions = [e for e, path in zip(exts, built) if os.path.exists(path)]
        try:
            super().copy_extensions_to_source()
        finally:
            self.extensions = exts


# configs/ and tools/ travel inside the installed package as mae_bench/configs and mae_bench/tools (package data),
# so `pip install .` runs `mae-bench` and finds configs/... from any folder; a checkout keeps using its own
# (mae_bench/resources.py decides which). Their files are data: the tools run as scripts, the configs are read.
SHIPPED = {"mae_bench.configs": "configs", "mae_bench.tools": "tools"}

setup(
    name="mae-bench",
    version="0.1.0",
    description="Masked Autoencoder pretraining and transfer benchmark",
    packages=[*find_packages(include=["mae_bench", "mae_bench.*", "backbones", "backbones.*"]), *SHIPPED],
    package_dir=SHIPPED,
    package_data={"mae_bench.configs": ["**/*.py"], "mae_bench.tools": ["*.py", "*.sh"]},
    ext_modules=[Extension("mae_bench.data._jpeg_region", ["mae_bench/data/jpeg_region.c"], libraries=["jpeg"])],
    cmdclass={"build_ext": BuildJpegRegion},
    python_requires=">=3.9",
    install_requires=["torch", "torchvision", "timm", "huggingface_hub", "safetensors", "pandas", "mmengine", "mmcv",
                      "mmdet", "mmsegmentation", "submitit"],
    entry_points={"console_scripts": ["mae-bench=mae_bench.cli:main"]},
)
