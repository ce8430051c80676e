"""``ironcurtain confine --profile FILE -- COMMAND ARGS…``: run a declared MCP server confined.

The appliance starts a declared server that has a ``confinement`` profile through this command:
it applies the profile to its own process (Landlock, seccomp, namespaces, rlimits — the same
steps as ``ironcurtain serve``, docs/confinement.md), then executes COMMAND in place, so the
server inherits all of it. The profile must let the server execute its own program (an
interpreter such as ``node`` included). A profile that cannot be applied stops the start
(exit 3) unless the mode is best-effort.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="declared", help="the server's name, for messages")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--profile", help="the confinement profile, a JSON file")
    where.add_argument("--profile-json", help="the confinement profile, inline JSON")
    parser.add_argument("--confinement", choices=("enforce", "best-effort"), default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS…")


def run(args: argparse.Namespace) -> int:
    from appliance.cli.serve import MODE_VARIABLE, apply_confinement, confinement_mode
    from appliance.confinement import ProfileError
    from appliance.confinement.profile import load_profile, profile_from_data

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        print("ironcurtain confine: give the server's command after --", file=sys.stderr)
        return 2
    mode = confinement_mode(args.confinement)
    if mode is None:
        value = os.environ.get(MODE_VARIABLE)
        print(f"ironcurtain confine: {MODE_VARIABLE}={value!r}: use enforce or best-effort",
              file=sys.stderr)  # fmt: skip
        return 2
    program = shutil.which(command[0])
    if program is None:
        print(f"ironcurtain confine: {args.name}: {command[0]!r} not found", file=sys.stderr)
        return 127
    try:
        if args.profile:
            profile = load_profile(args.name, args.profile)
        else:
            profile = profile_from_data(json.loads(args.profile_json), "--profile-json")
    except (ProfileError, ValueError) as exc:
        print(f"ironcurtain confine {args.name}: not started: {exc}", file=sys.stderr)
        return 3
    failed = apply_confinement(f"confine {args.name}", args.name, command[1:], mode, profile)
    if failed is not None:
        return failed
    os.execv(program, command)  # noqa: S606 - the declared server's own command, confined
    return 127  # not reached
