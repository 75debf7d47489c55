"""Distillation of the demo `faceptor-tiny` model from teacher labels on the project's test photos.

- `distill.data`: the teacher-labels file (`faceptor.teacher-labels/v1`) and the photos it names.
- `distill.crops`: the serving pipeline's landmark and face crops, reproduced in PyTorch.
- `distill.augment`: geometric and photometric augmentations of those crops.
- `distill.objectives`: the distillation losses of the four trained heads.
- `distill.trainer`: the training loop, the quick held-out check and the export.

Entry point: `training/distill/train_demo.py`.
"""
