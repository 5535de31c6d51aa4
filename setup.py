"""pip install of the ROS-free core of seld_ros (features, data, model, training,
metrics, engines, offline tools). The ROS node and message types come from the
colcon build (CMakeLists.txt); `seld_ros.ros` is deliberately left out here."""
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


class BuildPyWithMsgDefs(build_py):
    """Also ship msg/*.msg as seld_ros/_msg/ so the bag tools know the message types without ROS."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "seld_ros" / "_msg"
        target.mkdir(parents=True, exist_ok=True)
        for msg in sorted(Path(__file__).resolve().parent.joinpath("msg").glob("*.msg")):
            shutil.copy2(msg, target / msg.name)


setup(
    name="seld_ros",
    version="0.1.0",
    description="Sound event localization and detection (SELD) for robots: ROS-free core",
    license="Apache-2.0",
    python_requires=">=3.10",
    cmdclass={"build_py": BuildPyWithMsgDefs},
    packages=find_packages(include=["seld_ros", "seld_ros.*"], exclude=["seld_ros.ros", "seld_ros.ros.*"]),
    package_data={"seld_ros": ["models/*.pt", "models/*.json"]},
    install_requires=[
        "numpy",
        "scipy",
        "pyyaml",
        "tqdm",
        # install torch for your target BEFORE `pip install .` (README.md: CPU wheels from
        # https://download.pytorch.org/whl/cpu, CUDA, Jetson); PyPI's default Linux torch bundles CUDA
        "torch>=2.1",
        "pyroomacoustics",
        "matplotlib",
        "onnx",
        "onnxruntime",
        "onnxscript",  # the dynamo ONNX exporter; without it export falls back to torch's legacy exporter
        "rosbags>=0.10",
    ],
    extras_require={"test": ["pytest"]},
    entry_points={
        "console_scripts": [
            "seld-synth=seld_ros.cli.synth:main",
            "seld-bank=seld_ros.cli.bank:main",
            "seld-score=seld_ros.cli.score:main",
            "seld-pretrain-at=seld_ros.cli.pretrain_at:main",
            "seld-train=seld_ros.cli.train:main",
            "seld-eval=seld_ros.cli.evaluate:main",
            "seld-export=seld_ros.cli.export:main",
            "seld-bag=seld_ros.cli.bag:main",
            "seld-eval-bag=seld_ros.cli.eval_bag:main",
            "seld-pretrained=seld_ros.cli.pretrained:main",
        ]
    },
)
