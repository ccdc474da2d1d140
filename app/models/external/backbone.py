"""``ExternalBackbone``: the app's ``Backbone`` interface around any CNN (an ``nn.Module`` or a TorchScript module).

    net = ExternalBackbone(module, fmt="torchscript", source="my.pt", size=(28, 28))
    net.feature_info                       # every conv / norm / act / pool / block output (LayerInfo)
    net.forward_intermediates(x, [3, -1])  # maps of those layers, hooks removed after the call
    net(x)                                 # the model's own output, unchanged
    net.first_conv_bank()                  # the first conv's kernels as a Workbench KernelBank

The layers are discovered on the model's input size (``default_input``): the size given (metadata, the user, a
static ONNX shape, the size a registry/timm architecture was built for), else the first size that runs
(1 channel: 28, 32, 64, 224, 96 px; 3 channels: 224, 32, 64, 96, 28 px). ``fixed_input_size`` is True when the model
does not also run at another size. The classifier (``get_classifier``) is the last ``nn.Linear`` whose output on the
globally pooled last map equals the model's output; models without one have ``classifier_name == ""``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from app.models.base import Backbone, LayerInfo, ModelError
from app.models.freeze import layer_class
from app.models.inputs import standard_layout
from app.models.external.discover import EagerTaps, ScriptTaps, Tap, discover_eager, discover_script

@dataclass(frozen=True)
class ArchRow:
    path: str  # "" is the whole model
    type: str
    depth: int
    params: int
    shape: tuple[int, int, int] | None  # (C, H, W) on the model's input size, for tapped modules
    tap: int | None  # index into feature_info (the module's first call), None when not a tap


SIZES = {1: (28, 32, 64, 224, 96), 3: (224, 32, 64, 96, 28)}  # tried in this order when nothing says the size
_FAIL = (RuntimeError, ValueError, IndexError, AssertionError, TypeError)


def is_script(net: nn.Module) -> bool:
    return isinstance(net, torch.jit.ScriptModule)


def conv_modules(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """(path, module) of every 2-D convolution, eager or TorchScript, in definition order."""
    out = []
    for path, m in net.named_modules():
        name = layer_class(m)
        w = getattr(m, "weight", None)
        if path and name and "Conv" in name and isinstance(w, torch.Tensor) and w.dim() == 4:
            out.append((path, m))
    return out


def _sample(c: int, size: tuple[int, int], n: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn((int(n), c, size[0], size[1]), generator=g)


def short_error(exc: BaseException) -> str:
    """One line of an exception from running a model: for TorchScript's serialized traceback ("The following
    operation failed in the TorchScript interpreter. Traceback of TorchScript ..."), its last line (the real
    error), not the interpreter's code listing."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    if len(lines) > 1 and ("TorchScript" in lines[0] or "Traceback" in lines[0]):
        return lines[-1][:300]
    return lines[0][:300]


def float_problem(net: nn.Module, label: str) -> str:
    """Why the app cannot feed ``net`` float32 images ("" when it can): its floating-point weights are all
    float16 / bfloat16 (a half-precision export)."""
    kinds = {p.dtype for p in net.parameters() if p.is_floating_point()}
    kinds |= {b.dtype for b in net.buffers() if b.is_floating_point()}
    if kinds and torch.float32 not in kinds and kinds <= {torch.float16, torch.bfloat16}:
        names = ", ".join(sorted(str(k).replace("torch.", "") for k in kinds))
        return (f"{label}: its weights are {names}; the app runs models in float32 (the images are float32): save "
                f"the model in float32 (model.float() before torch.jit.save / the export)")
    return ""


def _error(net: nn.Module, c: int, size: tuple[int, int], n: int = 1) -> str:
    """"" when ``net`` runs on a batch of ``n`` ``c``-channel inputs of ``size``, else its error (one line)."""
    try:
        with torch.no_grad():
            net(_sample(c, size, n))
        return ""
    except _FAIL as exc:
        return short_error(exc)


