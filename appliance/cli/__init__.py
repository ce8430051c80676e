"""The command line: ``main`` parses and dispatches; one module per command.

Each command module has ``configure(parser)`` (its arguments) and ``run(args)`` (the work), and
stays thin: it reads configuration, calls the package that owns the work, and prints. Commands may
import any appliance package; nothing outside this package imports a command module.

Processes only through named runners (``appliance.host.runner``); litellm only in
``doctor.config`` (``--online``).
"""
