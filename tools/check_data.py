#!/usr/bin/env python
"""Check a dataset before the GPU hours start: layout, split sizes, every referenced file, annotations, labels.

  python tools/check_data.py --task coco --data-root /datasets/coco
  python tools/check_data.py --task ade20k --data-root /data/my_seg --classes /data/my_seg/classes.txt
  python tools/check_data.py --task imagefolder --data-root /datasets/imagenet --full --workers 16
--task coco|ade20k|imagefolder is the layout (the transfer tasks finetune, linprobe, knn, linprobe_grid, attentive
and pretraining read imagefolder; ade20k_linear reads ade20k). The cheap check reads file listings, image headers
and the label maps; --full also decodes every image, in parallel. Prints a summary; exit 0 when clean, 1 naming the
first problems (file, key, value), 2 for bad arguments.
"""
import argparse
import sys

from mae_bench.cli import accept_both_spellings, reports_errors
from mae_bench.data import DataError
from mae_bench.data.check import KINDS, check_dataset, dataset_name

TASK_KIND = {"ade20k_linear": "ade20k", "finetune": "imagefolder", "linprobe": "imagefolder", "knn": "imagefolder",
             "linprobe_grid": "imagefolder", "attentive": "imagefolder", "pretrain": "imagefolder"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, choices=[*KINDS, *TASK_KIND], help="the dataset layout (or a task name)")
    p.add_argument("--data-root", dest="data_root", required=True, help="the dataset folder")
    p.add_argument("--full", action="store_true", help="also decode every image (parallel, progress bar)")
    p.add_argument("--classes", help="ADE20K layout: class names of labels 1..N (one a line, or a JSON list)")
    p.add_argument("--workers", type=int, help="threads reading files (default: the CPU count, at most 16)")
    p.add_argument("--dataset", help="the name records would carry (default: from the folder and its sizes)")
    return accept_both_spellings(p)


@reports_errors(DataError)
def main(argv=None) -> int:
    a = parser().parse_args(argv)
    summary = check_dataset(TASK_KIND.get(a.task, a.task), a.data_root, classes=a.classes, full=a.full,
                            workers=a.workers, progress=True)
    print(summary.summary())
    print(f"  record name: {dataset_name(summary, a.dataset)}")
    try:
        summary.raise_if_problems()
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
