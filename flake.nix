{
  # `nix run github:<owner>/<repo> -- demo`: the IronCurtain appliance from the locked dependencies.
  # Python packages come from uv.lock (uv2nix: the same wheels, by the same hashes, as `uv sync`),
  # the interpreter is nixpkgs' python313, and the sandbox guest is built in its own derivation
  # with the locked componentize-py. See docs/nix.md for what was checked offline and how.
  description = "IronCurtain appliance: a secure runtime for AI agents";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    pyproject-nix = {
      url = "github:pyproject-nix/pyproject.nix";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    uv2nix = {
      url = "github:pyproject-nix/uv2nix";
      inputs.pyproject-nix.follows = "pyproject-nix";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    pyproject-build-systems = {
      url = "github:pyproject-nix/build-system-pkgs";
      inputs.pyproject-nix.follows = "pyproject-nix";
      inputs.uv2nix.follows = "uv2nix";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      pyproject-nix,
      uv2nix,
      pyproject-build-systems,
    }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = lib.genAttrs systems;

      workspace = uv2nix.lib.workspace.loadWorkspace { workspaceRoot = ./.; };
      # Wheels only: every locked package has one for both systems, and no sdist build runs.
      lockOverlay = workspace.mkPyprojectOverlay { sourcePreference = "wheel"; };

      perSystem =
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
          python = pkgs.python313;
          # Manylinux wheels with native code need the C++ runtime found at load time.
          nativeFixes = final: prev: {
            wasmtime = prev.wasmtime.overrideAttrs (old: {
              buildInputs = (old.buildInputs or [ ]) ++ [ pkgs.stdenv.cc.cc.lib ];
            });
          };
          pythonSet =
            (pkgs.callPackage pyproject-nix.build.packages { inherit python; }).overrideScope
              (
                lib.composeManyExtensions [
                  pyproject-build-systems.overlays.default
                  lockOverlay
                  nativeFixes
                ]
              );
          runtimeEnv = pythonSet.mkVirtualEnv "ironcurtain-env" workspace.deps.default;
          # The build environment adds the dev group (componentize-py, pinned 0.25.1 in uv.lock).
          buildEnv = pythonSet.mkVirtualEnv "ironcurtain-build-env" workspace.deps.all;

          # componentize-py's output is not bit-for-bit reproducible (DESIGN.md), so the guest is
          # an ordinary (input-addressed) derivation, not a fixed-output one: its inputs are pinned,
          # its bytes may differ between two builders. guest.lock.json records the digest built.
          guest = pkgs.stdenv.mkDerivation {
            pname = "ironcurtain-guest";
            version = self.shortRev or "dirty";
            src = lib.fileset.toSource {
              root = ./.;
              fileset = lib.fileset.unions [
                ./wasm_guest/__init__.py
                ./wasm_guest/build.py
                ./wasm_guest/guest
                ./wasm_guest/wit
              ];
            };
            nativeBuildInputs = [ buildEnv ];
            dontConfigure = true;
            buildPhase = ''
              runHook preBuild
              export HOME=$TMPDIR
              python -m wasm_guest.build --out "$out"
              runHook postBuild
            '';
            dontInstall = true;
          };

          app = pkgs.stdenv.mkDerivation {
            pname = "ironcurtain";
            version = (lib.importTOML ./pyproject.toml).project.version;
            dontUnpack = true;
            nativeBuildInputs = [ pkgs.makeWrapper ];
            # The servers are started as `python -m appliance.cli serve NAME` from the same
            # environment; git drives the git server; the guest is found by IRONCURTAIN_GUEST_WASM.
            installPhase = ''
              runHook preInstall
              makeWrapper ${runtimeEnv}/bin/ironcurtain $out/bin/ironcurtain \
                --set IRONCURTAIN_GUEST_WASM ${guest}/guest.wasm \
                --set LITELLM_LOCAL_MODEL_COST_MAP True \
                --prefix PATH : ${lib.makeBinPath [ pkgs.git ]}
              runHook postInstall
            '';
            passthru = { inherit guest runtimeEnv; };
            meta = {
              description = "A secure runtime for AI agents: every tool call through one policy gate";
              license = lib.licenses.asl20;
              mainProgram = "ironcurtain";
              platforms = systems;
            };
          };
        in
        {
          packages = {
            default = app;
            ironcurtain = app;
            inherit guest;
          };
          apps.default = {
            type = "app";
            program = "${app}/bin/ironcurtain";
          };
          devShells.default = pkgs.mkShell {
            packages = [
              python
              pkgs.uv
              pkgs.ruff
              pkgs.git
            ];
            env = {
              UV_PYTHON = "${python}/bin/python3.13";
              UV_PYTHON_DOWNLOADS = "never";
              LITELLM_LOCAL_MODEL_COST_MAP = "True";
            };
          };
        };
      each = forAllSystems perSystem;
    in
    {
      packages = lib.mapAttrs (_: s: s.packages) each;
      apps = lib.mapAttrs (_: s: s.apps) each;
      devShells = lib.mapAttrs (_: s: s.devShells) each;
    };
}
