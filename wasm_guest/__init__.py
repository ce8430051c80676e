"""The Code Mode guest: Python that runs inside the WebAssembly sandbox, and its build.

``wit/world.wit`` is the whole interface (one import ``tools.call``, one export ``run``);
``guest/`` holds the modules compiled into the component; ``build.py`` builds it with the pinned
componentize-py. The host imports nothing here at run time except ``build`` (to build a source
checkout's stale guest), and only through ``appliance.sandbox.guest``: host and guest meet only
at the WIT interface, and ``guest/`` never runs outside the sandbox.
"""
