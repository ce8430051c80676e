"""``python -m appliance.cli``: the same CLI as the ``ironcurtain`` command."""

import sys

from appliance.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
