#!/usr/bin/env bash
# The installable package as a user meets it: this build's TorchOnSpark is installed into a
# temporary prefix, tests/package/linreg (linear regression: allreduce training on 2 nodes,
# then inference) is built against it with find_package, run on a generated dataset, and
# its fitted coefficients and every prediction are checked.
#   tests/package/package_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" > "$work/install.log" || { cat "$work/install.log"; exit 1; }
cmake -S "$here/linreg" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" \
  > "$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }

# 4 parts of 2000 rows "y,x1,x2": y = 0.5 + 3 x1 - 2 x2 + noise (sd 0.01), then _SUCCESS.
python3 - "$work/data" <<'PY'
import os, random, sys
d = sys.argv[1]
os.makedirs(d)
rng = random.Random(7)
for p in range(4):
    with open(os.path.join(d, "part-%05d" % p), "w") as f:
        for _ in range(2000):
            x1, x2 = rng.uniform(-1, 1), rng.uniform(-1, 1)
            f.write("%.6f,%.6f,%.6f\n" % (0.5 + 3 * x1 - 2 * x2 + rng.gauss(0, 0.01), x1, x2))
open(os.path.join(d, "_SUCCESS"), "w").close()
PY

"$work/build/linreg" --data "$work/data" --model "$work/model.txt" --predictions "$work/pred" --workers 2 \
  > "$work/run.log" 2>&1 || { cat "$work/run.log"; echo "linreg failed"; exit 1; }

python3 - "$work" <<'PY'
import os, sys
w = sys.argv[1]
b, w1, w2 = (float(v) for v in open(os.path.join(w, "model.txt")).read().split())
print("fitted: b=%.4f w1=%.4f w2=%.4f (true 0.5 3 -2)" % (b, w1, w2))
assert abs(b - 0.5) < 0.05 and abs(w1 - 3) < 0.05 and abs(w2 + 2) < 0.05, "coefficients off"
assert os.path.exists(os.path.join(w, "pred", "_SUCCESS")), "no _SUCCESS in the predictions"
n = 0
for p in range(4):
    rows = open(os.path.join(w, "data", "part-%05d" % p)).read().split()
    preds = open(os.path.join(w, "pred", "part-%05d" % p)).read().split()
    assert len(preds) == len(rows), "part %d: %d predictions for %d records" % (p, len(preds), len(rows))
    for i, (row, pred) in enumerate(zip(rows, preds)):
        y, x1, x2 = (float(v) for v in row.split(","))
        # In order: each prediction matches its own record's features.
        assert abs(float(pred) - (0.5 + 3 * x1 - 2 * x2)) < 0.1, "part %d line %d: %s for %s" % (p, i, pred, row)
        n += 1
print("%d predictions, in order" % n)
PY
echo "package test passed"
