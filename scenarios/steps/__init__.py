"""The shared steps of a drill: its context and workload, the fault hooks, archiving, and the one
physical-recovery pipeline every scenario that puts a base backup back runs through.
"""
