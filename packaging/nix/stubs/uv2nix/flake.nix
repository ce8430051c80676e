{
  # Stand-in for uv2nix: loadWorkspace reads the real pyproject.toml and uv.lock (so a missing
  # or unparsable lock fails the check) and offers the overlay and dependency sets flake.nix uses.
  description = "stub uv2nix for the offline flake check";
  outputs =
    { self }:
    {
      lib.workspace.loadWorkspace =
        { workspaceRoot }:
        let
          project = builtins.fromTOML (builtins.readFile (workspaceRoot + "/pyproject.toml"));
          lock = builtins.fromTOML (builtins.readFile (workspaceRoot + "/uv.lock"));
          names = map (p: p.name) lock.package;
          has = n: builtins.elem n names || throw "uv.lock has no package ${n}";
          name = project.project.name;
        in
        assert has name && has "wasmtime" && has "componentize-py";
        {
          mkPyprojectOverlay =
            { sourcePreference }:
            final: prev:
            let
              # One never-buildable derivation per locked package; overrideAttrs applies its
              # function (so a typo in an override fails the check) and returns another one.
              mkPkg =
                n:
                derivation {
                  name = n;
                  system = prev.python.system;
                  builder = "/bin/sh";
                  args = [ "-c" "exit 1" ];
                }
                // {
                  overrideAttrs = f: builtins.seq (builtins.attrNames (f { })) (mkPkg "${n}-fixed");
                };
            in
            assert builtins.elem sourcePreference [ "wheel" "sdist" ];
            builtins.listToAttrs (map (n: { name = n; value = mkPkg n; }) names);
          deps = {
            default = { ${name} = [ ]; };
            all = { ${name} = [ "dev" ]; };
          };
        };
    };
}
