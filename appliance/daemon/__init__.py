"""The IronCurtain daemon: answers the escalations of every registered session from afar.

``hub`` holds what is pending and writes answers through the same file IPC the
``escalation-listener`` uses, so a session needs no daemon and nothing in a session changes when
one runs. ``console`` is the loopback web console; ``service`` writes the systemd user unit.
"""
