import sys

from bumper.cli import main

sys.exit(main())
