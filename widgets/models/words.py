"""Words for the Models workspace: the automatic model name, the taps table, the GUI's form of a model file's advice
and the parameter counts of both arms of an LC model (frozen vs learned 3x3). Why a checkpoint did not fit (and
which architecture it is for) is ``app.models.hints``, worked out off the GUI thread."""

from __future__ import annotations

from pathlib import Path

from app.models import viz


# the command line's advice in app.models.external's "holds only weights" message, and what to do here instead
CLI_OPEN_ADVICE = "Open it with --backbone NAME --weights FILE or timm:NAME --weights FILE"
GUI_OPEN_ADVICE = ("Load it here instead: in the Build tab choose its architecture and press Load weights… (Ctrl+O); "
                   "for a timm model use “timm architecture…” with this file as the weights")


def gui_advice(msg: str) -> str:
    """An error message of a model file with its command-line advice (flags a GUI user cannot type anywhere)
    replaced by the buttons that do the same here."""
    return msg.replace(CLI_OPEN_ADVICE, GUI_OPEN_ADVICE)


def arms_text(view: viz.ModelView, other: viz.ModelView | None, learn_spatial: bool) -> str:
    """Both arms' parameter counts, this model's first ('learned 3x3' when ``learn_spatial``)."""
    def arm(v: viz.ModelView | None) -> str:
        if v is None:
            return "counting…"
        return f"{viz.fmt_count(v.trainable)} trainable, {viz.fmt_count(v.frozen)} frozen"

    this, that = ("learned 3x3", "frozen 3x3") if learn_spatial else ("frozen 3x3", "learned 3x3")
    return f"<b>Both arms</b><br>{this} (this model): {arm(view)}<br>{that}: {arm(other)}"


def unweighted(backbone: str) -> str:
    """What a backbone built without a checkpoint holds: random filters, fixed (hand-designed) wavelets or
    filters fitted to the data at probe time (``app.models.catalog.default_weight_state``)."""
    from app.models.catalog import default_weight_state

    return {"hand-designed": "hand-designed", "fitted": "fitted to the data"}.get(default_weight_state(backbone),
                                                                                 "random")


def auto_name(backbone: str, options: dict, init: str, weights, banks, layer_inits=()) -> str:
    bits = [f"{k}={viz.format_option(viz.OptionField(k, 'str', None), v).replace(', ', '/')}"
            for k, v in options.items()]
    name = backbone + (f" [{', '.join(bits)}]" if bits else "")
    # a per-layer initialisation is named beside the weights or banks too: those layers are not the checkpoint's
    # (or the model's) any more, and the name dropped them
    own = "; " + ", ".join(f"{lay}: {kind}" for lay, kind in layer_inits) if layer_inits else ""
    if weights:
        return f"{name} ({Path(weights).stem}{own})"
    if banks:
        return f"{name} (hand-designed{own})"
    if layer_inits:
        return f"{name} ({init}{own})"
    return f"{name} ({init})" if init != "default" else f"{name} ({unweighted(backbone)})"


TAP_GAP = 14  # px between the Taps table's columns (its headers ran together: "channelsdownsampling")


def stages_html(view: viz.ModelView) -> str:
    inp = "x".join(str(v) for v in view.input_shape)
    gap = f" style='padding-right: {TAP_GAP}px'"  # each column but the last
    taps = "".join(f"<tr><td{gap}>{n}</td><td align='right'{gap}>{c}</td><td align='right'>/{st}</td></tr>"
                   for n, c, st in view.stages)
    return (f"<b>Taps</b> (input {inp})<table cellspacing='0' cellpadding='1'>"
            f"<tr><td{gap}><i>layer</i></td><td align='right'{gap}><i>channels</i></td>"
            f"<td align='right'><i>downsampling</i></td></tr>{taps}</table>")
