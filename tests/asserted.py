"""Which finding codes the self-tests assert were emitted, read from their source (for test_finding_codes).

A code counts only where a test asserts it positively: inside an `assert` (not under `not in`, `!=` or `not`), as
the argument of a helper that asserts that parameter (assert_fails_with(result, "CODE", ...)), or as a
parametrize value whose parameter the test asserts, itself or through such a helper. A mention anywhere else (a
comment, a docstring, a fault's setup, `"CODE" not in ...`) does not.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

NEGATING = (ast.NotIn, ast.NotEq, ast.IsNot)


def positive_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes of an assertion that speak for presence: negated comparisons and `not` are left out."""
    if isinstance(node, ast.Compare) and any(isinstance(op, NEGATING) for op in node.ops):
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return
    yield node
    for child in ast.iter_child_nodes(node):
        yield from positive_nodes(child)


def asserted_names(func: ast.FunctionDef, helpers: dict[str, set[int | str]]) -> set[str]:
    """Names a function asserts: in its own asserts, or passed to a helper's asserted parameter."""
    names = set()
    for node in ast.walk(func):
        if isinstance(node, ast.Assert):
            names |= {n.id for n in positive_nodes(node.test) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Call):
            names |= {arg.id for arg in helper_arguments(node, helpers) if isinstance(arg, ast.Name)}
    return names


def helper_arguments(call: ast.Call, helpers: dict[str, set[int | str]]) -> Iterator[ast.expr]:
    """The arguments of a call that land on a parameter the called helper asserts."""
    name = call.func.id if isinstance(call.func, ast.Name) else call.func.attr if isinstance(call.func, ast.Attribute) else ""
    asserted = helpers.get(name, set())
    for index, arg in enumerate(call.args):
        if index in asserted:
            yield arg
    for keyword in call.keywords:
        if keyword.arg in asserted:
            yield keyword.value


def find_helpers(trees: list[ast.Module]) -> dict[str, set[int | str]]:
    """{function: the parameters (index and name) it asserts}, to a fixed point (helpers calling helpers)."""
    helpers: dict[str, set[int | str]] = {}
    functions = [node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
    while True:
        changed = False
        for func in functions:
            params = [a.arg for a in func.args.args]
            asserted = asserted_names(func, helpers)
            found = {i for i, p in enumerate(params) if p in asserted} | {p for p in params if p in asserted}
            if found - helpers.get(func.name, set()):
                helpers[func.name] = helpers.get(func.name, set()) | found
                changed = True
        if not changed:
            return helpers


def constants(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def parametrized(func: ast.FunctionDef) -> Iterator[tuple[list[str], ast.expr]]:
    """(argument names, argument values) of each @pytest.mark.parametrize on a test."""
    for decorator in func.decorator_list:
        if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == "parametrize" and len(decorator.args) >= 2
                and isinstance(decorator.args[0], ast.Constant)):
            yield [n.strip() for n in str(decorator.args[0].value).split(",")], decorator.args[1]


def module_tables(tree: ast.Module) -> dict[str, ast.expr]:
    """Module-level `NAME = [...]` lists a parametrize may name instead of writing its rows inline."""
    return {node.targets[0].id: node.value for node in tree.body if isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name) and isinstance(node.value, (ast.List, ast.Tuple))}


def asserted_codes(sources: list[str], codes: set[str]) -> set[str]:
    """The codes among `codes` that some test asserts was emitted."""
    trees = [ast.parse(source) for source in sources]
    helpers = find_helpers(trees)
    found: set[str] = set()
    for tree in trees:
        tables = module_tables(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assert):
                found |= {n.value for n in positive_nodes(node.test) if isinstance(n, ast.Constant)
                          and isinstance(n.value, str)}
            elif isinstance(node, ast.Call):
                for arg in helper_arguments(node, helpers):
                    found |= constants(arg) if isinstance(arg, ast.Constant) else set()
            elif isinstance(node, ast.FunctionDef):
                checked = asserted_names(node, helpers)
                for names, values in parametrized(node):
                    if isinstance(values, ast.Name):
                        values = tables.get(values.id, values)
                    rows = values.elts if isinstance(values, (ast.List, ast.Tuple)) else []
                    for row in rows:
                        cells = (row.args if isinstance(row, ast.Call) else row.elts
                                 if isinstance(row, ast.Tuple) else [row])
                        for name, cell in zip(names, cells, strict=False):
                            if name in checked:
                                found |= constants(cell)
    return found & codes
