"""Kernel confinement of the MCP servers: a bug in a server is not a hole in the host.

``confine(server, args)`` applies the profile declared next to the server
(``servers/NAME/confinement.json``) to the calling process before any server code runs:
Landlock (which folders it may read, write, execute; which TCP ports it may connect to; no
signals or abstract sockets outside itself), a seccomp filter, namespaces, rlimits, dropped
capabilities and ``no_new_privs``. Every child inherits it. It must never grant a folder that
reaches the appliance's home or the user's credentials (``protected``), never weaken silently
(a missing mechanism stops the start unless the mode is ``best-effort``), and it is the only
package that makes these system calls (plain ctypes: ``landlock``, ``seccomp``, ``process``).

May import: the standard library and ``appliance.errors``; starts no process.
"""

from appliance.confinement.apply import MODES, ConfinementUnavailable, Report, confine, plan_for
from appliance.confinement.kernel import Features, probe
from appliance.confinement.profile import Plan, Profile, ProfileError, load_profile
from appliance.confinement.protected import ConfinementRefused, protected_folders

__all__ = [
    "MODES",
    "ConfinementRefused",
    "ConfinementUnavailable",
    "Features",
    "Plan",
    "Profile",
    "ProfileError",
    "Report",
    "confine",
    "load_profile",
    "plan_for",
    "probe",
    "protected_folders",
]
