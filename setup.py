from setuptools import find_packages, setup

setup(
    name="mae-bench",
    version="0.1.0",
    description="Masked Autoencoder pretraining and transfer benchmark",
    packages=find_packages(include=["mae_bench", "mae_bench.*", "backbones", "backbones.*"]),
    package_data={"mae_bench.data": ["jpeg_region.c"]},  # compiled on first use (mae_bench/data/jpegregion.py)
    python_requires=">=3.9",
    install_requires=["torch", "torchvision", "timm", "huggingface_hub", "safetensors", "pandas", "mmengine", "mmcv",
                      "mmdet", "mmsegmentation", "submitit"],
    entry_points={"console_scripts": ["mae-bench=mae_bench.cli:main"]},
)
