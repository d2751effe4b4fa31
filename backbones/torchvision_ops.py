"""mmcv's RoIAlign and NMS kernels through torchvision, for CUDA tensors when mmcv's ops were built without CUDA.

Loaded by the COCO and ADE20K configs through ``custom_imports`` (importing it installs the route once).
mmcv 2.1.0 builds its C++ ops for the CPU unless ``nvcc`` is present, and its Python ops then fail on CUDA
tensors ("not compiled with GPU support", mmcv #3096 / #3319, mmdet #11763). torchvision ships both kernels
for CPU and CUDA inside its wheel, so this module swaps only the *kernels*: it replaces the ``ext_module``
(the compiled ``mmcv._ext``) seen by ``mmcv.ops.roi_align`` and ``mmcv.ops.nms`` with a proxy whose
``roi_align_forward`` / ``roi_align_backward`` / ``nms`` call torchvision and whose other attributes are the
real extension. mmcv's Python logic (``RoIAlign``, ``batched_nms``' coordinate offsets, score filtering,
``max_num``) is kept, and no installed file is edited.

The ops our models reach were found by running them with ``MAE_BENCH_MMCV_OPS_LOG=FILE`` (one line per
extension call): Mask R-CNN (``configs/coco/quick.py``, train + test) calls ``nms`` and ``roi_align_forward``
/ ``roi_align_backward`` (``batched_nms`` ends in ``nms``); UperNet (``configs/ade20k/quick.py``) calls none.
``tests/test_gpu_path.py`` re-checks that list on every run.

Route (decided once, at import): ``MAE_BENCH_TORCHVISION_OPS=1`` forces torchvision on every device (how it is
tested on the CPU), ``=0`` never uses it; unset, torchvision takes the CUDA tensors exactly when the compiled
extension reports no CUDA (``mmcv.ops.get_compiling_cuda_version() == "not available"``), and mmcv keeps the
CPU tensors. Where mmcv was built with CUDA its kernels run.

mmcv 2.1.0's RoIAlign kernels index ``input.data_ptr()`` as if the map were contiguous, and never call
``.contiguous()`` (csrc/pytorch/cpu/roi_align.cpp; the Python op does not either). Our SimpleFPN's maps are
channels-last strided (the ViT tokens are permuted to NCHW and the convs keep that memory format), so mmcv's own
kernel pooled scrambled features; the proxy hands mmcv's kernel a contiguous map on every route.

Semantics match mmcv 2.1.0 (mmcv/ops/roi_align.py, mmcv/ops/nms.py, csrc/pytorch/cpu/nms.cpp, tag v2.1.0): RoIAlign
``aligned`` maps to torchvision's ``aligned`` (the half-pixel shift, as mmcv's own ``use_torchvision`` route does);
NMS visits boxes in mmcv's score order, ties included; ``offset=1`` (legacy +1 box sizes) is the same IoU as
offset 0 on boxes with ``x2 + 1, y2 + 1``. On the CPU both routes give bit-identical results (tests/test_gpu_path.py).
Max-pool RoIAlign has no torchvision kernel and raises.
"""
from __future__ import annotations

import os
import sys
import threading

import torch
import torchvision

ENV = "MAE_BENCH_TORCHVISION_OPS"
LOG_ENV = "MAE_BENCH_MMCV_OPS_LOG"
ROUTED = ("roi_align_forward", "roi_align_backward", "nms")  # every extension call our models make
_PATCHED = ("mmcv.ops.roi_align", "mmcv.ops.nms")
_lock = threading.Lock()


def mmcv_ops_have_cuda() -> bool:
    """Whether mmcv's compiled extension has CUDA kernels (asks the extension, not the machine)."""
    from mmcv.ops import get_compiling_cuda_version
    return get_compiling_cuda_version() not in ("not available", "")


def decide_route() -> str:
    """``all`` (torchvision for every tensor), ``cuda`` (for CUDA tensors only) or ``off``."""
    forced = os.environ.get(ENV, "").strip()
    if forced not in ("", "0", "1"):
        raise ValueError(f"{ENV}={forced!r}: use 1 (torchvision ops everywhere) or 0 (mmcv's own ops)")
    if forced:
        return "all" if forced == "1" else "off"
    return "off" if mmcv_ops_have_cuda() else "cuda"


