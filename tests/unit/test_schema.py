from policy.schema import check_arguments

SCHEMA = {
    "type": "object",
    "properties": {
        "path": {"type": "string"},
        "head": {"type": "integer", "minimum": 0},
        "paths": {"type": "array", "items": {"type": "string"}},
        "mode": {"type": "string", "enum": ["a", "b"]},
    },
    "required": ["path"],
}


def test_accepts_a_fitting_call():
    assert check_arguments({"path": "x", "head": 3, "paths": ["a"], "mode": "a"}, SCHEMA) is None


def test_names_the_problem():
    assert "missing required argument 'path'" in check_arguments({}, SCHEMA)
    assert "unknown argument 'extra'" in check_arguments({"path": "x", "extra": 1}, SCHEMA)
    assert "arguments.head: expected integer, got boolean" in check_arguments(
        {"path": "x", "head": True}, SCHEMA
    )
    assert "arguments.paths[1]" in check_arguments({"path": "x", "paths": ["a", 2]}, SCHEMA)
    assert "is not one of" in check_arguments({"path": "x", "mode": "c"}, SCHEMA)
    assert "below the minimum" in check_arguments({"path": "x", "head": -1}, SCHEMA)


def test_non_object_arguments_are_refused():
    assert check_arguments(["path"], SCHEMA) == "arguments must be an object, got array"


def test_unknown_type_never_validates():
    assert check_arguments({"x": 1}, {"type": "object", "properties": {"x": {"type": "weird"}}})
