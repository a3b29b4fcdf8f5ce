"""The implementation switch: compiled modules, their pure twins, and ``MBX_NO_EXTENSIONS``.

Every compiled module in ``mbx/_speedups`` is paired in ``mbx._impl.TWINS`` with a
pure twin. The pair shares one public API: the compiled module's ``.pyi`` stub and
the pure module's source define the same public functions, classes and methods with
the same signatures (both read with ``ast``, so neither side's runtime is trusted),
and on the compiled path the compiled module has those names with those parameters.
``MBX_NO_EXTENSIONS=1`` set at run time must select the pure path, even where the
compiled modules are built, without importing any of them.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mbx
from mbx import _impl

#: The sources (an installed wheel holds the compiled modules and stubs, not the .pyx)
SPEEDUPS = Path(__file__).resolve().parents[1] / "src" / "mbx" / "_speedups"


def _signature(function: ast.FunctionDef) -> str:
    returns = ast.unparse(function.returns) if function.returns else "None"
    return f"({ast.unparse(function.args)}) -> {returns}"


def public_api(source: str) -> dict[str, str]:
    """Public name -> signature text (``Class.method`` for methods, ``class`` for
    the class itself), from the top level of a module's or a stub's source."""
    api = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            api[node.name] = _signature(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            api[node.name] = "class"
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and (
                        item.name == "__init__" or not item.name.startswith("_")):
                    api[f"{node.name}.{item.name}"] = _signature(item)
    return api


def _stub(name: str) -> str:
    return (SPEEDUPS / f"{name}.pyi").read_text(encoding="utf-8")


def _pure_source(name: str) -> str:
    return Path(importlib.util.find_spec(_impl.TWINS[name][1]).origin).read_text(encoding="utf-8")


def test_every_compiled_module_has_a_twin_and_a_stub():
    compiled = sorted(path.stem for path in SPEEDUPS.glob("*.pyx"))
    assert compiled == sorted(_impl.TWINS)
    for name, (module, pure) in _impl.TWINS.items():
        assert module == f"mbx._speedups.{name}"
        assert pure.rsplit(".", 1)[1] == f"{name}_py"  # twins pair up by name
        assert (SPEEDUPS / f"{name}.pyi").is_file()


@pytest.mark.parametrize("name", sorted(_impl.TWINS))
def test_stub_and_pure_twin_have_the_same_api(name):
    stub, pure = public_api(_stub(name)), public_api(_pure_source(name))
    assert stub, f"{name}.pyi declares nothing"
    assert stub == pure


def test_api_comparison_sees_a_changed_signature():
    stub = public_api(_stub("_escape"))
    changed = public_api(_stub("_escape").replace("value: str", "value: str, strict: bool"))
    assert changed != stub
    assert changed["escape_text"] == "(value: str, strict: bool) -> bytes"


def _parameters(signature: str) -> list[str]:
    arguments = ast.parse(f"def f{signature.split(' -> ')[0]}: pass").body[0].args
    return [argument.arg for argument in
            [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]]


@pytest.mark.parametrize("name", sorted(_impl.TWINS))
def test_compiled_module_has_the_stubs_names(name):
    if _impl.implementation != "cython":
        # the pure path: the module this process runs is the twin, whose API is checked above
        assert _impl.load(name).__name__ == _impl.TWINS[name][1]
        return
    module = importlib.import_module(_impl.TWINS[name][0])
    for qualified, signature in public_api(_stub(name)).items():
        target = module
        for part in qualified.split("."):
            target = getattr(target, part)
        if signature == "class":
            assert inspect.isclass(target), qualified
            continue
        assert callable(target), qualified
        try:
            parameters = list(inspect.signature(target).parameters)
        except ValueError:  # a slot wrapper such as a cdef class's __init__
            continue
        if parameters != ["self", "args", "kwargs"]:
            assert parameters == _parameters(signature), qualified


def test_seams_use_the_module_the_switch_chose():
    import mbx.xml._core as core
    import mbx.xml._escaping as escaping

    assert core.Engine is _impl.load("_parser").Engine
    assert escaping.escape_text is _impl.load("_escape").escape_text
    assert escaping.escape_attribute is _impl.load("_escape").escape_attribute
    assert core.ENGINES == _impl.variants("_parser")
    assert core.ENGINES[-1] == core.Engine.__module__


# -- MBX_NO_EXTENSIONS at run time ----------------------------------------------------------

PROBE = """
import json, sys
import mbx
import mbx.xml._core as core
import mbx.xml._escaping as escaping
from mbx.xml import Parser, XmlWriter

records = []
parser = Parser()
parser.add_path("/a/b", records.append)
parser.parse(b"<a><b><c>1 &amp; 2</c></b></a>")
print(json.dumps({"implementation": mbx.implementation, "engine": core.Engine.__module__,
                  "escape": escaping.escape_text.__module__, "records": records,
                  "speedups": sorted(m for m in sys.modules if m.startswith("mbx._speedups"))}))
"""

_PURE = {"implementation": "python", "engine": "mbx.xml._parser_py",
         "escape": "mbx.xml._escape_py", "speedups": []}
_COMPILED = {"implementation": "cython", "engine": "mbx._speedups._parser",
             "escape": "mbx._speedups._escape",
             "speedups": ["mbx._speedups", "mbx._speedups._escape", "mbx._speedups._fold",
                          "mbx._speedups._parser", "mbx._speedups._rows"]}
#: (MBX_NO_EXTENSIONS or None for unset, what the child process runs). Where the
#: compiled modules are built, the child without the variable is the control: it
#: shows the probe does see them.
CASES = [("1", _PURE)]
if all(importlib.util.find_spec(module) for module, _ in _impl.TWINS.values()):
    CASES.append((None, _COMPILED))


def _probe(no_extensions: str | None) -> dict:
    env = {key: value for key, value in os.environ.items()
           if key not in ("MBX_NO_EXTENSIONS", "MBX_REQUIRE_EXTENSIONS")}
    if no_extensions is not None:
        env["MBX_NO_EXTENSIONS"] = no_extensions
    src = str(Path(mbx.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, check=True,
                         capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)


@pytest.mark.parametrize("no_extensions,expected", CASES,
                         ids=["MBX_NO_EXTENSIONS=1", "unset-control"][:len(CASES)])
def test_no_extensions_at_run_time_selects_the_pure_path(no_extensions, expected):
    seen = _probe(no_extensions)
    assert seen.pop("records") == [{"c": "1 & 2"}]
    assert seen == expected
