# A derivation that evaluates and never builds: the builder exits 1 with a message.
{ name, system }:
derivation {
  inherit name system;
  builder = "/bin/sh";
  args = [ "-c" "echo 'stub derivation from packaging/nix/stubs: not buildable' >&2; exit 1" ];
}