def _runs(net: nn.Module, c: int, size: tuple[int, int], n: int = 1) -> bool:
    return not _error(net, c, size, n)


def _join(parts: list, keep: list[int]):
    """The outputs of consecutive chunks as one batch, each chunk cut to its first ``keep`` rows (its padding
    dropped): tensors concatenated, tuples / lists / dicts element by element."""
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return torch.cat([p[:k] for p, k in zip(parts, keep)])
    if isinstance(first, (tuple, list)):
        return type(first)(_join([p[i] for p in parts], keep) for i in range(len(first)))
    if isinstance(first, dict):
        return {key: _join([p[key] for p in parts], keep) for key in first}
    raise ModelError(f"a model with a fixed batch size returned {type(first).__name__}: its outputs of several "
                     f"batches cannot be joined")


def _linear(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``m(x)`` for a linear layer, computed from its weights (a traced submodule cannot be called by itself)."""
    w = getattr(m, "weight", None)
    if isinstance(w, torch.Tensor) and w.dim() == 2:
        b = getattr(m, "bias", None)
        return F.linear(x, w, b if isinstance(b, torch.Tensor) else None)
    return m(x)


def _output_problem(out) -> str:
    if isinstance(out, torch.Tensor):
        return "" if out.dim() == 2 else f"one tensor of shape {tuple(out.shape)}, not (N, classes)"
    if isinstance(out, (tuple, list)):
        return f"a {type(out).__name__} of {len(out)} values, not one (N, classes) tensor"
    if isinstance(out, dict):
        return f"a dict ({', '.join(map(str, list(out)[:4]))}), not one (N, classes) tensor"
    return f"{type(out).__name__}, not one (N, classes) tensor"


class ExternalBackbone(Backbone):
    classifier_name = ""  # set per instance (``net.<path>``) when a linear classifier is found

    def __init__(self, net: nn.Module, *, fmt: str = "module", source: str = "", label: str = "",
                 channels: int | None = None, size: tuple[int, int] | None = None, fixed: bool | None = None,
                 batch: int | None = None) -> None:
        super().__init__()
        self.net = net.eval()
        self.fmt, self.source, self.label = fmt, source, label or source
        self.script = is_script(net)
        if isinstance(net, ExternalBackbone):  # its taps would hook the wrapper (and TorchScript refuses hooks)
            raise ModelError(f"{self.label}: already a wrapped model (an ExternalBackbone): use it as it is")
        # a file that fixes its batch at N (ONNX exported without a dynamic batch axis) runs N images at a time, the
        # last chunk padded with copies of its last image (dropped from the output): its graph may reshape to
        # (N, ...), which on another batch fails or, worse, mixes the images
        self.batch = int(batch) if batch is not None and int(batch) >= 1 else None
        self.one_at_a_time = self.batch == 1
        problem = float_problem(net, self.label)
        if problem:
            raise ModelError(problem)
        convs = conv_modules(net)
        c = int(channels or (convs[0][1].weight.shape[1] * getattr(convs[0][1], "groups", 1) if convs else 3))
        n = self.batch or 1
        if size is None:
            size = self._pick_size(c)
        size = (int(size[0]), int(size[1]))
        x = _sample(c, size, n)
        discover = discover_script if self.script else discover_eager
        try:
            taps, out, linears, last = discover(net, x)
        except _FAIL as exc:
            batch_note = f" in batches of {n} (the batch size the file fixes)" if n > 1 else ""
            raise ModelError(f"{self.label}: the model does not run on a {c}-channel {size[0]}x{size[1]} input"
                             f"{batch_note} ({short_error(exc)})") from None
        if fixed is None:  # does it also run at another size? (a cheaper one for large inputs)
            other = (size[0] + 32, size[1] + 32) if max(size) <= 64 else (size[0] * 3 // 4, size[1] * 3 // 4)
            fixed = not _runs(net, c, other, n)
        self.default_input = (c, size[0], size[1])
        self.fixed_input_size = bool(fixed)
        if not taps:
            raise ModelError(f"{self.label}: no convolutional feature maps (N, C, H, W outputs) found; "
                             f"the app shows CNNs")
        self.taps: list[Tap] = taps
        self.feature_info = [LayerInfo(t.name, t.shape[0], t.stride, t.kind) for t in taps]
        self._runner = ScriptTaps(net, taps) if self.script else EagerTaps(net, taps)
        self.num_features = int(taps[-1].shape[0])
        self.num_classes = int(out.shape[1]) if isinstance(out, torch.Tensor) and out.dim() == 2 else 0
        self.output_problem = _output_problem(out)  # "" for one (N, classes) tensor: why eval cannot score it
        cls = self._find_classifier(last, out, [p for p, _ in linears])
        self.classifier_name = f"net.{cls}" if cls else ""

    # --- input size ----------------------------------------------------------------------------------------
    def _pick_size(self, c: int) -> tuple[int, int]:
        sizes = SIZES.get(c, SIZES[3])
        first = ""
        for s in sizes:
            err = _error(self.net, c, (s, s), self.batch or 1)
            if not err:
                return s, s
            first = first or err
        raise ModelError(f"{self.label}: the model runs on none of the input sizes "
                         f"{', '.join(map(str, sizes))} px with {c} channel(s); give its size "
                         f"(--input-size HxW, or metadata in the file) (at {sizes[0]} px: {first})")

    def _find_classifier(self, last: torch.Tensor, out, linears: list[str]) -> str:
        if not isinstance(out, torch.Tensor) or out.dim() != 2:
            return ""
        pooled = last.mean(dim=(2, 3))
        mods = dict(self.net.named_modules())
        for path in reversed(linears):
            try:  # by its weights: a traced model's submodules cannot be called on their own
                with torch.no_grad():
                    y = _linear(mods[path], pooled)
            except _FAIL:
                continue
            if y.shape == out.shape and torch.allclose(y, out, rtol=1e-4, atol=1e-5):
                return path
        return ""

    # --- the Backbone interface --------------------------------------------------------------------------
    # the model file's code runs on torch's default layout (``standard_layout``): batches come channels-last
    # (``to_tensor``), and code such as ``x.view(n, -1)`` after a convolution fails on channels-last maps
    def _chunked(self, x: torch.Tensor, fn):
        """``fn(x)``, or for a file that fixes its batch at N (``batch``) ``fn`` on chunks of exactly N images (the
        last one padded with copies of its last image), the outputs joined without the padding."""
        n = self.batch
        if n is None or x.shape[0] == n or x.shape[0] == 0:
            return fn(x)
        parts, keep = [], []
        for i in range(0, x.shape[0], n):
            part = x[i:i + n]
            k = int(part.shape[0])
            if k < n:
                part = torch.cat([part, part[-1:].expand(n - k, *part.shape[1:])])
            parts.append(fn(standard_layout(part)))
            keep.append(k)
        return _join(parts, keep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._chunked(standard_layout(x), self.net)

    def _run_taps(self, x: torch.Tensor, want: list[int], stop_early: bool) -> list[torch.Tensor]:
        return self._chunked(standard_layout(x), lambda part: self._runner.run(part, want, stop_early))

    def _indices(self, indices) -> list[int]:
        n = len(self.taps)
        if indices is None:
            want = list(range(n))
        elif isinstance(indices, int):
            want = list(range(max(0, n - indices), n))
        else:
            want = [int(i) + n if int(i) < 0 else int(i) for i in indices]
        for i in want:
            if not 0 <= i < n:
                raise IndexError(f"layer index {i} out of range 0..{n - 1}")
        return want

    def forward_intermediates(self, x: torch.Tensor, indices=None, stop_early: bool = True) -> list[torch.Tensor]:
        return self._run_taps(x, self._indices(indices), stop_early)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._run_taps(x, [len(self.taps) - 1], True)[0]

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pool(feats)
        if pre_logits:
            return x
        if not self.classifier_name:
            raise ModelError(f"{self.label}: no linear classifier after global pooling was found; use the "
                             f"model's own output (forward) or pre_logits=True")
        return _linear(self.get_classifier(), x)

    def reset_classifier(self, num_classes: int) -> None:
        if not self.classifier_name:
            raise ModelError(f"{self.label}: no linear classifier was found to replace")
        if self.script:
            raise ModelError(f"{self.label}: the classifier of a TorchScript model cannot be replaced")
        super().reset_classifier(num_classes)

    def conv_layers(self) -> dict[str, nn.Conv2d]:
        """Convolutions a Workbench bank can go into (eager ``nn.Conv2d`` only), by module path."""
        return {p: m for p, m in self.net.named_modules() if isinstance(m, nn.Conv2d)}

    def conv_weights(self) -> dict[str, torch.Tensor]:
        """The kernels (out, in, kh, kw) of every 2-D convolution, eager or TorchScript, by module path (what the
        Insight filter statistics read; a TorchScript conv is no ``nn.Conv2d``)."""
        return {p: m.weight for p, m in conv_modules(self.net)}

    # --- extras ------------------------------------------------------------------------------------------------
    def first_conv(self) -> tuple[str, nn.Module]:
        taps = {t.path for t in self.taps if t.kind == "conv"}
        convs = conv_modules(self.net)
        for t in self.taps:  # forward order
            if t.path in taps:
                for p, m in convs:
                    if p == t.path:
                        return p, m
        if convs:
            return convs[0]
        raise ModelError(f"{self.label}: no convolution found")

    def first_conv_bank(self, name: str | None = None):
        """The first conv's kernels as a ``KernelBank`` (out x in x k x k); ``ModelError`` when it cannot be one."""
        from app.kernels.bank import MAX_SIZE, KernelBank, KernelBankError

        path, conv = self.first_conv()
        w = conv.weight.detach().to("cpu", torch.float32).numpy()
        kh, kw = w.shape[-2:]
        if kh != kw or kh > MAX_SIZE:
            raise ModelError(f"{self.label}: the first conv ({path}) has {kh}x{kw} kernels; a Workbench bank holds "
                             f"square kernels of at most {MAX_SIZE}x{MAX_SIZE}")
        try:
            return KernelBank(w, None, name=name or f"{self.label}: {path}",
                              meta={"source": self.source, "layer": path, "format": self.fmt})
        except KernelBankError as exc:
            raise ModelError(f"{self.label}: the first conv ({path}) cannot be a bank ({exc})") from None

    def architecture(self) -> list[ArchRow]:
        """The module tree, in definition order, for a read-only architecture view: every module's path, class,
        depth, parameter count (its whole subtree) and, for tapped modules, the output shape and ``feature_info``
        index (its first call)."""
        first: dict[str, int] = {}
        for i, t in enumerate(self.taps):
            first.setdefault(t.path, i)
        rows = []
        for path, m in self.net.named_modules():
            kind = layer_class(m)
            tap = first.get(path)
            rows.append(ArchRow(path, str(kind), path.count(".") + 1 if path else 0,
                                sum(p.numel() for p in m.parameters()),
                                self.taps[tap].shape if tap is not None else None, tap))
        return rows

    def describe(self) -> dict:
        """A JSON-ready summary (format, input, layers, classifier)."""
        return {"format": self.fmt, "source": self.source, "input": list(self.default_input),
                "fixed_input_size": self.fixed_input_size, "layers": len(self.taps),
                "classifier": self.classifier_name[4:] if self.classifier_name else None,
                "num_classes": self.num_classes, "num_features": self.num_features}
