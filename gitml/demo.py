"""A scripted tour of gitml in a throw-away repository.

It runs the real `gitml` commands, as a user would type them, and prints
each command before its output.
"""

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

TRAIN_SCRIPT = '''\
"""A tiny training loop: fits y = 3x with gradient descent."""
import gitml

params = gitml.get_params()
lr, epochs = float(params.get("lr", 0.1)), int(params.get("epochs", 20))
w = 0.0
xs = [i / 10 for i in range(10)]
for epoch in range(epochs):
    grad = sum(2 * (w * x - 3 * x) * x for x in xs) / len(xs)
    w -= lr * grad
    loss = sum((w * x - 3 * x) ** 2 for x in xs) / len(xs)
    gitml.log_metric("loss", loss, step=epoch)
gitml.log_metric("weight", w)
with open("model.txt", "w") as f:
    f.write(f"w={w}\\n")
print(f"trained: w={w:.4f} loss={loss:.6f}")
'''

STEPS = [
    "gitml run -P lr=0.1 -P epochs=20 --name baseline --artifact model.txt -- python train.py",
    "sed -i 's/3 \\* x/3.5 * x/g' train.py",
    "gitml run -P lr=0.3 -P epochs=20 --name faster --artifact model.txt -- python train.py",
    "gitml ls",
    "gitml show faster",
    "gitml diff baseline faster",
    "gitml model register linear faster --path model.txt",
    "gitml model promote linear v0.0.1 production",
    "gitml model ls",
    "git for-each-ref refs/gitml refs/tags",
]


def run_demo(echo: Callable[[str], None], keep: bool = False) -> Path:
    """Run every step in a new temporary repository and return its path."""
    folder = Path(tempfile.mkdtemp(prefix="gitml-demo-"))
    env = dict(os.environ)
    env.update(
        {
            "GIT_AUTHOR_NAME": "gitml demo",
            "GIT_AUTHOR_EMAIL": "demo@example.com",
            "GIT_COMMITTER_NAME": "gitml demo",
            "GIT_COMMITTER_EMAIL": "demo@example.com",
            "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
        }
    )
    (folder / "train.py").write_text(TRAIN_SCRIPT)
    (folder / ".gitignore").write_text("model.txt\n")
    for command in ("git init -q -b main", "git add .", "git commit -q -m 'a tiny model'"):
        subprocess.run(shlex.split(command), cwd=folder, env=env, check=True)
    echo(f"# a throw-away repository: {folder}")
    for step in STEPS:
        echo(f"\n$ {step}")
        words = shlex.split(step)
        if words[0] == "gitml":
            words = [sys.executable, "-m", "gitml", *words[1:]]
        result = subprocess.run(
            words, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        echo(result.stdout.rstrip())
        if result.returncode != 0:
            raise SystemExit(f"demo step failed ({result.returncode}): {step}")
    return folder
