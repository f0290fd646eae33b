#!/usr/bin/env bash
# Checks for k8s/ and the Dockerfile (`just k8s-lint`, part of `just test`):
#   1. kubernetes-validate --strict against the oldest and newest Kubernetes
#      we support; only the CRD kinds below may lack a schema;
#   2. yamllint --strict with the repo's .yamllint;
#   3. checkov's Kubernetes checks; every waiver is an inline
#      `checkov.io/skipN: CKV_K8S_NN=<reason>` annotation on its resource;
#   4. hadolint on the Dockerfile;
#   5. scripts/k8s_invariants.py (what the tools above cannot see), and its
#      self-test, which proves each invariant catches a broken copy.
# The tools live in .venv-k8s, created here from scripts/k8s-lint-requirements.txt
# (pinned) and reinstalled only when that file changes.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="$root/.venv-k8s"
req="$root/scripts/k8s-lint-requirements.txt"
k8s_dir="k8s"
# Oldest and newest Kubernetes minor the manifests must validate against.
k8s_versions=("1.31.0" "1.37.0")
# Kinds from CRDs, which kubernetes-validate has no schema for.
crd_kinds="ServiceMonitor|Gateway|HTTPRoute"

step_start=0
step() { step_start=$SECONDS; echo "== k8s-lint: $*"; }
step_done() { echo "   ok ($((SECONDS - step_start)) s)"; }

stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    step "installing the lint tools into .venv-k8s"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    echo "$want" >"$stamp"
    step_done
fi
export PATH="$venv/bin:$PATH"

mapfile -t manifests < <(find "$k8s_dir" -name '*.yaml' -o -name '*.yml' | sort)

for v in "${k8s_versions[@]}"; do
    step "kubernetes-validate --strict, Kubernetes $v (${#manifests[@]} files)"
    out="$(kubernetes-validate --strict --quiet -k "$v" "${manifests[@]}" 2>&1)" || { echo "$out"; exit 1; }
    # A missing schema is only a warning to kubernetes-validate; here it is an
    # error unless the kind is one of our CRDs (a typo'd kind or apiVersion
    # would otherwise pass unchecked).
    unexpected="$(grep -v -E "^WARN .*Couldn't find schema for kind (${crd_kinds}) with api version" <<<"$out" || true)"
    if [ -n "$unexpected" ]; then
        echo "$unexpected"
        echo "k8s-lint: kubernetes-validate reported the above (only ${crd_kinds//|/, } may lack a schema)" >&2
        exit 1
    fi
    step_done
done

step "yamllint --strict"
yamllint --strict "$k8s_dir" .yamllint
step_done

step "checkov --framework kubernetes"
# Every waiver must give its reason after '='.
bare="$(grep -rnE 'checkov\.io/skip[0-9]*: *"?CKV[0-9]?_[A-Z0-9_]+"? *$' "$k8s_dir" || true)"
if [ -n "$bare" ]; then
    echo "$bare"
    echo "k8s-lint: a checkov waiver without a reason (write checkov.io/skipN: CKV_K8S_NN=<reason>)" >&2
    exit 1
fi
checkov -d "$k8s_dir" --framework kubernetes --compact --quiet --skip-download
waivers="$(grep -rhoE 'checkov\.io/skip[0-9]*: *CKV[0-9]?_[A-Z0-9_]+' "$k8s_dir" | sed 's/.*: *//' | sort | uniq -c | tr -s ' ' | paste -sd, -)"
echo "   waivers (count id):${waivers:- none}"
step_done

step "hadolint Dockerfile"
hadolint Dockerfile
step_done

step "k8s invariants"
python scripts/k8s_invariants.py --dir "$k8s_dir"
python scripts/k8s_invariants.py --dir "$k8s_dir" --self-test | tail -n 1
step_done

echo "k8s-lint: all checks passed"
