"""Every task on real photographs ($MAE_BENCH_REALDATA: imagefolder/, coco/, segmentation/), the dataset check,
valid image quirks and broken inputs.

The shared sets are read-only: a test links the few files it needs into tmp_path (and copies the ones it breaks).
Small inputs and few iterations keep the whole module around two minutes on two CPU cores.
"""
from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO, TINY_MAE
from mae_bench.cli import main as cli_main
from mae_bench.data import CheckedImageFolder, DataError
from mae_bench.data.check import check_dataset, dataset_name, load_class_names

pytestmark = pytest.mark.realdata
FLOWERS = ("daisy", "dandelion", "roses", "sunflowers", "tulips")
NUM_SEG_CLASSES = 133


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The runs here are in this process: one torch thread each (two cores shared with other work lose more to
    oversubscription than a second thread gains); restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------- small views of the shared sets


def link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.symlink_to(src)


def flowers(realdata: Path, out: Path, per_class: int, classes=FLOWERS, val_is_train: bool = False) -> Path:
    """``per_class`` photos of each class in train/ (and val/: the next ones, or the same with ``val_is_train``)."""
    for c in classes:
        files = sorted((realdata / "imagefolder" / "train" / c).iterdir())
        for f in files[:per_class]:
            link(f, out / "train" / c / f.name)
        for f in files[:per_class] if val_is_train else files[per_class:2 * per_class]:
            link(f, out / "val" / c / f.name)
    return out


def coco_subset(realdata: Path, out: Path, ids: list[int]) -> Path:
    """The COCO train images ``ids`` as both train2017 and val2017 (trained and tested on the same images)."""
    data = json.loads((realdata / "coco" / "annotations" / "instances_train2017.json").read_text())
    images = [i for i in data["images"] if i["id"] in ids]
    sub = dict(data, images=images, annotations=[a for a in data["annotations"] if a["image_id"] in ids])
    (out / "annotations").mkdir(parents=True)
    for split in ("train", "val"):
        (out / "annotations" / f"instances_{split}2017.json").write_text(json.dumps(sub))
        for img in images:
            link(realdata / "coco" / "train2017" / img["file_name"], out / f"{split}2017" / img["file_name"])
    return out


def seg_subset(realdata: Path, out: Path, n_train: int, n_val: int) -> Path:
    """The first ``n_train`` / ``n_val`` photos and label maps of segmentation/ (ADE20K layout)."""
    for split, n in (("training", n_train), ("validation", n_val)):
        for img in sorted((realdata / "segmentation" / "images" / split).glob("*.jpg"))[:n]:
            link(img, out / "images" / split / img.name)
            label = realdata / "segmentation" / "annotations" / split / f"{img.stem}.png"
            link(label, out / "annotations" / split / label.name)
    return out


def records(runs: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(runs.glob("*.json"))]


def only_record(runs: Path) -> dict:
    recs = records(runs)
    assert len(recs) == 1, recs
    assert all(math.isfinite(v) for v in recs[0]["metrics"].values()), recs[0]["metrics"]
    return recs[0]


