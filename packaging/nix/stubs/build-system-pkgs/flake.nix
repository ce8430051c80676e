{
  # Stand-in for pyproject-nix/build-system-pkgs: an empty overlay. See docs/nix.md.
  description = "stub build-system-pkgs for the offline flake check";
  outputs = { self }: { overlays.default = final: prev: { }; };
}
