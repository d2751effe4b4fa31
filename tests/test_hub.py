"""Published checkpoints by name, read offline from caches in the libraries' own layouts (built here: no network).

A Hugging Face hub cache (``models--org--name/{refs/main, blobs/<sha256>, snapshots/<commit>/...}``) read with
``HF_HUB_OFFLINE=1``; timm names resolved by timm's own pretrained cfgs through the same cache; a torch.hub cache
(``<TORCH_HOME>/hub/checkpoints/<file>``) for URLs, a published sha256 that does not match refused; an uncached
name stops a run at once, naming the cache and the fetch command; a zoo run's record says what it ran.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as safetensors_bytes
from test_checkpoints import hf

from conftest import REPO, run_tool
from mae_bench.checkpoints import CheckpointError
from mae_bench.hub import NotCached, caches, resolve
from mae_bench.models.vit import create_vit
from mae_bench.tables import build_cells, load_reference, zoo_markdown
from mae_bench.transfer import TransferArgs
from mae_bench.transfer.skeleton import read_init
from mae_bench.zoo import ENTRIES, MAE_LINPROBE, MAE_PAPER, lookup

COMMIT = "0123456789abcdef0123456789abcdef01234567"
MAE_B_URL_FILE = "mae_pretrain_vit_base.pth"


def vit_t_state() -> dict:
    """The quick configs' encoder (vit-t: 192-d, 12 blocks) with fixed random weights, in timm key names: a tiny
    stand-in for the published files (the resolution and loading path does not depend on the size)."""
    torch.manual_seed(0)
    return {k: v.clone() for k, v in create_vit("vit-t", img_size=224).state_dict().items()}


def hf_repo(hub: Path, repo: str, files: dict[str, bytes], commit: str = COMMIT) -> Path:
    """``repo`` in huggingface_hub's cache layout: refs/main -> commit, blobs by hash, snapshot links to them."""
    folder = hub / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / commit
    for sub in ("refs", "blobs"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    for name, data in files.items():
        blob = folder / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    return snapshot


def st_bytes(sd: dict) -> bytes:
    return safetensors_bytes({k: v.contiguous().clone() for k, v in sd.items()})


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One MAE_BENCH_CACHE folder holding: facebook/vit-mae-base (HF ViTMAE layout, safetensors + config.json),
    timm/vit_base_patch16_224.mae (timm's hub copy: timm keys), facebook/dino-vitb16 (pytorch_model.bin only),
    and the official MAE ViT-B release file in torch.hub's checkpoints folder."""
    root = tmp_path_factory.mktemp("ckpt_cache")
    sd = vit_t_state()
    hub = root / "huggingface" / "hub"
    vitmae = hf(sd) | {"decoder.mask_token": torch.zeros(1, 1, 64)}
    hf_repo(hub, "facebook/vit-mae-base", {"model.safetensors": st_bytes(vitmae), "config.json": json.dumps(
        {"model_type": "vit_mae", "layer_norm_eps": 1e-12, "norm_pix_loss": False}).encode()})
    hf_repo(hub, "timm/vit_base_patch16_224.mae", {"model.safetensors": st_bytes(sd)})
    torch.save(hf(sd, prefix=""), root / "dino.bin")
    hf_repo(hub, "facebook/dino-vitb16", {"pytorch_model.bin": (root / "dino.bin").read_bytes()}, "f" * 40)
    (root / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    torch.save({"model": sd}, root / "torch" / "hub" / "checkpoints" / MAE_B_URL_FILE)
    return root


def test_names_resolve_offline_from_the_libraries_caches(cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MAE_BENCH_CACHE", str(cache))
    hub = cache / "huggingface" / "hub"
    for name in ("hf-hub:facebook/vit-mae-base", "hf-hub:facebook/vit-mae-base@main",
                 f"hf-hub:facebook/vit-mae-base@{COMMIT}"):
        src = resolve(name)  # the revision resolved to its commit, the file in that snapshot, safetensors first
        assert (src.kind, src.hub_id, src.revision) == ("hf-hub", "facebook/vit-mae-base", COMMIT), name
        assert src.path == str(hub / "models--facebook--vit-mae-base" / "snapshots" / COMMIT / "model.safetensors")
        assert src.hf_config == {"model_type": "vit_mae", "layer_norm_eps": 1e-12, "norm_pix_loss": False}
        assert src.entry.name == "vitmae-hf-b"
    dino = resolve("hf-hub:facebook/dino-vitb16")
    assert dino.path.endswith("pytorch_model.bin") and dino.revision == "f" * 40 and dino.entry.name == "dino-vit-b16"
    timm_src = resolve("timm:vit_base_patch16_224.mae")  # timm's pretrained cfg -> its hub id -> the same cache
    assert (timm_src.hub_id, timm_src.via, timm_src.entry.name) == (
        "timm/vit_base_patch16_224.mae", "hf-hub:timm/vit_base_patch16_224.mae", "mae-vit-b")
    url = resolve("zoo:mae-vit-b")
    assert url.path == str(cache / "torch" / "hub" / "checkpoints" / MAE_B_URL_FILE)
    assert (url.kind, url.url, url.via) == ("url", lookup("mae-vit-b").source, lookup("mae-vit-b").source)
    with pytest.raises(NotCached, match="tools/fetch_ckpt.py hf-hub:facebook/vit-mae-base@nope"):
        resolve("hf-hub:facebook/vit-mae-base@nope")  # an unknown revision is not the cached main
    with pytest.raises(CheckpointError, match="timm has no pretrained weights called 'vit_base_patch16_224.nope'"):
        resolve("timm:vit_base_patch16_224.nope")
    with pytest.raises(CheckpointError, match="no zoo entry 'nope'; known: mae-vit-b"):
        resolve("zoo:nope")


def test_library_environment_is_honoured_without_a_cache_folder(cache, monkeypatch):
    monkeypatch.delenv("MAE_BENCH_CACHE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(cache / "torch"))
    monkeypatch.setenv("HF_HOME", str(cache / "huggingface"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    assert caches().torch_hub == cache / "torch" / "hub" and caches().hf_hub == cache / "huggingface" / "hub"
    assert resolve("zoo:mae-vit-b").path.startswith(str(cache / "torch"))
    assert resolve("hf-hub:facebook/vit-mae-base").revision == COMMIT


def test_published_sha256_mismatch_refused_with_both_hashes(tmp_path):
    """DeiT's release file names its sha256 prefix (torch.hub's convention): another file there is refused on
    read, naming the expected and the actual hash, before any model is built."""
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    fake = folder / "deit_base_patch16_224-b5f2ef4d.pth"
    torch.save({"model": vit_t_state() | {"head.weight": torch.zeros(10, 192), "head.bias": torch.zeros(10)}}, fake)
    actual = hashlib.sha256(fake.read_bytes()).hexdigest()
    with pytest.raises(CheckpointError, match=rf"sha256 mismatch, expected b5f2ef4d\.\.\. \(published\), "
                                              rf"actual {actual}"):
        read_init(TransferArgs("knn", "zoo:deit-vit-b", cache=str(tmp_path)))


def test_uncached_name_exits_2_at_once_naming_cache_and_fetch_command(tmp_path):
    empty = tmp_path / "empty_cache"
    empty.mkdir()
    t0 = time.time()
    proc = run_tool("transfer.py", "--task", "knn", "--ckpt", "zoo:mae-vit-l", "--cache", empty, "--work-dir",
                    tmp_path / "work", "--runs-dir", tmp_path / "runs", "--device", "cpu", HF_HUB_OFFLINE="1")
    assert proc.returncode == 2 and time.time() - t0 < 30, proc.stderr[-2000:]
    err = proc.stderr
    assert "--ckpt zoo:mae-vit-l is not in the cache" in err and str(empty / "torch" / "hub" / "checkpoints") in err
    assert f"tools/fetch_ckpt.py zoo:mae-vit-l --cache {empty}" in err
    assert not (tmp_path / "work").exists() and not (tmp_path / "runs").exists() and not any(empty.iterdir())
    proc = run_tool("transfer.py", "--task", "finetune", "--gpus", 2, "--ckpt", "hf-hub:facebook/vit-mae-large",
                    "--cache", empty, "--work-dir", tmp_path / "work", "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 2 and "tools/fetch_ckpt.py hf-hub:facebook/vit-mae-large" in proc.stderr
    assert "torch.distributed" not in proc.stderr and not (tmp_path / "work").exists()  # before any worker


@pytest.fixture()
def http_folder(tmp_path):
    """A real HTTP server on localhost serving ``tmp_path / 'www'`` (the release files' stand-in)."""
    import functools
    import http.server
    import threading

    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_fetch_downloads_into_torch_hub_cache_then_reads_offline(tmp_path, http_folder):
    www, base = http_folder
    torch.save({"model": vit_t_state()}, www / "release.pth")
    cache = tmp_path / "cache"
    proc = run_tool("fetch_ckpt.py", f"{base}/release.pth", "--cache", cache, check=True)
    file = cache / "torch" / "hub" / "checkpoints" / "release.pth"
    assert file.read_bytes() == (www / "release.pth").read_bytes()
    assert hashlib.sha256(file.read_bytes()).hexdigest() in proc.stdout
    assert resolve(f"{base}/release.pth", cache).path == str(file)  # then offline
    torch.save({"model": vit_t_state()}, www / "other-0123abcd.pth")  # names a sha256 prefix it does not have
    proc = run_tool("fetch_ckpt.py", f"{base}/other-0123abcd.pth", "--cache", cache)
    assert proc.returncode == 2 and "refused the download" in proc.stderr and '"0123abcd"' in proc.stderr
    assert not (cache / "torch" / "hub" / "checkpoints" / "other-0123abcd.pth").exists()
    out = tmp_path / "converted.pth"  # convert_ckpt reads names from the same cache
    proc = run_tool("convert_ckpt.py", f"{base}/release.pth", out, "--cache", cache, check=True)
    assert "(mae-official)" in proc.stdout and out.is_file()


def test_done_when_names_run_knn_and_records_say_what_ran(tmp_path, cache, synthetic_imagefolder):
    """The three names of docs/checkpoints.md run the k-NN task from the test cache (HF_HUB_OFFLINE=1); the
    records carry the name, the resolved source (URL, or hub id and commit), the sha256, method and epochs."""
    runs = tmp_path / "runs"
    records = {}
    for name in ("zoo:mae-vit-b", "hf-hub:facebook/vit-mae-base", "timm:vit_base_patch16_224.mae"):
        before = set(runs.glob("*.json"))
        run_tool("transfer.py", "--task", "knn", "--ckpt", name, "--data-root", synthetic_imagefolder,
                 "--cache", cache, "--runs-dir", runs, "--device", "cpu", "--work-dir", tmp_path / "w",
                 "--cfg-options", f"cache_dir={tmp_path / 'features'}", check=True, HF_HUB_OFFLINE="1",
                 OMP_NUM_THREADS="1")
        (path,) = set(runs.glob("*.json")) - before
        records[name] = json.loads(path.read_text())
    url = records["zoo:mae-vit-b"]
    file = cache / "torch" / "hub" / "checkpoints" / MAE_B_URL_FILE
    sha = hashlib.sha256(file.read_bytes()).hexdigest()
    assert (url["init"], url["pretrain_method"], url["pretrain_epochs"]) == ("zoo:mae-vit-b", "mae", 1600)
    assert url["ckpt"] == str(file) and url["ckpt_sha256"] == sha
    assert url["ckpt_source"] | {} == dict(
        name="zoo:mae-vit-b", kind="url", url=lookup("mae-vit-b").source, via=lookup("mae-vit-b").source, sha256=sha,
        zoo="mae-vit-b", method="mae", epochs=1600, model="vit-b", data="IN-1K", licence="CC BY-NC 4.0")
    vitmae = records["hf-hub:facebook/vit-mae-base"]
    assert (vitmae["init"], vitmae["pretrain_method"], vitmae["pretrain_epochs"]) == (
        "hf-hub:facebook/vit-mae-base", "mae", None)  # the HF copy of the visualisation release: epochs unknown
    assert vitmae["ckpt_source"]["hub_id"] == "facebook/vit-mae-base" and vitmae["ckpt_source"]["revision"] == COMMIT
    assert vitmae["ckpt_source"]["hf_config"]["layer_norm_eps"] == 1e-12
    timm_rec = records["timm:vit_base_patch16_224.mae"]
    assert (timm_rec["pretrain_method"], timm_rec["pretrain_epochs"], timm_rec["ckpt_source"]["zoo"]) == (
        "mae", 1600, "mae-vit-b")  # timm's copy: method and epochs of the entry it is an alias of
    assert timm_rec["ckpt_source"]["hub_id"] == "timm/vit_base_patch16_224.mae"
    assert timm_rec["metrics"] == url["metrics"]  # the same weights in another file and layout: the same features
    # the zoo table: the runs of zoo entries beside the paper's numbers, sorted by method and size
    md = zoo_markdown(build_cells(list(records.values())))
    head = next(ln for ln in md.splitlines() if ln.startswith("| method"))
    knn = f"{url['metrics']['top1']:.1f} (ViT-T)"  # run at the quick config's size, not the entry's
    for name in ("zoo:mae-vit-b", "timm:vit_base_patch16_224.mae"):  # one row per name it ran by, in this order
        row = next(ln for ln in md.splitlines() if f"| {name} |" in ln)
        assert "| 83.6 [" in row and row.endswith(f"| {knn} |"), row  # the paper's number beside the run
    assert md.index("| zoo:mae-vit-b |") < md.index("| timm:vit_base_patch16_224.mae |")
    assert "k-NN on " in head and "attentive" not in head  # columns empty for every row are left out
    assert "| hf-hub:facebook/vit-mae-base |" in md and "dino" not in md  # only entries with runs (without --zoo)


def test_zoo_numbers_match_the_reference_tables():
    """The MAE paper's numbers in the registry are the ones results/reference holds for the same method and size."""
    ref = load_reference(REPO / "results" / "reference")
    ref = ref[ref["source"].str.contains("MAE paper")]
    checked = 0
    for entry in ENTRIES:
        for column, number in entry.published.items():
            if number.source not in (MAE_PAPER, MAE_LINPROBE):
                continue
            checked += 1
            hit = ref[(ref["pretrain_method"] == entry.method) & (ref["model"] == entry.model)
                      & (ref["column"] == column)]
            assert number.value in set(hit["mean"]), (entry.name, column, number.value, list(hit["mean"]))
    assert checked == 17  # MAE B (5), L (5), H (2), MoCo v3 B (4), DINO B (1): the MAE paper's numbers

def test_zoo_option_runs_every_cached_entry_and_the_zoo_table_lists_them(tmp_path, cache, synthetic_imagefolder):
    """``--zoo`` runs the task on each zoo entry whose file is cached (here the URL release and the HF ViTMAE; the
    timm and DINO copies are aliases, not entries), one record each; make_tables --zoo lists every entry."""
    runs = tmp_path / "runs"
    proc = run_tool("transfer.py", "--zoo", "--task", "knn", "--config", REPO / "configs" / "{task}" / "quick.py",
                    "--model", "vit-t", "--data-root", synthetic_imagefolder, "--cache", cache, "--runs-dir", runs,
                    "--device", "cpu", "--cfg-options", f"cache_dir={tmp_path / 'features'}", check=True,
                    cwd=tmp_path, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    assert "[1/2] knn zoo:mae-vit-b" in proc.stdout and "[2/2] knn zoo:vitmae-hf-b" in proc.stdout
    inits = sorted(json.loads(p.read_text())["init"] for p in runs.glob("*.json"))
    assert inits == ["zoo:mae-vit-b", "zoo:vitmae-hf-b"] and (tmp_path / "work_dirs" / "knn").is_dir()
    run_tool("make_tables.py", "--runs", runs, "--out", tmp_path / "tables", "--zoo", "--no-plots", "--no-report",
             check=True)
    rows = [ln for ln in (tmp_path / "tables" / "zoo.md").read_text().splitlines()
            if ln.startswith("| ") and not ln.startswith("| :--")]
    assert len(rows) == 1 + len(ENTRIES)  # header + every registry entry
    methods = [ln.split("|")[1].strip() for ln in rows[1:]]
    assert methods == sorted(methods, key=["Supervised", "MoCo v3", "DINO", "BEiT", "MAE"].index)
    assert sum("(ViT-T)" in ln for ln in rows) == 2
    empty = tmp_path / "empty"
    proc = run_tool("transfer.py", "--zoo", "--cache", empty, "--runs-dir", runs, cwd=tmp_path)
    assert proc.returncode == 2 and "no zoo entry is in the cache" in proc.stderr
