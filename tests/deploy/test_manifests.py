"""deploy/k8s, offline: each overlay as ``kubectl kustomize`` builds it, every core resource
validated strictly against Kubernetes' schemas (kubernetes-validate), every custom resource
against its vendored CRD (deploy/schemas), and the rules the platform keeps."""

from __future__ import annotations

import copy
import importlib
import json
import re
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
from kubernetes_validate.utils import SchemaNotFoundError  # type: ignore[import-untyped]

from emk_common.settings import ServiceSettings
from emk_devstack import topology

from .support import (
    K8S,
    KUBERNETES_VERSION,
    OVERLAYS,
    ROOT,
    SERVICES,
    Resource,
    build,
    containers,
    crd_schemas,
    named,
    of_kind,
    readers,
    selects,
    yaml_documents,
)

WORKLOADS = ("Deployment", "StatefulSet")
# Never routed through the gateway: each service keeps them on its own port.
UNROUTED = ("/internal", "/docs", "/asyncapi", "/metrics", "/openapi.json")
# The metric names the services export (Prometheus names of their OpenTelemetry instruments).
METRICS = {
    "http_server_request_duration_seconds",
    "emk_outbox_pending_events",
    "emk_outbox_oldest_age_seconds",
    "emk_dlq_records_total",
    "emk_inbox_duplicates_total",
    "emk_consumer_lag",
    "emk_scheduler_lag_seconds",
    "emk_deliveries_total",
    "emk_deadline_breaches_total",
}
CERT_MANAGER_METRICS = {"certmanager_certificate_expiration_timestamp_seconds"}


def _errors(validator: jsonschema.protocols.Validator, resource: Resource) -> list[str]:
    name = f"{resource['kind']}/{resource['metadata']['name']}"
    return [
        f"{name}: {'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:200]}"
        for e in validator.iter_errors(resource)
    ]


def core_errors(resource: Resource) -> list[str]:
    """Strict validation of a built-in kind (unknown fields are errors)."""
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except SchemaNotFoundError:
        return [f"{resource['kind']} ({resource['apiVersion']}): no schema; vendor its CRD"]
    except kubernetes_validate.ValidationError as error:
        path = ".".join(map(str, error.path)) or "(root)"
        return [f"{resource['kind']}/{resource['metadata']['name']}: {path}: {error.message}"]
    return []


def custom_errors(resource: Resource) -> list[str] | None:
    """Validation against the vendored CRD; None when the kind is not a custom one."""
    schema = crd_schemas().get((resource["apiVersion"], resource["kind"]))
    if schema is None:
        return None
    return _errors(jsonschema.Draft7Validator(schema), resource)


# --- schemas ------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_is_valid(overlay: str) -> None:
    errors: list[str] = []
    for resource in build(overlay):
        custom = custom_errors(resource)
        errors += core_errors(resource) if custom is None else custom
    assert errors == []


