"""What proves a recovery: the server's own account of replay, the timeline path, the verification
checklist and catalog, checksums, and what the markers say was lost.
"""
