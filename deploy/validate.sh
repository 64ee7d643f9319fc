#!/usr/bin/env bash
# Checks the deployment files without a cluster; CI runs it through the tests.
#
# - deploy/kubernetes/*.yaml: kubernetes-validate (PyPI) in strict mode, against the
#   OpenAPI schemas of $KUBERNETES_VERSION (default 1.30.0, a version current clusters
#   still run). Strict mode rejects a misspelt or misplaced field.
# - deploy/kubernetes/optional/servicemonitor.yaml: a Prometheus Operator CRD, whose
#   schema kubernetes-validate does not ship; it is checked against a minimal schema of
#   the fields used here, and against the Service it must select.
# - deploy/grafana/*.json: valid JSON, and every shoal_* series a panel queries is one the
#   agent exports (agent/src/metrics.rs) or a proxy series (shoal_proxy_*).
#
# kubernetes-validate is installed into a virtualenv under target/ on first use.
# Usage: deploy/validate.sh   (exit 0 when everything passes)
set -euo pipefail
cd "$(dirname "$0")/.."

version=${KUBERNETES_VERSION:-1.30.0}
venv=${SHOAL_VALIDATE_VENV:-target/validate-venv}
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    echo "validate: installing kubernetes-validate into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate
fi

echo "== kubernetes-validate --strict -k $version"
"$venv/bin/kubernetes-validate" --strict -k "$version" deploy/kubernetes/*.yaml

echo "== ServiceMonitor (minimal schema) and Grafana dashboards"
"$venv/bin/python" - <<'PY'
import glob, json, re, sys
import jsonschema, yaml

failed = False
def fail(msg):
    global failed
    failed = True
    print("ERROR", msg)

# Only the fields this repository uses, with the types the CRD gives them.
SERVICEMONITOR = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "required": ["matchLabels"],
                    "properties": {"matchLabels": {"type": "object",
                        "additionalProperties": {"type": "string"}}},
                },
                "endpoints": {
                    "type": "array", "minItems": 1,
                    "items": {
                        "type": "object", "required": ["port"],
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                        },
                    },
                },
            },
        },
    },
}

services = [d for f in glob.glob("deploy/kubernetes/*.yaml")
            for d in yaml.safe_load_all(open(f)) if d and d.get("kind") == "Service"]
for f in sorted(glob.glob("deploy/kubernetes/optional/*.yaml")):
    for doc in yaml.safe_load_all(open(f)):
        if not doc:
            continue
        if doc.get("kind") != "ServiceMonitor":
            fail(f"{f}: no check for kind {doc.get('kind')}")
            continue
        try:
            jsonschema.validate(doc, SERVICEMONITOR)
        except jsonschema.ValidationError as e:
            fail(f"{f}: {e.message} at {'/'.join(map(str, e.absolute_path))}")
            continue
        want = doc["spec"]["selector"]["matchLabels"]
        chosen = [s for s in services
                  if want.items() <= s["metadata"].get("labels", {}).items()]
        if not chosen:
            fail(f"{f}: selects no Service in deploy/kubernetes")
        for ep in doc["spec"]["endpoints"]:
            for s in chosen:
                if ep["port"] not in [p.get("name") for p in s["spec"]["ports"]]:
                    fail(f"{f}: Service {s['metadata']['name']} has no port named {ep['port']}")
        print("PASS", f)

src = open("agent/src/metrics.rs").read()
exported = set(re.findall(r'"(shoal_[a-z_]+)"', src))
for f in sorted(glob.glob("deploy/grafana/*.json")):
    try:
        dash = json.load(open(f))
    except ValueError as e:
        fail(f"{f}: {e}")
        continue
    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))
    exprs = [t["expr"] for p in panels(dash.get("panels", [])) for t in p.get("targets", [])]
    if not exprs:
        fail(f"{f}: no queries")
    for e in exprs:
        for name in re.findall(r"\b(shoal_[a-z_]+)", e):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if name not in exported and base not in exported and not name.startswith("shoal_proxy_"):
                fail(f"{f}: {name} is not exported by the agent")
    print("PASS", f, f"({len(exprs)} queries)")
sys.exit(1 if failed else 0)
PY
echo "== all deployment files valid"
