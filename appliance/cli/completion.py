"""``ironcurtain completion bash|zsh|fish``: print a shell completion script.

The script is generated from ``appliance.cli.main.COMMANDS`` and each command's own argparse set-up,
so a new command or option completes without anyone editing a script. Install with e.g.
``ironcurtain completion bash > ~/.local/share/bash-completion/completions/ironcurtain``.

Values complete too. What a value is comes from the argparse set-up: ``choices`` are offered as
words; an action's ``completion_kind`` attribute (``session``, ``folder``, ``file``) says what
else it takes, and without one the name decides (``--resume``, ``SESSION`` → session ids, asked of
``ironcurtain sessions --ids`` when completing; ``--sandbox``, ``*_dir``, ``DIR`` → folders;
``FILE``, a ``Path`` → files).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import shlex
from dataclasses import dataclass, field
from pathlib import Path

SHELLS = ("bash", "zsh", "fish")


@dataclass
class Node:
    """One level of the command line: what may follow ``path``."""

    options: dict[str, str] = field(default_factory=dict)  # flag -> help
    children: dict[str, tuple[str, Node]] = field(default_factory=dict)  # word -> (help, node)
    values: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # flag -> kind
    positional: str = ""  # what a free positional here takes: session, folder, file or ""


SESSION_IDS = "ironcurtain sessions --ids 2>/dev/null"


def value_kind(action: argparse.Action) -> tuple[str, tuple[str, ...]]:
    """(kind, words) for what ``action`` takes: words, session, folder, file, or "" (nothing)."""
    if action.nargs == 0:
        return "", ()
    if action.choices:
        return "words", tuple(str(c) for c in action.choices)
    explicit = getattr(action, "completion_kind", None)
    if explicit:
        return explicit, ()
    names = {action.dest.lower(), str(action.metavar or "").lower()}
    names |= {f.lstrip("-").lower() for f in action.option_strings}
    if names & {"resume", "session", "session|file", "id"}:
        return "session", ()
    if any(n == "sandbox" or n.endswith("_dir") or n in ("dir", "folder") for n in names):
        return "folder", ()
    if action.type is Path or names & {"file", "audit.jsonl"}:
        return "file", ()
    return "", ()


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="which shell to print a script for")


def run(args: argparse.Namespace) -> int:
    print(script_for(args.shell, command_tree()), end="")
    return 0


def command_tree() -> Node:
    """The whole CLI as a tree, built by configuring every available command's parser."""
    from appliance.cli import main as cli

    root = argparse.ArgumentParser(prog="ironcurtain")
    root.add_argument("--version", action="version", help="print the version")
    sub = root.add_subparsers()
    for name, (module_name, help_text) in cli.COMMANDS.items():
        if importlib.util.find_spec(module_name) is None:
            continue
        parser = sub.add_parser(name, help=help_text)
        try:
            importlib.import_module(module_name).configure(parser)
        except Exception:  # noqa: S112 - a broken command still completes by name
            continue
    return _node(root)


def _node(parser: argparse.ArgumentParser) -> Node:
    node = Node()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for word, child in action.choices.items():
                node.children[word] = (helps.get(word, ""), _node(child))
        elif action.option_strings:
            kind = value_kind(action)
            for flag in action.option_strings:
                node.options[flag] = action.help or ""
                if kind[0]:
                    node.values[flag] = kind
        elif not action.choices and not getattr(action, "completion_words", None):
            kind = value_kind(action)[0]
            node.positional = node.positional or (kind if kind != "words" else "")
        elif action.choices or getattr(action, "completion_words", None):
            # A command may offer words for a free positional (config get FIELD) this way.
            for choice in action.choices or action.completion_words:
                node.children.setdefault(str(choice), ("", Node()))
    return node


def _walk(node: Node, path: str = "") -> list[tuple[str, Node]]:
    out = [(path, node)]
    for word, (_, child) in node.children.items():
        out.extend(_walk(child, f"{path}/{word}"))
    return out


def script_for(shell: str, tree: Node) -> str:
    return {"bash": _bash, "zsh": _zsh, "fish": _fish}[shell](_walk(tree))


def _descent(levels: list[tuple[str, Node]]) -> str:
    known = " | ".join(f'"{path}"' for path, _ in levels if path) or '"/"'
    return known


_BASH_VALUE = {
    "session": f'COMPREPLY=($(compgen -W "$({SESSION_IDS})" -- "$cur"))',
    "folder": 'COMPREPLY=($(compgen -d -- "$cur"))',
    "file": 'COMPREPLY=($(compgen -f -- "$cur"))',
}


