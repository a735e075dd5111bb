"""Elastic-net regression of wine quality, in the shape of MLflow's
sklearn_elasticnet_wine example, in plain Python (no scikit-learn, no numpy).

    python train.py [alpha] [l1_ratio]
    python train.py --data wine-sample.csv --sweep 0.1,0.5,1.0

Logs rmse, r2 and mae with gitml when gitml is importable (it is under
`gitml run`, in any environment manager), and prints them in any case.
"""

import argparse
import csv
import math
import random
from pathlib import Path

try:
    import gitml
except ImportError:  # run without gitml: print only
    gitml = None

HERE = Path(__file__).resolve().parent


def load(path: Path) -> tuple[list[list[float]], list[float]]:
    with open(path, newline="") as handle:
        rows = [[float(value) for value in row] for row in list(csv.reader(handle))[1:] if row]
    return [row[:-1] for row in rows], [row[-1] for row in rows]


def standardize(columns: list[list[float]]) -> list[list[float]]:
    out = []
    for column in columns:
        mean = sum(column) / len(column)
        spread = math.sqrt(sum((v - mean) ** 2 for v in column) / len(column)) or 1.0
        out.append([(v - mean) / spread for v in column])
    return out


def fit(x: list[list[float]], y: list[float], alpha: float, l1_ratio: float, sweeps: int = 200):
    """Coordinate descent on (1/2n)|y - Xw - b|^2 + alpha*(l1|w|_1 + (1-l1)/2 |w|^2)."""
    n, features = len(y), len(x[0])
    columns = standardize([[row[j] for row in x] for j in range(features)])
    intercept = sum(y) / n
    weights = [0.0] * features
    residual = [target - intercept for target in y]
    for _ in range(sweeps):
        for j, column in enumerate(columns):
            rho = sum(c * r for c, r in zip(column, residual, strict=True)) / n + weights[j]
            shrunk = math.copysign(max(abs(rho) - alpha * l1_ratio, 0.0), rho)
            new = shrunk / (1.0 + alpha * (1.0 - l1_ratio))
            if new != weights[j]:
                delta = new - weights[j]
                residual = [r - delta * c for r, c in zip(residual, column, strict=True)]
                weights[j] = new
    predictions = [target - r for target, r in zip(y, residual, strict=True)]
    return weights, predictions


def scores(y: list[float], predicted: list[float]) -> dict[str, float]:
    n = len(y)
    mean = sum(y) / n
    errors = [a - b for a, b in zip(y, predicted, strict=True)]
    total = sum((a - mean) ** 2 for a in y)
    return {
        "rmse": math.sqrt(sum(e * e for e in errors) / n),
        "mae": sum(abs(e) for e in errors) / n,
        "r2": 1 - sum(e * e for e in errors) / total,
    }


def train(data: Path, alpha: float, l1_ratio: float, step: int = 0) -> dict[str, float]:
    x, y = load(data)
    random.Random(42).shuffle(order := list(range(len(y))))
    x, y = [x[i] for i in order], [y[i] for i in order]
    _, predicted = fit(x, y, alpha, l1_ratio)
    result = scores(y, predicted)
    print(f"Elasticnet model (alpha={alpha:f}, l1_ratio={l1_ratio:f}):", flush=True)
    for key, value in result.items():
        print(f"  {key.upper()}: {value:.4f}", flush=True)
        if gitml is not None:
            gitml.log_metric(key, value, step=step)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("alpha", nargs="?", type=float, default=0.5)
    parser.add_argument("l1_ratio", nargs="?", type=float, default=0.5)
    parser.add_argument("--data", type=Path, default=HERE / "wine-sample.csv")
    parser.add_argument("--sweep", help="comma-separated alphas, one step each")
    args = parser.parse_args()
    if args.sweep:
        for step, alpha in enumerate(float(a) for a in args.sweep.split(",")):
            train(args.data, alpha, args.l1_ratio, step)
    else:
        train(args.data, args.alpha, args.l1_ratio)


if __name__ == "__main__":
    main()
