"""Bulk imports: a zip of a camera-trap folder, or a Camtrap DP package.

Every run reports each file as imported, duplicate (same pixels already in the organisation,
by sha256), skipped (with why: a remote URL, not an image, no animal in the event) or refused
(with the validation message). Each sighting is imported in its own transaction, so a failure
part-way leaves no half-imported sighting, and a re-run skips what is already in.
"""