def tool(name: str):
    """``tools/<name>.py`` as a module: its ``main(argv)`` runs in this process (no second start of torch, mm*)."""
    spec = importlib.util.spec_from_file_location(f"tool_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def transfer(task: str, data: Path, tmp: Path, *extra, ckpt="random") -> int:
    """``tools/transfer.py`` (its ``main``) on the CPU; returns the exit status."""
    argv = ["--task", task, "--ckpt", ckpt, "--data-root", data, "--work-dir", tmp / "work", "--runs-dir",
            tmp / "runs", "--device", "cpu", *extra]
    return tool("transfer").main([str(a) for a in argv])


# ---------------------------------------------------------------- the check


def test_the_real_sets_pass_the_check_and_are_named_by_their_folders(realdata, capsys):
    flowers_, coco, seg = (check_dataset("imagefolder", realdata / "imagefolder", full=True),
                           check_dataset("coco", realdata / "coco"),
                           check_dataset("ade20k", realdata / "segmentation",
                                         classes=realdata / "segmentation" / "classes.json"))
    for s in (flowers_, coco, seg):
        assert s.problems == [] and not s.official, s.summary()
    assert (flowers_.splits, flowers_.class_names) == ({"train": 250, "val": 100}, list(FLOWERS))
    assert (coco.splits, coco.num_classes) == ({"train": 96, "val": 32}, 80)
    assert any("2 image(s) without annotations" in n for n in coco.notes)
    assert (seg.splits, seg.num_classes, seg.class_names[0]) == ({"train": 80, "val": 20}, NUM_SEG_CLASSES, "person")
    assert [dataset_name(s) for s in (flowers_, coco, seg)] == ["imagefolder", "coco_subset", "segmentation"]
    assert dataset_name(coco, "coco128") == "coco128"
    assert tool("check_data").main(["--task", "coco", "--data-root", str(realdata / "coco")]) == 0
    out = capsys.readouterr().out
    assert "train 96 images" in out and "problems: 0" in out and "record name: coco_subset" in out, out
    assert cli_main(["check-data", "--task", "ade20k_linear", "--data-root", str(realdata / "segmentation"),
                     "--classes", str(realdata / "segmentation" / "classes.json")]) == 0


def test_class_name_files(tmp_path, realdata):
    names = load_class_names(realdata / "segmentation" / "classes.json")  # objects with name; label 0 left out
    assert len(names) == NUM_SEG_CLASSES and names[:2] == ["person", "bicycle"]
    (tmp_path / "c.txt").write_text("sky\n\ntree\n")
    (tmp_path / "c.json").write_text('["sky", "tree"]')
    assert load_class_names(tmp_path / "c.txt") == load_class_names(tmp_path / "c.json") == ["sky", "tree"]
    (tmp_path / "bad.json").write_text('[{"id": 3}]')
    with pytest.raises(DataError, match="entry 0 has no name"):
        load_class_names(tmp_path / "bad.json")


# ---------------------------------------------------------------- pretraining and the image tasks


def pretrain(data: Path, out: Path, method: str = "mae") -> None:
    argv = [*TINY_MAE, "--method", method, "--device", "cpu", "--epochs", 1, "--warmup_epochs", 1, "--batch_size", 8,
            "--data_path", data, "--output_dir", out, "--num_workers", 0, "--max_iters_per_epoch", 2, "--vis_every",
            0, "--no-tensorboard"]
    assert tool("pretrain").main([str(a) for a in argv]) == 0


@pytest.fixture(scope="module")
def real_flowers(realdata, tmp_path_factory) -> Path:
    """4 train and 4 val photos of each of the 5 flower classes."""
    return flowers(realdata, tmp_path_factory.mktemp("flowers"), 4)


@pytest.fixture(scope="module")
def real_mae_ckpt(real_flowers, tmp_path_factory) -> Path:
    """The tiny MAE pretrained (2 iterations) on real flower photos."""
    out = tmp_path_factory.mktemp("real_mae")
    pretrain(real_flowers, out)
    return out / "checkpoint-last.pth"


@pytest.mark.parametrize("method", ["mae", "supervised", "mocov3"])
def test_pretraining_on_real_photos(method, real_flowers, real_mae_ckpt, tmp_path):
    out = real_mae_ckpt.parent if method == "mae" else tmp_path
    if method != "mae":
        pretrain(real_flowers, out, method)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert (out / "checkpoint-last.pth").is_file() and math.isfinite(log[-1]["loss"]), log


@pytest.mark.parametrize("task", ["knn", "linprobe_grid", "attentive", "linprobe"])
def test_image_tasks_on_real_photos(task, real_flowers, real_mae_ckpt, tmp_path):
    opts = ["--cfg-options", "epochs=1"] if task != "linprobe" else ["--epochs", 1]
    assert transfer(task, real_flowers, tmp_path, *opts, ckpt=real_mae_ckpt) == 0
    rec = only_record(tmp_path / "runs")
    assert (rec["task"], rec["dataset"], rec["init"]) == (task, real_flowers.name,
                                                          f"{real_mae_ckpt.parent.name}@checkpoint-last")


def test_finetuning_overfits_sixteen_real_flower_photos(realdata, tmp_path):
    """Random init, 8 daisies and 8 sunflowers, evaluated on themselves: measured 93.75% top-1 after 12 epochs."""
    data = flowers(realdata, tmp_path / "data", 8, classes=("daisy", "sunflowers"), val_is_train=True)
    assert transfer("finetune", data, tmp_path, "--epochs", 12, "--dataset", "flowers16") == 0
    rec = only_record(tmp_path / "runs")
    assert rec["dataset"] == "flowers16" and rec["metrics"]["top1"] >= 80.0, rec["metrics"]


# ---------------------------------------------------------------- valid quirks and broken inputs (ImageFolder)


def save_quirks(src: Path, out: Path) -> dict[str, Path]:
    """Five valid variants of the photo ``src`` in ``out``: CMYK JPEG, grayscale JPEG, PNG bytes named .jpg, .png,
    JPEG with EXIF orientation 6 (viewers turn it 90 degrees; its stored pixels are the photo's)."""
    out.mkdir(parents=True, exist_ok=True)
    im = Image.open(src).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    paths = dict(cmyk=out / "cmyk.jpg", gray=out / "gray.jpg", png_named_jpg=out / "png_named.jpg",
                 png=out / "photo.png", exif_rotated=out / "rotated.jpg")
    im.convert("CMYK").save(paths["cmyk"], "JPEG")
    im.convert("L").save(paths["gray"], "JPEG")
    im.save(paths["png_named_jpg"], "PNG")
    im.save(paths["png"], "PNG")
    im.save(paths["exif_rotated"], "JPEG", exif=exif)
    return paths


@pytest.fixture(scope="module")
def quirky_flowers(realdata, tmp_path_factory) -> tuple[Path, dict]:
    """daisy / sunflowers, train and val: each five quirky variants of one real photo and one plain photo."""
    out = tmp_path_factory.mktemp("quirky")
    variants = {}
    for c in ("daisy", "sunflowers"):
        first, second = sorted((realdata / "imagefolder" / "train" / c).iterdir())[:2]
        for split in ("train", "val"):
            variants[c, split] = save_quirks(first, out / split / c)
            link(second, out / split / c / second.name)
    return out, variants


def test_quirky_images_pass_the_full_check_and_train(quirky_flowers, tmp_path):
    data, variants = quirky_flowers
    summary = check_dataset("imagefolder", data, full=True)
    assert summary.problems == [] and summary.splits == {"train": 12, "val": 12}, summary.summary()
    assert transfer("knn", data, tmp_path) == 0
    assert only_record(tmp_path / "runs")["num_train"] == 12
    rotated = variants["daisy", "train"]["exif_rotated"]
    ds = CheckedImageFolder(data / "train")
    img, _ = ds[ds.samples.index((str(rotated), 0))]
    with Image.open(rotated) as stored:
        assert img.size == stored.size and stored.size[0] != stored.size[1]  # the stored pixels, not turned


def truncate(path: Path) -> None:
    content = path.read_bytes()
    path.unlink()  # a link into the shared set: replace it, never write through it
    path.write_bytes(content[: len(content) // 2])


@pytest.mark.parametrize("breaker", ["truncated", "empty_class", "no_val"])
def test_broken_image_folders_fail_clearly_without_record(breaker, realdata, tmp_path, capsys):
    data = flowers(realdata, tmp_path / "data", 2, classes=("daisy", "roses"))
    victim = sorted((data / "val" / "roses").iterdir())[0]
    if breaker == "truncated":
        truncate(victim)
        expected = f"cannot read image {victim}"
    elif breaker == "empty_class":
        for f in (data / "val" / "roses").iterdir():
            f.unlink()
        expected = f"{data / 'val' / 'roses'}: class folder holds no image file"
    else:
        shutil.rmtree(data / "val")
        expected = f"{data / 'val'}: missing"
    assert transfer("knn", data, tmp_path) == 2
    err = capsys.readouterr().err
    assert expected in err and "--skip_corrupt" not in err and "Traceback" not in err, err
    assert records(tmp_path / "runs") == []


# ---------------------------------------------------------------- COCO and the ADE20K layout

COCO_IDS = [636, 514, 194, 394, 250]  # 1-2 large objects each; 250 has no annotation
COCO_FAST = ["train_cfg.max_iters=20", "default_hooks.logger.interval=5"]
COCO_LEARN = ["train_cfg.max_iters=100", "default_hooks.logger.interval=5"]
SEG_FAST = ["train_cfg.max_iters=10", "default_hooks.logger.interval=5"]


def logged_losses(work: Path) -> list[float]:
    """The training losses mmengine logged (``<work>/<stamp>/vis_data/scalars.json``)."""
    lines = next(work.glob("*/vis_data/scalars.json")).read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines if "loss" in json.loads(line)]


def test_mm_loader_reads_quirky_images_as_stored_pixels(quirky_flowers):
    from backbones.loading import CheckedLoadImageFromFile

    load = CheckedLoadImageFromFile()
    for name, path in quirky_flowers[1]["daisy", "train"].items():
        img = load(dict(img_path=str(path)))["img"]
        with Image.open(path) as stored:
            assert img.shape == (stored.size[1], stored.size[0], 3), name  # EXIF orientation 6 not applied
    truncated = quirky_flowers[0] / "truncated.jpg"
    truncated.write_bytes(quirky_flowers[1]["daisy", "train"]["gray"].read_bytes()[:2000])
    with pytest.raises(DataError, match="truncated.jpg"):
        load(dict(img_path=str(truncated)))


@pytest.mark.slow
def test_coco_on_five_real_photos(realdata, tmp_path):
    """Trained and tested on the same 5 photos (one without annotations) from random init, 100 iterations: the loss
    falls and Mask R-CNN fits the real boxes (measured: loss 5.8 -> 3.8 in the first 20 iterations, box AP 29.9)."""
    data = coco_subset(realdata, tmp_path / "coco5", COCO_IDS)
    assert transfer("coco", data, tmp_path, "--cfg-options", *COCO_LEARN) == 0
    rec = only_record(tmp_path / "runs")
    assert rec["dataset"] == "coco5" and rec["metrics"]["AP_box"] >= 10.0, rec["metrics"]
    losses = logged_losses(tmp_path / "work")
    assert len(losses) >= 4 and losses[-1] < 0.8 * losses[0], losses
    dumped = (tmp_path / "work" / "quick.py").read_text()
    assert "num_classes=80" in dumped and "CheckedLoadImageFromFile" in dumped


@pytest.mark.slow  # in make test (CI), not in the quick loop of make test-fast
def test_segmentation_tasks_on_real_photos_with_their_classes(realdata, tmp_path):
    data = seg_subset(realdata, tmp_path / "seg", 8, 4)
    classes = realdata / "segmentation" / "classes.json"
    for task in ("ade20k", "ade20k_linear"):
        work = tmp_path / task
        assert transfer(task, data, work, "--classes", classes, "--cfg-options", *SEG_FAST) == 0
        rec = only_record(work / "runs")
        assert (rec["task"], rec["dataset"]) == (task, "seg")
        dumped = (work / "work" / "quick.py").read_text()
        assert dumped.count(f"num_classes={NUM_SEG_CLASSES}") >= 1 and "'person'" in dumped


def break_coco(data: Path, how: str) -> str:
    ann = data / "annotations" / "instances_train2017.json"
    js = json.loads(ann.read_text())
    victim = data / "train2017" / js["images"][0]["file_name"]
    if how == "missing_image":
        victim.unlink()
        return f"{victim}: listed in instances_train2017.json (image id {js['images'][0]['id']}) but missing"
    if how == "unknown_category":
        js["annotations"][0]["category_id"] = 999
        ann.write_text(json.dumps(js))
        return f"annotation {js['annotations'][0]['id']} has category_id 999, not in categories"
    if how == "empty_split":
        ann.write_text(json.dumps(dict(js, images=[], annotations=[])))
        return "instances_train2017.json: empty split"
    truncate(victim)
    return f"image {victim}"  # OpenCV reads half a JPEG as nothing ("cannot decode") or grey ("truncated")


def break_seg(data: Path, how: str) -> str:
    label = sorted((data / "annotations" / "training").iterdir())[0]
    if how == "label_missing":
        label.unlink()
        return f"{label}: label map of {label.stem}.jpg missing"
    if how == "label_out_of_range":
        values = np.asarray(Image.open(label)).copy()
        label.unlink()
        values[0, 0] = 200
        Image.fromarray(values).save(label)
        return f"{label}: label value 200 out of range; expected 0 (ignored), 1..{NUM_SEG_CLASSES}"
    for img in (data / "images" / "validation").iterdir():
        img.unlink()
    return f"{data / 'images' / 'validation'}: empty split"


@pytest.mark.parametrize("how", ["missing_image", "unknown_category", "empty_split", "truncated_jpeg",
                                 "label_missing", "label_out_of_range", "seg_empty_split"])
def test_broken_dense_sets_fail_clearly_without_record(how, realdata, tmp_path, capsys):
    if how.startswith(("label", "seg")):
        task, data = "ade20k", seg_subset(realdata, tmp_path / "seg", 4, 2)
        expected = break_seg(data, how)
        extra = ["--classes", realdata / "segmentation" / "classes.json", "--cfg-options", *SEG_FAST]
    else:
        task, data = "coco", coco_subset(realdata, tmp_path / "coco", COCO_IDS[:2])
        expected = break_coco(data, how)
        extra = ["--cfg-options", *COCO_FAST]
    classes = ["--classes", extra[1]] if task == "ade20k" else []
    assert tool("check_data").main(["--task", task, "--data-root", str(data), "--full", *map(str, classes)]) == 1
    assert "problem(s)" in capsys.readouterr().err
    assert transfer(task, data, tmp_path, *extra) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err, err[-3000:]
    assert records(tmp_path / "runs") == []
