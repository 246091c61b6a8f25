"""The identification engine: pure image and ranking code (no Django models or views).

The Django side (models, services, tasks, views) lives one level up, in ``matching``.
"""
