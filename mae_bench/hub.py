"""Published checkpoints by name: ``--ckpt`` names turned into a local file and its provenance.

Name forms (``is_name``):

- ``zoo:<name>``: an entry of ``mae_bench.zoo`` (which names one of the forms below as its source);
- ``timm:<model>.<tag>``: timm's own pretrained-weight resolution (``timm.models.get_pretrained_cfg`` and
  timm's source rule: its Hugging Face hub id where it has one, else its URL);
- ``hf-hub:<org>/<name>[@revision]``: a Hugging Face hub repository (``model.safetensors`` preferred, else
  ``pytorch_model.bin``), the revision resolved to its commit hash;
- ``https://...``: a release file in torch.hub's cache (``<torch hub dir>/checkpoints/<file name>``).

``resolve`` never downloads: it looks in the caches only (Hugging Face's ``HF_HUB_OFFLINE=1`` behaviour, whatever
that variable says) and raises ``NotCached`` naming the name, the folder it looked in and the
``tools/fetch_ckpt.py`` command that fills it. ``fetch`` (``tools/fetch_ckpt.py``, run where there is internet)
downloads into the same caches. The caches: ``MAE_BENCH_CACHE`` (or a tool's ``--cache DIR``) puts both under one
folder (``DIR/torch/hub`` and ``DIR/huggingface/hub``); otherwise ``TORCH_HOME`` and ``HF_HUB_CACHE`` /
``HF_HOME`` are honoured as torch and huggingface_hub read them.

The file is not read here: the transfer skeleton reads it once (``checkpoints.read_checkpoint``), checking the
sha256 the publisher states (``Source.expected``) on the bytes it hashes anyway. A published md5 (the MAE README's)
costs a second pass over the bytes, so only ``tools/fetch_ckpt.py`` checks it, once, after the download.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from .errors import CheckpointError
from .zoo import ZooEntry, entry_of, lookup

PREFIXES = ("zoo:", "timm:", "hf-hub:", "https://", "http://")
HF_FILES = ("model.safetensors", "pytorch_model.bin")  # preference order (timm's and transformers' too)
CACHE_ENV = "MAE_BENCH_CACHE"


class NotCached(CheckpointError):
    """A name whose file is not in the cache of this machine (nothing is downloaded outside fetch)."""

    def __init__(self, message: str, looked: Path):
        super().__init__(message)
        self.looked = looked


def is_name(value: str | None) -> bool:
    return bool(value) and str(value).startswith(PREFIXES)


@dataclass(frozen=True)
class Caches:
    torch_hub: Path  # torch.hub.get_dir(): URL files under checkpoints/
    hf_hub: Path  # huggingface_hub's cache: models--org--name/{refs,blobs,snapshots}
    root: Path | None = None  # MAE_BENCH_CACHE / --cache, when given

    def describe(self) -> str:
        return str(self.root) if self.root else f"{self.torch_hub} and {self.hf_hub}"


def caches(cache: str | Path | None = None) -> Caches:
    """The cache folders, read from the environment at call time (so a tool's ``--cache`` and a forked process's
    environment count): ``cache`` / ``MAE_BENCH_CACHE`` first, else ``TORCH_HOME`` and ``HF_HUB_CACHE`` /
    ``HF_HOME`` / ``XDG_CACHE_HOME`` as torch and huggingface_hub resolve them."""
    root = cache or os.environ.get(CACHE_ENV)
    if root:
        root = Path(root).expanduser()
        return Caches(root / "torch" / "hub", root / "huggingface" / "hub", root)
    import torch.hub

    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    hf = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
    return Caches(Path(torch.hub.get_dir()), Path(hf).expanduser())


@dataclass
class Source:
    """A name resolved to a local file: where it came from and what the publisher says about it."""
    name: str  # as given: zoo:mae-vit-b, timm:..., hf-hub:..., https://..., or a file path
    path: str  # the local file
    kind: str  # file | url | hf-hub
    url: str | None = None
    hub_id: str | None = None
    revision: str | None = None  # the commit hash of an hf-hub file
    via: str | None = None  # the name this resolved through (zoo entry source, timm's hub id or URL)
    expected: dict = field(default_factory=dict)  # published sha256 (prefix), checked on every read: {"sha256": ..}
    md5: str | None = None  # published md5 prefix, checked by fetch
    entry: ZooEntry | None = None
    hf_config: dict = field(default_factory=dict)  # what config.json says that matters here (LayerNorm eps)

    def provenance(self, sha256: str) -> dict:
        """The record's ``ckpt_source``: how the name was resolved, the file's sha256 and the zoo entry's facts."""
        out = dict(name=self.name, kind=self.kind, url=self.url, hub_id=self.hub_id, revision=self.revision,
                   via=self.via, sha256=sha256)
        if self.entry is not None:
            e = self.entry
            out.update(zoo=e.name, method=e.method, epochs=e.epochs, model=e.model, data=e.data, licence=e.licence)
        if self.hf_config:
            out["hf_config"] = dict(self.hf_config)
        return {k: v for k, v in out.items() if v is not None}


