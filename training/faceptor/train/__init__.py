"""Faceptor training: losses, augmentations, optimizer and schedule, the multi-task trainer,
checkpoints in the official layout, DDP helpers and the stage-2 AddLevel fine-tuning option.

Entry point: `training/train.py`. The pieces a script composes itself:

- `faceptor.train.losses`: `build_losses_module`, `task_loss_weights`, the per-task loss functions.
- `faceptor.train.optim`: `build_optimizer`, `WarmupCosineSchedule`.
- `faceptor.train.multitask`: `FaceptorTrainingModel` (encoder + heads + losses, official key names).
- `faceptor.train.trainer`: `Trainer` (one optimizer step per `train_step`, the `run` loop).
- `faceptor.train.builder`: `build_training` (everything above from a `TrainConfig`).
- `faceptor.train.evaluate`: test-split metrics (`evaluate_task`, `evaluate_verification`) and its CLI.
"""
