{
  # Stand-in for pyproject.nix: `build.packages` gives a package scope with overrideScope and
  # mkVirtualEnv, as flake.nix uses them. See packaging/nix/stubs/nixpkgs and docs/nix.md.
  description = "stub pyproject.nix for the offline flake check";
  outputs =
    { self }:
    {
      build.packages =
        { lib, python, stdenv, ... }:
        let
          scope = overlay: lib.fix (final: let base = {
            inherit python;
            # Like the real one, a virtual environment depends on every package it names; here it
            # forces every package of the scope, so a broken override fails the check.
            mkVirtualEnv =
              name: deps:
              let
                drvs = builtins.mapAttrs (n: v: if v ? drvPath then v.drvPath else null) final;
                wanted = map (n: final.${n}.drvPath) (builtins.attrNames deps);
              in
              builtins.deepSeq [ drvs wanted ] (stdenv.mkDerivation { inherit name; });
          }; in base // overlay final base);
        in
        {
          overrideScope = overlay: scope overlay;
        };
    };
}
