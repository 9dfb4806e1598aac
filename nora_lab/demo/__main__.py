"""``python -m nora_lab.demo [HOME]`` (see :mod:`nora_lab.demo.cli`)."""

import sys

from nora_lab.demo.cli import main

sys.exit(main())