def file_source(path: str) -> Source:
    return Source(str(path), str(path), "file")


# ---------------------------------------------------------------- resolution (offline) and fetching


def resolve(name: str, cache: str | Path | None = None) -> Source:
    """A name -> its cached file, without any network access; ``NotCached`` when it is not there."""
    return _route(name, caches(cache), download=False)


def fetch(name: str, cache: str | Path | None = None) -> Source:
    """A name -> its file, downloaded into the cache when missing (the one place that downloads)."""
    return _route(name, caches(cache), download=True)


def _route(name: str, where: Caches, download: bool, entry: ZooEntry | None = None) -> Source:
    entry = entry or entry_of(name)
    if name.startswith("zoo:"):
        try:
            src = _route(lookup(name).source, where, download, entry)
        except NotCached as e:  # named by the name given
            raise not_cached(name, e.looked, where) from None
        src.via, src.name = src.name, name
        return src
    if name.startswith("timm:"):
        return _timm(name, where, download, entry)
    if name.startswith("hf-hub:"):
        return _hf(name, name.removeprefix("hf-hub:"), where, download, entry)
    if name.startswith(("https://", "http://")):
        return _url(name, name, where, download, entry)
    raise CheckpointError(f"--ckpt {name}: not a checkpoint name (use zoo:, timm:, hf-hub: or https://)")


def not_cached(name: str, looked: Path, where: Caches) -> NotCached:
    cache = f" --cache {where.root}" if where.root else ""
    return NotCached(f"--ckpt {name} is not in the cache (looked in {looked}); this machine reads the cache only, "
                     f"it never downloads: fill it where there is internet with  tools/fetch_ckpt.py {name}{cache}  "
                     f"(and point this run at the same folder: --cache DIR or {CACHE_ENV})", looked)


def _hash_in_name(filename: str) -> dict:
    """torch.hub's convention: ``name-<sha256 prefix>.ext`` states the first digits of the file's sha256."""
    from torch.hub import HASH_REGEX

    m = HASH_REGEX.search(filename)
    return {"sha256": m.group(1)} if m and len(m.group(1)) >= 8 else {}


def _url(name: str, url: str, where: Caches, download: bool, entry: ZooEntry | None) -> Source:
    filename = os.path.basename(urlparse(url).path)
    path = where.torch_hub / "checkpoints" / filename
    expected = _hash_in_name(filename)
    ours = entry is not None and entry.source == url
    if ours and entry.sha256:
        expected["sha256"] = entry.sha256
    if not path.is_file():
        if not download:
            raise not_cached(name, path.parent, where)
        from torch.hub import download_url_to_file

        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # written to a temporary file first; a hash that does not match leaves nothing in the cache
            download_url_to_file(url, str(path), expected.get("sha256"), progress=True)
        except RuntimeError as e:
            raise CheckpointError(f"--ckpt {name}: refused the download from {url}: {e}") from None
    return Source(name, str(path), "url", url=url, expected=expected, md5=entry.md5 if ours else None, entry=entry)