def test_the_validation_refuses_what_the_api_server_would() -> None:
    """The checks above catch a misspelt field, in a core kind and in a custom one."""
    resources = build("prod")
    deployment = copy.deepcopy(named(resources, "Deployment", "identity"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    assert core_errors(deployment)
    topic = copy.deepcopy(of_kind(resources, "KafkaTopic")[0])
    topic["spec"]["partitons"] = 3
    assert custom_errors(topic)
    route = copy.deepcopy(named(resources, "HTTPRoute", "records"))
    route["spec"]["rules"][0]["matches"][0]["path"]["type"] = "Prefix"
    assert custom_errors(route)


def test_every_vendored_schema_keeps_its_licence_and_says_where_it_is_from() -> None:
    readme = (ROOT / "deploy/schemas/README.md").read_text(encoding="utf-8")
    folders = sorted(p for p in (ROOT / "deploy/schemas").iterdir() if p.is_dir())
    assert folders
    for folder in folders:
        assert (folder / "LICENSE").is_file(), f"{folder.name} has no LICENSE"
        assert f"`{folder.name}/`" in readme, f"deploy/schemas/README.md says nothing of {folder}"


# --- workloads ----------------------------------------------------------------------------


def _pod_labels(workload: Resource) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_probes_resources_a_pdb_an_hpa_and_a_network_policy(
    overlay: str,
) -> None:
    resources = build(overlay)
    pdbs = of_kind(resources, "PodDisruptionBudget")
    hpas = of_kind(resources, "HorizontalPodAutoscaler")
    policies = [p for p in of_kind(resources, "NetworkPolicy") if p["spec"]["podSelector"] != {}]
    problems: list[str] = []
    for deployment in of_kind(resources, "Deployment"):
        name = deployment["metadata"]["name"]
        labels = _pod_labels(deployment)
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                if probe not in container:
                    problems.append(f"{name}/{container['name']} has no {probe}")
        for container in containers(deployment):
            requests = container.get("resources", {}).get("requests", {})
            limits = container.get("resources", {}).get("limits", {})
            if not {"cpu", "memory"} <= set(requests) or "memory" not in limits:
                problems.append(f"{name}/{container['name']}: requests cpu+memory, limit memory")
        if not any(selects(p["spec"]["selector"], labels) for p in pdbs):
            problems.append(f"{name} has no PodDisruptionBudget")
        scalers = [h for h in hpas if h["spec"]["scaleTargetRef"]["name"] == name]
        if not scalers or scalers[0]["apiVersion"] != "autoscaling/v2":
            problems.append(f"{name} has no autoscaling/v2 HorizontalPodAutoscaler")
        elif not any(
            m["type"] == "Resource" and m["resource"]["name"] == "cpu"
            for m in scalers[0]["spec"]["metrics"]
        ):
            problems.append(f"{name}'s HorizontalPodAutoscaler does not scale on CPU")
        if not any(selects(p["spec"]["podSelector"], labels) for p in policies):
            problems.append(f"{name} has no NetworkPolicy of its own")
    assert problems == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_runs_non_root_on_a_read_only_root_filesystem(overlay: str) -> None:
    problems: list[str] = []
    for kind in WORKLOADS:
        for workload in of_kind(build(overlay), kind):
            name = workload["metadata"]["name"]
            pod = workload["spec"]["template"]["spec"]
            context = pod.get("securityContext", {})
            if context.get("seccompProfile", {}).get("type") != "RuntimeDefault":
                problems.append(f"{name}: seccomp profile is not RuntimeDefault")
            if pod.get("automountServiceAccountToken") is not False:
                problems.append(f"{name} mounts a service account token")
            for container in containers(workload):
                own = container.get("securityContext", {})
                where = f"{name}/{container['name']}"
                if not own.get("runAsNonRoot", context.get("runAsNonRoot")):
                    problems.append(f"{where} may run as root")
                if own.get("readOnlyRootFilesystem") is not True:
                    problems.append(f"{where}'s root filesystem is writable")
                if own.get("allowPrivilegeEscalation") is not False:
                    problems.append(f"{where} may escalate privileges")
                if own.get("capabilities", {}).get("drop") != ["ALL"]:
                    problems.append(f"{where} keeps capabilities")
    assert problems == []


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_a_service_is_deployed_the_one_way(overlay: str, service: str) -> None:
    resources = build(overlay)
    deployment = named(resources, "Deployment", service)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }
    tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert tmp, "nothing mounted on /tmp"
    assert "emptyDir" in volumes[tmp[0]["name"]], "no emptyDir on /tmp"
    assert pod["serviceAccountName"] == service
    account = named(resources, "ServiceAccount", service)
    assert account["automountServiceAccountToken"] is False
    ports = named(resources, "Service", service)["spec"]["ports"]
    assert [p["name"] for p in ports] == ["http"]
    monitor = named(resources, "ServiceMonitor", service)
    assert selects(
        monitor["spec"]["selector"], named(resources, "Service", service)["metadata"]["labels"]
    )
    assert [(e["port"], e["path"]) for e in monitor["spec"]["endpoints"]] == [("http", "/metrics")]


def _images(resources: tuple[Resource, ...]) -> list[str]:
    return [
        c["image"] for kind in WORKLOADS for w in of_kind(resources, kind) for c in containers(w)
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_image_is_latest(overlay: str) -> None:
    for image in _images(build(overlay)):
        name, _, tag = image.rpartition(":")
        pinned = "@sha256:" in image or (name and "/" not in tag and tag not in ("", "latest"))
        assert pinned, f"{overlay}: {image} is not pinned to a tag"


def test_prod_runs_three_kafka_brokers_three_mongodb_members_and_two_of_each_service() -> None:
    resources = build("prod")
    brokers = sum(
        pool["spec"]["replicas"]
        for pool in of_kind(resources, "KafkaNodePool")
        if "broker" in pool["spec"]["roles"]
    )
    assert brokers == 3
    assert named(resources, "MongoDBCommunity", "emk-mongodb")["spec"]["members"] == 3
    for service in SERVICES:
        assert named(resources, "Deployment", service)["spec"]["replicas"] >= 2
        assert named(resources, "HorizontalPodAutoscaler", service)["spec"]["minReplicas"] >= 2
    for image in _images(resources):
        assert not image.endswith((":dev", ":latest")), image


def test_dev_runs_one_of_everything() -> None:
    resources = build("dev")
    assert [p["spec"]["replicas"] for p in of_kind(resources, "KafkaNodePool")] == [1]
    assert named(resources, "MongoDBCommunity", "emk-mongodb")["spec"]["members"] == 1
    for deployment in of_kind(resources, "Deployment"):
        assert deployment["spec"]["replicas"] == 1, deployment["metadata"]["name"]
    for topic in of_kind(resources, "KafkaTopic"):
        assert topic["spec"]["replicas"] == 1
        assert topic["spec"]["config"]["min.insync.replicas"] == "1"


# --- secrets ------------------------------------------------------------------------------


SECRET_NAME = re.compile(r"(KEY|KEYS|SECRET|PASSWORD|TOKEN|MONGODB_URI)$")
SERVICE_IN_NAME = re.compile("|".join(SERVICES))


def test_no_secret_value_is_in_the_repository() -> None:
    for path in sorted(K8S.rglob("*.yaml")):
        for resource in yaml_documents(path):
            assert resource.get("kind") != "Secret", f"{path}: a Secret belongs in no file"
    for overlay in OVERLAYS:
        resources = build(overlay)
        assert of_kind(resources, "Secret") == []
        for kind in WORKLOADS:
            for workload in of_kind(resources, kind):
                for container in containers(workload):
                    for variable in container.get("env", []):
                        if SECRET_NAME.search(variable["name"]):
                            assert "valueFrom" in variable, variable["name"]
        for config in of_kind(resources, "ConfigMap"):
            for key, value in config.get("data", {}).items():
                assert not SECRET_NAME.search(key), f"{config['metadata']['name']}: {key}"
                assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", value), "credentials in a URL"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_secret_the_pods_read_is_documented(overlay: str) -> None:
    """The README tells the operator every Secret to create, and those operators write."""
    readme = (K8S / "README.md").read_text(encoding="utf-8")
    wanted: set[str] = set()
    for kind in WORKLOADS:
        for workload in of_kind(build(overlay), kind):
            pod = workload["spec"]["template"]["spec"]
            wanted |= {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
            for container in containers(workload):
                wanted |= {
                    s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s
                }
                wanted |= {
                    v["valueFrom"]["secretKeyRef"]["name"]
                    for v in container.get("env", [])
                    if "secretKeyRef" in v.get("valueFrom", {})
                }
    for mongodb in of_kind(build(overlay), "MongoDBCommunity"):
        wanted |= {u["passwordSecretRef"]["name"] for u in mongodb["spec"]["users"]}
    for gateway in of_kind(build(overlay), "Gateway"):
        for listener in gateway["spec"]["listeners"]:
            wanted |= {c["name"] for c in listener.get("tls", {}).get("certificateRefs", [])}
    undocumented = sorted(
        name
        for name in wanted
        if f"`{name}`" not in readme
        and f"`{re.sub(SERVICE_IN_NAME, '<service>', name)}`" not in readme
    )
    assert undocumented == []


# --- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_set_is_a_setting_a_service_reads(overlay: str) -> None:
    resources = build(overlay)
    configs = {c["metadata"]["name"]: c for c in of_kind(resources, "ConfigMap")}
    unread: list[str] = []
    for service in SERVICES:
        (container,) = named(resources, "Deployment", service)["spec"]["template"]["spec"][
            "containers"
        ]
        for variable in container.get("env", []):
            if service not in readers(variable["name"]):
                unread.append(f"{service}: {variable['name']}")
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                for key in configs[source["configMapRef"]["name"]]["data"]:
                    if not readers(key):
                        unread.append(f"{source['configMapRef']['name']}: {key}")
    assert unread == [], "set, but no service reads it (see emk_common.settings)"


def _settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"{service}.settings")
    (found,) = (
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, ServiceSettings)
        and value is not ServiceSettings
    )
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_kafka_clients_connect_with_tls_and_the_services_own_user(overlay: str) -> None:
    """The Kafka variables a pod gets are valid values of the service's real settings: TLS
    with SCRAM-SHA-512 as its own KafkaUser, the password from the User Operator's Secret,
    the CA file the one the cluster CA's Secret is mounted as."""
    resources = build(overlay)
    configs = {c["metadata"]["name"]: c for c in of_kind(resources, "ConfigMap")}
    for service in SERVICES:
        pod = named(resources, "Deployment", service)["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        values: dict[str, str] = {}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                values.update(configs[source["configMapRef"]["name"]]["data"])
        secrets: dict[str, Resource] = {}
        for variable in container.get("env", []):
            if "value" in variable:
                values[variable["name"]] = variable["value"]
            else:
                secrets[variable["name"]] = variable["valueFrom"]["secretKeyRef"]
                values[variable["name"]] = "from-a-secret"
        kafka: dict[str, Any] = {
            name.lower(): value for name, value in values.items() if name.startswith("KAFKA_")
        }
        settings = _settings_class(service)(**kafka)
        assert settings.kafka_security_protocol == "SASL_SSL", service
        assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512", service
        assert settings.kafka_sasl_username == service
        password = secrets["KAFKA_SASL_PASSWORD"]
        assert password == {"name": f"kafka-user-{service}", "key": "password"}
        assert settings.kafka_ssl_cafile is not None, service
        cafile = settings.kafka_ssl_cafile
        volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
        (mount,) = (
            m for m in container.get("volumeMounts", []) if m["mountPath"] == str(cafile.parent)
        )
        secret = volumes[mount["name"]]["secret"]
        assert secret["secretName"] == "emk-kafka-cluster-ca-cert", service
        assert {"key": "ca.crt", "path": cafile.name} in secret.get("items", []), service


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_services_find_each_other_and_their_infrastructure(overlay: str) -> None:
    resources = build(overlay)
    data = named(resources, "ConfigMap", "emk-endpoints")["data"]
    services = {s["metadata"]["name"]: s for s in of_kind(resources, "Service")}
    for variable in ("IDENTITY_URL", "APPLICATIONS_URL", "DOCUMENTS_URL"):
        host = data[variable].removeprefix("http://")
        assert host in services, variable
    kafka = named(resources, "Kafka", "emk-kafka")
    listener = kafka["spec"]["kafka"]["listeners"][0]
    assert data["KAFKA_BOOTSTRAP_SERVERS"] == f"emk-kafka-kafka-bootstrap:{listener['port']}"
    assert listener["tls"] is True
    assert listener["authentication"]["type"] == "scram-sha-512"
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    assert data["S3_ENDPOINT"] == "http://seaweedfs:8333"
    assert data["CLAMD_HOST"] in services
    assert data["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert data["RECORDS_PUBLIC_BASE_URL"].startswith("https://")


# --- Kafka and MongoDB ----------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_topic_consumed_or_written_is_a_kafka_topic(overlay: str) -> None:
    resources = build(overlay)
    (kafka,) = of_kind(resources, "Kafka")
    cluster = kafka["metadata"]["name"]
    topics = {t["spec"]["topicName"] for t in of_kind(resources, "KafkaTopic")}
    for flows in topology.TABLE.values():
        assert set(flows.consumes) <= topics
        assert set(flows.publishes) <= topics
    users = of_kind(resources, "KafkaUser")
    assert sorted(u["metadata"]["name"] for u in users) == sorted(SERVICES)
    for user in users:
        for acl in user["spec"]["authorization"]["acls"]:
            if acl["resource"]["type"] == "topic":
                assert acl["resource"]["name"] in topics
    for resource in [
        *users,
        *of_kind(resources, "KafkaTopic"),
        *of_kind(resources, "KafkaNodePool"),
    ]:
        assert resource["metadata"]["labels"]["strimzi.io/cluster"] == cluster


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_its_own_mongodb_user_limited_to_its_database(overlay: str) -> None:
    (mongodb,) = of_kind(build(overlay), "MongoDBCommunity")
    users = {u["name"]: u for u in mongodb["spec"]["users"]}
    assert sorted(users) == sorted(SERVICES)
    for service, user in users.items():
        assert user["roles"] == [{"name": "readWrite", "db": f"emk_{service}"}]
        assert user["connectionStringSecretName"] == f"emk-mongodb-{service}"
        deployment = named(build(overlay), "Deployment", service)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        uri = next(v for v in container["env"] if v["name"] == "MONGODB_URI")
        assert uri["valueFrom"]["secretKeyRef"]["name"] == f"emk-mongodb-{service}"


# --- network ------------------------------------------------------------------------------


def _peers(rule: Resource, direction: str) -> list[Resource]:
    peers: list[Resource] = rule.get(direction, [])
    return peers


def _admits(policy: Resource, labels: dict[str, str], port: int | str) -> bool:
    """Whether ``policy`` lets a pod of this namespace with ``labels`` in on ``port``."""
    for rule in policy["spec"].get("ingress", []):
        ports = [p["port"] for p in rule.get("ports", [])]
        if ports and port not in ports:
            continue
        for peer in _peers(rule, "from"):
            if "namespaceSelector" not in peer and selects(peer.get("podSelector", {}), labels):
                return True
    return False


def _reaches(policy: Resource, labels: dict[str, str], port: int) -> bool:
    """Whether ``policy`` lets its pods out to a pod of this namespace with ``labels``."""
    for rule in policy["spec"].get("egress", []):
        ports = [p["port"] for p in rule.get("ports", [])]
        if ports and port not in ports:
            continue
        for peer in _peers(rule, "to"):
            if (
                "podSelector" in peer
                and "namespaceSelector" not in peer
                and selects(peer["podSelector"], labels)
            ):
                return True
    return False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_network_is_closed_but_for_what_each_service_uses(overlay: str) -> None:
    resources = build(overlay)
    policies = {p["metadata"]["name"]: p for p in of_kind(resources, "NetworkPolicy")}
    deny = policies["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    labels = {s: _pod_labels(named(resources, "Deployment", s)) for s in SERVICES}
    kafka = {"strimzi.io/cluster": "emk-kafka", "strimzi.io/kind": "Kafka"}
    for service in SERVICES:
        policy = policies[service]
        namespaces = {
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for rule in policy["spec"]["ingress"]
            for peer in rule["from"]
            if "namespaceSelector" in peer
        }
        assert namespaces == {"traefik", "monitoring"}, service
        assert _reaches(policy, {"app": "emk-mongodb-svc"}, 27017)
        assert _reaches(policy, kafka, 9093)
        assert _reaches(policy, {"app.kubernetes.io/name": "otel-collector"}, 4318)
        assert _reaches(policy, labels["identity"], 8000), "identity's JWKS"
    # Who calls whose API (the services' trusted_callers and their public calls).
    for callee, callers in {
        "identity": ["applications", "documents", "records", "notifications"],
        "applications": ["records", "notifications", "identity"],
        "documents": ["applications", "notifications", "identity"],
        "records": ["identity"],
        "notifications": ["identity"],
    }.items():
        for caller in callers:
            assert _admits(policies[callee], labels[caller], "http"), (caller, callee)
            assert _reaches(policies[caller], labels[callee], 8000), (caller, callee)
    assert not _admits(policies["records"], labels["notifications"], "http")
    assert _reaches(policies["documents"], {"app.kubernetes.io/name": "seaweedfs"}, 8333)
    assert _reaches(policies["documents"], {"app.kubernetes.io/name": "clamav"}, 3310)
    assert not _reaches(policies["records"], {"app.kubernetes.io/name": "seaweedfs"}, 8333)
    assert not _reaches(policies["identity"], {"app.kubernetes.io/name": "clamav"}, 3310)
    smtp = [
        rule
        for rule in policies["notifications"]["spec"]["egress"]
        if any("ipBlock" in peer for peer in rule["to"])
    ]
    assert sorted(p["port"] for rule in smtp for p in rule["ports"]) == [25, 443]


# --- the gateway --------------------------------------------------------------------------


def _path_exposes(match: Resource, path: str) -> bool:
    kind = str(match.get("path", {}).get("type", "PathPrefix"))
    value = str(match.get("path", {}).get("value", "/"))
    if kind == "RegularExpression":
        return re.match(value, path) is not None or re.match(value, path + "/x") is not None
    if kind == "Exact":
        return value == path or value.startswith(path + "/")
    prefix = value.rstrip("/") or "/"
    return (
        prefix == "/"
        or path == prefix
        or path.startswith(prefix + "/")
        or prefix.startswith(path + "/")
    )


def _winner(rules: list[tuple[Resource, Resource]], path: str, method: str) -> Resource:
    """The rule that serves ``method path`` (Gateway API's precedence: an exact path, then
    the longest prefix, then a rule that names the method)."""
    candidates = []
    for rule, match in rules:
        if match.get("method", method) != method or not _path_exposes(match, path):
            continue
        exact = match["path"]["type"] == "Exact"
        candidates.append(((exact, len(match["path"]["value"]), "method" in match), rule))
    assert candidates, f"nothing routes {method} {path}"
    return max(candidates, key=lambda c: c[0])[1]


def _middlewares(rule: Resource) -> list[str]:
    return [f["extensionRef"]["name"] for f in rule.get("filters", [])]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_routes_the_public_api_and_nothing_internal(overlay: str) -> None:
    resources = build(overlay)
    (gateway,) = of_kind(resources, "Gateway")
    assert gateway["spec"]["gatewayClassName"] == "traefik"
    (listener,) = gateway["spec"]["listeners"]
    assert listener["protocol"] == "HTTPS"
    assert listener["tls"]["certificateRefs"] == [{"kind": "Secret", "name": "emk-gateway-tls"}]
    middlewares = {m["metadata"]["name"] for m in of_kind(resources, "Middleware")}
    services = {s["metadata"]["name"]: s for s in of_kind(resources, "Service")}
    rules: list[tuple[Resource, Resource]] = []
    for route in of_kind(resources, "HTTPRoute"):
        for rule in route["spec"]["rules"]:
            # A rule without matches matches every path.
            for match in rule.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}]:
                rules.append((rule, match))
                for path in UNROUTED:
                    assert not _path_exposes(match, path), (route["metadata"]["name"], path)
            for backend in rule["backendRefs"]:
                assert backend["port"] in [
                    p["port"] for p in services[backend["name"]]["spec"]["ports"]
                ]
            names = _middlewares(rule)
            assert set(names) <= middlewares
            assert "security-headers" in names
            assert len([n for n in names if n.startswith("body-limit-")]) == 1
    for service in SERVICES:
        winner = _winner(rules, f"/api/v1/{service}/x", "GET")
        assert [b["name"] for b in winner["backendRefs"]] == [service]
        assert "public-rate-limit" not in _middlewares(winner)
    for public in ("/check/x", "/api/v1/records/verify/x"):
        winner = _winner(rules, public, "GET")
        assert [b["name"] for b in winner["backendRefs"]] == ["records"]
        assert "public-rate-limit" in _middlewares(winner)
    upload = _winner(rules, "/api/v1/documents", "POST")
    assert "body-limit-upload" in _middlewares(upload)
    assert "body-limit-json" in _middlewares(_winner(rules, "/api/v1/documents/x/verify", "POST"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_middlewares_limit_bodies_and_list_origins(overlay: str) -> None:
    resources = build(overlay)
    limits = {
        m["metadata"]["name"]: m["spec"]["buffering"]["maxRequestBodyBytes"]
        for m in of_kind(resources, "Middleware")
        if "buffering" in m["spec"]
    }
    assert limits == {"body-limit-json": 64 * 1024, "body-limit-upload": 6 * 1024 * 1024}
    cors = named(resources, "Middleware", "cors")["spec"]["headers"]
    assert cors["accessControlAllowCredentials"] is False
    assert cors["accessControlAllowOriginList"]
    assert "*" not in cors["accessControlAllowOriginList"]


# --- monitoring ---------------------------------------------------------------------------


def _metric_names(expression: str) -> set[str]:
    found = set(re.findall(r"\b((?:emk|http_server|certmanager)_[a-z0-9_]+)", expression))
    return {re.sub(r"_(bucket|count|sum)$", "", name) for name in found}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_alerts_and_the_dashboard_use_the_services_metrics(overlay: str) -> None:
    resources = build(overlay)
    (rule,) = of_kind(resources, "PrometheusRule")
    alerts = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    used = set().union(*(_metric_names(e) for e in alerts.values()))
    assert used <= METRICS | CERT_MANAGER_METRICS, used - METRICS - CERT_MANAGER_METRICS
    for metric in (
        "emk_outbox_oldest_age_seconds",
        "emk_dlq_records_total",
        "emk_consumer_lag",
        "http_server_request_duration_seconds",
        "emk_deadline_breaches_total",
        "certmanager_certificate_expiration_timestamp_seconds",
    ):
        assert any(metric in expression for expression in alerts.values()), metric
    assert "> 60" in alerts["EmkOutboxStalled"]
    assert "> 0.01" in alerts["EmkHttp5xxRatioHigh"]
    assert "[5m]" in alerts["EmkHttp5xxRatioHigh"]
    dashboards = [
        c
        for c in of_kind(resources, "ConfigMap")
        if c["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    assert len(dashboards) == 1
    (text,) = dashboards[0]["data"].values()
    dashboard: dict[str, Any] = json.loads(text)
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    shown = set().union(*(_metric_names(e) for e in expressions))
    assert shown == METRICS
