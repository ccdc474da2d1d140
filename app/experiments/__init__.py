"""Experiments: the seed papers' claims as declarative recipes (TOML), run as grids of probe/train cells with
seeds, on this machine (a process pool) or on a Ray cluster, resumable, with a self-contained report.

- ``app.experiments.recipe``: ``load_recipe(name_or_file)``, ``Recipe``, ``Cell``, the shipped recipes;
- ``app.experiments.cell``: ``run_cell(cell) -> dict`` (one probe or training run; picklable, runs anywhere);
- ``app.experiments.runner``: ``run_experiment(recipe, quick, executor, workers, cancel)`` (a task generator);
- ``app.experiments.executors``: ``inline``, ``local`` (process pool), ``ray``;
- ``app.experiments.store``: finished cells by key (resumability);
- ``app.experiments.results``: the figures as data (groups over seeds, the plot's series, an ablation's arms);
- ``app.experiments.report``: Markdown + CSV + HTML (embedded SVG plots).
"""
