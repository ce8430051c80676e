"""Code Mode's sandbox host: runs agent Python inside the WebAssembly guest (``wasm_guest/``).

The only package that imports ``wasmtime``. The guest's one way out is ``tools.call``, which this
package checks and hands to the caller's ``call_tool`` (the chokepoint). It must never grant the
guest a directory, an environment variable, a socket or a host stream, never reuse a trapped
instance, and never execute a cached compiled guest whose digest does not check out.

    sandbox = Sandbox()                    # loads (or compiles and caches) the guest
    result = sandbox.run(code, call_tool, catalog)
    print(result.to_agent_text())

May import: wasmtime (only here), chokepoint (``code_mode``), ``policy.api``, config,
``appliance.errors``; ``wasm_guest.build`` only through ``guest``.
"""

from appliance.sandbox.limits import Limits, RunError, RunResult, SandboxError
from appliance.sandbox.sandbox import Sandbox, default_guest_path

__all__ = ["Limits", "RunError", "RunResult", "Sandbox", "SandboxError", "default_guest_path"]
