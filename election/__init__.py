"""Coordinator election: the bully algorithm with epochs.

bully.py is the pure state machine, messages.py its messages, simulator.py a
deterministic fake network to drive it, runner.py the thin I/O around it.
"""
