import sys

from ksqlpy.conformance.cli import main

sys.exit(main())
