"""What a backup is and how it is read: layouts recognised by content, compression, base backups,
WAL and LSN arithmetic, dumps as psql scripts, members unpacked safely, a team's script set.
"""
