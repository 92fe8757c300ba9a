"""``python -m aggregator.settlement``: run a coordinator (see :mod:`.process`)."""

import sys

from aggregator.settlement.process import main

sys.exit(main())
