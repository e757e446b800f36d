#!/usr/bin/env bash
# Sabotaged backup script: never finishes.
sleep 600