def _hf(name: str, hub: str, where: Caches, download: bool, entry: ZooEntry | None,
        files: tuple[str, ...] = HF_FILES) -> Source:
    from huggingface_hub import try_to_load_from_cache

    repo, _, revision = hub.partition("@")
    revision = revision or "main"
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise CheckpointError(f"--ckpt {name}: expected hf-hub:<org>/<name>[@revision]")
    if download:
        _hf_download(name, repo, revision, where, files)
    for filename in files:
        found = try_to_load_from_cache(repo, filename, cache_dir=str(where.hf_hub), revision=revision)
        if isinstance(found, str):
            path = Path(found)
            config = path.parent / "config.json"
            return Source(name, str(path), "hf-hub", hub_id=repo, revision=path.parent.name, entry=entry,
                          hf_config=_hf_config(config))
    raise not_cached(name, where.hf_hub / f"models--{repo.replace('/', '--')}", where)


def _hf_download(name: str, repo: str, revision: str, where: Caches, files: tuple[str, ...]) -> None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import RemoteEntryNotFoundError  # the repository has no such file (not: offline)

    for filename in files:
        try:
            hf_hub_download(repo, filename, revision=revision, cache_dir=str(where.hf_hub))
            break
        except RemoteEntryNotFoundError:
            continue
    else:
        raise CheckpointError(f"--ckpt {name}: {repo}@{revision} has none of {', '.join(files)}")
    try:
        hf_hub_download(repo, "config.json", revision=revision, cache_dir=str(where.hf_hub))
    except RemoteEntryNotFoundError:
        pass


def _hf_config(path: Path) -> dict:
    """The facts of an HF ``config.json`` a record should keep: the model type and LayerNorm eps (HF ViT: 1e-12)."""
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {k: config[k] for k in ("model_type", "layer_norm_eps", "norm_pix_loss") if k in config}


def _timm(name: str, where: Caches, download: bool, entry: ZooEntry | None) -> Source:
    """timm's resolution: the pretrained cfg of ``<model>.<tag>``, then its source rule (hub id first)."""
    from timm.models import get_pretrained_cfg
    from timm.models._builder import _resolve_pretrained_source

    tag = name.removeprefix("timm:")
    try:
        cfg = get_pretrained_cfg(tag, allow_unregistered=True) if "." in tag else None
    except RuntimeError:  # a known architecture with another tag
        cfg = None
    if cfg is None:
        raise CheckpointError(f"--ckpt {name}: timm has no pretrained weights called {tag!r} (a <model>.<tag> "
                              f"name from timm.list_pretrained())")
    load_from, loc = _resolve_pretrained_source(cfg.to_dict())
    if load_from == "hf-hub":
        hub, files = (loc if isinstance(loc, tuple) else (loc, None))
        src = _hf(name, hub, where, download, entry, (files,) if files else HF_FILES)
        src.via = f"hf-hub:{hub}"
        return src
    if load_from == "url":
        src = _url(name, loc, where, download, entry)
        src.via = loc
        return src
    raise CheckpointError(f"--ckpt {name}: timm gives no downloadable source for {tag} ({load_from or 'none'})")


def cached_zoo(cache: str | Path | None = None) -> list[tuple[ZooEntry, Source]]:
    """The zoo entries whose file is in the cache (resolved offline), in registry order."""
    from .zoo import ENTRIES

    out = []
    for entry in ENTRIES:
        try:
            out.append((entry, resolve(f"zoo:{entry.name}", cache)))
        except NotCached:
            continue
    return out