def _bash_values(levels: list[tuple[str, Node]]) -> str:
    cases = []
    for path, node in levels:
        for flag, (kind, words) in node.values.items():
            action = _BASH_VALUE.get(kind) or (
                f'COMPREPLY=($(compgen -W {shlex.quote(" ".join(words))} -- "$cur"))'
            )
            cases.append(f'        "{path} {flag}") {action}; return ;;')
    return "\n".join(cases)


def _bash(levels: list[tuple[str, Node]]) -> str:
    cases = "\n".join(
        f'        "{path}") words={shlex.quote(" ".join([*node.options, *node.children]))}'
        + (f' words="$words $({SESSION_IDS})"' if node.positional == "session" else "")
        + (f" extra={node.positional}" if node.positional in ("file", "folder") else "")
        + " ;;"
        for path, node in levels
    )
    return f"""# bash completion for ironcurtain (generated by `ironcurtain completion bash`)
_ironcurtain() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" path="" word words="" extra="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        case "$path/$word" in
            {_descent(levels)}) path="$path/$word" ;;
        esac
    done
    case "$path ${{COMP_WORDS[COMP_CWORD-1]}}" in
{_bash_values(levels)}
    esac
    case "$path" in
{cases}
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
    [[ $extra == file ]] && COMPREPLY+=($(compgen -f -- "$cur"))
    [[ $extra == folder ]] && COMPREPLY+=($(compgen -d -- "$cur"))
}}
complete -o default -F _ironcurtain ironcurtain
"""


def _zsh_entry(word: str, text: str) -> str:
    text = " ".join(text.split()).replace("\\", "\\\\").replace(":", "\\:")
    return shlex.quote(f"{word}:{text}" if text else word)


_ZSH_VALUE = {
    "session": f'compadd -- ${{(f)"$({SESSION_IDS})"}}',
    "folder": "_files -/",
    "file": "_files",
}


def _zsh(levels: list[tuple[str, Node]]) -> str:
    values = []
    for path, node in levels:
        for flag, (kind, words) in node.values.items():
            action = _ZSH_VALUE.get(kind) or f"compadd -- {' '.join(map(shlex.quote, words))}"
            values.append(f'        "{path} {flag}") {action}; return ;;')
    value_cases = "\n".join(values)
    cases = []
    for path, node in levels:
        entries = [_zsh_entry(w, h) for w, (h, _) in node.children.items()]
        entries += [_zsh_entry(f, h) for f, h in node.options.items()]
        cases.append(f'        "{path}") entries=({" ".join(entries)}) ;;')
    body = "\n".join(cases)
    return f"""#compdef ironcurtain
# zsh completion for ironcurtain (generated by `ironcurtain completion zsh`)
_ironcurtain() {{
    local ic_path="" word i
    local -a entries
    for ((i = 2; i < CURRENT; i++)); do
        word="${{words[i]}}"
        case "$ic_path/$word" in
            {_descent(levels)}) ic_path="$ic_path/$word" ;;
        esac
    done
    case "$ic_path ${{words[CURRENT-1]}}" in
{value_cases}
    esac
    case "$ic_path" in
{body}
    esac
    _describe -t ironcurtain 'ironcurtain' entries
}}
compdef _ironcurtain ironcurtain
"""


def _fish_quote(text: str) -> str:
    return "'" + " ".join(text.split()).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_value(kind: str, words: tuple[str, ...]) -> str:
    if kind == "session":
        return f" -x -a '({SESSION_IDS})'"
    if kind == "folder":
        return " -x -a '(__fish_complete_directories)'"
    if kind == "file":
        return " -r -F"
    return f" -x -a {_fish_quote(' '.join(words))}" if kind == "words" else ""


def _fish(levels: list[tuple[str, Node]]) -> str:
    # Paths start with "top" so that the root level is never an empty string in a `test`.
    lines = [
        "# fish completion for ironcurtain (generated by `ironcurtain completion fish`)",
        "function __ironcurtain_path",
        "    set -l path top",
        "    for word in (commandline -opc)[2..-1]",
        '        switch "$path/$word"',
        f"            case {' '.join(_fish_quote('top' + p) for p, _ in levels if p)}",
        '                set path "$path/$word"',
        "        end",
        "    end",
        "    echo $path",
        "end",
        "complete -c ironcurtain -f",
    ]
    for path, node in levels:
        condition = f"-n 'test (__ironcurtain_path) = top{path}'"
        for word, (text, _) in node.children.items():
            lines.append(f"complete -c ironcurtain {condition} -a {word} -d {_fish_quote(text)}")
        for flag, text in node.options.items():
            spec = f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}"
            spec += _fish_value(*node.values.get(flag, ("", ())))
            lines.append(f"complete -c ironcurtain {condition} {spec} -d {_fish_quote(text)}")
        if node.positional == "session":
            lines.append(f"complete -c ironcurtain {condition} -a '({SESSION_IDS})'")
    return "\n".join(lines) + "\n"
