"""How a drill is judged and reported: results and findings (their registry), checks, the targets
tables, the RTO forecast, and the HNSW index-build knee.
"""
