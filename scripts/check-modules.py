#!/usr/bin/env python3
"""Fails when the modules of a crate depend on each other in a circle.

Every `.rs` file under a crate's `src/` is one module; a module depends on another when its
code (comments and test modules left out) names it through `use` or a `crate::`/`super::`
path. A child naming its parent, or a parent its child, counts like any other edge.
Prints each crate's modules in layers, the lowest first (a module depends only on modules
in lower layers), or every cycle found, and exits with 1 on a cycle.

    scripts/check-modules.py [CRATE_SRC_DIR ...]   (default: every crate of the workspace)
"""

import os
import re
import sys

DEFAULT_CRATES = ["common/src", "server/src", "worker/src", "load/src", "tests/src", "client/src"]


def modules_of(src):
    """Module path (a tuple) -> file, for every .rs file under `src`."""
    modules = {}
    for directory, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs") or (directory == src and name == "main.rs"):
                continue  # a binary's main.rs is a crate of its own, using the library
            path = os.path.join(directory, name)
            parts = os.path.relpath(path, src)[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib"):
                parts = parts[:-1]
            if parts and parts[-1] == "tests":
                continue  # a test module may use anything
            modules[tuple(parts)] = path
    return modules


def code_of(path):
    """The file's code without comments, string literals and `#[cfg(test)]` modules."""
    text = open(path, encoding="utf-8").read()
    text = re.split(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)[0]
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    text = re.sub(r"/\*(?:.|\n)*?\*/", "", text)
    return re.sub(r"//[^\n]*", "", text)


def use_paths(tree, prefix=()):
    """Expands a `use` tree (`a::{b, c::{d, e as f}}`) into paths."""
    tree = tree.strip()
    depth, items, current = 0, [], ""
    for ch in tree:
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        current += ch
    items.append(current)
    for item in (i.strip() for i in items):
        if not item:
            continue
        if "{" in item:
            head, rest = item.split("{", 1)
            head = tuple(s for s in head.strip().rstrip(":").split("::") if s)
            yield from use_paths(rest.rsplit("}", 1)[0], prefix + head)
        else:
            item = re.sub(r"\s+as\s+\w+$", "", item)
            yield prefix + tuple(s for s in item.split("::") if s)


def dependencies(module, code, modules):
    paths = []
    for tree in re.findall(r"\buse\s+([^;]+);", code):
        paths.extend(use_paths(tree))
    paths.extend(tuple(p.split("::")) for p in re.findall(r"\b(?:crate|super)(?:::\w+)+", code))
    # A child module named inline (`connection::start(…)`) without a `use`.
    paths.extend(
        tuple(p.split("::"))
        for p in re.findall(r"(?<![\w:])[a-z_][a-z0-9_]*(?:::\w+)+", code)
        if module + (p.split("::")[0],) in modules
    )
    deps = set()
    for path in paths:
        if not path:
            continue
        if path[0] == "crate":
            resolved = path[1:]
        elif path[0] == "super":
            base = list(module)
            while path and path[0] == "super":
                base, path = base[:-1], path[1:]
            resolved = tuple(base) + tuple(path)
        elif path[0] == "self":
            resolved = module + path[1:]
        elif module + path[:1] in modules:
            resolved = module + path
        else:
            continue  # another crate
        for n in range(len(resolved), -1, -1):
            if resolved[:n] in modules:
                if resolved[:n] != module:
                    deps.add(resolved[:n])
                break
    return deps


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in graph:
        if v not in index:
            visit(v)
    return found


def layers(graph):
    level = {}

    def depth(v):
        if v not in level:
            level[v] = 0
            level[v] = 1 + max((depth(w) for w in graph[v]), default=-1)
        return level[v]

    for v in graph:
        depth(v)
    by_level = {}
    for v, n in level.items():
        by_level.setdefault(n, []).append(v)
    return [sorted(by_level[n]) for n in sorted(by_level)]


def name(module):
    return "::".join(module) or "crate"


def main(crates):
    failed = False
    for src in crates:
        modules = modules_of(src)
        graph = {m: dependencies(m, code_of(p), modules) for m, p in modules.items()}
        found = cycles(graph)
        if found:
            failed = True
            for component in found:
                members = set(component)
                edges = [
                    f"{name(a)} -> {name(b)}"
                    for a in sorted(members)
                    for b in sorted(graph[a] & members)
                ]
                print(f"{src}: modules in a cycle: {', '.join(edges)}")
            continue
        print(f"{src}: no cycles; layers from the bottom:")
        for n, layer in enumerate(layers(graph)):
            print(f"  {n}: {' '.join(name(m) for m in layer)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or DEFAULT_CRATES))
