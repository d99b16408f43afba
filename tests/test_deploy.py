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


def test_scaled_services_can_run_as_many_containers() -> None:
    """`docker compose up --scale gateway=N`: a container_name or a fixed host port on a scaled
    service would stop the second replica from starting."""
    services = compose()["services"]
    assert services["dispatch"]["deploy"]["replicas"] >= 2
    for name in ("gateway", "dispatch"):
        assert "container_name" not in services[name], name
        assert "ports" not in services[name], name
        assert "hostname" not in services[name], name  # each replica's own hostname names it


def test_gateways_join_one_share_group_with_their_own_client_ids() -> None:
    from core.settings import Settings
    from gateway.mqtt_gateway import gateway_client_id

    env = compose()["services"]["gateway"]["environment"]
    group = env.get("SIAGA_MQTT_SHARE_GROUP")
    assert group, "gateways need SIAGA_MQTT_SHARE_GROUP to share the device topics"
    # no fixed gateway id or client id: every replica would claim the same broker session
    assert "SIAGA_GATEWAY_ID" not in env and "SIAGA_MQTT_CLIENT_ID" not in env
    one = Settings(mqtt_share_group=group, gateway_id="3f2a9c1b7d20")
    other = Settings(mqtt_share_group=group, gateway_id="9be01c44a2f1")
    assert gateway_client_id(one) != gateway_client_id(other)
    # a sole gateway (the embedded broker has no $share) keeps the plain client id
    assert gateway_client_id(Settings()) == Settings().mqtt_client_id
    # SIGTERM drains for drain_timeout_s: docker must wait that long before it SIGKILLs
    grace = compose()["services"]["gateway"]["stop_grace_period"]
    assert int(grace.rstrip("s")) > Settings().drain_timeout_s


def test_trackers_reach_every_gateway_through_one_address() -> None:
    services = compose()["services"]
    ports = {p.split(":")[0] for p in services["trackers"]["ports"]}
    assert ports == {"5055", "5023"}
    cfg = (ROOT / "deploy/haproxy/haproxy.cfg").read_text()
    # Docker's DNS answers with every replica of the service
    assert "server-template gateway 16 gateway:5055" in cfg and "server-template gateway 16 gateway:5023" in cfg
    assert "nameserver dns 127.0.0.11:53" in cfg


def test_mosquitto_drops_sessions_left_behind() -> None:
    conf = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    assert "persistent_client_expiration" in conf
