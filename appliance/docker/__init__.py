"""Docker Agent Mode: an external agent (Claude Code first) in a container with no network.

The container's only ways out are two Unix sockets mounted into it: the chokepoint's MCP endpoint
(`gate_socket`) and the credential proxy (`appliance.credproxy`). Images are built here from a
local root filesystem, never pulled. This package must never give the container a network, a
real API key, a writable root filesystem or any capability, and must never leave a container,
socket or temporary folder behind a session (a crashed one is cleaned at the next start).
"""
