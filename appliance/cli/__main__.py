"""``python -m appliance.cli``: the same CLI as the ``ironcurtain`` command."""

import sys

from appliance.cli.main import main

sys.exit(main())
