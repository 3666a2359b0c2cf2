"""The platform adapters: one module per platform, the interface in `base.py`, the registry of
which platform name the app stores maps to which adapter in `registry.py`.

This package module imports nothing, so that importing `services.platforms.base` (configuration
does) does not load every adapter: a run with nothing due never needs them.
"""
