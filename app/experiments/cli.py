"""``python main.py experiment list|show|run NAME_OR_FILE [--quick] [--executor local|ray|inline] [--workers N]``."""

from __future__ import annotations

import json
import sys

from app import jsonout


DATASET_HELP = ("run the recipe on this dataset instead of the one it names (e.g. imagefolder:PATH for a copy of "
                "CIFAR-10 elsewhere); the report's command line says so")


def register(sub, bench) -> None:
    p = sub.add_parser("experiment", help="the seed papers' claims as recipes: list, show, run (reports)")
    es = p.add_subparsers(dest="experiment_command", metavar="ACTION", required=True)
    ls = es.add_parser("list", help="the shipped recipes")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    sh = es.add_parser("show", help="what a recipe runs: cells, grid, seeds, estimated time")
    sh.add_argument("recipe", help="a shipped recipe's name or a .toml file")
    sh.add_argument("--quick", action="store_true", help="the quick size")
    sh.add_argument("--json", action="store_true")
    sh.add_argument("--dataset", default=None, help=DATASET_HELP)
    sh.set_defaults(func=cmd_show)
    rn = es.add_parser("run", help="run a recipe (finished cells are reused) and write its report; exit code 1 "
                                   "when a cell failed")
    rn.add_argument("recipe", help="a shipped recipe's name or a .toml file")
    rn.add_argument("--quick", action="store_true", help="the quick size (digits / MNIST subsets: minutes on a CPU)")
    rn.add_argument("--executor", choices=["local", "ray", "inline"], default="local",
                    help="local: a process pool on this machine (default); ray: Ray tasks (pip install .[cluster]; "
                         "RAY_ADDRESS for a cluster); inline: this process, one cell at a time")
    rn.add_argument("--workers", type=int, default=None, help="parallel cells (default: one per core)")
    rn.add_argument("--out", default=None, help="report folder (default: <home>/files/experiments/NAME)")
    rn.add_argument("--dataset", default=None, help=DATASET_HELP)
    rn.add_argument("--rerun", action="store_true", help="recompute cells that are already stored")
    rn.add_argument("--json", action="store_true", help="print one JSON object (cells and report paths)")
    rn.set_defaults(func=cmd_run)


def _recipe(name, dataset: str | None = None, quick: bool = False):
    from app.errors import UserError
    from app.experiments.recipe import RecipeError, load_recipe, on_dataset

    try:
        recipe = load_recipe(name)
        if dataset is not None and dataset.strip() and (problem := recipe.dataset_grid(quick)):
            raise RecipeError(problem)  # even its own dataset's name: the grid's datasets would run all the same
        return on_dataset(recipe, dataset, quick)
    except RecipeError as exc:
        raise UserError(str(exc)) from None


def cmd_list(args) -> int:
    from app.experiments.recipe import load_recipe, shipped

    rows = []
    for p in shipped():
        r = load_recipe(p)
        rows.append({"name": r.name, "kind": r.kind, "title": r.title, "quick": r.describe(True),
                     "full": r.describe(False)})
    if args.json:
        print(jsonout.dumps(rows))
    else:
        w = max((len(r["name"]) for r in rows), default=4)
        for r in rows:
            print(f"{r['name']:<{w}}  {r['title']}")
    return 0


def cmd_show(args) -> int:
    from app.experiments.recipe import dataset_problem, recipe_caveats

    r = _recipe(args.recipe, args.dataset, args.quick)
    cells = [c.to_dict() for c in r.cells(args.quick)]
    problem = dataset_problem(r, args.quick)  # what `run` would refuse, said before anyone tries
    caveats = recipe_caveats(r, args.quick)
    if args.json:
        print(jsonout.dumps({"name": r.name, "title": r.title, "claim": r.claim, "kind": r.kind,
                             "describe": r.describe(args.quick), "cells": cells, "paper": list(r.paper),
                             "dataset_problem": problem, "caveats": caveats}))
        return 0
    print(f"{r.title}\n{r.claim}\n\n{r.describe(args.quick)}")
    if problem:
        print(f"not runnable here yet: {problem}")
    for text in caveats:
        print(f"caveat: {text}")
    for c in cells[:40]:
        print(f"  {c['key']}  {c['variant'] or '-':<12} {json.dumps(c['settings'], sort_keys=True)[:150]}")
    if len(cells) > 40:
        print(f"  ... {len(cells) - 40} more")
    return 0


def cmd_run(args) -> int:
    from app.errors import UserError
    from app.experiments.recipe import RecipeError, check_runnable, dataset_problem, recipe_caveats
    from app.experiments.runner import run_experiment
    from app.tasks import cli_progress, run_to_end

    r = _recipe(args.recipe, args.dataset, args.quick)
    try:
        check_runnable(r, args.quick)
    except RecipeError as exc:
        raise UserError(str(exc)) from None
    problem = dataset_problem(r, args.quick)
    if problem:
        raise UserError(problem + " with --dataset NAME")
    if args.workers is not None and args.workers < 1:
        raise UserError("--workers must be at least 1")
    if args.out:
        from app.cliargs import out_folder

        out_folder(args.out)
    sys.stderr.write(r.describe(args.quick) + "\n")
    for text in recipe_caveats(r, args.quick):  # said before the run, not a refusal: the user may mean it
        sys.stderr.write(f"caveat: {text}\n")
    res = run_to_end(run_experiment(r, args.quick, args.executor, args.workers, out_dir=args.out, rerun=args.rerun),
                     cli_progress("experiment: "))
    sys.stderr.write("\n")
    if args.json:
        print(jsonout.dumps({"name": r.name, "quick": args.quick, "executor": args.executor, "cells": len(res.cells),
                             "reused": res.reused, "failed": res.failed, "seconds": round(res.seconds, 2),
                             "report": res.report,
                             "results": [{"key": c["key"], "variant": c.get("variant", ""), "settings": c["settings"],
                                          "result": {k: v for k, v in res.results.get(c["key"], {}).items()
                                                     if k != "history"}} for c in res.cells]}, default=str))
    else:
        from app.experiments.ablation import ablation_table
        from app.experiments.results import as_text, results_table

        print(f"{r.name}: {len(res.cells)} cells ({res.reused} reused, {res.failed} failed) in {res.seconds:.0f} s")
        # the figures themselves, as the report's tables give them (mean ± std over seeds, in %)
        table = results_table(res)
        if (r.plot or {}).get("kind") == "ablation":
            table += [""] + ablation_table(res)[2:]  # each arm's change against its baseline (without its heading)
        print("\nResults (mean ± std over seeds, in %; changes in points):\n" + as_text(table) + "\n")
        for k, v in res.report.items():
            print(f"  {k}: {v}")
    if res.failed:  # a script that runs a recipe learns that some figures are missing, and why (the report too)
        from app.experiments.results import cell_settings

        names = cell_settings(list(res.cells))
        sys.stderr.write(f"{res.failed} of {len(res.cells)} cell(s) failed:\n")
        for c in res.cells:
            err = (res.results.get(c["key"]) or {}).get("error")
            if err:
                what = " · ".join(t for t in (c.get("variant") or "", names.get(c["key"]) or "") if t)
                sys.stderr.write(f"  {what or c['key']}: {err}\n")
    return 1 if res.failed else 0
