"""deploy/k8s: the kustomize base and the staging/production overlays, validated offline against the
Kubernetes schemas with kubernetes-validate (never applied to a cluster here).

Every manifest file is validated as it is; the overlays are also rendered with `kubectl kustomize`
where a kubectl with kustomize v4+ is installed (Debian's kubernetes-client 1.20 bundles a kustomize
too old for the `labels` field; that test skips with the reason).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ship_env import ROOT, tool

K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("staging", "production")
KUBERNETES_VERSION = "1.30.0"


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    found = tool("kubernetes-validate")
    if found is None:
        pytest.skip("kubernetes-validate is not installed: pip install -e '.[dev]'")
    return subprocess.run([found, "--strict", "-k", KUBERNETES_VERSION, str(path)], capture_output=True, text=True,
                          timeout=120)


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_file_is_valid(path):
    result = validate(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_rejects_a_broken_deployment(tmp_path):
    broken = tmp_path / "deployment.yaml"
    deployment = yaml.safe_load((K8S / "base" / "deployment.yaml").read_text())
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = [8000]
    broken.write_text(yaml.safe_dump(deployment))
    assert validate(broken).returncode != 0


def render(overlay: str, tmp_path: Path) -> list[dict]:
    """`kubectl kustomize` of a copy of deploy/k8s whose overlay has secret.env made from the example."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("no kubectl: the overlays are validated file by file only")
    tree = shutil.copytree(K8S, tmp_path / "k8s")
    overlay_dir = tree / "overlays" / overlay
    shutil.copy(overlay_dir / "secret.env.example", overlay_dir / "secret.env")
    result = subprocess.run([kubectl, "kustomize", str(overlay_dir)], capture_output=True, text=True, timeout=120)
    if result.returncode != 0 and "labels" in result.stderr:
        pytest.skip(f"this kubectl's kustomize is too old for the overlays: {result.stderr.strip()[:200]}")
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(documents: list[dict]) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in documents}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_overlay_is_valid_and_follows_its_alias(overlay, tmp_path):
    documents = render(overlay, tmp_path)
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(yaml.safe_dump_all(documents))
    result = validate(rendered)
    assert result.returncode == 0, result.stdout + result.stderr

    kinds = by_kind(documents)
    assert set(kinds) == {"Namespace", "ConfigMap", "Secret", "Service", "Deployment"}
    assert all(doc["metadata"].get("namespace", doc["metadata"]["name"]) == f"sentiment-{overlay}"
               for doc in documents)
    assert kinds["ConfigMap"]["data"]["SENTIMENT_MLOPS_ENV"] == overlay  # the alias the pods follow
    assert set(yaml.safe_load((K8S / "overlays" / overlay / "secret.env.example").read_text().replace("=", ": "))) \
        == set(kinds["Secret"]["data"])

    pod = kinds["Deployment"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["image"].endswith(f":{overlay}")
    assert "$(SENTIMENT_MLOPS_ENV)" in container["args"]
    sources = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
    assert sources == {kinds["ConfigMap"]["metadata"]["name"], kinds["Secret"]["metadata"]["name"]}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    selector = kinds["Service"]["spec"]["selector"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    assert kinds["Deployment"]["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
