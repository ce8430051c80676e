# The few nixpkgs lib functions flake.nix uses, written from their documented behaviour.
let
  lib = rec {
    genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
    mapAttrs = builtins.mapAttrs;
    fix = f: let x = f x; in x;
    composeExtensions = f: g: final: prev: let fApplied = f final prev; in fApplied // g final (prev // fApplied);
    composeManyExtensions = builtins.foldl' composeExtensions (final: prev: { });
    importTOML = path: builtins.fromTOML (builtins.readFile path);
    makeBinPath = pkgs: builtins.concatStringsSep ":" (map (p: "${p}/bin") pkgs);
    licenses.asl20 = { spdxId = "Apache-2.0"; };
    fileset = {
      # Checks that every listed path exists (as the real one does) and yields the root.
      unions = paths: builtins.map (p: if builtins.pathExists p then p else throw "fileset: ${toString p} does not exist") paths;
      toSource = { root, fileset }: builtins.deepSeq fileset root;
    };
  };
in
lib
