#!/usr/bin/env bash
# Sabotaged restore script: waits forever (a prompt, a lock, a dead mount).
sleep 3600
