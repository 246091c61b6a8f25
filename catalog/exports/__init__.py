"""Exports for science, scoped to the requesting user: CSV, GeoJSON, Camtrap DP, SECR.

Every coordinate that leaves through an export passes through `point_for_sighting` /
catalog.privacy, so a user outside the owning organisation only ever gets coarsened points.
"""
