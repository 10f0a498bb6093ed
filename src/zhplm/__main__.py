import sys

from zhplm.cli.main import main

sys.exit(main())
