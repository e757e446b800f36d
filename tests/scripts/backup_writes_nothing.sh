#!/usr/bin/env bash
# Sabotaged backup script: reports success and writes nothing.
exit 0
