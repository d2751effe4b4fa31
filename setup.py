from setuptools import find_packages, setup

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
    package_data={"mae_bench.data": ["jpeg_region.c"],  # compiled on first use (mae_bench/data/jpegregion.py)
                  "mae_bench.configs": ["**/*.py"], "mae_bench.tools": ["*.py", "*.sh"]},
    python_requires=">=3.9",
    install_requires=["torch", "torchvision", "timm", "huggingface_hub", "safetensors", "pandas", "mmengine", "mmcv",
                      "mmdet", "mmsegmentation", "submitit"],
    entry_points={"console_scripts": ["mae-bench=mae_bench.cli:main"]},
)
