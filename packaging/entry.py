"""The frozen executable's entry point: the same ``main`` as the ``ironcurtain`` console script."""

import sys

from appliance.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
