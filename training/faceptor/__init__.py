"""Faceptor (single encoder, dual decoder) in PyTorch with the official checkpoint's module names.

Entry points: `config.get_config`, `model.build_model`, `checkpoint.load_official_checkpoint`,
`export.export_model`.
"""
