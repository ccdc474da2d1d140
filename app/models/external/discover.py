"""Layer discovery for any CNN: every conv / norm / activation / pool / block output with its shape.

Two ways, one result (a list of ``Tap``):

- eager ``nn.Module`` (timm, ONNX via onnx2torch, the app's own backbones): one forward with a forward hook on every
  submodule; the hooks are removed afterwards. ``EagerTaps.run`` taps the chosen layers the same way (hooks live
  only during the call; ``stop_early`` ends the forward after the last asked-for layer).
- TorchScript (``torch.jit.ScriptModule``: hooks cannot be added to a loaded one): the forward graph is inlined and
  every value that leaves a submodule's scope (``Node.getModuleHierarchy``) is that submodule's output. ``ScriptTaps``
  compiles, per set of asked-for layers, a function from the same graph that returns those values (dead code after
  the last one is removed, so it stops early by construction).

A module called several times (a shared ``ReLU``) gives one tap per call: ``relu``, ``relu#2`` ...
Only 4-D (N, C, H, W) outputs become taps; the linear classifier is found separately (``find_classifier``).
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from dataclasses import dataclass

import torch
from torch import nn

from app.models.base import ModelError
from app.models.external.strides import eager_strides, graph_strides, hooked_forward
from app.models.external.strides import is_tensor as _is_tensor

ACTIVATIONS = {"ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Swish", "Mish",
               "Sigmoid", "Tanh", "Hardswish", "HardSwish", "Hardsigmoid", "HardSigmoid", "Hardtanh", "Softplus",
               "Softsign", "Sign", "Abs", "GELUTanh", "QuickGELU"}
SKIP = {"Identity", "Dropout", "Dropout2d", "Dropout1d", "Dropout3d", "AlphaDropout", "DropPath", "Flatten",
        "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"}


@dataclass(frozen=True)
class Tap:
    name: str  # what the user sees: module path, "#k" for the k-th call of a shared module
    path: str  # module path in the wrapped model ("" never: the root is not a tap)
    call: int  # 0-based call index of that module in one forward
    kind: str  # conv, norm, act, pool, block, op
    shape: tuple[int, int, int]  # (C, H, W) on the discovery input
    stride: int


def kind_of(class_name: str, has_children: bool) -> str:
    n = class_name.split(".")[-1]
    if n.startswith("Onnx"):
        n = n[4:]
    if has_children:
        return "block"
    if "Conv" in n:
        return "conv"
    if "Norm" in n:
        return "norm"
    if n in ACTIVATIONS or n.lower() in {a.lower() for a in ACTIVATIONS}:
        return "act"
    if "Pool" in n:
        return "pool"
    return "op"


def _tap_names(raw: list[tuple[str, int]]) -> list[str]:
    return [path if call == 0 else f"{path}#{call + 1}" for path, call in raw]


def _make_taps(raw: list[tuple[str, int, str, tuple]], in_h: int, strides: list[int | None] | None = None
               ) -> list[Tap]:
    """``strides``: each tap's stride where the graph says it (``graph_strides``); else the input's rows over the
    map's, which a valid convolution or a pooling that drops a row makes wrong (LeNet-5's c3: 32 / 10 -> 3 where
    it is 2)."""
    names = _tap_names([(p, c) for p, c, _, _ in raw])
    out = []
    for i, (name, (path, call, kind, shape)) in enumerate(zip(names, raw)):
        known = strides[i] if strides is not None and i < len(strides) else None
        stride = known if known else max(1, int(round(in_h / max(1, shape[1]))))
        out.append(Tap(name, path, call, kind, tuple(int(v) for v in shape), stride))
    return out


# --- eager modules -------------------------------------------------------------------------------------------
class _Stop(Exception):
    pass


def _eager_candidates(net: nn.Module) -> dict[str, nn.Module]:
    out = {}
    for path, m in net.named_modules():
        if path and type(m).__name__ not in SKIP:
            out[path] = m
    return out


def discover_eager(net: nn.Module, x: torch.Tensor):
    """(taps, the model's output, [(path, input) of every nn.Linear call], the last tap's map) for one forward."""
    mods = _eager_candidates(net)
    kinds = {path: kind_of(type(m).__name__, any(True for _ in m.children())) for path, m in mods.items()}
    raw: list[tuple[str, int, str, tuple]] = []
    linears: list[tuple[str, torch.Tensor]] = []
    last: list[torch.Tensor] = []

    def seen(path, k, mod, inputs, output):
        if isinstance(mod, nn.Linear) and inputs and isinstance(inputs[0], torch.Tensor):
            linears.append((path, inputs[0].detach()))
        if isinstance(output, torch.Tensor) and output.dim() == 4:
            raw.append((path, k, kinds[path], tuple(output.shape[1:])))
            last[:] = [output.detach().clone()]

    out = hooked_forward(net, mods, x, seen)
    return _make_taps(raw, x.shape[-2], eager_strides(net, mods, x, raw)), out, linears, (last[0] if last else None)


class EagerTaps:
    """Tap layers of an eager module with forward hooks that live only during one call.

    One call at a time (a lock): the hooks are the module's, so two threads tapping it at once (the extraction's
    slices, ``app.probe.extract.in_parts``) would each see the other's calls and remove hooks the other still needs
    ("layer(s) ... did not run"; seen when the thread tuner chose two slices on a quiet machine)."""

    def __init__(self, net: nn.Module, taps: list[Tap]) -> None:
        self.net = net
        self.taps = taps
        self.index = {(t.path, t.call): i for i, t in enumerate(taps)}
        self.modules = dict(net.named_modules())
        self._lock = threading.Lock()

    def run(self, x: torch.Tensor, want: list[int], stop_early: bool = True) -> list[torch.Tensor]:
        with self._lock:
            return self._run(x, want, stop_early)

    def _run(self, x: torch.Tensor, want: list[int], stop_early: bool) -> list[torch.Tensor]:
        mods = self.modules
        remaining = set(want)
        got: dict[int, torch.Tensor] = {}
        calls: dict[str, int] = defaultdict(int)
        handles = []

        def hook_for(path: str):
            def hook(mod, inputs, output):
                k = calls[path]
                calls[path] += 1
                i = self.index.get((path, k))
                if i is None or i not in remaining:
                    return
                remaining.discard(i)
                last = not remaining
                # later in-place ops (ReLU(inplace=True)) would change a kept map: copy unless we stop right here
                got[i] = output if (last and stop_early) else output.clone()
                if last and stop_early:
                    raise _Stop
            return hook

        try:
            for path in {self.taps[i].path for i in want}:
                handles.append(mods[path].register_forward_hook(hook_for(path)))
            try:
                self.net(x)
            except _Stop:
                pass
        finally:
            for h in handles:
                h.remove()
        if remaining:
            names = ", ".join(self.taps[i].name for i in sorted(remaining))
            raise ModelError(f"layer(s) {names} did not run for an input of shape {tuple(x.shape)}")
        return [got[i] for i in want]


# --- TorchScript ---------------------------------------------------------------------------------------------
_SEG = re.compile(r"([^.()]+)\(([^()]*)\)")


class _Resolver:
    """Module path of every node of an inlined graph.

    A node's module hierarchy (``Node.getModuleHierarchy``) names each call frame by its attribute name only, and a
    traced model skips containers that are never called themselves (``layer1(Sequential)`` when the model calls
    ``layer1[0]`` directly), so ``0(BasicBlock).conv1`` alone is ambiguous. Nodes that read parameters carry the
    full path in their ``prim::GetAttr`` chain (``self.layer1.0.conv1.weight``); walking the graph in order, those
    anchor each frame name to its full path, and parameter-free nodes (ReLU, add, pooling) inherit the current
    anchor of their frame."""

    def __init__(self, module: torch.jit.ScriptModule, graph: torch._C.Graph) -> None:
        self.names = {path: getattr(m, "original_name", type(m).__name__) for path, m in module.named_modules()}
        self.children: dict[str, list[str]] = defaultdict(list)
        for path in self.names:
            if path:
                self.children[path.rsplit(".", 1)[0] if "." in path else ""].append(path)
        self.anchor: dict[tuple[str, ...], tuple[str, ...]] = {}
        self.frames: dict[torch._C.Node, list[tuple[str, ...]]] = {}
        self.inferred: dict[torch._C.Node, tuple[str, ...]] = {}
        self.graph_return = graph.return_node()
        self._walk(graph.nodes())

    def _segments(self, node: torch._C.Node) -> list[str]:
        h = node.getModuleHierarchy() if hasattr(node, "getModuleHierarchy") else ""
        return [name for name, _ in _SEG.findall(h) if name not in ("SELF", "UNKNOWN_INSTANCE", "TOP", "top")]

    def _param_path(self, node: torch._C.Node) -> tuple[str, ...] | None:
        for v in node.inputs():
            chain, cur = [], v.node()
            while cur.kind() == "prim::GetAttr":
                chain.append(cur.s("name"))
                cur = cur.input().node()
            if chain and cur.kind() == "prim::Param":
                chain.reverse()
                if ".".join(chain) not in self.names:
                    chain = chain[:-1]  # the parameter or buffer itself
                if chain and ".".join(chain) in self.names:
                    return tuple(chain)
        return None

    def _tree(self, segs: list[str]) -> list[tuple[str, ...]]:
        frames, cur = [], ""
        for seg in segs:
            cand = f"{cur}.{seg}" if cur else seg
            if cand not in self.names:
                cand = next((f"{c}.{seg}" for c in self.children[cur] if f"{c}.{seg}" in self.names), None)
                if cand is None:
                    break
            cur = cand
            frames.append(tuple(cur.split(".")))
        return frames

    def _walk(self, nodes) -> None:
        for node in nodes:
            for b in node.blocks():
                self._walk(b.nodes())
            segs = self._segments(node)
            if not segs:  # prim::If / prim::Loop: the frames all of its inner nodes share
                inner = [self.frames[n] for b in node.blocks() for n in b.nodes() if self.frames.get(n)]
                common = _common([f[-1] for f in inner])
                self.frames[node] = [f for f in (inner[0] if inner else []) if common[:len(f)] == f]
                continue
            full = self._param_path(node) if node.kind() != "prim::GetAttr" else None
            n = len(segs)
            if full is not None and len(full) >= n and list(full[len(full) - n:]) == segs:
                frames = [full[:len(full) - n + k] for k in range(1, n + 1)]
                for k in range(1, n + 1):
                    self.anchor[tuple(segs[:k])] = frames[k - 1]
                self.frames[node] = frames
                continue
            for k in range(n, 0, -1):
                base = self.anchor.get(tuple(segs[:k]))
                if base is not None:
                    self.frames[node] = ([self.anchor[tuple(segs[:i])] for i in range(1, k + 1)
                                          if tuple(segs[:i]) in self.anchor]
                                         + [base + tuple(segs[k:j]) for j in range(k + 1, n + 1)])
                    break
            else:
                self.frames[node] = self._tree(segs)

    def frames_of(self, node: torch._C.Node) -> list[tuple[str, ...]]:
        """The module calls (full paths, outermost first) ``node`` runs inside."""
        return self.frames.get(node, [])

    def path(self, node: torch._C.Node) -> tuple[str, ...]:
        """The innermost module call ``node`` runs in. Nodes without a module hierarchy are root-level code or
        code of a script function a module called (timm's helpers): they sit where their inputs and users meet."""
        f = self.frames.get(node)
        if f:
            return f[-1]
        got = self._inferred(node, set())
        return got if got is not None else ()

    def _inferred(self, node: torch._C.Node, visiting: set) -> tuple[str, ...] | None:
        if node.kind() == "prim::Return":  # the graph's own return is root-level; a sub-block's, its owner's
            owner = node.owningBlock().owningNode() if node != self.graph_return else None
            return () if owner is None else self._inferred(owner, visiting)
        f = self.frames.get(node)
        if f:
            return f[-1]
        if node in self.inferred:
            return self.inferred[node]
        if node in visiting:
            return None
        visiting.add(node)
        known = []
        for v in node.inputs():
            src = v.node()
            if src.kind() not in ("prim::Constant", "prim::GetAttr", "prim::Param") and self.frames.get(src):
                known.append(self.frames[src][-1])
        for v in node.outputs():
            for u in v.uses():
                p = self._inferred(u.user, visiting)
                if p is not None:
                    known.append(p)
        out = _common(known) if known else None
        if out is not None:
            self.inferred[node] = out
        return out


def _common(paths: list[tuple[str, ...]]) -> tuple[str, ...]:
    if not paths:
        return ()
    common = list(paths[0])
    for q in paths[1:]:
        k = 0
        while k < min(len(common), len(q)) and common[k] == q[k]:
            k += 1
        common = common[:k]
    return tuple(common)


def script_graph_taps(module: torch.jit.ScriptModule):
    """(inlined graph copy, [(path, value)] in forward order) of every value leaving a submodule's scope."""
    graph = module.forward.graph.copy()
    torch._C._jit_pass_inline(graph)
    res = _Resolver(module, graph)
    names = res.names
    returned = set(v.unique() for v in graph.return_node().inputs())
    found: list[tuple[str, torch._C.Value]] = []
    for node in graph.nodes():
        frames = res.frames_of(node)
        if not frames or node.kind() in ("prim::GetAttr", "prim::Constant"):  # parameters, constants: no maps
            continue
        for v in node.outputs():
            if not _is_tensor(v):
                continue
            users = [res.path(u.user) for u in v.uses()]
            escapes_all = v.unique() in returned
            for prefix in reversed(frames):  # innermost call first, as forward hooks fire
                dotted = ".".join(prefix)
                if dotted not in names or names[dotted].split(".")[-1] in SKIP:
                    continue
                if escapes_all or any(u[:len(prefix)] != prefix for u in users):
                    found.append((dotted, v))
    return graph, found, names


def discover_script(module: torch.jit.ScriptModule, x: torch.Tensor):
    """(taps, the model's output, [(path, None)] of Linear submodules, the last tap's map) for a TorchScript module."""
    graph, found, names = script_graph_taps(module)
    has_children = defaultdict(bool)
    for path in names:
        if "." in path:
            has_children[path.rsplit(".", 1)[0]] = True
    fn = _compile(graph, [v for _, v in found], keep_output=True)
    with torch.no_grad():
        res = fn(module._c, x)
    out, values = res[0], list(res[1:])
    try:
        known = graph_strides(graph)
    except Exception:  # noqa: BLE001 - a graph this cannot read: the ratio of sizes alone
        known = {}
    raw, strides, calls, last = [], [], defaultdict(int), None
    for (path, v), val in zip(found, values):
        k = calls[path]
        calls[path] += 1
        if isinstance(val, torch.Tensor) and val.dim() == 4:
            raw.append((path, k, kind_of(names[path], has_children[path]), tuple(val.shape[1:])))
            strides.append(known.get(v.unique()))
            last = val
    linears = [(p, None) for p, n in names.items() if n.split(".")[-1] == "Linear"]
    return _make_taps(raw, x.shape[-2], strides), out, linears, last


def _compile(graph: torch._C.Graph, values: list, keep_output: bool):
    g = graph.copy()
    # values of the copy, by position of their producing node and output
    mapping = {}
    for n_old, n_new in zip(graph.nodes(), g.nodes()):
        for o_old, o_new in zip(n_old.outputs(), n_new.outputs()):
            mapping[o_old.unique()] = o_new
    for i_old, i_new in zip(graph.inputs(), g.inputs()):
        mapping[i_old.unique()] = i_new
    outs = []
    for v in values:
        nv = mapping[v.unique()]
        if any(u.user.kind().endswith("_") for u in nv.uses()):  # an in-place op changes it later: keep a copy
            none = g.insertConstant(None)
            none.node().moveAfter(nv.node())
            clone = g.create("aten::clone", [nv, none])
            clone.insertAfter(none.node())
            clone.output().setType(nv.type())
            nv = clone.output()
        outs.append(nv)
    ret = g.return_node()
    if keep_output:
        outs = [ret.input()] + outs
    tup = g.create("prim::TupleConstruct", outs)
    tup.insertBefore(ret)
    tup.output().setType(torch._C.TupleType([v.type() for v in outs]))
    ret.replaceInput(0, tup.output())
    torch._C._jit_pass_dce(g)  # nothing after the last asked-for value runs
    torch._C._jit_pass_lint(g)
    return torch._C._create_function_from_graph("fe_taps", g)


class ScriptTaps:
    """Tap layers of a TorchScript module with functions compiled from its own graph (cached per layer set)."""

    def __init__(self, module: torch.jit.ScriptModule, taps: list[Tap]) -> None:
        self.module = module
        self.taps = taps
        graph, found, _ = script_graph_taps(module)
        self.graph = graph
        order: dict[tuple[str, int], torch._C.Value] = {}
        calls: dict[str, int] = defaultdict(int)
        for path, v in found:
            order[(path, calls[path])] = v
            calls[path] += 1
        self.values = [order[(t.path, t.call)] for t in taps]
        self._fns: dict[tuple[int, ...], object] = {}

    def run(self, x: torch.Tensor, want: list[int], stop_early: bool = True) -> list[torch.Tensor]:
        key = tuple(sorted(set(want)))
        fn = self._fns.get(key)
        if fn is None:
            fn = _compile(self.graph, [self.values[i] for i in key], keep_output=False)
            self._fns[key] = fn
        res = fn(self.module._c, x)
        res = res if isinstance(res, tuple) else (res,)
        by = dict(zip(key, res))
        return [by[i] for i in want]
