"""Picture of bench_distill.py outputs: the initial, no-teacher and distilled students side by side.

``bench/plot_distill.py --run "teacher 1=DIR1" --run "τ 4=DIR2" ... --seed 1 --output docs/X.png`` reads
each ``bench/bench_distill.py`` output folder's run files (``work/runs/<arm>.seed<k>.dev.trec`` and
``runs/<arm>.seed<k>.test.trec``), scores them on dev and test over every judged query (trec_eval -c)
and draws one panel per split, one group of bars per folder. Prints the numbers it drew.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hybrid import Qrels, Run, evaluate

ARMS = ("initial", "no-teacher", "distilled")
COLOURS = {"initial": "#bbbbbb", "no-teacher": "#4c72b0", "distilled": "#dd8452"}


def run_file(folder: Path, arm: str, seed: int, split: str) -> Path:
    """Where bench_distill.py keeps an arm's run (the initial model is the same for every seed)."""
    if split == "test":
        return folder / "runs" / f"{arm}.seed{seed}.test.trec"
    name = "initial" if arm == "initial" else f"{arm}.seed{seed}"
    return folder / "work" / "runs" / f"{name}.{split}.trec"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", action="append", required=True, help="LABEL=DIR, a bench_distill.py output")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", required=True, help="the PNG to write")
    parser.add_argument("--title", default="")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [(label, Path(folder)) for label, _, folder in (r.partition("=") for r in args.run)]
    splits = json.loads((runs[0][1] / "summary.json").read_text())["splits"]
    qrels = {split: Qrels.read(splits[split]) for split in ("dev", "test")}
    figure, panels = plt.subplots(1, 2, figsize=(5 + 2.2 * len(runs), 4.2), sharey=True)
    values = []
    for panel, split in zip(panels, ("dev", "test"), strict=True):
        for i, (label, folder) in enumerate(runs):
            for j, arm in enumerate(ARMS):
                path = run_file(folder, arm, args.seed, split)
                score = evaluate(qrels[split], Run.read(path), ["ndcg_cut.10"], complete=True)["ndcg_cut_10"]
                values.append(score)
                print(f"{split}\t{label}\t{arm}\t{score:.4f}")
                bar = panel.bar(
                    i + (j - 1) * 0.27, score, 0.27, color=COLOURS[arm], label=arm if i == 0 else None
                )
                panel.bar_label(bar, fmt="%.3f", fontsize=7, rotation=90, padding=2)
        panel.set_xticks(range(len(runs)), [label for label, _ in runs], fontsize=8)
        panel.set_title(f"{splits[split]} (seed {args.seed})", fontsize=10)
    panels[0].set_ylim(min(values) - 0.03, max(values) + 0.02)  # shared by both panels
    panels[0].set_ylabel("nDCG@10")
    figure.suptitle(args.title, fontsize=11, x=0.02, ha="left")
    figure.legend(*panels[0].get_legend_handles_labels(), fontsize=8, loc="upper right", ncols=len(ARMS))
    figure.tight_layout()
    figure.savefig(args.output, dpi=130)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