class TorchvisionExt:
    """Stands in for ``mmcv._ext``: RoIAlign and NMS from torchvision where the route says so, else mmcv's."""

    def __init__(self, ext, route: str, log_path: str | None = None):
        self._ext, self.route, self.log_path = ext, route, log_path

    def __getattr__(self, name: str):
        fn = getattr(self._ext, name)
        if not self.log_path or not callable(fn):
            return fn

        def logged(*args, **kwargs):
            self._log(name)
            return fn(*args, **kwargs)
        return logged

    def _log(self, name: str) -> None:
        if self.log_path:
            with _lock, open(self.log_path, "a") as f:
                f.write(name + "\n")

    def _use_tv(self, t: torch.Tensor) -> bool:
        return self.route == "all" or (self.route == "cuda" and t.is_cuda)

    def nms(self, bboxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, offset: int = 0) -> torch.Tensor:
        self._log("nms")
        if not self._use_tv(bboxes):
            return self._ext.nms(bboxes, scores, iou_threshold=iou_threshold, offset=offset)
        if bboxes.dtype != scores.dtype:  # torchvision wants one dtype (AMP: fp16 scores, fp32 boxes)
            bboxes, scores = bboxes.float(), scores.float()
        if offset:
            bboxes = torch.cat([bboxes[:, :2], bboxes[:, 2:] + offset], dim=1)
        # mmcv visits boxes in the order of its (unstable) score sort; torchvision's sort is stable, so presorting
        # the same way keeps equal scores (frequent in an untrained RPN) in mmcv's order
        order = scores.sort(0, descending=True)[1]
        thr = float(torch.tensor(iou_threshold, dtype=torch.float32))  # mmcv compares IoU with a C float
        return order[torchvision.ops.nms(bboxes[order], scores[order], thr)]

    def roi_align_forward(self, input, rois, output, argmax_y, argmax_x, aligned_height: int, aligned_width: int,
                          spatial_scale: float, sampling_ratio: int, pool_mode: int, aligned: bool) -> None:
        self._log("roi_align_forward")
        if not self._use_tv(input):  # mmcv's kernel reads data_ptr() as if contiguous: give it a contiguous map
            return self._ext.roi_align_forward(
                input.contiguous(), rois.contiguous(), output, argmax_y, argmax_x, aligned_height=aligned_height,
                aligned_width=aligned_width,
                spatial_scale=spatial_scale, sampling_ratio=sampling_ratio, pool_mode=pool_mode, aligned=aligned)
        _avg_only(pool_mode)
        input, rois = _same_dtype(input, rois)
        out = torchvision.ops.roi_align(input, rois, (aligned_height, aligned_width), spatial_scale, sampling_ratio,
                                        aligned)
        output.copy_(out)

    def roi_align_backward(self, grad_output, rois, argmax_y, argmax_x, grad_input, aligned_height: int,
                           aligned_width: int, spatial_scale: float, sampling_ratio: int, pool_mode: int,
                           aligned: bool) -> None:
        self._log("roi_align_backward")
        if not self._use_tv(grad_output):
            return self._ext.roi_align_backward(
                grad_output, rois, argmax_y, argmax_x, grad_input, aligned_height=aligned_height,
                aligned_width=aligned_width, spatial_scale=spatial_scale, sampling_ratio=sampling_ratio,
                pool_mode=pool_mode, aligned=aligned)
        _avg_only(pool_mode)
        n, c, h, w = grad_input.shape
        grad_output, rois = _same_dtype(grad_output, rois)
        grad = torch.ops.torchvision._roi_align_backward(
            grad_output, rois, spatial_scale, aligned_height, aligned_width, n, c, h, w, sampling_ratio, aligned)
        grad_input.copy_(grad)


def _same_dtype(x: torch.Tensor, rois: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torchvision needs features and boxes in one dtype; fp32 for both when they differ (fp16 boxes would lose
    up to a pixel at 1024 px)."""
    return (x, rois) if x.dtype == rois.dtype else (x.float(), rois.float())


def _avg_only(pool_mode: int) -> None:
    if pool_mode != 1:  # mmcv: 0 = max, 1 = avg
        raise NotImplementedError("RoIAlign pool_mode='max' has no torchvision kernel; build mmcv with CUDA "
                                  f"(FORCE_CUDA=1 with nvcc) or set {ENV}=0 on the CPU")


def install(route: str | None = None) -> str:
    """Put the proxy in front of ``mmcv._ext`` in the mmcv.ops modules (idempotent); returns the route."""
    import mmcv.ops  # noqa: F401  (loads every mmcv.ops submodule and the compiled extension)
    route = route or decide_route()
    log_path = os.environ.get(LOG_ENV) or None
    if log_path:
        open(log_path, "a").close()  # present (maybe empty) once the module is loaded
    names = [n for n, m in list(sys.modules.items()) if n.startswith("mmcv.ops.") and hasattr(m, "ext_module")]
    for name in names:
        mod = sys.modules[name]
        ext = mod.ext_module._ext if isinstance(mod.ext_module, TorchvisionExt) else mod.ext_module
        if name in _PATCHED:  # also with route "off": mmcv's RoIAlign then gets contiguous inputs
            mod.ext_module = TorchvisionExt(ext, route, log_path)
        elif log_path:  # recording only: which other extension calls do the models make?
            mod.ext_module = TorchvisionExt(ext, "off", log_path)
        else:
            mod.ext_module = ext
    return route


ROUTE = install()
