"""The Docker images' torch satisfies the package's own requirement (checked without Docker).

transformers 5 refuses torch < 2.6; an image whose base ships an older torch builds fine and then
cannot load any model. The versions are read from the Dockerfile: the ``pytorch/pytorch:<version>-…``
base tag and every ``torch==<version>`` it installs.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def torch_requirement() -> Requirement:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    return next(r for r in map(Requirement, deps) if r.name == "torch")


def image_torch_versions(dockerfile: str) -> dict[str, Version]:
    found = {}
    for match in re.finditer(r"^FROM\s+pytorch/pytorch:(\d+\.\d+(?:\.\d+)?)\S*(?:\s+AS\s+(\w+))?", dockerfile, re.M | re.I):
        found[f"base {match[2] or match[0]}"] = Version(match[1])
    for match in re.finditer(r"torch==(\d+\.\d+(?:\.\d+)?)", dockerfile):
        found[f"pip {match[0]}"] = Version(match[1])
    return found


def test_every_torch_in_the_docker_images_meets_the_package_requirement():
    requirement = torch_requirement()
    versions = image_torch_versions((ROOT / "Dockerfile").read_text(encoding="utf-8"))
    assert versions, "the Dockerfile names no torch version"
    bad = {where: str(v) for where, v in versions.items() if v not in requirement.specifier}
    assert not bad, f"torch in the images does not satisfy {requirement}: {bad}"


def test_the_check_catches_an_old_base_image():
    old = image_torch_versions("FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime AS gpu\n")
    assert old == {"base gpu": Version("2.5.1")}
    assert Version("2.5.1") not in torch_requirement().specifier
