"""docker-compose.yml cannot run here (no Docker engine): check what can be checked statically."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_mounted_file_exists() -> None:
    for name, svc in compose()["services"].items():
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_builds_have_a_dockerfile_and_copy_existing_paths() -> None:
    assert (ROOT / "Dockerfile").exists()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), src


def test_stack_has_the_roles_and_pins_a_fixed_mosquitto() -> None:
    services = compose()["services"]
    assert {"postgres", "mosquitto", "gateway", "dispatch", "web", "simulator"} <= set(services)
    image = services["mosquitto"]["image"]
    major, minor, patch = (int(x) for x in image.split(":")[1].split("."))
    assert (major, minor, patch) >= (2, 0, 22)
    conf = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf and "acl_file" in conf and "password_file" in conf


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make demo" in readme
    assert "make test" in (ROOT / ".ci/run").read_text()
