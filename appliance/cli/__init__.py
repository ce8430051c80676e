"""The command line: ``main`` parses and dispatches; one module per command.

Each command module has ``configure(parser)`` (its arguments) and ``run(args)`` (the work), and
stays thin: it reads configuration, calls the package that owns the work, and prints. Commands may
import any appliance package; nothing outside this package imports a command module.

Processes only through named runners (``appliance.host.runner``); litellm only in
``doctor.config`` (``--online``).
"""

import os

# Before any pydantic model exists: the trusted process loads no pydantic plugins. A plugin is
# code from whatever distribution is installed beside us, run inside the chokepoint's process on
# every model; and finding them scans every installed package's entry points (~7 ms of each
# start). Forced, not defaulted. Servers do not inherit it (they get a fixed environment).
os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
