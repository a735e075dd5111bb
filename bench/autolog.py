"""A whole autologged GridSearchCV fit against the same fit with no tracking (issue 12).
Run: python bench/autolog.py [--quick] [--mlflow]

One training script, run in child processes in the same bench run, the variants taking
turns (this machine is shared and noisy); each times `search.fit(X, y)` alone (imports
and data loading are the same for all and left out):
  - `none`: no tracking;
  - `gitml`: `gitml.autolog()` (its own scikit-learn autolog): the search's run with
    params, training metrics, cv_results.csv, the model and the best estimator, and one
    child run per top candidate (5), each committed; goal: <= 10% over `none`;
  - with --mlflow also `mlflow-gitml` (MLflow's own `mlflow.autolog()` with the tracking
    URI `gitml:REPO`) and `mlflow-sqlite` (the same on MLflow's default sqlite store),
    for information.
Median of the repetitions, and each variant's ratio to `none`.

--quick: a smaller grid and data set, fewer repetitions (to check that it works).
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import PYTHON, environment, median, new_repo, report  # noqa: E402

QUICK = "--quick" in sys.argv
WITH_MLFLOW = "--mlflow" in sys.argv
SAMPLES = 500 if QUICK else 3000
REPEAT = 2 if QUICK else 5

TRAIN = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
variant, samples = sys.argv[1], int(sys.argv[2])
if variant == "gitml":
    import gitml
    gitml.autolog()
elif variant.startswith("mlflow"):
    import mlflow
    mlflow.set_tracking_uri(sys.argv[3])
    mlflow.autolog()
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV

X, y = make_classification(n_samples=samples, n_features=20, random_state=0)
grid = {"n_estimators": [25, 50], "max_depth": [4, 8, None]}
search = GridSearchCV(RandomForestClassifier(random_state=0), grid, cv=3)
start = time.perf_counter()
search.fit(X, y)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def fit_seconds(variant: str, repo: Path, script: Path) -> float:
    uri = f"gitml:{repo}" if variant == "mlflow-gitml" else f"sqlite:///{repo}/mlflow.db"
    done = subprocess.run(
        [PYTHON, str(script), variant, str(SAMPLES), uri],
        cwd=repo,
        env=environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])["seconds"]


def main() -> None:
    script = Path(tempfile.mkdtemp(prefix="gitml-bench-autolog-")) / "train.py"
    script.write_text(TRAIN)
    variants = ["none", "gitml"] + (["mlflow-gitml", "mlflow-sqlite"] if WITH_MLFLOW else [])
    repos = {variant: new_repo(f"gitml-bench-autolog-{variant}-") for variant in variants}
    times: dict[str, list[float]] = {variant: [] for variant in variants}
    for _ in range(REPEAT):
        for variant in variants:  # taking turns
            times[variant].append(fit_seconds(variant, repos[variant], script))
    base = median(times["none"])
    for variant in variants:
        value = median(times[variant])
        extra = "" if variant == "none" else f"{value / base:.3f}x of none"
        report(
            f"GridSearchCV fit ({SAMPLES} samples, 6 candidates x 3 folds) {variant}",
            value,
            extra=extra,
        )
    overhead = median(times["gitml"]) / base - 1
    print(f"gitml autolog overhead: {overhead:+.1%} (goal <= +10%)")


if __name__ == "__main__":
    main()
