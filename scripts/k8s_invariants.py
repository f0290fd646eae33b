#!/usr/bin/env python3
"""Checks on k8s/ that schema validation, yamllint and checkov cannot make.

They look at one manifest at a time; these look at how the manifests fit
together and at what budget-host really serves:

- every Deployment has startup, readiness and liveness probes on the host's
  real endpoints (/startupz, /readyz, /livez), on the port the host serves
  them on (BUDGET_OPS_LISTEN, else BUDGET_LISTEN, from the ConfigMaps it
  loads), a preStop hook, and a termination grace period longer than the
  preStop plus the host's shutdown delay and drain timeout;
- every Deployment has exactly one PodDisruptionBudget and one
  HorizontalPodAutoscaler, and no PDB covers pods of two Deployments;
- the seed's numbers: replicas, HPA bounds and resources;
- every Service selects exactly the workloads in EXPECTED_SERVICE_TARGETS,
  blue and green Services select disjoint pods, the canary Services select
  stable and canary pods, and every targetPort exists on the selected pods;
- the NetworkPolicies allow exactly EXPECTED_FLOWS, computed over every pair
  of workloads (and the outside peers) with NetworkPolicy semantics;
- what Ingress, HTTPRoute, ServiceMonitor and env refer to exists.

Usage: k8s_invariants.py [--dir k8s] [--self-test]
--self-test breaks copies of the manifests in a temporary directory, one
mutation at a time, and fails unless every mutation is caught.
Needs PyYAML (scripts/k8s-lint.sh runs it from .venv-k8s).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field

import yaml

NAMESPACE = "production"

# Probe -> the host endpoint it must use (docs/operations.md).
PROBE_PATHS = {"startupProbe": "/startupz", "readinessProbe": "/readyz", "livenessProbe": "/livez"}

# The seed's numbers.
EXPECTED_REPLICAS = {"blue": 3, "green": 3, "canary-stable": 9, "canary": 1}
EXPECTED_RESOURCES = {
    "backend": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
    "frontend": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}},
}
REQUIRED_POD_LABELS = [
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app",
    "version",
    "track",
]

B, F = "backend", "frontend"
ALL_BACKEND = {f"Deployment/{B}-{s}" for s in EXPECTED_REPLICAS}
ALL_FRONTEND = {f"Deployment/{F}-{s}" for s in EXPECTED_REPLICAS}

# Service -> the workloads (kind/name) whose pods it must select, no more, no
# less. The live Services may select either colour (a switch committed back to
# the file is fine), so theirs is a list of alternatives.
EXPECTED_SERVICE_TARGETS: dict[str, set[str] | list[set[str]]] = {
    f"{B}-service": [{f"Deployment/{B}-blue"}, {f"Deployment/{B}-green"}],
    f"{B}-service-blue": {f"Deployment/{B}-blue"},
    f"{B}-service-green": {f"Deployment/{B}-green"},
    f"{B}-service-canary": {f"Deployment/{B}-canary-stable", f"Deployment/{B}-canary"},
    f"{B}-service-legacy": ALL_BACKEND,
    f"{F}-service": [{f"Deployment/{F}-blue"}, {f"Deployment/{F}-green"}],
    f"{F}-service-blue": {f"Deployment/{F}-blue"},
    f"{F}-service-green": {f"Deployment/{F}-green"},
    f"{F}-service-canary": {f"Deployment/{F}-canary-stable", f"Deployment/{F}-canary"},
    f"{F}-service-legacy": ALL_FRONTEND,
    "postgres": {"StatefulSet/postgres"},
    "mongodb": {"StatefulSet/mongodb"},
    "redis": {"StatefulSet/redis"},
}

# Peers besides the workloads in k8s/: the pods outside this namespace that
# policies name; `outsider`, any other pod in the cluster; `internet`, any
# address outside it; and `stray-pod`, a pod of this namespace that no
# manifest here defines (a debug pod, a future workload), which the default
# deny must cover.
EXTERNAL_PEERS = {
    "ingress-controller": ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}, []),
    "prometheus": ("monitoring", {"app.kubernetes.io/name": "prometheus"}, [("TCP", 9090, "web")]),
    "kube-dns": ("kube-system", {"k8s-app": "kube-dns"}, [("UDP", 53, "dns"), ("TCP", 53, "dns-tcp")]),
    "outsider": ("default", {"app": "something-else"}, [("TCP", 8080, "http")]),
    "internet": (None, {}, [("TCP", 443, "https")]),
    "stray-pod": (NAMESPACE, {"app": "stray"}, [("TCP", 8080, "http")]),
}


def _expected_flows() -> set[tuple[str, str, str, int]]:
    """(source, destination, protocol, port): every flow that must be open."""
    flows = set()
    for d in sorted(ALL_BACKEND | ALL_FRONTEND):
        flows.add(("ingress-controller", d, "TCP", 8080))
        flows.add(("prometheus", d, "TCP", 9090))
    for d in sorted(ALL_BACKEND):
        flows.add((d, "StatefulSet/postgres", "TCP", 5432))
        flows.add((d, "StatefulSet/mongodb", "TCP", 27017))
        flows.add((d, "StatefulSet/redis", "TCP", 6379))
    data = {"StatefulSet/postgres", "StatefulSet/mongodb", "StatefulSet/redis"}
    for w in sorted(ALL_BACKEND | ALL_FRONTEND | data | {"stray-pod"}):
        flows.add((w, "kube-dns", "UDP", 53))
        flows.add((w, "kube-dns", "TCP", 53))
    return flows


EXPECTED_FLOWS = _expected_flows()

# Kinds without a schema in kubernetes-validate, and which API they come from.
CRD_KINDS = {"ServiceMonitor", "Gateway", "HTTPRoute"}


@dataclass
class Manifests:
    docs: list[tuple[str, dict]] = field(default_factory=list)

    def of(self, kind: str) -> list[tuple[str, dict]]:
        return [(f, d) for f, d in self.docs if d.get("kind") == kind]

    def named(self, kind: str, name: str) -> dict | None:
        for _, d in self.of(kind):
            if d["metadata"]["name"] == name:
                return d
        return None


def load(directory: str) -> Manifests:
    m = Manifests()
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith((".yaml", ".yml")):
                continue
            path = os.path.join(root, name)
            with open(path, encoding="utf-8") as fh:
                for doc in yaml.safe_load_all(fh):
                    if doc:
                        m.docs.append((os.path.relpath(path, directory), doc))
    return m


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def check(self, ok: bool, where: str, message: str) -> bool:
        if not ok:
            self.add(where, message)
        return ok


# --- label selectors ---------------------------------------------------------


def selector_matches(selector: dict | None, labels: dict, *, empty_matches_all: bool = True) -> bool:
    """Kubernetes LabelSelector semantics (matchLabels and matchExpressions)."""
    if selector is None:
        return False
    if not selector:
        return empty_matches_all
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def service_selects(selector: dict | None, labels: dict) -> bool:
    """A Service selector is a plain map; an empty one selects nothing."""
    if not selector:
        return False
    return all(labels.get(k) == v for k, v in selector.items())


# --- workloads ---------------------------------------------------------------


@dataclass
class Workload:
    key: str  # Kind/name
    namespace: str | None
    labels: dict
    ports: list[tuple[str, int, str]]  # (protocol, number, name)
    doc: dict | None = None


def pod_spec(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


def container_ports(doc: dict) -> list[tuple[str, int, str]]:
    ports = []
    for c in pod_spec(doc).get("containers", []):
        for p in c.get("ports", []) or []:
            ports.append((p.get("protocol", "TCP"), p["containerPort"], p.get("name", "")))
    return ports


def workloads(m: Manifests) -> dict[str, Workload]:
    out = {}
    for kind in ("Deployment", "StatefulSet"):
        for _, d in m.of(kind):
            key = f"{kind}/{d['metadata']['name']}"
            labels = d["spec"]["template"]["metadata"].get("labels", {})
            out[key] = Workload(key, d["metadata"].get("namespace"), labels, container_ports(d), d)
    return out


def config_env(m: Manifests, container: dict) -> dict[str, str]:
    """The env a container gets from ConfigMaps (envFrom, then env)."""
    env: dict[str, str] = {}
    for src in container.get("envFrom", []) or []:
        ref = src.get("configMapRef")
        if ref:
            cm = m.named("ConfigMap", ref["name"])
            if cm:
                env.update(cm.get("data") or {})
    for e in container.get("env", []) or []:
        if "value" in e:
            env[e["name"]] = e["value"]
    return env


def listen_port(addr: str) -> int:
    return int(addr.rsplit(":", 1)[1])


# --- checks ------------------------------------------------------------------


def check_references(m: Manifests, f: Failures) -> None:
    names = {(d["kind"], d["metadata"]["name"]) for _, d in m.docs}
    for path, d in m.docs:
        meta = d.get("metadata", {})
        if d["kind"] != "Namespace":
            f.check(meta.get("namespace") == NAMESPACE, f"{path} {d['kind']}/{meta.get('name')}",
                    f"namespace must be {NAMESPACE!r}, is {meta.get('namespace')!r}")
    seen = set()
    for path, d in m.docs:
        ident = (d["kind"], d["metadata"]["name"])
        f.check(ident not in seen, path, f"{ident[0]}/{ident[1]} is defined twice; the last `kubectl apply` would win")
        seen.add(ident)
    for kind in ("Deployment", "StatefulSet"):
        for path, d in m.of(kind):
            where = f"{path} {kind}/{d['metadata']['name']}"
            spec = pod_spec(d)
            for c in spec.get("containers", []):
                for src in c.get("envFrom", []) or []:
                    for ref_kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                        if key in src:
                            f.check((ref_kind, src[key]["name"]) in names, where,
                                    f"envFrom {ref_kind} {src[key]['name']!r} is not defined in the manifests")
                for e in c.get("env", []) or []:
                    vf = e.get("valueFrom") or {}
                    if "secretKeyRef" in vf:
                        ref = vf["secretKeyRef"]
                        sec = m.named("Secret", ref["name"])
                        if f.check(sec is not None, where, f"env {e['name']}: Secret {ref['name']!r} is not defined"):
                            keys = set((sec.get("stringData") or {}) | (sec.get("data") or {}))
                            f.check(ref["key"] in keys, where,
                                    f"env {e['name']}: Secret {ref['name']!r} has no key {ref['key']!r}")
            for v in spec.get("volumes", []) or []:
                if "secret" in v:
                    f.check(("Secret", v["secret"]["secretName"]) in names, where,
                            f"volume {v['name']}: Secret {v['secret']['secretName']!r} is not defined")
            sa = spec.get("serviceAccountName")
            if sa:
                f.check(("ServiceAccount", sa) in names, where, f"ServiceAccount {sa!r} is not defined")


def check_deployments(m: Manifests, f: Failures) -> None:
    deployments = m.of("Deployment")
    f.check(len(deployments) == 8, "k8s", f"expected 8 Deployments (backend and frontend x blue, green, "
            f"canary-stable, canary), found {len(deployments)}")
    for path, d in deployments:
        name = d["metadata"]["name"]
        where = f"{path} Deployment/{name}"
        tier, _, suffix = name.partition("-")
        spec = d["spec"]
        pod = pod_spec(d)
        labels = spec["template"]["metadata"].get("labels", {})
        for key in REQUIRED_POD_LABELS:
            f.check(key in labels, where, f"pod template lacks the label {key!r}")
        f.check(selector_matches(spec.get("selector"), labels, empty_matches_all=False), where,
                "spec.selector does not match the pod template's labels")
        if suffix in EXPECTED_REPLICAS:
            f.check(spec.get("replicas") == EXPECTED_REPLICAS[suffix], where,
                    f"replicas must be {EXPECTED_REPLICAS[suffix]} (seed), is {spec.get('replicas')}")
            track = "canary" if suffix == "canary" else "stable"
            f.check(labels.get("track") == track, where, f"track label must be {track!r}")
        else:
            f.add(where, f"unexpected Deployment name (want {tier}-<blue|green|canary-stable|canary>)")
        f.check(pod.get("automountServiceAccountToken") is False, where, "automountServiceAccountToken must be false")
        f.check(bool(pod.get("topologySpreadConstraints")), where, "no topologySpreadConstraints")
        psc = pod.get("securityContext") or {}
        f.check(psc.get("runAsNonRoot") is True and isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0,
                where, "pod securityContext must set runAsNonRoot and a fixed non-zero runAsUser")
        containers = pod.get("containers", [])
        f.check(len(containers) >= 1, where, "no containers")
        for c in containers:
            cw = f"{where} container {c.get('name')}"
            check_container(m, c, pod, cw, tier, f)


def check_container(m: Manifests, c: dict, pod: dict, where: str, tier: str, f: Failures) -> None:
    image = c.get("image", "")
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    f.check(tag not in ("", "latest"), where, f"image {image!r} must carry an explicit tag, not latest")
    f.check(bool(c.get("imagePullPolicy")), where, "imagePullPolicy is not set")
    env = config_env(m, c)
    ops_addr = env.get("BUDGET_OPS_LISTEN") or env.get("BUDGET_LISTEN") or "0.0.0.0:8080"
    ops_port = listen_port(ops_addr)
    named_ports = {p.get("name"): p["containerPort"] for p in c.get("ports", []) or []}
    for probe, path in PROBE_PATHS.items():
        p = c.get(probe)
        if not f.check(p is not None, where, f"no {probe}"):
            continue
        get = p.get("httpGet")
        if not f.check(get is not None, where, f"{probe} must be an httpGet on {path}"):
            continue
        f.check(get.get("path") == path, where, f"{probe} must GET {path}, not {get.get('path')!r}")
        port = get.get("port")
        number = named_ports.get(port) if isinstance(port, str) else port
        f.check(number is not None, where, f"{probe} port {port!r} is not a port of the container")
        f.check(number == ops_port, where, f"{probe} goes to port {number}, but the host serves {path} on "
                f"{ops_port} (BUDGET_OPS_LISTEN/BUDGET_LISTEN = {ops_addr})")
    pre_stop = ((c.get("lifecycle") or {}).get("preStop")) or {}
    f.check(bool(pre_stop), where, "no lifecycle.preStop hook")
    pre_stop_s = (pre_stop.get("sleep") or {}).get("seconds", 0)
    delay_ms = int(env.get("BUDGET_SHUTDOWN_DELAY_MS", 5000))
    drain_ms = int(env.get("BUDGET_DRAIN_TIMEOUT_MS", 20000))
    needed = pre_stop_s + (delay_ms + drain_ms) / 1000
    grace = pod.get("terminationGracePeriodSeconds", 30)
    f.check(grace > needed, where, f"terminationGracePeriodSeconds {grace} must exceed preStop {pre_stop_s} s + "
            f"shutdown delay {delay_ms} ms + drain timeout {drain_ms} ms = {needed:g} s")
    sc = c.get("securityContext") or {}
    f.check(sc.get("readOnlyRootFilesystem") is True, where, "readOnlyRootFilesystem must be true")
    f.check(sc.get("allowPrivilegeEscalation") is False, where, "allowPrivilegeEscalation must be false")
    f.check("ALL" in ((sc.get("capabilities") or {}).get("drop") or []), where, "capabilities must drop ALL")
    mounts = {v["mountPath"] for v in c.get("volumeMounts", []) or []}
    cache_dir = env.get("BUDGET_CACHE_DIR", ".data/compiled")
    f.check(cache_dir in mounts, where, f"BUDGET_CACHE_DIR {cache_dir!r} is not a mounted (writable) volume")
    f.check("/tmp" in mounts, where, "/tmp is not a mounted volume")
    if tier in EXPECTED_RESOURCES:
        f.check(c.get("resources") == EXPECTED_RESOURCES[tier], where,
                f"resources must be {EXPECTED_RESOURCES[tier]} (seed), are {c.get('resources')}")


def check_pdb_hpa(m: Manifests, f: Failures) -> None:
    pdbs = m.of("PodDisruptionBudget")
    hpas = m.of("HorizontalPodAutoscaler")
    for path, d in m.of("Deployment"):
        name = d["metadata"]["name"]
        labels = d["spec"]["template"]["metadata"].get("labels", {})
        where = f"{path} Deployment/{name}"
        covering = [p["metadata"]["name"] for _, p in pdbs if selector_matches(p["spec"].get("selector"), labels)]
        f.check(len(covering) == 1, where, f"needs exactly one PodDisruptionBudget, has {covering or 'none'}")
        targeting = [h for _, h in hpas if h["spec"]["scaleTargetRef"].get("kind") == "Deployment"
                     and h["spec"]["scaleTargetRef"].get("name") == name]
        if f.check(len(targeting) == 1, where, f"needs exactly one HPA, has {len(targeting)}"):
            h = targeting[0]
            hname = h["metadata"]["name"]
            tier, _, suffix = name.partition("-")
            f.check(hname == f"{tier}-hpa-{suffix}", where, f"HPA is named {hname!r}, want {tier}-hpa-{suffix}")
            f.check(h["spec"].get("minReplicas") == d["spec"].get("replicas"), where,
                    f"HPA {hname} minReplicas {h['spec'].get('minReplicas')} != replicas {d['spec'].get('replicas')}")
            f.check(h["spec"]["maxReplicas"] >= h["spec"].get("minReplicas", 1), where, f"HPA {hname} max < min")
            kinds = {mt.get("resource", {}).get("name") for mt in h["spec"].get("metrics", [])}
            f.check({"cpu", "memory"} <= kinds, where, f"HPA {hname} must scale on cpu and memory, has {kinds}")
    for path, p in pdbs:
        matched = [d["metadata"]["name"] for _, d in m.of("Deployment")
                   if selector_matches(p["spec"].get("selector"), d["spec"]["template"]["metadata"].get("labels", {}))]
        f.check(len(matched) == 1, f"{path} PodDisruptionBudget/{p['metadata']['name']}",
                f"must cover the pods of exactly one Deployment, covers {matched or 'none'}")
        if p["spec"].get("minAvailable") is not None and len(matched) == 1:
            d = m.named("Deployment", matched[0])
            min_av = p["spec"]["minAvailable"]
            if isinstance(min_av, int):
                f.check(min_av < d["spec"]["replicas"], f"{path} PodDisruptionBudget/{p['metadata']['name']}",
                        f"minAvailable {min_av} >= replicas {d['spec']['replicas']}: it would block every drain")
    for path, h in hpas:
        ref = h["spec"]["scaleTargetRef"]
        f.check(m.named(ref.get("kind"), ref.get("name")) is not None, f"{path} HPA/{h['metadata']['name']}",
                f"scaleTargetRef {ref.get('kind')}/{ref.get('name')} does not exist")


def check_services(m: Manifests, f: Failures) -> None:
    wl = workloads(m)
    selected: dict[str, set[str]] = {}
    for path, s in m.of("Service"):
        name = s["metadata"]["name"]
        where = f"{path} Service/{name}"
        sel = s["spec"].get("selector")
        got = {k for k, w in wl.items() if service_selects(sel, w.labels)}
        selected[name] = got
        if name not in EXPECTED_SERVICE_TARGETS:
            f.add(where, f"not in EXPECTED_SERVICE_TARGETS of {os.path.basename(__file__)}: add what it must select")
            continue
        wants = EXPECTED_SERVICE_TARGETS[name]
        wants = wants if isinstance(wants, list) else [wants]
        if got not in wants:
            want = wants[0]
            alternatives = " or ".join(str(sorted(w)) for w in wants)
            f.add(where, f"selector {sel} selects {sorted(got) or 'nothing'}; it must select exactly {alternatives} "
                  f"(against {sorted(want)}: extra {sorted(got - want)}, missing {sorted(want - got)})")
        for port in s["spec"].get("ports", []):
            target = port.get("targetPort", port["port"])
            for k in got:
                names = {p[2] for p in wl[k].ports}
                numbers = {p[1] for p in wl[k].ports}
                ok = target in names if isinstance(target, str) else target in numbers
                f.check(ok, where, f"port {port.get('name')}: targetPort {target!r} is not a port of {k}")
    for name in EXPECTED_SERVICE_TARGETS:
        f.check(name in selected, "k8s", f"Service {name} is missing")
    for tier in (B, F):
        blue = selected.get(f"{tier}-service-blue", set())
        green = selected.get(f"{tier}-service-green", set())
        f.check(not blue & green, f"Service/{tier}-service-blue",
                f"blue and green select overlapping pods: {sorted(blue & green)}")
        live = selected.get(f"{tier}-service", set())
        f.check(bool(live) and live in (blue, green), f"Service/{tier}-service",
                f"the live Service must select exactly the blue or exactly the green pods, selects {sorted(live)}")
        canary = selected.get(f"{tier}-service-canary", set())
        tracks = {wl[k].labels.get("track") for k in canary}
        f.check(tracks == {"stable", "canary"}, f"Service/{tier}-service-canary",
                f"must select both stable and canary pods, selects tracks {sorted(t or '?' for t in tracks)}")
        f.check(not canary & (blue | green), f"Service/{tier}-service-canary",
                f"selects blue/green pods too: {sorted(canary & (blue | green))}")


def check_routing(m: Manifests, f: Failures) -> None:
    def service_port(name: str, port) -> bool:
        s = m.named("Service", name)
        if s is None:
            return False
        ports = s["spec"].get("ports", [])
        if isinstance(port, str):
            return any(p.get("name") == port for p in ports)
        return any(p["port"] == port for p in ports)

    paths_by_ingress = {}
    for path, ing in m.of("Ingress"):
        where = f"{path} Ingress/{ing['metadata']['name']}"
        found = {}
        for rule in ing["spec"].get("rules", []):
            for p in rule.get("http", {}).get("paths", []):
                svc = p["backend"]["service"]
                port = svc["port"].get("name", svc["port"].get("number"))
                f.check(service_port(svc["name"], port), where,
                        f"path {p['path']}: Service {svc['name']} with port {port!r} does not exist")
                found[p["path"]] = svc["name"]
        paths_by_ingress[ing["metadata"]["name"]] = found
    main = paths_by_ingress.get("budget")
    if f.check(main is not None, "k8s", "Ingress `budget` is missing"):
        f.check(main.get("/api") == f"{B}-service" and main.get("/") == f"{F}-service", "Ingress/budget",
                f"must route /api to {B}-service and / to {F}-service, routes {main}")
    canary = m.named("Ingress", "budget-canary")
    if f.check(canary is not None, "k8s", "canary Ingress `budget-canary` is missing"):
        ann = canary["metadata"].get("annotations", {})
        f.check(ann.get("nginx.ingress.kubernetes.io/canary") == "true"
                and "nginx.ingress.kubernetes.io/canary-weight" in ann, "Ingress/budget-canary",
                "needs the canary and canary-weight annotations")
        f.check(set(paths_by_ingress["budget-canary"]) == set(main or {}), "Ingress/budget-canary",
                "must have the same paths as Ingress/budget (ingress-nginx pairs them by host and path)")
    routes = m.of("HTTPRoute")
    f.check(bool(routes), "k8s", "no Gateway API HTTPRoute")
    weighted = False
    for path, r in routes:
        where = f"{path} HTTPRoute/{r['metadata']['name']}"
        for ref in r["spec"].get("parentRefs", []):
            f.check(m.named(ref.get("kind", "Gateway"), ref["name"]) is not None or ref.get("namespace"), where,
                    f"parentRef {ref['name']} is not defined here (set its namespace if it lives elsewhere)")
        for rule in r["spec"].get("rules", []):
            refs = rule.get("backendRefs", [])
            if len(refs) > 1 and all("weight" in b for b in refs):
                weighted = True
            for b in refs:
                f.check(service_port(b["name"], b.get("port")), where,
                        f"backendRef {b['name']}:{b.get('port')} is not a Service port")
    f.check(weighted, "k8s", "no HTTPRoute rule splits traffic by weight")
    for path, sm in m.of("ServiceMonitor"):
        where = f"{path} ServiceMonitor/{sm['metadata']['name']}"
        picked = [s for _, s in m.of("Service") if selector_matches(sm["spec"]["selector"], s["metadata"].get("labels", {}))]
        wl = workloads(m)
        pods: dict[str, int] = {}
        for s in picked:
            for ep in sm["spec"].get("endpoints", []):
                f.check(any(p.get("name") == ep.get("port") for p in s["spec"]["ports"]), where,
                        f"Service {s['metadata']['name']} has no port {ep.get('port')!r}")
                f.check(ep.get("path") == "/metrics", where, "must scrape /metrics")
            for k, w in wl.items():
                if service_selects(s["spec"].get("selector"), w.labels):
                    pods[k] = pods.get(k, 0) + 1
        budget_pods = {k for k in wl if k.startswith("Deployment/")}
        f.check(set(pods) == budget_pods, where, f"must scrape every budget-host Deployment; misses "
                f"{sorted(budget_pods - set(pods))}")
        twice = sorted(k for k, n in pods.items() if n > 1)
        f.check(not twice, where, f"scrapes these pods through more than one Service: {twice}")


# --- network policy ------------------------------------------------------------


@dataclass
class Endpoint:
    key: str
    namespace: str | None  # None: outside the cluster
    labels: dict
    ports: list[tuple[str, int, str]]


def endpoints(m: Manifests) -> list[Endpoint]:
    out = [Endpoint(w.key, w.namespace, w.labels, w.ports) for w in workloads(m).values()]
    for key, (ns, labels, ports) in EXTERNAL_PEERS.items():
        out.append(Endpoint(key, ns, labels, ports))
    return out


def namespace_labels(m: Manifests, ns: str) -> dict:
    labels = {"kubernetes.io/metadata.name": ns}
    doc = m.named("Namespace", ns)
    if doc:
        labels.update(doc["metadata"].get("labels") or {})
    return labels


def peer_matches(m: Manifests, peer: dict, policy_ns: str, ep: Endpoint) -> bool:
    if "ipBlock" in peer:
        # Pod IPs may or may not fall in a block; treat a block as the outside
        # world, the address range it usually names.
        return ep.namespace is None
    if ep.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], namespace_labels(m, ep.namespace)):
            return False
    elif ep.namespace != policy_ns:
        return False
    if "podSelector" in peer:
        return selector_matches(peer["podSelector"], ep.labels)
    return True


def port_matches(rule_ports: list | None, dst: Endpoint, proto: str, number: int) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != proto:
            continue
        port = p.get("port")
        if port is None:
            return True
        if isinstance(port, str):
            if any(name == port and n == number and pr == proto for pr, n, name in dst.ports):
                return True
        elif port <= number <= p.get("endPort", port):
            return True
    return False


def allowed(m: Manifests, direction: str, subject: Endpoint, other: Endpoint, dst: Endpoint,
            proto: str, number: int) -> bool:
    """Whether the policies of subject's namespace let this flow pass on subject's side."""
    if subject.namespace != NAMESPACE:
        return True  # policies elsewhere are not ours to model
    policy_type = "Ingress" if direction == "ingress" else "Egress"
    isolating = []
    for _, pol in m.of("NetworkPolicy"):
        spec = pol["spec"]
        types = spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"])
        if policy_type in types and selector_matches(spec.get("podSelector", {}), subject.labels):
            isolating.append(pol)
    if not isolating:
        return True
    for pol in isolating:
        for rule in pol["spec"].get(direction, []) or []:
            peers = rule.get("from" if direction == "ingress" else "to")
            if peers is None or peers == []:
                peer_ok = True
            else:
                peer_ok = any(peer_matches(m, peer, pol["metadata"]["namespace"], other) for peer in peers)
            if peer_ok and port_matches(rule.get("ports"), dst, proto, number):
                return True
    return False


def check_network_policy(m: Manifests, f: Failures) -> None:
    eps = endpoints(m)
    actual = set()
    for src, dst in itertools.permutations(eps, 2):
        if src.namespace != NAMESPACE and dst.namespace != NAMESPACE:
            continue
        for proto, number, _ in dst.ports:
            if allowed(m, "egress", src, dst, dst, proto, number) and allowed(m, "ingress", dst, src, dst, proto, number):
                actual.add((src.key, dst.key, proto, number))
    for flow in sorted(actual - EXPECTED_FLOWS):
        f.add("NetworkPolicy", "allows a flow that is not in EXPECTED_FLOWS: %s -> %s %s/%d" % flow)
    for flow in sorted(EXPECTED_FLOWS - actual):
        f.add("NetworkPolicy", "blocks a flow that EXPECTED_FLOWS requires: %s -> %s %s/%d" % flow)
    deny = [p for _, p in m.of("NetworkPolicy") if p["spec"].get("podSelector") == {}
            and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    f.check(bool(deny), "NetworkPolicy", "no default-deny policy (empty podSelector, Ingress and Egress, no rules)")
    f.check(m.named("NetworkPolicy", "backend-network-policy") is not None, "NetworkPolicy",
            "backend-network-policy (the seed's name) is missing")


def check_crds(m: Manifests, f: Failures) -> None:
    for path, d in m.docs:
        if d["kind"] in CRD_KINDS:
            continue
        api = d.get("apiVersion", "")
        f.check("." not in api.split("/")[0] or api.split("/")[0].endswith("k8s.io"), path,
                f"{d['kind']} uses {api}, a CRD API; add its kind to CRD_KINDS if that is intended")


CHECKS = [check_references, check_deployments, check_pdb_hpa, check_services, check_routing,
          check_network_policy, check_crds]


def run(directory: str) -> list[str]:
    m = load(directory)
    f = Failures()
    if not m.docs:
        return [f"{directory}: no manifests found"]
    for check in CHECKS:
        try:
            check(m, f)
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as e:
            f.add(check.__name__, f"a manifest is malformed where this check looked: {type(e).__name__}: {e}")
    return f.items


# --- self-test ---------------------------------------------------------------


def mutate(directory: str, filename: str, kind: str, name: str, change) -> None:
    path = os.path.join(directory, filename)
    with open(path, encoding="utf-8") as fh:
        docs = [d for d in yaml.safe_load_all(fh) if d]
    hit = False
    for d in docs:
        if d.get("kind") == kind and d["metadata"]["name"] == name:
            change(d)
            hit = True
    if not hit:
        raise SystemExit(f"self-test: {kind}/{name} not in {filename}")
    with open(path, "w", encoding="utf-8") as fh:
        yaml.safe_dump_all(docs, fh, sort_keys=False)


def _container(d: dict) -> dict:
    return pod_spec(d)["containers"][0]


def _set(obj: dict, keys: list, value) -> None:
    for k in keys[:-1]:
        obj = obj[k]
    obj[keys[-1]] = value


# (description, file, kind, name, change, text the failure must contain)
MUTATIONS = [
    ("readiness probe on a path the host does not serve", "backend-deployment-blue.yaml", "Deployment",
     "backend-blue", lambda d: _set(_container(d), ["readinessProbe", "httpGet", "path"], "/healthz"), "must GET /readyz"),
    ("probe on the app port while BUDGET_OPS_LISTEN moves probes to 9090", "frontend-deployment-canary.yaml",
     "Deployment", "frontend-canary", lambda d: _set(_container(d), ["livenessProbe", "httpGet", "port"], "http"),
     "but the host serves /livez on 9090"),
    ("no startup probe", "backend-deployment-canary.yaml", "Deployment", "backend-canary",
     lambda d: _container(d).pop("startupProbe"), "no startupProbe"),
    ("no preStop", "frontend-deployment-green.yaml", "Deployment", "frontend-green",
     lambda d: _container(d).pop("lifecycle"), "no lifecycle.preStop"),
    ("grace period shorter than the drain", "backend-deployment-green.yaml", "Deployment", "backend-green",
     lambda d: _set(pod_spec(d), ["terminationGracePeriodSeconds"], 20), "must exceed preStop"),
    ("green Service selects blue pods", "backend-service-blue-green.yaml", "Service", "backend-service-green",
     lambda d: _set(d["spec"], ["selector", "version"], "blue"), "blue and green select overlapping pods"),
    ("live Service loses its version selector", "frontend-service-blue-green.yaml", "Service", "frontend-service",
     lambda d: d["spec"]["selector"].pop("version"), "must select exactly"),
    ("live Service switched to a colour that does not exist", "backend-service-blue-green.yaml", "Service",
     "backend-service", lambda d: _set(d["spec"], ["selector", "version"], "gren"), "selects nothing"),
    ("canary Service selects only the canary", "backend-service-canary.yaml", "Service", "backend-service-canary",
     lambda d: _set(d["spec"], ["selector", "track"], "canary"), "must select both stable and canary"),
    ("canary pods lose the shared label", "frontend-deployment-canary.yaml", "Deployment", "frontend-canary",
     lambda d: d["spec"]["template"]["metadata"]["labels"].pop("rollout"), "frontend-service-canary"),
    ("a Deployment without an HPA", "hpa.yaml", "HorizontalPodAutoscaler", "backend-hpa-green",
     lambda d: _set(d["spec"], ["scaleTargetRef", "name"], "backend-blue"), "needs exactly one HPA"),
    ("a PDB covering two Deployments", "pdb.yaml", "PodDisruptionBudget", "frontend-pdb-blue",
     lambda d: d["spec"]["selector"]["matchLabels"].pop("version"), "exactly one PodDisruptionBudget"),
    ("backend may reach anything", "network-policy.yaml", "NetworkPolicy", "backend-network-policy",
     lambda d: d["spec"]["egress"].append({}), "allows a flow that is not in EXPECTED_FLOWS"),
    ("postgres open to every namespace", "data/network-policy.yaml", "NetworkPolicy", "postgres-network-policy",
     lambda d: _set(d["spec"]["ingress"][0], ["from"], [{"namespaceSelector": {}}]),
     "not in EXPECTED_FLOWS: outsider -> StatefulSet/postgres TCP/5432"),
    ("ingress controller blocked from the frontend", "network-policy.yaml", "NetworkPolicy",
     "frontend-network-policy", lambda d: d["spec"]["ingress"].pop(0), "blocks a flow that EXPECTED_FLOWS requires"),
    ("default deny removed", "network-policy.yaml", "NetworkPolicy", "default-deny-all",
     lambda d: _set(d["spec"], ["podSelector"], {"matchLabels": {"app": "nothing"}}),
     "allows a flow that is not in EXPECTED_FLOWS: outsider -> stray-pod"),
    ("redis pods relabelled away from the backend's egress rule", "data/redis.yaml", "StatefulSet", "redis",
     lambda d: _set(d["spec"]["template"]["metadata"], ["labels", "app"], "redis-renamed"), "redis"),
    ("seed replicas changed", "backend-deployment-canary-stable.yaml", "Deployment", "backend-canary-stable",
     lambda d: _set(d["spec"], ["replicas"], 8), "replicas must be 9"),
    ("seed resources changed", "frontend-deployment-blue.yaml", "Deployment", "frontend-blue",
     lambda d: _set(_container(d), ["resources", "limits", "memory"], "1Gi"), "resources must be"),
    ("image on latest", "backend-deployment-blue.yaml", "Deployment", "backend-blue",
     lambda d: _set(_container(d), ["image"], "registry.example.com/budget/budget-host:latest"), "not latest"),
    ("cache dir not writable", "configmap.yaml", "ConfigMap", "budget-host-config",
     lambda d: _set(d["data"], ["BUDGET_CACHE_DIR"], "/app/cache"), "BUDGET_CACHE_DIR"),
    ("Ingress sends /api to the frontend", "ingress.yaml", "Ingress", "budget",
     lambda d: _set(d["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"], ["name"], "frontend-service"),
     "must route /api"),
    ("HTTPRoute to a Service that does not exist", "httproute.yaml", "HTTPRoute", "budget-api",
     lambda d: _set(d["spec"]["rules"][1]["backendRefs"][0], ["name"], "backend-service-bleu"), "is not a Service port"),
    ("ServiceMonitor misses the canary pods", "backend-service-canary.yaml", "Service", "backend-service-canary",
     lambda d: d["metadata"]["labels"].pop("metrics"), "must scrape every budget-host Deployment"),
    ("env from a Secret key that does not exist", "secrets.example.yaml", "Secret", "backend-secrets",
     lambda d: d["stringData"].pop("REDIS_URL"), "has no key 'REDIS_URL'"),
]


def self_test(directory: str) -> int:
    base = run(directory)
    if base:
        print("self-test: the manifests must pass before they can be broken:", file=sys.stderr)
        for line in base:
            print(f"  {line}", file=sys.stderr)
        return 1
    missed = 0
    with tempfile.TemporaryDirectory(prefix="k8s-invariants-") as tmp:
        for description, filename, kind, name, change, expect in MUTATIONS:
            work = os.path.join(tmp, "k8s")
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(directory, work)
            mutate(work, filename, kind, name, change)
            failures = run(work)
            caught = any(expect in line for line in failures)
            status = "caught" if caught else "MISSED"
            print(f"self-test: {status}: {description}")
            if not caught:
                missed += 1
                print(f"  expected a failure containing {expect!r}; got:", file=sys.stderr)
                for line in failures or ["(no failure)"]:
                    print(f"    {line}", file=sys.stderr)
    total = len(MUTATIONS)
    print(f"self-test: {total - missed} passed, {missed} failed")
    return 1 if missed else 0


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=os.path.join(here, "..", "k8s"), help="manifest directory (default: k8s/)")
    parser.add_argument("--self-test", action="store_true", help="prove that each check catches a broken copy")
    args = parser.parse_args()
    directory = os.path.normpath(args.dir)
    if args.self_test:
        return self_test(directory)
    failures = run(directory)
    if failures:
        print(f"k8s invariants: {len(failures)} violation(s) in {directory}:", file=sys.stderr)
        for line in failures:
            print(f"  FAIL {line}", file=sys.stderr)
        return 1
    m = load(directory)
    print(f"k8s invariants: {len(m.docs)} resources in {directory} hold "
          f"({len(m.of('Deployment'))} Deployments, {len(m.of('Service'))} Services, "
          f"{len(m.of('NetworkPolicy'))} NetworkPolicies, {len(EXPECTED_FLOWS)} allowed flows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
