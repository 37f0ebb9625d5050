#!/usr/bin/env bash
# The S3 compatibility measure: Ceph's s3-tests against a fresh `dolmen up`, counted per feature group.
#
#   bench/s3_compat.sh [PYTEST ARGS...]
#
# s3-tests is not vendored: S3TESTS_REPO names a git checkout or mirror of github.com/ceph/s3-tests
# (default: the mirror the development tools keep in /work/.mirror/ceph+s3-tests/repo), and its
# S3TESTS_REF (default HEAD) is exported into a temporary directory at run time, so the measure
# always runs an exact, named revision and the repository carries none of its code.
# Selection (issue 12): s3tests/functional/test_s3.py and test_headers.py, without IAM, STS, SNS,
# S3 Select and the tests marked as failing on AWS itself. Its Python requirements go into a
# virtual environment of their own (S3TESTS_VENV, default ~/.cache/dolmen-s3tests-venv).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
S3TESTS_REPO=${S3TESTS_REPO:-/work/.mirror/ceph+s3-tests/repo}
S3TESTS_REF=${S3TESTS_REF:-HEAD}
S3TESTS_VENV=${S3TESTS_VENV:-$HOME/.cache/dolmen-s3tests-venv}
WORK=$(mktemp -d -t s3compat-XXXXXX)
DATA=$WORK/dolmen
LOG=${S3COMPAT_LOG:-${TMPDIR:-/tmp}/s3compat-pytest.log}
trap '"$PYTHON" -m dolmen down --data "$DATA" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

git -C "$S3TESTS_REPO" archive "$S3TESTS_REF" | tar -x -C "$WORK"
revision=$(git -C "$S3TESTS_REPO" rev-parse --short "$S3TESTS_REF")
if [ ! -x "$S3TESTS_VENV/bin/pytest" ]; then
  python3 -m venv "$S3TESTS_VENV"
  "$S3TESTS_VENV/bin/pip" install -q -r "$WORK/requirements.txt" pytest-timeout >/dev/null
fi

port=$("$PYTHON" -c 'from dolmen.devcluster import free_port_run; print(free_port_run(7))')
"$PYTHON" -m dolmen up --data "$DATA" --port "$port" --nodes 3 --proxy-workers 2 --detach >/dev/null
s3_port=$((port + 2))
"$PYTHON" "$ROOT/bench/s3_compat.py" users "$DATA" 127.0.0.1 "$s3_port" "$WORK/s3tests.conf"

markers="not fails_on_aws and not iam_account and not iam_cross_account and not iam_role and not iam_tenant"
markers="$markers and not iam_user and not test_of_sts and not sns and not s3select and not webidentity_test"
(cd "$WORK" && S3TEST_CONF="$WORK/s3tests.conf" "$S3TESTS_VENV/bin/pytest" -q -p no:cacheprovider \
    --timeout 120 -m "$markers" --junitxml "$WORK/junit.xml" "$@" \
    s3tests/functional/test_s3.py s3tests/functional/test_headers.py >"$LOG" 2>&1) || true
echo "s3-tests $revision against dolmen up ($(tail -1 "$LOG"); full log: $LOG)"
"$PYTHON" "$ROOT/bench/s3_compat.py" report "$WORK/junit.xml"
