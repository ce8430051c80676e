{
  # A stand-in for nixpkgs with only the attributes flake.nix uses, for `nix flake check
  # --no-build` on a machine that cannot fetch nixpkgs. Every derivation is real enough to
  # evaluate (it has a drvPath) and fails if anyone tries to build it. See docs/nix.md.
  description = "stub nixpkgs for the offline flake check";

  outputs =
    { self }:
    let
      lib = import ./lib.nix;
      stubDrv = import ./drv.nix;
      packagesFor =
        system:
        let
          mk = name: stubDrv { inherit name system; };
          withOverride = drv: drv // { overrideAttrs = f: withOverride (mk "${drv.name}-overridden"); };
        in
        rec {
          python313 = mk "python3-3.13";
          uv = mk "uv";
          ruff = mk "ruff";
          git = mk "git";
          makeWrapper = mk "make-wrapper-hook";
          stdenv = {
            # Like the real one, every attribute becomes part of the derivation, so whatever the
            # build scripts interpolate (the venv, the guest, a store path) is evaluated too.
            mkDerivation =
              attrs:
              let
                name = attrs.name or "${attrs.pname}-${toString (attrs.version or "0")}";
                env = removeAttrs attrs [ "passthru" "meta" "env" "name" ];
                drv = derivation (
                  env
                  // {
                    inherit name system;
                    builder = "/bin/sh";
                    args = [ "-c" "echo 'stub derivation from packaging/nix/stubs: not buildable' >&2; exit 1" ];
                    shellEnv = builtins.toJSON (attrs.env or { });
                  }
                );
              in
              withOverride drv // (attrs.passthru or { }) // { meta = attrs.meta or { }; };
            cc.cc.lib = mk "gcc-lib";
          };
          mkShell = attrs: stdenv.mkDerivation (attrs // { name = "nix-shell"; });
          callPackage = f: args: f ({ inherit lib stdenv python313; } // args);
        };
    in
    {
      inherit lib;
      legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] packagesFor;
    };
}
