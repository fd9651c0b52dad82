"""The package's shape: imports run one way, and one module decides which code runs.

The import graph is read from the source (every ``import`` and ``from ... import``, including
those inside functions), so a lazy import counts like any other.
"""

import ast
from pathlib import Path

import scratch_lstm
from scratch_lstm import impls

PACKAGE = Path(scratch_lstm.__file__).parent
MODEL = "scratch_lstm"
APP = "scratch_lstm.app"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each module of the package -> the package's modules it imports."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            for target in candidates:
                while target and target not in files:  # a name inside a module: the module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles among the modules (a package's __init__ only hands names on: left out)."""
    inner = {m for m in graph if not (PACKAGE.parent / m.replace(".", "/") / "__init__.py").exists()}
    found, state, stack = [], {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(graph[m] & inner):
            if state.get(t) == "open":
                found.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(inner):
        if m not in state:
            visit(m)
    return found


GRAPH = import_graph()


def test_the_graph_is_read():
    """A check that sees nothing passes vacuously: the graph must hold what we know is there."""
    assert "scratch_lstm.cell" in GRAPH["scratch_lstm.layer"]
    assert "scratch_lstm.impls" in GRAPH["scratch_lstm.lstm"]
    assert "scratch_lstm.app.train" in GRAPH["scratch_lstm.app.cli"]  # a lazy import counts
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_import_cycles():
    assert cycles(GRAPH) == []


def test_the_model_code_never_imports_the_app():
    """Two doors only: ``python -m scratch_lstm`` runs the app's command line, and the package's
    ``scratch_lstm.explore`` hands on the app's page maker, imported on first use."""
    door = f"{MODEL}.__main__"
    assert GRAPH[door] == {f"{APP}.cli"}
    assert {t for t in GRAPH[MODEL] if t.startswith(APP)} == {f"{APP}.explorer"}
    upward = sorted((m, t) for m, targets in GRAPH.items() if not m.startswith(APP) and m not in (door, MODEL)
                    for t in targets if t.startswith(APP))
    assert upward == [], "model code imports the training app"


def test_importing_the_package_does_not_load_the_app():
    import subprocess
    import sys

    code = ("import sys, scratch_lstm; assert not [m for m in sys.modules if m.startswith('scratch_lstm.app')]; "
            "assert scratch_lstm.explore.__module__ == 'scratch_lstm.app.explorer.page'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)


def test_the_fast_paths_import_only_what_sits_below_them():
    """fused and triton_lstm see the layer contract, the autograd glue, the equations, the
    autocast rules and the float32 precision rules; never the stack, the dispatch, or each other."""
    below = {f"{MODEL}.{m}" for m in ("autocast", "autograd", "checks", "layer", "cell", "precision")}
    for fast in ("fused", "triton_lstm"):
        assert GRAPH[f"{MODEL}.{fast}"] <= below, fast


def test_the_equations_import_nothing_above_them():
    assert GRAPH[f"{MODEL}.cell"] <= {f"{MODEL}.autocast", f"{MODEL}.checks"}
    assert GRAPH[f"{MODEL}.layer"] <= {f"{MODEL}.cell", f"{MODEL}.checks"}


def test_one_list_of_impl_names():
    """Every place that offers a choice of impls reads impls.IMPLS."""
    from scratch_lstm.app.cli import build_parser
    from scratch_lstm.classifier import BACKENDS

    assert impls.IMPLS == ("scratch", "fused", "triton")
    assert BACKENDS == (*impls.IMPLS, "torch")
    parser = build_parser()
    for command, flag in (("train", "--backend"), ("eval", "--backend"), ("inspect", "--backend"),
                          ("gates", "--backend"), ("bench", "--impl")):
        action = next(a for a in parser.subparsers[command]._actions if flag in a.option_strings)
        assert tuple(action.choices) == (BACKENDS if flag == "--backend" else impls.IMPLS)
    literal_lists = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                names = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                if {"scratch", "fused"} <= names:
                    literal_lists.append(f"{path.name}:{node.lineno}")
    assert literal_lists == []  # impls.IMPL_HELP (a dict) is the one place that names them


def test_impls_decides_every_fallback():
    import torch

    x, h, c = torch.zeros(2, 3, 4), torch.zeros(3, 5), torch.zeros(3, 5)
    w_ih, w_hh, b = torch.zeros(20, 4), torch.zeros(20, 5), torch.zeros(20)
    tensors = (x, h, c, w_ih, w_hh, b, b, None)
    name = lambda f: getattr(f, "func", f).__name__  # noqa: E731  (a partial of lstm_layer)
    assert name(impls.layer_function("scratch", tensors)) == "lstm_layer"
    assert name(impls.layer_function("fused", tensors)) == "fused_lstm_layer"
    assert name(impls.layer_function("fused", tensors, batch_sizes=[3, 3])) == "lstm_layer"
    assert name(impls.layer_function("fused", tensors, trace=[])) == "lstm_layer"
    assert name(impls.layer_function("triton", tensors)) == "triton_lstm_layer"
    projected = (x, h[:, :2], c, w_ih, w_hh[:, :2], b, b, torch.zeros(2, 5))
    assert name(impls.layer_function("triton", projected)) == "fused_lstm_layer"
    f64 = tuple(t.double() if t is not None else None for t in tensors)
    assert name(impls.layer_function("triton", f64)) == "fused_lstm_layer"
