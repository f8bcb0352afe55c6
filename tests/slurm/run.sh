#!/usr/bin/env bash
# `make test-slurm`: the workflow through a real single-node SLURM cluster (tests/slurm/).
# As root: installs Debian's slurm-wlm and munge (apt-get) and the SLURM executor plugin
# (pip install -e .[slurm]), starts the cluster (tests/slurm/cluster.sh), runs
# `pytest -m slurm tests/slurm` against it, and stops the daemons on every exit. It fails unless
# the cluster came up and every SLURM test ran and passed (none skipped, never zero tests).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-.venv/bin}

die() { echo "test-slurm: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (apt-get installs slurm-wlm and munge; the daemons run as root)"
[[ -x $BIN/pytest ]] || die "$BIN/pytest not found: run \`make install\` first"

installed=$(dpkg-query -W -f='${Status}\n' slurm-wlm munge 2>/dev/null | grep -c "ok installed" || true)
if [[ $installed -ne 2 ]]; then
    command -v apt-get >/dev/null || die "apt-get not found: needs Debian or Ubuntu (packages slurm-wlm, munge)"
    echo "test-slurm: apt-get install slurm-wlm munge"
    apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge \
        >/dev/null || die "apt-get install slurm-wlm munge failed"
fi
"$BIN/python" -m pip install --quiet -e ".[slurm]" || die "pip install -e .[slurm] failed"

cluster=$(mktemp -d /tmp/spectm-slurm.XXXXXX)
cleanup() {
    local rc=$?
    tests/slurm/cluster.sh stop "$cluster" || echo "test-slurm: could not stop the cluster in $cluster" >&2
    if [[ $rc -eq 0 ]]; then
        rm -rf "$cluster"
    else
        echo "test-slurm: failed; the cluster's configuration and logs are in $cluster" >&2
    fi
}
trap cleanup EXIT
tests/slurm/cluster.sh start "$cluster"

SPECTM_SLURM_CLUSTER=$cluster "$BIN/pytest" -m slurm tests/slurm -p no:cacheprovider \
    --junitxml="$cluster/junit.xml"
"$BIN/python" - "$cluster/junit.xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suite = root if root.tag == "testsuite" else root.find("testsuite")
n = int(suite.get("tests"))
bad = {k: int(suite.get(k)) for k in ("failures", "errors", "skipped") if int(suite.get(k))}
if n == 0 or bad:
    sys.exit(f"test-slurm: {n} SLURM tests ran, {bad or 'none'} not passed: nothing verified")
print(f"test-slurm: all {n} SLURM tests passed")
EOF
